// The resume policy of the library's calls: which errors are retried, the backoff between
// attempts, and how long an outage may last.
#ifndef MEDIAN_RESUMER_H_
#define MEDIAN_RESUMER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <optional>
#include <random>

#include "median/error.h"

namespace median::detail {

// Backoff between resumes: exponential with jitter from about 100 ms up to about 2 s (the
// contract every language's library follows; the shape of gRPC's connection-backoff.md, with
// "equal jitter": a pause drawn from [backoff / 2, backoff]).
constexpr std::chrono::milliseconds kInitialBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};

// The attempts of one call. Retryable (median/error.h): UNAVAILABLE, which gRPC C++ reports for
// a refused, reset or broken connection, and the transport's INTERNAL for a stream a proxy reset;
// every other status is an answer. The call ends at its deadline, and an outage ends retry_for
// after its first failure; the outage clock starts again when the server answers or a lost
// connection is made again.
class Resumer {
 public:
  using Clock = std::chrono::system_clock;

  Resumer(std::chrono::milliseconds retry_for, Clock::time_point deadline, grpc::Channel* channel);

  // After a failed attempt: false when the error is final (not retryable, or no time left);
  // otherwise sleeps the backoff (cut short at the time limit) and returns true. No attempt
  // starts after the limit.
  bool ShouldResume(const grpc::Status& status);

  // The server answered: a later failure starts a new outage.
  void Answered();

  // A stream of a new attempt was written to: if the connection had been lost and is back, the
  // outage is over (a server restarted), so a later failure gets the full retry time again.
  void Wrote();

 private:
  std::chrono::milliseconds retry_for_;
  Clock::time_point deadline_;
  grpc::Channel* channel_;
  std::minstd_rand random_;
  std::chrono::milliseconds backoff_ = kInitialBackoff;
  std::optional<Clock::time_point> outage_start_;
  bool connection_lost_ = false;
};

}  // namespace median::detail

#endif  // MEDIAN_RESUMER_H_
