// median-client: streams numbers from standard input into a median.v1.MedianService session and
// prints the session's count and median.
//
//   median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]
//
// Exit status: 0 on success, 1 on a gRPC error (one line on stderr), 2 on a bad command line
// or a token of standard input that is not a number (nothing is sent then).
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "median/v1/median.grpc.pb.h"
#include "numbers.h"
#include "session_id.h"

using grpc::Channel;
using grpc::ClientContext;
using grpc::ClientReaderWriter;
using grpc::ClientWriter;
using grpc::Status;
using grpc::StatusCode;
using median::v1::AddNumbersRequest;
using median::v1::AddNumbersResponse;
using median::v1::CreateSessionRequest;
using median::v1::CreateSessionResponse;
using median::v1::DeleteSessionRequest;
using median::v1::DeleteSessionResponse;
using median::v1::GetMedianRequest;
using median::v1::GetMedianResponse;
using median::v1::MedianService;
using median::v1::RunningMedianRequest;
using median::v1::RunningMedianResponse;
using median_client::FormatNumber;
using median_client::NewSessionId;
using median_client::ParseNumber;

namespace {

constexpr char kSessionHeader[] = "median-session-id";
constexpr std::chrono::seconds kUnaryTimeout(10);
constexpr std::chrono::seconds kStreamTimeout(600);
constexpr std::size_t kDefaultBatch = 1000;

constexpr int kExitRpcError = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: median-client --target HOST:PORT [--session ID] [--batch N] [--running] "
    "[--delete]\n";

// The name grpc gives a status code, as in INVALID_ARGUMENT.
std::string StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::OK: return "OK";
    case StatusCode::CANCELLED: return "CANCELLED";
    case StatusCode::UNKNOWN: return "UNKNOWN";
    case StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case StatusCode::NOT_FOUND: return "NOT_FOUND";
    case StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case StatusCode::ABORTED: return "ABORTED";
    case StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case StatusCode::INTERNAL: return "INTERNAL";
    case StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case StatusCode::DATA_LOSS: return "DATA_LOSS";
    case StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

// A failed call as the one line the command line promises on stderr; returns the exit status.
int ReportError(const Status& status) {
  std::string message = status.error_message();
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::cout.flush();
  std::cerr << "error: " << StatusCodeName(status.error_code()) << ": " << message << std::endl;
  return kExitRpcError;
}

// Every call names its session in the routing header and carries a deadline.
void PrepareContext(ClientContext* context, const std::string& session_id,
                    std::chrono::seconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  context->AddMetadata(kSessionHeader, session_id);
}

// The numbers in requests of at most `batch_size`, in order; no numbers make one empty request.
template <typename Request>
std::vector<Request> MakeRequests(const std::string& session_id,
                                  const std::vector<double>& numbers, std::size_t batch_size) {
  std::vector<Request> requests;
  std::size_t start = 0;
  do {
    const std::size_t end = start + std::min(batch_size, numbers.size() - start);
    Request request;
    request.set_session_id(session_id);
    request.mutable_numbers()->Add(numbers.begin() + start, numbers.begin() + end);
    requests.push_back(std::move(request));
    start = end;
  } while (start < numbers.size());
  return requests;
}

class MedianClient {
 public:
  explicit MedianClient(std::shared_ptr<Channel> channel)
      : stub_(MedianService::NewStub(channel)) {}

  Status CreateSession(const std::string& session_id) {
    CreateSessionRequest request;
    request.set_session_id(session_id);
    CreateSessionResponse response;
    ClientContext context;
    PrepareContext(&context, session_id, kUnaryTimeout);
    return stub_->CreateSession(&context, request, &response);
  }

  // One AddNumbers stream with every request; then, unless the session is empty, GetMedian.
  // Prints `count=N median=M`, or `count=0`.
  Status AddNumbers(const std::string& session_id, const std::vector<double>& numbers,
                    std::size_t batch_size) {
    AddNumbersResponse added;
    {
      ClientContext context;
      PrepareContext(&context, session_id, kStreamTimeout);
      std::unique_ptr<ClientWriter<AddNumbersRequest>> writer(
          stub_->AddNumbers(&context, &added));
      for (const AddNumbersRequest& request :
           MakeRequests<AddNumbersRequest>(session_id, numbers, batch_size)) {
        if (!writer->Write(request)) {
          break;  // The stream is broken; Finish() says why.
        }
      }
      writer->WritesDone();
      Status status = writer->Finish();
      if (!status.ok()) return status;
    }
    if (added.number_count() == 0) {
      std::cout << "count=0" << std::endl;
      return Status::OK;
    }

    GetMedianRequest request;
    request.set_session_id(session_id);
    GetMedianResponse median;
    ClientContext context;
    PrepareContext(&context, session_id, kUnaryTimeout);
    Status status = stub_->GetMedian(&context, request, &median);
    if (status.ok()) {
      std::cout << "count=" << median.number_count() << " median=" << FormatNumber(median.median())
                << std::endl;
    }
    return status;
  }

