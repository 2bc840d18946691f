#include "test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>

namespace median_test {

std::string RepoRoot() { return MEDIAN_REPO_ROOT; }

namespace {

// The folders MakeTempDir made; removed when the test program ends.
struct TempDirs {
  std::mutex mutex;
  std::vector<std::string> paths;
  ~TempDirs() {
    for (const std::string& path : paths) {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  }
};
TempDirs temp_dirs;

}  // namespace

std::string MakeTempDir() {
  std::string pattern = "/tmp/median-cpp-test-XXXXXX";
  if (const char* tmp = std::getenv("TMPDIR")) pattern = std::string(tmp) + "/median-cpp-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  std::lock_guard<std::mutex> lock(temp_dirs.mutex);
  temp_dirs.paths.push_back(pattern);
  return pattern;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path);
}

namespace {

// A port in 20000..31999 that can be bound on 127.0.0.1 now.
//
// Not port 0: the kernel picks that from the ephemeral range (32768 and up), from which every
// outgoing connection takes its local port, so a port of that range that was free when the server
// first bound it may be a connection's by the time the test restarts the server on it.
int FreePortBelowEphemeralRange() {
  std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<int> draw(20000, 31999);
  for (int tries = 0; tries < 1000; ++tries) {
    int port = draw(random);
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    if (probe < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    bool bindable = bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(probe);
    if (bindable) return port;
  }
  throw std::runtime_error("no free port between 20000 and 32000 on 127.0.0.1");
}

}  // namespace

TestServer::TestServer(std::vector<std::string> flags) : flags_(std::move(flags)) {
  Start(FreePortBelowEphemeralRange());
}

TestServer::~TestServer() { Kill(); }

void TestServer::Start(int port) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> args = {RepoRoot() + "/.venv/bin/median-server", "--host", "127.0.0.1",
                                   "--port", std::to_string(port)};
  args.insert(args.end(), flags_.begin(), flags_.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (chdir(RepoRoot().c_str()) != 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  FILE* err = fdopen(pipe_fds[0], "r");
  std::string log;
  char line[4096];
  const std::string marker = "listening on ";
  while (fgets(line, sizeof line, err) != nullptr) {
    const std::string text(line);
    log += text;
    const std::size_t at = text.find(marker);
    if (at == std::string::npos) continue;
    std::string address = text.substr(at + marker.size());
    address = address.substr(0, address.find_first_of(" \n"));
    port_ = std::stoi(address.substr(address.rfind(':') + 1));
    target_ = "127.0.0.1:" + std::to_string(port_);
    drain_ = std::thread([err] {
      char rest[4096];
      while (fgets(rest, sizeof rest, err) != nullptr) {
      }
      fclose(err);
    });
    return;
  }
  fclose(err);
  Kill();
  throw std::runtime_error("median-server did not start; its log:\n" + log);
}

void TestServer::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (drain_.joinable()) drain_.join();
}

void TestServer::Restart() {
  Kill();
  Start(port_);
}

Certificates MakeCertificates(const std::string& folder) {
  // The repository's tests/certs.py makes the certificates for every language's tests, so the
  // C++ tests run the same openssl steps rather than a copy of them.
  const std::string command =
      "cd '" + RepoRoot() + "' && .venv/bin/python -c 'import sys; from pathlib import Path; "
      "from tests.certs import make_certificates; make_certificates(Path(sys.argv[1]))' '" +
      folder + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
  std::string output;
  char line[4096];
  while (fgets(line, sizeof line, pipe) != nullptr) output += line;
  if (pclose(pipe) != 0) throw std::runtime_error("failed: " + command + "\n" + output);
  return {folder + "/ca.pem", folder + "/server.pem", folder + "/server.key",
          folder + "/client.pem", folder + "/client.key"};
}

void KillAndRestartSoon(TestServer* server, std::thread* restarter) {
  if (restarter->joinable()) restarter->join();
  server->Kill();
  *restarter = std::thread([server] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server->Restart();
  });
}

}  // namespace median_test
