// median::Client: channels, per-call metadata, and exactly-once ingest.
#include "median/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <sstream>

#include "median/v1/median.grpc.pb.h"
#include "resumer.h"

namespace median {
namespace {

using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;
using detail::kInitialBackoff;
using detail::kMaxBackoff;
using detail::Resumer;

constexpr char kSessionHeader[] = "median-session-id";
constexpr char kAuthorizationHeader[] = "authorization";
// An AddNumbers stream acknowledges nothing until it ends, so its requests are kept for a resend;
// past this many numbers the call ends the stream, which acknowledges them, and opens another.
constexpr std::size_t kMaxUnacknowledgedNumbers = std::size_t{1} << 20;
// RunningMedian requests in flight before the call waits for an answer; each answer is small, so
// the server never blocks on sending while this thread is writing.
constexpr std::size_t kRunningWindow = 64;

std::string ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (!in || contents.str().empty()) {
    throw std::invalid_argument(std::string("cannot read the ") + what + " \"" + path +
                                "\": give a readable PEM file");
  }
  return contents.str();
}

// A header value must be printable ASCII; a space or a newline is almost always a copy mistake.
void CheckToken(const std::string& token) {
  const bool printable = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return c > 0x20 && c < 0x7f;
  });
  if (!printable) {
    throw std::invalid_argument(
        "the token must be one or more printable ASCII characters without spaces (check for a "
        "stray newline or quote around it)");
  }
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const ClientOptions& options) {
  if (!options.tls) return grpc::InsecureChannelCredentials();
  const TlsOptions& tls = *options.tls;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw std::invalid_argument(
        "TLS cert_file and key_file go together: give the client certificate and its key");
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_file.empty()) ssl.pem_root_certs = ReadFile(tls.ca_file, "CA file");
  if (!tls.cert_file.empty()) {
    ssl.pem_cert_chain = ReadFile(tls.cert_file, "client certificate file");
    ssl.pem_private_key = ReadFile(tls.key_file, "client key file");
  }
  return grpc::SslCredentials(ssl);
}

std::optional<double> OptionalMedian(bool has_median, double median) {
  return has_median ? std::optional<double>(median) : std::nullopt;
}

// The requests of one exactly-once call: the caller's batches, each with the request id
// "<writer>:<seq>" (a fresh writer id, seq from 1) under which the server applies it once.
class Requests {
 public:
  Requests(const std::string& session_id, const Client::BatchSource& next_batch)
      : session_id_(session_id), next_batch_(next_batch), writer_id_(Client::NewId()) {}

  // Appends the next request to *requests and returns it; nullptr once the input is done.
  template <typename Container>
  const typename Container::value_type* Next(Container* requests) {
    if (done_ || !next_batch_(&batch_)) {
      done_ = true;
      return nullptr;
    }
    auto& request = requests->emplace_back();
    request.set_session_id(session_id_);
    request.set_request_id(writer_id_ + ":" + std::to_string(++seq_));
    request.mutable_numbers()->Add(batch_.begin(), batch_.end());
    return &request;
  }

  // Whether the caller's batches have all been made into requests.
  bool done() const noexcept { return done_; }

 private:
  const std::string& session_id_;
  const Client::BatchSource& next_batch_;
  const std::string writer_id_;
  std::uint64_t seq_ = 0;
  std::vector<double> batch_;
  bool done_ = false;
};

