// The real Clock: steady_clock for deadlines, system_clock for timestamps, a condition variable
// for waiting.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "atlas/clock.hpp"

namespace atlas {
namespace {

class RealWaker final : public Waker {
 public:
  void Notify() override {
    {
      const std::lock_guard<std::mutex> lock(mu_);
      notified_ = true;
    }
    cv_.notify_one();
  }

  void WaitUntil(TimePoint deadline) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [this] { return notified_; });
    notified_ = false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;  // guarded by mu_
};

class RealClock final : public Clock {
 public:
  TimePoint Now() override { return std::chrono::steady_clock::now(); }
  double UnixSeconds() override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::unique_ptr<Waker> NewWaker() override { return std::make_unique<RealWaker>(); }
};

}  // namespace

Clock* Clock::Real() {
  static auto* clock = new RealClock();  // NOLINT(cppcoreguidelines-owning-memory)
  return clock;
}

}  // namespace atlas
