// ManualClock: a Clock for tests that moves only when the test calls Advance, so no test sleeps.
// Wakers made by it wait on one condition variable that Advance and Notify signal. A test can
// also wait (on that condition variable, with a safety limit) until some thread sleeps on the
// clock, which tells it the sender has finished its work and is idle.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>

#include "atlas/clock.hpp"

namespace atlas::testing {

class ManualClock final : public Clock {
 public:
  ManualClock();

  TimePoint Now() override;
  double UnixSeconds() override;
  std::unique_ptr<Waker> NewWaker() override;

  // Moves time forward and wakes every waiter whose deadline has passed.
  void Advance(Duration d);
  // Blocks until at least `n` threads wait on Wakers of this clock; false when the safety limit
  // (real time) passes first.
  bool WaitForSleepers(std::size_t n,
                       std::chrono::milliseconds safety_limit = std::chrono::seconds(30));
  std::size_t sleepers();

 private:
  class ManualWaker;

  std::mutex mu_;
  std::condition_variable cv_;
  TimePoint now_;
  double unix_seconds_;
  std::size_t sleepers_ = 0;
};

}  // namespace atlas::testing