// Writes the unacknowledged requests of a resumed call again, in order, on its new stream;
// false when that stream broke too.
template <typename Stream, typename Container>
bool Resend(Stream* stream, const Container& requests, Resumer* resumer) {
  for (const auto& request : requests) {
    if (!stream->Write(request)) return false;
  }
  if (!requests.empty()) resumer->Wrote();
  return true;
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<median::v1::MedianService::Stub> stub;

  // Every call: its deadline, the routing header (when it names a session) and the token.
  // The token goes in as metadata rather than as call credentials because gRPC refuses call
  // credentials on a plaintext channel, and the server accepts tokens on either.
  void Prepare(grpc::ClientContext* context, const std::string& session_id,
               Clock::time_point deadline) const {
    context->set_deadline(deadline);
    if (!session_id.empty()) context->AddMetadata(kSessionHeader, session_id);
    if (options.token) context->AddMetadata(kAuthorizationHeader, "Bearer " + *options.token);
  }

  Clock::time_point UnaryDeadline() const { return Clock::now() + options.timeout; }

  // Makes attempts of a unary call, each on a fresh prepared context, until one succeeds or
  // fails for good (see Resumer); returns the status of that last attempt.
  template <typename Attempt>
  grpc::Status Retrying(const std::string& session_id, const Attempt& attempt) const {
    const Clock::time_point deadline = UnaryDeadline();
    Resumer resumer(options.retry_for, deadline, channel.get());
    while (true) {
      grpc::ClientContext context;
      Prepare(&context, session_id, deadline);
      const grpc::Status status = attempt(&context);
      if (status.ok() || !resumer.ShouldResume(status)) return status;
    }
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.target.empty()) throw std::invalid_argument("give a target (host:port)");
  if (options.token) CheckToken(*options.token);
  if (options.batch_size == 0) throw std::invalid_argument("batch_size must be at least 1");
  grpc::ChannelArguments arguments;
  // Reconnect soon after a server comes back, in step with the resume backoff (gRPC's default
  // starts at 1 s and grows to 120 s). GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its default:
  // gRPC also takes it as the time a connection attempt may take, and a TLS handshake with a
  // busy server can take longer than 100 ms.
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(kInitialBackoff.count()));
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(kMaxBackoff.count()));
  // gRPC 1.51's pick_first connects again after a failed attempt only once the target has been
  // resolved again, which the resolver allows only every so often (seconds): after a server
  // restart the channel would stay down that long. Re-resolving at the pace of the reconnect
  // backoff brings it back within the backoff.
  arguments.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
                   static_cast<int>(kInitialBackoff.count()));
  impl_->channel =
      grpc::CreateCustomChannel(options.target, ChannelCredentials(options), arguments);
  impl_->stub = median::v1::MedianService::NewStub(impl_->channel);
  impl_->options = std::move(options);
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const ClientOptions& Client::options() const noexcept { return impl_->options; }
std::size_t Client::batch_size() const noexcept { return impl_->options.batch_size; }

std::string Client::CreateSession(std::string session_id) {
  const bool chosen_here = session_id.empty();
  if (chosen_here) session_id = NewId();
  median::v1::CreateSessionRequest request;
  request.set_session_id(session_id);
  median::v1::CreateSessionResponse response;
  int attempts = 0;
  const grpc::Status status = impl_->Retrying(session_id, [&](grpc::ClientContext* context) {
    ++attempts;
    return impl_->stub->CreateSession(context, request, &response);
  });
  if (status.ok()) return response.session_id();
  // A fresh 128-bit id that exists after a retry was made by the attempt whose answer was
  // lost: nobody else could have chosen it. A caller's own id stays ALREADY_EXISTS.
  if (attempts > 1 && chosen_here && status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    return session_id;
  }
  throw Error(status);
}

AddResult Client::AddBatches(const std::string& session_id, const BatchSource& next_batch) {
  const Clock::time_point deadline = Clock::now() + impl_->options.stream_timeout;
  Resumer resumer(impl_->options.retry_for, deadline, impl_->channel.get());
  Requests requests(session_id, next_batch);
  // The requests of the current stream, all unacknowledged until its final answer.
  std::vector<median::v1::AddNumbersRequest> sent;
  std::size_t sent_numbers = 0;

  while (true) {
    grpc::ClientContext context;
    impl_->Prepare(&context, session_id, deadline);
    median::v1::AddNumbersResponse response;
    std::unique_ptr<grpc::ClientWriter<median::v1::AddNumbersRequest>> stream =
        impl_->stub->AddNumbers(&context, &response);
    bool open = Resend(stream.get(), sent, &resumer);
    while (open && sent_numbers < kMaxUnacknowledgedNumbers) {
      const median::v1::AddNumbersRequest* request = requests.Next(&sent);
      if (request == nullptr) break;
      sent_numbers += request->numbers_size();
      open = stream->Write(*request);
      if (open) resumer.Wrote();
    }
    if (open) stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (status.ok()) {
      resumer.Answered();
      if (requests.done()) {
        return {response.added_count(), response.number_count(),
                OptionalMedian(response.has_median(), response.median())};
      }
      // More input than one stream keeps: the next stream goes on with the same seq.
      sent.clear();
      sent_numbers = 0;
      continue;
    }
    if (!resumer.ShouldResume(status)) throw Error(status);
  }
}

