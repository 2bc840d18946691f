// median::Error: a failed call of the median service, with its decoded google.rpc details.
#ifndef MEDIAN_ERROR_H_
#define MEDIAN_ERROR_H_

#include <grpcpp/support/status.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace median {

// One field violation of a google.rpc.BadRequest detail.
struct FieldViolation {
  std::string field;        // e.g. "numbers[3]"
  std::string description;  // what is wrong with it
};

// One violation of a google.rpc.QuotaFailure detail.
struct QuotaViolation {
  std::string subject;      // the limit, e.g. "--max-session-numbers"
  std::string description;  // e.g. "limit 10000000"
};

// A google.rpc.ErrorInfo detail.
struct ErrorInfo {
  std::string reason;  // UPPER_SNAKE_CASE, e.g. "MAX_SESSION_NUMBERS"
  std::string domain;  // the service that gave it
  std::map<std::string, std::string> metadata;
};

// A failed call: the gRPC status code, the server's message, and the google.rpc details the
// server sent in the `grpc-status-details-bin` trailer (read from grpc::Status::error_details()).
// what() is "CODE_NAME: message".
class Error : public std::runtime_error {
 public:
  explicit Error(const grpc::Status& status);

  grpc::StatusCode code() const noexcept { return code_; }
  // The canonical name of the code, e.g. "NOT_FOUND".
  std::string_view code_name() const noexcept;
  const std::string& message() const noexcept { return message_; }
  const std::vector<FieldViolation>& field_violations() const noexcept { return field_violations_; }
  const std::vector<QuotaViolation>& quota_violations() const noexcept { return quota_violations_; }
  const std::optional<ErrorInfo>& error_info() const noexcept { return error_info_; }
  // Whether the library would resume after this error (see Retryable).
  bool retryable() const noexcept;

 private:
  grpc::StatusCode code_;
  std::string message_;
  bool retryable_;
  std::vector<FieldViolation> field_violations_;
  std::vector<QuotaViolation> quota_violations_;
  std::optional<ErrorInfo> error_info_;
};

// Whether the library resumes after a failed attempt with this status: UNAVAILABLE (a refused,
// reset or broken connection), or the INTERNAL that gRPC C++'s HTTP/2 transport makes itself when
// a proxy resets a stream with RST_STREAM INTERNAL_ERROR (code 2; Envoy does so to an open stream
// whose shard dies): message exactly "Received RST_STREAM with error code 2" (gRPC core's
// frame_rst_stream.cc; what gRPC 1.51 reports) and no google.rpc details; or the UNKNOWN that
// gRPC core sometimes makes of a connection that closed under the call: message exactly "Stream
// removed" (grpc/grpc#34076) and no details. An INTERNAL or UNKNOWN the server sent is final.
bool Retryable(const grpc::Status& status) noexcept;

// The canonical name of a gRPC status code ("INVALID_ARGUMENT"); "UNKNOWN_CODE" for a code
// outside the canonical ones.
std::string_view StatusCodeName(grpc::StatusCode code) noexcept;

}  // namespace median

#endif  // MEDIAN_ERROR_H_
