package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medianservice/median/clients/go/internal/testserver"
	"github.com/medianservice/median/clients/go/median"
)

// client is the command-line client built once for these tests.
var client string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "median-client-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client = filepath.Join(dir, "median-client")
	if out, err := exec.Command("go", "build", "-o", client, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the client: exit status, standard output and standard error.
type result struct {
	code           int
	stdout, stderr string
}

func runClient(t *testing.T, input string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, args...)
	cmd.Stdin = strings.NewReader(input)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestErrorsPrintTheCodeAndOneLinePerDetail(t *testing.T) {
	srv := testserver.Start(t)

	r := runClient(t, "1 NaN 3", nil, "--target", srv.Addr())
	errs := lines(r.stderr)
	if r.code != 1 || len(errs) != 2 || !strings.HasPrefix(errs[0], "error: INVALID_ARGUMENT: ") ||
		!strings.HasPrefix(errs[1], "detail: BadRequest numbers[1]: ") {
		t.Errorf("a NaN in the first request: exit %d, stderr %q", r.code, r.stderr)
	}

	r = runClient(t, "1 2 NaN 4", nil, "--target", srv.Addr(), "--running", "--batch", "1")
	out, errs := lines(r.stdout), lines(r.stderr)
	if r.code != 1 || len(out) != 3 || out[1] != "count=1 median=1" || out[2] != "count=2 median=1.5" ||
		len(errs) != 2 || !strings.HasPrefix(errs[1], "detail: BadRequest numbers[0]: ") {
		t.Errorf("a NaN after two answered requests: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runClient(t, "1", nil, "--target", srv.Addr(), "--session", "no-such-session")
	if r.code != 1 || !strings.HasPrefix(r.stderr, `error: NOT_FOUND: session "no-such-session" does not exist`) {
		t.Errorf("an unknown session: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrorsExit2AndSendNothing(t *testing.T) {
	for name, args := range map[string][]string{
		"no target":           {},
		"cert without key":    {"--target", "127.0.0.1:1", "--tls-cert", "c.pem"},
		"key without cert":    {"--target", "127.0.0.1:1", "--tls-key", "k.pem"},
		"negative retry-for":  {"--target", "127.0.0.1:1", "--retry-for", "-1"},
		"zero batch":          {"--target", "127.0.0.1:1", "--batch", "0"},
		"missing CA file":     {"--target", "127.0.0.1:1", "--tls-ca", "does-not-exist.pem"},
		"token with a space":  {"--target", "127.0.0.1:1", "--token", "a b"},
		"unexpected argument": {"--target", "127.0.0.1:1", "extra"},
	} {
		if r := runClient(t, "1", nil, args...); r.code != 2 || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, want 2 and nothing", name, r.code, r.stdout)
		}
	}
	if r := runClient(t, "1 x2 3", nil, "--target", "127.0.0.1:1"); r.code != 2 || !strings.Contains(r.stderr, `"x2"`) {
		t.Errorf("a bad number: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTLSWithTokenAndMutualTLS(t *testing.T) {
	certs := testserver.MakeCerts(t)
	const token = "0123456789abcdef-cli-token"
	srv := testserver.Start(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey,
		"--auth-tokens", testserver.TokenFile(t, token))

	r := runClient(t, "3 1 2 10", nil, "--target", srv.Addr(), "--tls-ca", certs.CA, "--token", token, "--delete")
	if out := lines(r.stdout); r.code != 0 || len(out) != 2 || out[1] != "count=4 median=2.5" {
		t.Errorf("TLS with --token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runClient(t, "1 2 3", []string{"MEDIAN_TOKEN=" + token}, "--target", "localhost:"+srv.Port, "--tls-ca", certs.CA, "--running", "--batch", "2")
	if out := lines(r.stdout); r.code != 0 || len(out) != 3 || out[2] != "count=3 median=2" {
		t.Errorf("TLS with MEDIAN_TOKEN: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runClient(t, "1", []string{"MEDIAN_TOKEN="}, "--target", srv.Addr(), "--tls-ca", certs.CA)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: UNAUTHENTICATED: ") || !strings.Contains(r.stderr, "\ndetail: ErrorInfo ") {
		t.Errorf("no token: exit %d, stderr %q", r.code, r.stderr)
	}

	mutual := testserver.Start(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", certs.CA)
	r = runClient(t, "4 8 15 16", nil, "--target", mutual.Addr(), "--tls-ca", certs.CA,
		"--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey)
	if out := lines(r.stdout); r.code != 0 || len(out) != 2 || out[1] != "count=4 median=11.5" {
		t.Errorf("mutual TLS: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runClient(t, "4", nil, "--target", mutual.Addr(), "--tls-ca", certs.CA, "--retry-for", "0")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: UNAVAILABLE: ") {
		t.Errorf("mutual TLS without a client certificate: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestRunningFinishesByItselfAcrossTwoServerKills is the contract's fault test for this client:
// 200,000 numbers in requests of 1,000 with --running, the server SIGKILLed twice mid-stream and
// restarted on its --data-dir and port; the client exits 0 with one line per request.
func TestRunningFinishesByItselfAcrossTwoServerKills(t *testing.T) {
	srv := testserver.Start(t, "--data-dir", t.TempDir())
	numbers := make([]string, 200_000)
	values := make([]float64, len(numbers))
	for i := range numbers {
		values[i] = float64(rand.IntN(2_000_000) - 1_000_000)
		numbers[i] = strconv.FormatFloat(values[i], 'g', -1, 64)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, "--target", srv.Addr(), "--running", "--batch", "1000")
	cmd.Stdin = strings.NewReader(strings.Join(numbers, "\n"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out []string
	var restarts sync.WaitGroup
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		out = append(out, scanner.Text())
		if line := scanner.Text(); line == "count=20000" || strings.HasPrefix(line, "count=20000 ") ||
			strings.HasPrefix(line, "count=120000 ") {
			srv.Kill()
			restarts.Add(1)
			go func() {
				defer restarts.Done()
				time.Sleep(300 * time.Millisecond)
				srv.Restart()
			}()
		}
	}
	err = cmd.Wait()
	restarts.Wait()
	if err != nil {
		t.Fatalf("the client did not finish by itself: %v\nstderr: %s\nserver log:\n%s", err, stderr.String(), srv.Output())
	}
	if len(out) != 201 || !strings.HasPrefix(out[0], "session=") {
		t.Fatalf("%d lines, want session= and 200 running medians:\n%s", len(out), strings.Join(out, "\n"))
	}
	for i, line := range out[1:] {
		if want := fmt.Sprintf("count=%d ", 1000*(i+1)); !strings.HasPrefix(line, want) {
			t.Fatalf("line %d is %q, want %s...", i+1, line, want)
		}
	}
	sorted := slices.Sorted(slices.Values(values))
	want := median.Median{Count: 200_000, Value: sorted[99_999]/2 + sorted[100_000]/2}.String()
	if out[200] != want {
		t.Errorf("last line %q, want %q", out[200], want)
	}
	c, err := median.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.GetMedian(ctx, strings.TrimPrefix(out[0], "session="))
	if err != nil || m.String() != want {
		t.Errorf("the session after the run: %v, %v; want %s", m, err, want)
	}
}
