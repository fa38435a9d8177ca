#include "sender/backoff.hpp"

#include <algorithm>

namespace atlas::core {

Backoff::Backoff(Duration base, Duration cap, std::uint64_t seed)
    : base_(std::max(base, Duration(1))), cap_(std::max(cap, base_)), rng_(seed) {}

Duration Backoff::Ceiling(int attempt) const {
  Duration ceiling = base_;
  for (int i = 0; i < attempt && ceiling < cap_; ++i) ceiling *= 2;  // stops before overflow
  return std::min(ceiling, cap_);
}

Duration Backoff::Next() {
  const Duration ceiling = Ceiling(attempt_);
  if (attempt_ < 62) ++attempt_;
  std::uniform_int_distribution<Duration::rep> pick(0, ceiling.count());
  return Duration(pick(rng_));
}

}  // namespace atlas::core
