#include "testing/manual_clock.hpp"

namespace atlas::testing {

class ManualClock::ManualWaker final : public Waker {
 public:
  explicit ManualWaker(ManualClock* clock) : clock_(clock) {}

  void Notify() override {
    const std::lock_guard<std::mutex> lock(clock_->mu_);
    notified_ = true;
    clock_->cv_.notify_all();
  }

  void WaitUntil(TimePoint deadline) override {
    std::unique_lock<std::mutex> lock(clock_->mu_);
    ++clock_->sleepers_;
    clock_->cv_.notify_all();  // for WaitForSleepers
    clock_->cv_.wait(lock, [&] { return notified_ || clock_->now_ >= deadline; });
    --clock_->sleepers_;
    notified_ = false;
  }

 private:
  ManualClock* clock_;
  bool notified_ = false;  // guarded by clock_->mu_
};

ManualClock::ManualClock() : now_(TimePoint{} + std::chrono::hours(1)), unix_seconds_(1.7e9) {}

TimePoint ManualClock::Now() {
  const std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

double ManualClock::UnixSeconds() {
  const std::lock_guard<std::mutex> lock(mu_);
  return unix_seconds_;
}

std::unique_ptr<Waker> ManualClock::NewWaker() { return std::make_unique<ManualWaker>(this); }

void ManualClock::Advance(Duration d) {
  const std::lock_guard<std::mutex> lock(mu_);
  now_ += d;
  unix_seconds_ += std::chrono::duration<double>(d).count();
  cv_.notify_all();
}

bool ManualClock::WaitForSleepers(std::size_t n, std::chrono::milliseconds safety_limit) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, safety_limit, [&] { return sleepers_ >= n; });
}

std::size_t ManualClock::sleepers() {
  const std::lock_guard<std::mutex> lock(mu_);
  return sleepers_;
}

}  // namespace atlas::testing
