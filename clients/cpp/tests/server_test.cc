// Tests of median::Client and the command-line client against a real median-server on a
// loopback port: the calls, error details, tokens, TLS, mutual TLS, and exactly-once resume
// across a server killed with SIGKILL and restarted on its --data-dir.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "median/client.h"
#include "numbers.h"
#include "test_server.h"

namespace {

using median_test::TestServer;

median::ClientOptions Plain(const TestServer& server) {
  median::ClientOptions options;
  options.target = server.target();
  return options;
}

// The setup most tests start with: a fresh server started with `flags`, a plaintext client to it
// that sends `batch_size` numbers per request, and one new session. Tests bind the parts with
// `auto& [server, client, session] = connected;`.
struct Connected {
  explicit Connected(std::size_t batch_size = median::ClientOptions().batch_size,
                     std::vector<std::string> flags = {})
      : server(std::move(flags)), client(WithBatchSize(Plain(server), batch_size)),
        session(client.CreateSession()) {}
  TestServer server;
  median::Client client;
  std::string session;

 private:
  static median::ClientOptions WithBatchSize(median::ClientOptions options, std::size_t size) {
    options.batch_size = size;
    return options;
  }
};

// The median as the service defines it, from a sorted copy.
double ReferenceMedian(std::vector<double> numbers) {
  std::sort(numbers.begin(), numbers.end());
  const std::size_t n = numbers.size();
  if (n % 2 == 1) return numbers[n / 2];
  const double low = numbers[n / 2 - 1], high = numbers[n / 2];
  return low / 2 + high / 2;  // same as the server for the numbers these tests use
}

std::vector<double> RandomNumbers(std::size_t count, unsigned seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> values(-1'000'000, 1'000'000);
  std::vector<double> numbers(count);
  for (double& number : numbers) number = values(random) / 4.0;  // exact in binary
  return numbers;
}

// Runs `call` and returns the median::Error it throws; fails the test when it throws none.
template <typename Call>
median::Error ErrorOf(Call call) {
  try {
    call();
  } catch (const median::Error& error) {
    return error;
  }
  ADD_FAILURE() << "the call did not fail";
  return median::Error(grpc::Status(grpc::StatusCode::OK, ""));
}

// Adds `numbers` to `session` through AddBatches, client.options().batch_size per request, and
// runs `before_pull` each time the library asks for the next batch.
median::AddResult AddPulling(median::Client& client, const std::string& session,
                             const std::vector<double>& numbers,
                             const std::function<void()>& before_pull) {
  auto batches =
      median::Client::Batches(numbers.begin(), numbers.end(), client.options().batch_size);
  return client.AddBatches(session, [&](std::vector<double>* batch) {
    before_pull();
    return batches(batch);
  });
}

// Runs a shell command; returns its exit status and fills *output with stdout and stderr.
int Shell(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buffer{};
  output->clear();
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) *output += buffer.data();
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Server, CreateAddGetDelete) {
  Connected connected;
  auto& [server, client, session] = connected;
  EXPECT_EQ(session.size(), 22u);
  const median::AddResult added = client.AddNumbers(session, {3, 1, 2, 10});
  EXPECT_EQ(added.added_count, 4);
  EXPECT_EQ(added.number_count, 4);
  EXPECT_EQ(added.median, 2.5);
  const median::MedianResult median = client.GetMedian(session);
  EXPECT_EQ(median.number_count, 4);
  EXPECT_EQ(median.median, 2.5);
  client.DeleteSession(session);
  EXPECT_EQ(ErrorOf([&] { client.GetMedian(session); }).code(), grpc::StatusCode::NOT_FOUND);
}

TEST(Server, AddNumbersTakesAnyIteratorPairInBatches) {
  TestServer server;
  median::ClientOptions options = Plain(server);
  options.batch_size = 7;
  median::Client client(options);
  const std::string session = client.CreateSession("chosen-id_1");
  EXPECT_EQ(session, "chosen-id_1");
  const std::set<int> numbers{5, 9, 1, 7, 3, 11, 13, 2, 4, 6, 8, 10, 12, 14, 15};  // 1..15
  const median::AddResult added = client.AddNumbers(session, numbers.begin(), numbers.end());
  EXPECT_EQ(added.number_count, 15);
  EXPECT_EQ(client.GetMedian(session).median, 8);
  EXPECT_EQ(client.AddNumbers(session, std::vector<double>{}).number_count, 15);
}