  // One RunningMedian stream: a writer thread sends the requests while this thread prints
  // every answer as it arrives.
  Status RunningMedian(const std::string& session_id, const std::vector<double>& numbers,
                       std::size_t batch_size) {
    ClientContext context;
    PrepareContext(&context, session_id, kStreamTimeout);
    std::shared_ptr<ClientReaderWriter<RunningMedianRequest, RunningMedianResponse>> stream(
        stub_->RunningMedian(&context));

    std::thread writer([stream, &session_id, &numbers, batch_size]() {
      for (const RunningMedianRequest& request :
           MakeRequests<RunningMedianRequest>(session_id, numbers, batch_size)) {
        if (!stream->Write(request)) {
          break;  // The stream is broken; Finish() says why.
        }
      }
      stream->WritesDone();
    });

    RunningMedianResponse response;
    while (stream->Read(&response)) {
      std::cout << "count=" << response.number_count();
      if (response.has_median()) {
        std::cout << " median=" << FormatNumber(response.median());
      }
      std::cout << std::endl;
    }
    writer.join();
    return stream->Finish();
  }

  Status DeleteSession(const std::string& session_id) {
    DeleteSessionRequest request;
    request.set_session_id(session_id);
    DeleteSessionResponse response;
    ClientContext context;
    PrepareContext(&context, session_id, kUnaryTimeout);
    return stub_->DeleteSession(&context, request, &response);
  }

 private:
  std::unique_ptr<MedianService::Stub> stub_;
};

struct Options {
  std::string target;
  std::optional<std::string> session_id;
  std::size_t batch_size = kDefaultBatch;
  bool running = false;
  bool delete_session = false;
};

std::optional<std::size_t> ParsePositiveInteger(std::string_view text) {
  std::size_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || value == 0) return std::nullopt;
  return value;
}

int UsageError(const std::string& message) {
  std::cerr << "error: " << message << "\n" << kUsage;
  return kExitUsage;
}

// Fills `options` from the command line; returns an exit status when the program must stop.
std::optional<int> ParseOptions(int argc, char** argv, Options* options) {
  bool has_target = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (flag == "--running") {
      options->running = true;
      continue;
    }
    if (flag == "--delete") {
      options->delete_session = true;
      continue;
    }
    if (flag != "--target" && flag != "--session" && flag != "--batch") {
      return UsageError("unknown flag \"" + std::string(flag) + "\"");
    }
    if (i + 1 == argc) {
      return UsageError(std::string(flag) + " needs a value");
    }
    const std::string value = argv[++i];
    if (flag == "--target") {
      options->target = value;
      has_target = true;
    } else if (flag == "--session") {
      options->session_id = value;
    } else {
      const std::optional<std::size_t> batch_size = ParsePositiveInteger(value);
      if (!batch_size) {
        return UsageError("--batch needs a positive integer, not \"" + value + "\"");
      }
      options->batch_size = *batch_size;
    }
  }
  if (!has_target) return UsageError("--target HOST:PORT is required");
  return std::nullopt;
}

// Every number of standard input, or the first token that is not one.
struct Input {
  std::vector<double> numbers;
  std::optional<std::string> bad_token;
};

Input ReadNumbers(std::istream& in) {
  Input input;
  std::string token;
  while (in >> token) {  // Tokens are separated by any whitespace.
    const std::optional<double> number = ParseNumber(token);
    if (!number) {
      input.bad_token = token;
      break;
    }
    input.numbers.push_back(*number);
  }
  return input;
}

// gRPC writes its own diagnostics to stderr; this client reports every failure itself.
void DiscardGrpcLog(gpr_log_func_args* /*args*/) {}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::optional<int> exit_status = ParseOptions(argc, argv, &options)) {
    return *exit_status;
  }

  // All of standard input is read and checked before anything is sent.
  const Input input = ReadNumbers(std::cin);
  if (input.bad_token) {
    std::cerr << "error: \"" << *input.bad_token << "\" is not a number\n";
    return kExitUsage;
  }

  gpr_set_log_function(DiscardGrpcLog);
  MedianClient client(grpc::CreateChannel(options.target, grpc::InsecureChannelCredentials()));

  std::string session_id;
  if (options.session_id) {
    session_id = *options.session_id;
  } else {
    session_id = NewSessionId();
    Status status = client.CreateSession(session_id);
    if (!status.ok()) return ReportError(status);
    std::cout << "session=" << session_id << std::endl;
  }

  Status status = options.running
                      ? client.RunningMedian(session_id, input.numbers, options.batch_size)
                      : client.AddNumbers(session_id, input.numbers, options.batch_size);
  if (!status.ok()) return ReportError(status);

  if (options.delete_session) {
    status = client.DeleteSession(session_id);
    if (!status.ok()) return ReportError(status);
  }
  return 0;
}
