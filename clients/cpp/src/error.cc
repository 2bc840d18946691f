// median::Error: the status code, the message and the google.rpc details of a failed call.
#include "median/error.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace median {

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
      message_(status.error_message()),
      retryable_(Retryable(status)) {
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

bool Retryable(const grpc::Status& status) noexcept {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) return true;
  // The transport's own statuses for a stream reset under the call and for a connection that
  // closed under it; resending is safe because every request carries its request id.
  if (!status.error_details().empty()) return false;
  return (status.error_code() == grpc::StatusCode::INTERNAL &&
          status.error_message() == "Received RST_STREAM with error code 2") ||
         (status.error_code() == grpc::StatusCode::UNKNOWN &&
          status.error_message() == "Stream removed");
}

bool Error::retryable() const noexcept { return retryable_; }

}  // namespace median
