// Exponential backoff with full jitter (the AWS architecture blog's "full jitter"): the n-th
// consecutive retry waits a uniformly random time in [0, min(cap, base * 2^n)], which spreads the
// retries of many clients after an outage instead of having them hammer the server in step.
// Used by the sender thread only; not synchronised.
#pragma once

#include <cstdint>
#include <random>

#include "atlas/clock.hpp"

namespace atlas::core {

class Backoff {
 public:
  Backoff(Duration base, Duration cap, std::uint64_t seed);

  // The delay before the next retry; each call is one more consecutive failure.
  Duration Next();
  // After a success: the next failure starts again from `base`.
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }
  // The upper bound of the delay Next() returns at consecutive failure number `attempt`.
  Duration Ceiling(int attempt) const;

 private:
  Duration base_;
  Duration cap_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace atlas::core
