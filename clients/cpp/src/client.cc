// median::Client: channels, per-call metadata, error details, and exactly-once ingest.
#include "median/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <array>
#include <climits>
#include <deque>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "median/v1/median.grpc.pb.h"

namespace median {
namespace {

using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;

constexpr char kSessionHeader[] = "median-session-id";
constexpr char kAuthorizationHeader[] = "authorization";
// Backoff between resumes: exponential with jitter from about 100 ms up to about 2 s (the
// contract every language's library follows).
constexpr milliseconds kInitialBackoff{100};
constexpr milliseconds kMaxBackoff{2000};
// An AddNumbers stream acknowledges nothing until it ends, so its requests are kept for a resend;
// past this many numbers the call ends the stream, which acknowledges them, and opens another.
constexpr std::size_t kMaxUnacknowledgedNumbers = std::size_t{1} << 20;
// RunningMedian requests in flight before the call waits for an answer; each answer is small, so
// the server never blocks on sending while this thread is writing.
constexpr std::size_t kRunningWindow = 64;

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlWithoutPadding(const std::array<std::uint8_t, 16>& bytes) {
  std::string encoded;
  encoded.reserve(22);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (std::uint8_t byte : bytes) {
    bits = (bits << 8) | byte;
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      encoded.push_back(kBase64UrlAlphabet[(bits >> bit_count) & 0x3F]);
    }
  }
  if (bit_count > 0) encoded.push_back(kBase64UrlAlphabet[(bits << (6 - bit_count)) & 0x3F]);
  return encoded;
}

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

// Exponential backoff with jitter, bounded by the call's deadline and by retry_for per outage.
class Resumer {
 public:
  Resumer(milliseconds retry_for, Clock::time_point deadline, grpc::Channel* channel)
      : retry_for_(retry_for), deadline_(deadline), channel_(channel), random_(NewSeed()) {}

  // After a failed attempt: false when the error is final (not retryable, or no time left);
  // otherwise sleeps the backoff (cut short at the time limit) and returns true. No attempt
  // starts after the limit.
  bool ShouldResume(const grpc::Status& status) {
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || retry_for_.count() <= 0) {
      return false;
    }
    const Clock::time_point now = Clock::now();
    if (!outage_start_) outage_start_ = now;
    connection_lost_ = channel_->GetState(false) != GRPC_CHANNEL_READY;
    const Clock::time_point limit = std::min(deadline_, *outage_start_ + retry_for_);
    std::uniform_int_distribution<milliseconds::rep> jitter(backoff_.count() / 2,
                                                            backoff_.count());
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    if (now >= limit) return false;
    // The last attempt starts when the time runs out rather than never.
    const auto left = std::chrono::duration_cast<milliseconds>(limit - now);
    std::this_thread::sleep_for(std::min(milliseconds(jitter(random_)), left));
    return true;
  }

  // The server answered: a later failure starts a new outage.
  void Answered() {
    outage_start_.reset();
    backoff_ = kInitialBackoff;
  }

  // A stream of a new attempt was written to: if the connection had been lost and is back, the
  // outage is over (a server restarted), so a later failure gets the full retry time again.
  void Wrote() {
    if (connection_lost_ && channel_->GetState(false) == GRPC_CHANNEL_READY) {
      connection_lost_ = false;
      Answered();
    }
  }

 private:
  static std::seed_seq::result_type NewSeed() { return std::random_device()(); }

  milliseconds retry_for_;
  Clock::time_point deadline_;
  grpc::Channel* channel_;
  std::minstd_rand random_;
  milliseconds backoff_ = kInitialBackoff;
  std::optional<Clock::time_point> outage_start_;
  bool connection_lost_ = false;
};

}  // namespace

std::string_view StatusCodeName(grpc::StatusCode code) noexcept {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN_CODE";
  }
}

