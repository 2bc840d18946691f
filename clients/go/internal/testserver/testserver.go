// Package testserver starts the project's real median-server for the Go tests, and makes the
// certificates and token files they need. Only tests import it.
package testserver

import (
	"bufio"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Root is the repository root, found from the module's folder (clients/go), so that a test in
// any package of the module can start the server.
func root() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "..", ".."), nil
}

var listening = regexp.MustCompile(`listening on (\S+):(\d+)`)

// Server is one median-server process; Restart brings it back on the same port and flags.
type Server struct {
	// Port is the port the server listens on, the same across restarts.
	Port string

	t    *testing.T
	args []string
	life sync.Mutex // held by Kill and Restart
	cmd  *exec.Cmd  // the running process; nil after Kill
	mu   sync.Mutex // guards log
	log  strings.Builder
}

// Start starts `.venv/bin/median-server --host 127.0.0.1 --port PORT args...` from the
// repository root (the Makefile's test target makes .venv first), waits until it logs `listening
// on`, and kills it when the test ends. PORT is a free port below the kernel's ephemeral range.
func Start(t *testing.T, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, args: args}
	free, err := freePortBelowEphemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	port, err := s.start(free)
	if err != nil {
		t.Fatal(err)
	}
	s.Port = port
	t.Cleanup(s.Kill)
	return s
}

// freePortBelowEphemeralRange returns a port in 20000..31999 that can be bound on 127.0.0.1 now.
//
// Not port 0: the kernel picks that from the ephemeral range (32768 and up), from which every
// outgoing connection takes its local port, so a port of that range that was free when the server
// first bound it may be a connection's by the time the test restarts the server on it.
func freePortBelowEphemeralRange() (string, error) {
	for tries := 0; tries < 1000; tries++ {
		port := fmt.Sprint(20000 + rand.Intn(12000))
		probe, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			continue // someone else's: draw again
		}
		probe.Close()
		return port, nil
	}
	return "", fmt.Errorf("no free port between 20000 and 32000 on 127.0.0.1")
}

// Addr is the server's "127.0.0.1:<port>".
func (s *Server) Addr() string { return "127.0.0.1:" + s.Port }

// start runs the server on port and returns the port it listens on. The caller holds s.life
// or is Start.
func (s *Server) start(port string) (string, error) {
	repoRoot, err := root()
	if err != nil {
		return "", err
	}
	exe, err := filepath.Abs(filepath.Join(repoRoot, ".venv/bin/median-server"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(exe); err != nil {
		return "", fmt.Errorf("the server is missing (%v): run `make generate` at the repository root", err)
	}
	cmd := exec.Command(exe, append([]string{"--host", "127.0.0.1", "--port", port}, s.args...)...)
	cmd.Dir = repoRoot
	dieWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	ports := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case ports <- m[2]:
				default:
				}
			}
		}
		close(ports)
	}()
	select {
	case p, ok := <-ports:
		if !ok {
			cmd.Wait()
			return "", fmt.Errorf("median-server %v exited before listening:\n%s", s.args, s.Output())
		}
		s.cmd = cmd
		return p, nil
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return "", fmt.Errorf("median-server %v did not listen within 90 s:\n%s", s.args, s.Output())
	}
}

// Output is what the server logged so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Kill sends SIGKILL (no shutdown, no flushing) and waits for the process to end. It waits for
// a Restart in progress first, so a kill is never lost.
func (s *Server) Kill() {
	s.life.Lock()
	defer s.life.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on its port, with its flags (and so its --data-dir). It may
// run on any goroutine: a failure is reported with t.Error.
func (s *Server) Restart() {
	s.life.Lock()
	defer s.life.Unlock()
	if _, err := s.start(s.Port); err != nil {
		s.t.Errorf("restarting: %v", err)
	}
}

// Certs are the PEM files of the repository's test certificates: CA signed the server's
// certificate (localhost, 127.0.0.1, ::1) and the client's; OtherCA signed neither.
type Certs struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey, OtherCA string
}

// MakeCerts makes the test certificates in a temporary folder of the test with tests/certs.py,
// the one place that makes them for every language, run by the repository's .venv/bin/python.
func MakeCerts(t *testing.T) Certs {
	t.Helper()
	repoRoot, err := root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot, ".venv/bin/python"), "-c",
		"import sys; from pathlib import Path; from tests.certs import make_certificates; "+
			"make_certificates(Path(sys.argv[1]))", dir)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tests/certs.py: %v\n%s", err, out)
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	return Certs{
		CA:         at("ca.pem"),
		ServerCert: at("server.pem"),
		ServerKey:  at("server.key"),
		ClientCert: at("client.pem"),
		ClientKey:  at("client.key"),
		OtherCA:    at("other-ca.pem"),
	}
}

// TokenFile writes a `--auth-tokens` file naming token for tenant "tests".
func TokenFile(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("# token tenant\n%s tests\n", token)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
