// median::Client: a C++17 client library of median.v1.MedianService (the running-median service).
//
//   #include <median/client.h>
//
//   median::ClientOptions options;
//   options.target = "127.0.0.1:50051";
//   median::Client client(options);
//   const std::string session = client.CreateSession();
//   std::vector<double> numbers{3, 1, 2, 10};
//   client.AddNumbers(session, numbers);
//   std::cout << client.GetMedian(session).median << "\n";  // 2.5
//
// Every call names its session in the `median-session-id` metadata (the routing key of the
// service, API.md), carries a deadline and, when a token is set, `authorization: Bearer <token>`.
// A failed call throws median::Error, which carries the gRPC status code, the server's message
// and the decoded google.rpc details. Adding numbers is exactly-once: see AddNumbers.
#ifndef MEDIAN_CLIENT_H_
#define MEDIAN_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "median/error.h"

namespace median {

// TLS settings of a channel. With TlsOptions the connection is TLS; the server's name is checked
// against the host of the target (a DNS name or an IP address in the certificate).
struct TlsOptions {
  // PEM file of the CA certificates that sign the server's certificate; empty: the system's
  // roots (gRPC's default roots).
  std::string ca_file;
  // PEM files of a client certificate chain and its private key, for servers that require mutual
  // TLS. Both or neither.
  std::string cert_file;
  std::string key_file;
};

struct ClientOptions {
  // "host:port" (or any gRPC target URI) of the server.
  std::string target;
  // nullopt: plaintext.
  std::optional<TlsOptions> tls;
  // A bearer token, sent as `authorization: Bearer <token>` on every call; printable ASCII
  // without spaces. nullopt: no token.
  std::optional<std::string> token;
  // Deadline of each unary call (CreateSession, GetMedian, DeleteSession, ListSessions).
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  // Deadline of one AddNumbers or RunningMedian call as a whole, resumes included.
  std::chrono::milliseconds stream_timeout{std::chrono::minutes(10)};
  // How long to keep resuming after a retryable failure (UNAVAILABLE, a broken connection or
  // stream, or a stream a proxy reset; see median::Retryable) before the call fails with the last
  // error. The clock starts at the first failure of an outage and starts again once the server
  // answers or a lost connection is made again. Zero turns resuming off. Never past the call's
  // deadline.
  std::chrono::milliseconds retry_for{std::chrono::seconds(30)};
  // Numbers per request of AddNumbers and RunningMedian (at least 1).
  std::size_t batch_size = 1000;
};

// The session's state after an AddNumbers call.
struct AddResult {
  // Numbers the call's last stream added. Requests that a broken stream had already applied
  // are answered again with 0 when resent, so after a resume this can be less than the numbers
  // given; number_count is the session's true total.
  std::int64_t added_count = 0;
  std::int64_t number_count = 0;      // numbers in the session
  std::optional<double> median;       // absent exactly when number_count is 0
};

// One answer of RunningMedian: the session after one request was applied.
struct RunningResult {
  std::size_t request_index = 0;      // 0-based position of the request in the call
  std::int64_t added_count = 0;       // numbers this request added (0 for a resent request)
  std::int64_t number_count = 0;      // numbers in the session
  std::optional<double> median;       // absent exactly when number_count is 0
};

struct MedianResult {
  std::int64_t number_count = 0;
  double median = 0;
};

struct SessionSummary {
  std::string session_id;
  std::int64_t number_count = 0;
};

struct SessionPage {
  std::vector<SessionSummary> sessions;
  std::string next_page_token;  // empty on the last page
};

// A client of one server (or of a proxy in front of several). Thread-safe: calls may run
// concurrently from several threads on one Client, which shares one gRPC channel.
class Client {
 public:
  // Opens a channel to options.target. Throws std::invalid_argument for options that cannot work
  // (no target, a token with spaces, a client certificate without its key, an unreadable PEM
  // file, a batch size of 0).
  explicit Client(ClientOptions options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A fresh unguessable id: 128 bits from the operating system's random source, base64url
  // without padding (22 characters of [A-Za-z0-9_-]). Used for session and writer ids.
  static std::string NewId();

  // Makes a new, empty session and returns its id. Empty session_id: the client picks one
  // (NewId()), so that the routing header names the session on this first call too.
  // ALREADY_EXISTS if the id is taken. UNAVAILABLE is retried (within options().timeout and
  // retry_for); when a retry of a library-chosen id finds it taken, the lost first attempt made
  // it, and its id is returned. A caller's own id taken on a retry stays ALREADY_EXISTS.
  std::string CreateSession(std::string session_id = {});

  // Adds the numbers of [first, last) (any input iterators whose values convert to double) to
  // the session on one AddNumbers stream, options().batch_size numbers per request (no numbers:
  // one empty request, which checks that the session exists).
  //
  // Exactly once: each request carries the request id "<writer>:<seq>" (a fresh writer id per
  // call, seq from 1; request ids that make retries safe as in Google's AIP-155). After a retryable failure the library reconnects with backoff and resends,
  // in order and with the same ids, every request not yet acknowledged; the server applies an id
  // once. An AddNumbers stream acknowledges its requests only with its final answer, so the
  // requests of a stream are kept until it ends (at most 1,048,576 numbers: beyond that the call
  // ends the stream and starts another, which acknowledges what the first one sent).
  // A refused request (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, UNAUTHENTICATED, ...) is
  // never resent: the call throws median::Error, and the requests before it stay applied.
  // When the deadline or the retry time runs out, it throws the last error (DEADLINE_EXCEEDED
  // or UNAVAILABLE); requests sent but not acknowledged may or may not have been applied.
  template <typename InputIt>
  AddResult AddNumbers(const std::string& session_id, InputIt first, InputIt last) {
    return AddBatches(session_id, Batches(first, last, batch_size()));
  }
  // AddNumbers over a whole range (a container, an array, a view).
  template <typename Range>
  AddResult AddNumbers(const std::string& session_id, const Range& numbers) {
    using std::begin;
    using std::end;
    return AddNumbers(session_id, begin(numbers), end(numbers));
  }
  AddResult AddNumbers(const std::string& session_id, std::initializer_list<double> numbers) {
    return AddNumbers(session_id, numbers.begin(), numbers.end());
  }

  // Sends the numbers of [first, last) on one RunningMedian stream, batch_size per request, and
  // calls on_answer once per request, in order, with the session's count and median after that
  // request was applied; on_answer runs on the calling thread. Same exactly-once promise as
  // AddNumbers; here each answer acknowledges its request, and on_answer is called exactly once
  // per request even across a resume (for a resent request, with added_count 0). An exception
  // thrown by on_answer cancels the stream and propagates.
  template <typename InputIt>
  void RunningMedian(const std::string& session_id, InputIt first, InputIt last,
                     const std::function<void(const RunningResult&)>& on_answer) {
    RunningBatches(session_id, Batches(first, last, batch_size()), on_answer);
  }
  template <typename Range>
  void RunningMedian(const std::string& session_id, const Range& numbers,
                     const std::function<void(const RunningResult&)>& on_answer) {
    using std::begin;
    using std::end;
    RunningMedian(session_id, begin(numbers), end(numbers), on_answer);
  }

  // The session's count and median. FAILED_PRECONDITION while it holds no numbers, NOT_FOUND
  // when it does not exist. No side effects, so UNAVAILABLE is retried like a stream.
  MedianResult GetMedian(const std::string& session_id);

  // Removes the session and its numbers. NOT_FOUND when it does not exist. Not retried.
  void DeleteSession(const std::string& session_id);

  // One page of the server's sessions, ordered by id. page_size 0: the server's default (100);
  // at most 1,000. page_token: empty for the first page, else a next_page_token.
  SessionPage ListSessions(std::int32_t page_size = 0, const std::string& page_token = {});

  // Every session of the server, following next_page_token page by page.
  std::vector<SessionSummary> ListAllSessions(std::int32_t page_size = 0);

  const ClientOptions& options() const noexcept;

  // Fills *batch with the next request's numbers; false when there is no further request.
  using BatchSource = std::function<bool(std::vector<double>* batch)>;

  // The numbers of [first, last) as batches of at most batch_size; no numbers: one empty batch.
  template <typename InputIt>
  static BatchSource Batches(InputIt first, InputIt last, std::size_t batch_size) {
    return [first, last, batch_size, started = false](std::vector<double>* batch) mutable {
      batch->clear();
      while (batch->size() < batch_size && first != last) {
        batch->push_back(static_cast<double>(*first));
        ++first;
      }
      if (batch->empty() && started) return false;
      started = true;
      return true;
    };
  }

  // The exactly-once engines behind the templates, for callers that make their own batches.
  AddResult AddBatches(const std::string& session_id, const BatchSource& next_batch);
  void RunningBatches(const std::string& session_id, const BatchSource& next_batch,
                      const std::function<void(const RunningResult&)>& on_answer);

 private:
  std::size_t batch_size() const noexcept;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace median

#endif  // MEDIAN_CLIENT_H_