Error::Error(const grpc::Status& status)
    : std::runtime_error(std::string(StatusCodeName(status.error_code())) + ": " +
                         status.error_message()),
      code_(status.error_code()),
      message_(status.error_message()) {
  // The details travel as a serialized google.rpc.Status in the grpc-status-details-bin trailer;
  // gRPC C++ hands over its bytes undecoded.
  google::rpc::Status rich;
  if (status.error_details().empty() || !rich.ParseFromString(status.error_details())) return;
  for (const google::protobuf::Any& detail : rich.details()) {
    google::rpc::BadRequest bad_request;
    google::rpc::QuotaFailure quota_failure;
    google::rpc::ErrorInfo error_info;
    if (detail.UnpackTo(&bad_request)) {
      for (const auto& violation : bad_request.field_violations()) {
        field_violations_.push_back({violation.field(), violation.description()});
      }
    } else if (detail.UnpackTo(&quota_failure)) {
      for (const auto& violation : quota_failure.violations()) {
        quota_violations_.push_back({violation.subject(), violation.description()});
      }
    } else if (detail.UnpackTo(&error_info)) {
      error_info_ = ErrorInfo{error_info.reason(), error_info.domain(),
                              {error_info.metadata().begin(), error_info.metadata().end()}};
    }
  }
}

std::string_view Error::code_name() const noexcept { return StatusCodeName(code_); }

bool Error::retryable() const noexcept { return code_ == grpc::StatusCode::UNAVAILABLE; }

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

std::string Client::NewId() {
  // Named explicitly: libstdc++'s default device may prefer a CPU instruction over the kernel.
  std::random_device random("/dev/urandom");
  static_assert(sizeof(std::random_device::result_type) * CHAR_BIT >= 32);
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    const std::uint32_t word = random();
    for (std::size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
  }
  return Base64UrlWithoutPadding(bytes);
}

std::string Client::CreateSession(std::string session_id) {
  const bool chosen_here = session_id.empty();
  if (chosen_here) session_id = NewId();
  median::v1::CreateSessionRequest request;
  request.set_session_id(session_id);
  const Clock::time_point deadline = impl_->UnaryDeadline();
  Resumer resumer(impl_->options.retry_for, deadline, impl_->channel.get());
  bool retried = false;
  while (true) {
    median::v1::CreateSessionResponse response;
    grpc::ClientContext context;
    impl_->Prepare(&context, session_id, deadline);
    const grpc::Status status = impl_->stub->CreateSession(&context, request, &response);
    if (status.ok()) return response.session_id();
    // A fresh 128-bit id that exists after a retry was made by the attempt whose answer was
    // lost: nobody else could have chosen it. A caller's own id stays ALREADY_EXISTS.
    if (retried && chosen_here && status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      return session_id;
    }
    if (!resumer.ShouldResume(status)) throw Error(status);
    retried = true;
  }
}

AddResult Client::AddBatches(const std::string& session_id, const BatchSource& next_batch) {
  const Clock::time_point deadline = Clock::now() + impl_->options.stream_timeout;
  Resumer resumer(impl_->options.retry_for, deadline, impl_->channel.get());
  const std::string writer_id = NewId();
  std::uint64_t seq = 0;
  // The requests of the current stream, all unacknowledged until its final answer.
  std::vector<median::v1::AddNumbersRequest> sent;
  std::size_t sent_numbers = 0;
  bool input_done = false;
  std::vector<double> batch;
  AddResult result;

  while (true) {
    grpc::ClientContext context;
    impl_->Prepare(&context, session_id, deadline);
    median::v1::AddNumbersResponse response;
    std::unique_ptr<grpc::ClientWriter<median::v1::AddNumbersRequest>> stream =
        impl_->stub->AddNumbers(&context, &response);
    bool open = true;
    for (const auto& request : sent) {
      if (!(open = stream->Write(request))) break;
    }
    if (open && !sent.empty()) resumer.Wrote();
    while (open && !input_done && sent_numbers < kMaxUnacknowledgedNumbers) {
      if (!next_batch(&batch)) {
        input_done = true;
        break;
      }
      median::v1::AddNumbersRequest& request = sent.emplace_back();
      request.set_session_id(session_id);
      request.set_request_id(writer_id + ":" + std::to_string(++seq));
      request.mutable_numbers()->Add(batch.begin(), batch.end());
      sent_numbers += batch.size();
      open = stream->Write(request);
      if (open) resumer.Wrote();
    }
    if (open) stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (status.ok()) {
      resumer.Answered();
      sent.clear();
      sent_numbers = 0;
      result = {response.added_count(), response.number_count(),
                OptionalMedian(response.has_median(), response.median())};
      if (input_done) return result;
      continue;  // More input than one stream keeps: the next stream goes on with the same seq.
    }
    if (!resumer.ShouldResume(status)) throw Error(status);
  }
}