TEST(Server, CreateSessionWithATakenIdIsAlreadyExists) {
  TestServer server;
  median::Client client(Plain(server));
  client.CreateSession("twice");
  const median::Error error = ErrorOf([&] { client.CreateSession("twice"); });
  EXPECT_EQ(error.code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST(Server, RunningMedianCallsBackOncePerRequestInOrder) {
  Connected connected(/*batch_size=*/2);
  auto& [server, client, session] = connected;
  std::vector<median::RunningResult> answers;
  client.RunningMedian(session, std::vector<double>{5, 1, 3, 8, 2},
                       [&](const median::RunningResult& answer) { answers.push_back(answer); });
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].request_index, 0u);
  EXPECT_EQ(answers[0].number_count, 2);
  EXPECT_EQ(answers[0].median, 3);
  EXPECT_EQ(answers[1].number_count, 4);
  EXPECT_EQ(answers[1].median, 4);
  EXPECT_EQ(answers[2].request_index, 2u);
  EXPECT_EQ(answers[2].added_count, 1);
  EXPECT_EQ(answers[2].number_count, 5);
  EXPECT_EQ(answers[2].median, 3);
}

TEST(Server, AnExceptionFromTheCallbackEndsTheStreamAndKeepsWhatWasApplied) {
  Connected connected(/*batch_size=*/1);
  auto& [server, client, session] = connected;
  int answers = 0;
  EXPECT_THROW(client.RunningMedian(session, std::vector<double>(500, 1.0),
                                    [&](const median::RunningResult&) {
                                      if (++answers == 3) throw std::runtime_error("stop");
                                    }),
               std::runtime_error);
  EXPECT_EQ(answers, 3);
  // The three answered requests stay applied; the cancel may come after a few more.
  const std::int64_t count = client.GetMedian(session).number_count;
  EXPECT_GE(count, 3);
  EXPECT_LT(count, 500);
}

