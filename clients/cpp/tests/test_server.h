// A real median-server process for the tests: started from the repository's .venv on a free
// loopback port, killed and restarted on the same port and data folder.
#ifndef MEDIAN_TESTS_TEST_SERVER_H_
#define MEDIAN_TESTS_TEST_SERVER_H_

#include <sys/types.h>

#include <string>
#include <thread>
#include <vector>

namespace median_test {

// The repository's root, where .venv/bin/median-server lives.
std::string RepoRoot();

// A fresh empty folder under the system's temporary folder.
std::string MakeTempDir();

// Writes `contents` to `path`; throws on failure.
void WriteFile(const std::string& path, const std::string& contents);

class TestServer {
 public:
  // Starts `median-server --host 127.0.0.1 --port PORT <flags>`, PORT a free port below the
  // kernel's ephemeral range, and waits for its "listening on HOST:PORT" line.
  explicit TestServer(std::vector<std::string> flags = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // "127.0.0.1:<port>".
  const std::string& target() const { return target_; }
  int port() const { return port_; }

  // SIGKILL, then wait for the process to end.
  void Kill();
  // Starts the server again with the same flags on the same port.
  void Restart();

 private:
  void Start(int port);

  std::vector<std::string> flags_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string target_;
  std::thread drain_;  // reads the server's stderr after the listening line, so it never blocks
};

// Test certificates, made in `folder` by the repository's tests/certs.py (with .venv's python):
// a CA, a server certificate for localhost, 127.0.0.1 and ::1 signed by it, and a client
// certificate signed by it; paths of PEM files. Throws std::runtime_error with the script's
// output when it fails.
struct Certificates {
  std::string ca, server_cert, server_key, client_cert, client_key;
};
Certificates MakeCertificates(const std::string& folder);

// Kills `server` now and restarts it on a new *restarter thread after a moment, while the client
// keeps sending; first joins the restart of an earlier call. The caller joins *restarter.
void KillAndRestartSoon(TestServer* server, std::thread* restarter);

}  // namespace median_test

#endif  // MEDIAN_TESTS_TEST_SERVER_H_