void Client::RunningBatches(const std::string& session_id, const BatchSource& next_batch,
                            const std::function<void(const RunningResult&)>& on_answer) {
  const Clock::time_point deadline = Clock::now() + impl_->options.stream_timeout;
  Resumer resumer(impl_->options.retry_for, deadline, impl_->channel.get());
  const std::string writer_id = NewId();
  std::uint64_t seq = 0;
  std::size_t answered = 0;  // requests whose answer on_answer has seen
  std::deque<median::v1::RunningMedianRequest> unanswered;
  bool input_done = false;
  std::vector<double> batch;

  while (true) {
    grpc::ClientContext context;
    impl_->Prepare(&context, session_id, deadline);
    std::unique_ptr<grpc::ClientReaderWriter<median::v1::RunningMedianRequest,
                                             median::v1::RunningMedianResponse>>
        stream = impl_->stub->RunningMedian(&context);
    bool open = true;
    bool writes_done = false;
    for (const auto& request : unanswered) {
      if (!(open = stream->Write(request))) break;
    }
    if (open && !unanswered.empty()) resumer.Wrote();

    median::v1::RunningMedianResponse response;
    auto deliver = [&] {
      unanswered.pop_front();
      resumer.Answered();
      on_answer({answered++, response.added_count(), response.number_count(),
                 OptionalMedian(response.has_median(), response.median())});
    };
    while (open) {
      while (!input_done && unanswered.size() < kRunningWindow) {
        if (!next_batch(&batch)) {
          input_done = true;
          break;
        }
        median::v1::RunningMedianRequest& request = unanswered.emplace_back();
        request.set_session_id(session_id);
        request.set_request_id(writer_id + ":" + std::to_string(++seq));
        request.mutable_numbers()->Add(batch.begin(), batch.end());
        if (!(open = stream->Write(request))) break;
        resumer.Wrote();
      }
      if (!open) break;
      if (input_done && !writes_done) {
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
    const grpc::Status status = stream->Finish();
    if (status.ok() && unanswered.empty() && input_done) return;
    if (status.ok()) {
      // The server ended the stream without answering everything: treat as broken.
      if (!resumer.ShouldResume(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                             "the stream ended before every request was "
                                             "answered"))) {
        throw Error(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "the stream ended before every request was answered"));
      }
      continue;
    }
    if (!resumer.ShouldResume(status)) throw Error(status);
  }
}

MedianResult Client::GetMedian(const std::string& session_id) {
  median::v1::GetMedianRequest request;
  request.set_session_id(session_id);
  const Clock::time_point deadline = impl_->UnaryDeadline();
  Resumer resumer(impl_->options.retry_for, deadline, impl_->channel.get());
  while (true) {
    median::v1::GetMedianResponse response;
    grpc::ClientContext context;
    impl_->Prepare(&context, session_id, deadline);
    const grpc::Status status = impl_->stub->GetMedian(&context, request, &response);
    if (status.ok()) return {response.number_count(), response.median()};
    if (!resumer.ShouldResume(status)) throw Error(status);
  }
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
  const Clock::time_point deadline = impl_->UnaryDeadline();
  Resumer resumer(impl_->options.retry_for, deadline, impl_->channel.get());
  while (true) {
    median::v1::ListSessionsResponse response;
    grpc::ClientContext context;
    impl_->Prepare(&context, "", deadline);
    const grpc::Status status = impl_->stub->ListSessions(&context, request, &response);
    if (status.ok()) {
      SessionPage page;
      page.next_page_token = response.next_page_token();
      for (const auto& session : response.sessions()) {
        page.sessions.push_back({session.session_id(), session.number_count()});
      }
      return page;
    }
    if (!resumer.ShouldResume(status)) throw Error(status);
  }
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
