// Clock: time and waiting, behind one interface, so tests drive time by hand (no real sleeping).
//
// Every wait in libatlas goes through a Waker that its Clock made: the sender thread sleeps until
// its next batch deadline or until a producer notifies it, and Flush/Shutdown callers wait for
// the sender with a deadline. Clock::Real() uses std::chrono::steady_clock and a condition
// variable; the test ManualClock (core/testing) only moves when a test advances it and then
// wakes every waiter whose deadline has passed. Clocks and Wakers are thread-safe.
#pragma once

#include <chrono>
#include <memory>

namespace atlas {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

// A sleeping place for one thread at a time. Notify() from any thread makes the current
// WaitUntil return, or the next one if nobody is waiting (the notification is remembered once,
// so a wake-up sent just before the wait is never lost).
class Waker {
 public:
  virtual ~Waker() = default;
  virtual void Notify() = 0;
  // Returns when notified or when the owning clock reaches `deadline`, whichever is first.
  virtual void WaitUntil(TimePoint deadline) = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;

  // The process-wide real clock (never deleted).
  static Clock* Real();

  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() = 0;
  // Wall-clock time as Unix seconds, for record timestamps.
  virtual double UnixSeconds() = 0;
  // A Waker whose deadlines are measured by this clock. It must not outlive the clock.
  virtual std::unique_ptr<Waker> NewWaker() = 0;
};

}  // namespace atlas