void Client::RunningBatches(const std::string& session_id, const BatchSource& next_batch,
                            const std::function<void(const RunningResult&)>& on_answer) {
  const Clock::time_point deadline = Clock::now() + impl_->options.stream_timeout;
  Resumer resumer(impl_->options.retry_for, deadline, impl_->channel.get());
  Requests requests(session_id, next_batch);
  std::size_t answered = 0;  // requests whose answer on_answer has seen
  std::deque<median::v1::RunningMedianRequest> unanswered;

  while (true) {
    grpc::ClientContext context;
    impl_->Prepare(&context, session_id, deadline);
    std::unique_ptr<grpc::ClientReaderWriter<median::v1::RunningMedianRequest,
                                             median::v1::RunningMedianResponse>>
        stream = impl_->stub->RunningMedian(&context);
    bool open = Resend(stream.get(), unanswered, &resumer);
    bool writes_done = false;

    median::v1::RunningMedianResponse response;
    auto deliver = [&] {
      unanswered.pop_front();
      resumer.Answered();
      on_answer({answered++, response.added_count(), response.number_count(),
                 OptionalMedian(response.has_median(), response.median())});
    };
    while (open) {
      while (unanswered.size() < kRunningWindow) {
        const median::v1::RunningMedianRequest* request = requests.Next(&unanswered);
        if (request == nullptr) break;
        if (!(open = stream->Write(*request))) break;
        resumer.Wrote();
      }
      if (!open) break;
      if (requests.done() && !writes_done) {
        stream->WritesDone();
        writes_done = true;
      }
      if (unanswered.empty()) break;
      if (!(open = stream->Read(&response))) break;
      deliver();
    }
    // A broken stream may still hold answers that arrived before it broke: they acknowledge
    // their requests, which are then not resent.
    while (!unanswered.empty() && stream->Read(&response)) deliver();
    grpc::Status status = stream->Finish();
    if (status.ok()) {
      if (unanswered.empty() && requests.done()) return;
      // The server ended the stream without answering everything: treat as broken.
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "the stream ended before every request was answered");
    }
    if (!resumer.ShouldResume(status)) throw Error(status);
  }
}

MedianResult Client::GetMedian(const std::string& session_id) {
  median::v1::GetMedianRequest request;
  request.set_session_id(session_id);
  median::v1::GetMedianResponse response;
  const grpc::Status status = impl_->Retrying(session_id, [&](grpc::ClientContext* context) {
    return impl_->stub->GetMedian(context, request, &response);
  });
  if (!status.ok()) throw Error(status);
  return {response.number_count(), response.median()};
}

void Client::DeleteSession(const std::string& session_id) {
  median::v1::DeleteSessionRequest request;
  request.set_session_id(session_id);
  median::v1::DeleteSessionResponse response;
  grpc::ClientContext context;
  impl_->Prepare(&context, session_id, impl_->UnaryDeadline());
  const grpc::Status status = impl_->stub->DeleteSession(&context, request, &response);
  if (!status.ok()) throw Error(status);
}

SessionPage Client::ListSessions(std::int32_t page_size, const std::string& page_token) {
  median::v1::ListSessionsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  median::v1::ListSessionsResponse response;
  const grpc::Status status = impl_->Retrying("", [&](grpc::ClientContext* context) {
    return impl_->stub->ListSessions(context, request, &response);
  });
  if (!status.ok()) throw Error(status);
  SessionPage page;
  page.next_page_token = response.next_page_token();
  for (const auto& session : response.sessions()) {
    page.sessions.push_back({session.session_id(), session.number_count()});
  }
  return page;
}

std::vector<SessionSummary> Client::ListAllSessions(std::int32_t page_size) {
  std::vector<SessionSummary> sessions;
  std::string token;
  do {
    SessionPage page = ListSessions(page_size, token);
    std::move(page.sessions.begin(), page.sessions.end(), std::back_inserter(sessions));
    token = std::move(page.next_page_token);
  } while (!token.empty());
  return sessions;
}

}  // namespace median
