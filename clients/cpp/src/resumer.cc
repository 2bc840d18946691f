#include "resumer.h"

#include <algorithm>
#include <thread>

namespace median::detail {

using std::chrono::milliseconds;

Resumer::Resumer(milliseconds retry_for, Clock::time_point deadline, grpc::Channel* channel)
    : retry_for_(retry_for),
      deadline_(deadline),
      channel_(channel),
      random_(std::random_device()()) {}

bool Resumer::ShouldResume(const grpc::Status& status) {
  if (!Retryable(status) || retry_for_.count() <= 0) {
    return false;
  }
  const Clock::time_point now = Clock::now();
  if (!outage_start_) outage_start_ = now;
  connection_lost_ = channel_->GetState(false) != GRPC_CHANNEL_READY;
  const Clock::time_point limit = std::min(deadline_, *outage_start_ + retry_for_);
  std::uniform_int_distribution<milliseconds::rep> jitter(backoff_.count() / 2, backoff_.count());
  const milliseconds pause(jitter(random_));
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  if (now >= limit) return false;
  // The last attempt starts when the time runs out rather than never.
  std::this_thread::sleep_for(
      std::min(pause, std::chrono::duration_cast<milliseconds>(limit - now)));
  return true;
}

void Resumer::Answered() {
  outage_start_.reset();
  backoff_ = kInitialBackoff;
}

void Resumer::Wrote() {
  if (connection_lost_ && channel_->GetState(false) == GRPC_CHANNEL_READY) {
    connection_lost_ = false;
    Answered();
  }
}

}  // namespace median::detail