TEST(Server, ListSessionsPagesThroughEverySession) {
  TestServer server;
  median::Client client(Plain(server));
  const std::set<std::string> made{client.CreateSession("a-1"), client.CreateSession("a-2"),
                                   client.CreateSession("a-3")};
  client.AddNumbers("a-2", {1, 2});
  const median::SessionPage first = client.ListSessions(2);
  EXPECT_EQ(first.sessions.size(), 2u);
  EXPECT_FALSE(first.next_page_token.empty());
  const median::SessionPage second = client.ListSessions(2, first.next_page_token);
  EXPECT_EQ(second.sessions.size(), 1u);
  EXPECT_TRUE(second.next_page_token.empty());

  std::set<std::string> listed;
  for (const median::SessionSummary& session : client.ListAllSessions(1)) {
    listed.insert(session.session_id);
    if (session.session_id == "a-2") {
      EXPECT_EQ(session.number_count, 2);
    }
  }
  EXPECT_EQ(listed, made);
  EXPECT_EQ(ErrorOf([&] { client.ListSessions(-1); }).code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(ErrorDetails, NaNInTheFirstRequestIsABadRequestAndNothingIsApplied) {
  Connected connected;
  auto& [server, client, session] = connected;
  const median::Error error = ErrorOf([&] {
    client.AddNumbers(session, {1.0, std::numeric_limits<double>::quiet_NaN(), 2.0});
  });
  EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(error.field_violations().size(), 1u);
  EXPECT_EQ(error.field_violations()[0].field, "numbers[1]");
  EXPECT_EQ(ErrorOf([&] { client.GetMedian(session); }).code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(ErrorDetails, NaNAfterTwoAnsweredRequestsKeepsThoseTwo) {
  Connected connected(/*batch_size=*/1);
  auto& [server, client, session] = connected;
  int answers = 0;
  const median::Error error = ErrorOf([&] {
    client.RunningMedian(session,
                         std::vector<double>{4, 6, std::numeric_limits<double>::infinity(), 8},
                         [&](const median::RunningResult&) { ++answers; });
  });
  EXPECT_EQ(answers, 2);
  EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(error.field_violations().size(), 1u);
  EXPECT_EQ(error.field_violations()[0].field, "numbers[0]");
  const median::MedianResult median = client.GetMedian(session);
  EXPECT_EQ(median.number_count, 2);
  EXPECT_EQ(median.median, 5);
}

TEST(ErrorDetails, ALimitIsAQuotaFailureWithErrorInfo) {
  Connected connected(median::ClientOptions().batch_size, {"--max-session-numbers", "5"});
  auto& [server, client, session] = connected;
  const median::Error error = ErrorOf([&] { client.AddNumbers(session, {1, 2, 3, 4, 5, 6}); });
  EXPECT_EQ(error.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_EQ(error.quota_violations().size(), 1u);
  EXPECT_EQ(error.quota_violations()[0].subject, "--max-session-numbers");
  ASSERT_TRUE(error.error_info().has_value());
  EXPECT_EQ(error.error_info()->reason, "MAX_SESSION_NUMBERS");
  EXPECT_EQ(error.error_info()->domain, "median.v1");
  EXPECT_EQ(error.error_info()->metadata.at("limit"), "5");
}

class Secured : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::string(median_test::MakeTempDir());
    certificates_ = new median_test::Certificates(median_test::MakeCertificates(*folder_));
    median_test::WriteFile(*folder_ + "/tokens", "s3cret-token-0123456789 tenant-a\n");
  }
  static void TearDownTestSuite() {
    delete certificates_;
    delete folder_;
  }
  static std::vector<std::string> TlsFlags() {
    return {"--tls-cert", certificates_->server_cert, "--tls-key", certificates_->server_key,
            "--auth-tokens", *folder_ + "/tokens"};
  }
  static median::ClientOptions TlsOptions(const TestServer& server) {
    median::ClientOptions options;
    options.target = server.target();
    options.tls = median::TlsOptions{certificates_->ca, "", ""};
    options.token = "s3cret-token-0123456789";
    return options;
  }
  static std::string* folder_;
  static median_test::Certificates* certificates_;
};
std::string* Secured::folder_ = nullptr;
median_test::Certificates* Secured::certificates_ = nullptr;

TEST_F(Secured, TlsWithATokenWorksByIpAndByName) {
  TestServer server(TlsFlags());
  median::ClientOptions options = TlsOptions(server);
  for (const std::string& target : {server.target(), "localhost:" + std::to_string(server.port())}) {
    options.target = target;
    median::Client client(options);
    const std::string session = client.CreateSession();
    client.AddNumbers(session, {3, 1, 2, 10});
    EXPECT_EQ(client.GetMedian(session).median, 2.5) << target;
    client.DeleteSession(session);
  }
}

TEST_F(Secured, NoTokenOrAWrongTokenIsUnauthenticated) {
  TestServer server(TlsFlags());
  median::ClientOptions options = TlsOptions(server);
  options.token.reset();
  const median::Error missing = ErrorOf([&] { median::Client(options).CreateSession(); });
  EXPECT_EQ(missing.code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(missing.error_info().has_value());
  options.token = "wrong-token-0123456789";
  const median::Error wrong = ErrorOf([&] { median::Client(options).CreateSession(); });
  EXPECT_EQ(wrong.code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(Secured, PlaintextToATlsServerFailsAndIsNotRetriedForever) {
  TestServer server(TlsFlags());
  median::ClientOptions options = TlsOptions(server);
  options.tls.reset();
  options.retry_for = std::chrono::milliseconds(500);
  const median::Error error = ErrorOf([&] { median::Client(options).GetMedian("x"); });
  EXPECT_EQ(error.code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(Secured, MutualTlsNeedsTheClientCertificate) {
  std::vector<std::string> flags = TlsFlags();
  flags.insert(flags.end(), {"--tls-client-ca", certificates_->ca});
  TestServer server(flags);
  median::ClientOptions options = TlsOptions(server);
  options.tls->cert_file = certificates_->client_cert;
  options.tls->key_file = certificates_->client_key;
  median::Client client(options);
  const std::string session = client.CreateSession();
  EXPECT_EQ(client.AddNumbers(session, {7}).number_count, 1);

  options.tls->cert_file.clear();
  options.tls->key_file.clear();
  options.retry_for = std::chrono::milliseconds(0);
  const median::Error error = ErrorOf([&] { median::Client(options).CreateSession(); });
  EXPECT_EQ(error.code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(Secured, CommandLineOverTlsWithTokenFromTheEnvironment) {
  TestServer server(TlsFlags());
  std::string output;
  const int status = Shell("echo 3 1 2 10 | MEDIAN_TOKEN=s3cret-token-0123456789 " +
                               std::string(MEDIAN_CLIENT_BINARY) + " --target " + server.target() +
                               " --tls-ca " + certificates_->ca + " --delete",
                           &output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("\ncount=4 median=2.5\n"), std::string::npos) << output;
  EXPECT_EQ(output.rfind("session=", 0), 0u) << output;
}

TEST_F(Secured, AddNumbersResumesOverTlsWithATokenAcrossAKill) {
  std::vector<std::string> flags = TlsFlags();
  flags.insert(flags.end(), {"--data-dir", median_test::MakeTempDir()});
  TestServer server(flags);
  median::ClientOptions options = TlsOptions(server);
  options.batch_size = 100;
  median::Client client(options);
  const std::string session = client.CreateSession();
  const std::vector<double> numbers = RandomNumbers(10'000, 4);
  int pulled = 0;
  std::thread restarter;
  const median::AddResult added = AddPulling(client, session, numbers, [&] {
    if (++pulled == 40) median_test::KillAndRestartSoon(&server, &restarter);
  });
  restarter.join();
  EXPECT_EQ(added.number_count, 10'000);
  EXPECT_EQ(added.median, ReferenceMedian(numbers));
}

TEST(CommandLine, PrintsTheBadRequestDetail) {
  TestServer server;
  std::string output;
  const int status = Shell("echo 4 6 NaN | " + std::string(MEDIAN_CLIENT_BINARY) +
                               " --target " + server.target() + " --running --batch 1",
                           &output);
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(output.find("count=2 median=5\nerror: INVALID_ARGUMENT: "), std::string::npos)
      << output;
  EXPECT_NE(output.find("\ndetail: BadRequest numbers[0]: "), std::string::npos) << output;
}

TEST(CommandLine, CertificateWithoutKeyIsAUsageError) {
  std::string output;
  EXPECT_EQ(Shell("echo 1 | " + std::string(MEDIAN_CLIENT_BINARY) +
                      " --target 127.0.0.1:1 --tls-cert client.pem",
                  &output),
            2)
      << output;
}

// A server on a data folder that the test kills with SIGKILL and restarts on the same port.
class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(
        std::vector<std::string>{"--data-dir", median_test::MakeTempDir()});
  }
  void TearDown() override {
    if (restarter_.joinable()) restarter_.join();
  }
  // Kills the server now and restarts it on another thread after a moment, while the client
  // keeps sending.
  void KillAndRestartSoon() {
    median_test::KillAndRestartSoon(server_.get(), &restarter_);
    ++kills_;
  }
  std::unique_ptr<TestServer> server_;
  std::thread restarter_;
  int kills_ = 0;
};

TEST_F(Resume, AddNumbersAppliesEveryNumberOnceAcrossTwoKills) {
  median::ClientOptions options = Plain(*server_);
  options.batch_size = 100;
  median::Client client(options);
  const std::string session = client.CreateSession();
  const std::vector<double> numbers = RandomNumbers(20'000, 1);
  int pulled = 0;
  // The library pulls batch 51 after writing 50 requests on the stream: the server dies under it.
  const median::AddResult added = AddPulling(client, session, numbers, [&] {
    ++pulled;
    if (pulled == 51 || pulled == 151) KillAndRestartSoon();
  });
  EXPECT_EQ(kills_, 2);
  EXPECT_EQ(added.number_count, 20'000);
  EXPECT_EQ(added.median, ReferenceMedian(numbers));
  const median::MedianResult median = client.GetMedian(session);
  EXPECT_EQ(median.number_count, 20'000);
  EXPECT_EQ(median.median, ReferenceMedian(numbers));
}

TEST_F(Resume, RunningMedianAnswersEveryRequestOnceAcrossTwoKills) {
  median::ClientOptions options = Plain(*server_);
  options.batch_size = 10;
  median::Client client(options);
  const std::string session = client.CreateSession();
  const std::vector<double> numbers = RandomNumbers(3'000, 2);
  std::vector<median::RunningResult> answers;
  client.RunningMedian(session, numbers, [&](const median::RunningResult& answer) {
    answers.push_back(answer);
    if (answers.size() == 40 || answers.size() == 200) KillAndRestartSoon();
  });
  EXPECT_EQ(kills_, 2);
  ASSERT_EQ(answers.size(), 300u);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i].request_index, i);
    // Every request adds 10 numbers exactly once, in order, so after request i the session
    // holds 10 * (i + 1) numbers whether this answer applied it or repeated it.
    EXPECT_EQ(answers[i].number_count, static_cast<std::int64_t>(10 * (i + 1))) << i;
  }
  EXPECT_EQ(answers.back().median, ReferenceMedian(numbers));
  EXPECT_EQ(client.GetMedian(session).number_count, 3'000);
}

TEST_F(Resume, TwoWritersOnOneClientIntoOneSessionAcrossAKill) {
  median::ClientOptions options = Plain(*server_);
  options.batch_size = 100;
  median::Client client(options);
  const std::string session = client.CreateSession();
  const std::vector<double> first = RandomNumbers(10'000, 5);
  const std::vector<double> second = RandomNumbers(10'000, 6);
  std::atomic<int> pulled{0};
  std::mutex kill_mutex;
  auto writer = [&](const std::vector<double>& numbers) {
    AddPulling(client, session, numbers, [&] {
      if (++pulled == 60) {
        std::lock_guard<std::mutex> lock(kill_mutex);
        KillAndRestartSoon();
      }
    });
  };
  std::thread other([&] { writer(second); });
  writer(first);
  other.join();
  EXPECT_EQ(kills_, 1);
  std::vector<double> all = first;
  all.insert(all.end(), second.begin(), second.end());
  const median::MedianResult median = client.GetMedian(session);
  EXPECT_EQ(median.number_count, 20'000);
  EXPECT_EQ(median.median, ReferenceMedian(all));
}

TEST_F(Resume, CommandLineFinishesByItselfAcrossAKill) {
  const std::vector<double> numbers = RandomNumbers(50'000, 3);
  const std::string input = median_test::MakeTempDir() + "/numbers.txt";
  std::string text;
  for (double number : numbers) text += std::to_string(number) + "\n";
  median_test::WriteFile(input, text);
  median::Client client(Plain(*server_));
  const std::string session = client.CreateSession();
  std::string output;
  std::atomic<bool> finished{false};
  bool killed_while_running = false;
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    killed_while_running = !finished;
    KillAndRestartSoon();
  });
  const int status = Shell(std::string(MEDIAN_CLIENT_BINARY) + " --target " + server_->target() +
                               " --session " + session + " --batch 10 --running < " + input +
                               " | tail -n 1",
                           &output);
  finished = true;
  killer.join();
  ASSERT_TRUE(killed_while_running) << "the client finished before the kill";
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "count=50000 median=" + median_client::FormatNumber(ReferenceMedian(numbers)) +
                        "\n");
  const median::MedianResult median = client.GetMedian(session);
  EXPECT_EQ(median.number_count, 50'000);
  EXPECT_EQ(median.median, ReferenceMedian(numbers));
}

TEST_F(Resume, WhenTheRetryTimeRunsOutTheLastErrorIsThrown) {
  median::ClientOptions options = Plain(*server_);
  options.retry_for = std::chrono::milliseconds(800);
  median::Client client(options);
  const std::string session = client.CreateSession();
  server_->Kill();
  const median::Error error = ErrorOf([&] { client.AddNumbers(session, {1, 2, 3}); });
  EXPECT_TRUE(error.code() == grpc::StatusCode::UNAVAILABLE ||
              error.code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << error.what();
}

TEST_F(Resume, RetryForZeroTurnsResumingOff) {
  median::ClientOptions options = Plain(*server_);
  options.retry_for = std::chrono::milliseconds(0);
  options.batch_size = 10;
  median::Client client(options);
  const std::string session = client.CreateSession();
  std::vector<double> numbers(1'000, 1.0);
  int answers = 0;
  const median::Error error = ErrorOf([&] {
    client.RunningMedian(session, numbers, [&](const median::RunningResult&) {
      if (++answers == 5) KillAndRestartSoon();
    });
  });
  EXPECT_EQ(error.code(), grpc::StatusCode::UNAVAILABLE) << error.what();
  EXPECT_LT(answers, 100);
}

}  // namespace
