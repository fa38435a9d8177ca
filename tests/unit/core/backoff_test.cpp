#include "sender/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

namespace atlas::core {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesUntilTheCap) {
  const Backoff backoff(milliseconds(100), milliseconds(1000), 1);
  EXPECT_EQ(backoff.Ceiling(0), milliseconds(100));
  EXPECT_EQ(backoff.Ceiling(1), milliseconds(200));
  EXPECT_EQ(backoff.Ceiling(2), milliseconds(400));
  EXPECT_EQ(backoff.Ceiling(3), milliseconds(800));
  EXPECT_EQ(backoff.Ceiling(4), milliseconds(1000));
  EXPECT_EQ(backoff.Ceiling(1000), milliseconds(1000));  // no overflow far out
}

// Full jitter: each delay lies in [0, ceiling(attempt)], and the delays are spread out rather
// than all equal.
TEST(Backoff, DelaysStayInsideTheirBoundsWithJitter) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    Backoff backoff(milliseconds(100), milliseconds(5000), seed);
    for (int attempt = 0; attempt < 12; ++attempt) {
      const Duration ceiling = backoff.Ceiling(attempt);
      const Duration delay = backoff.Next();
      EXPECT_GE(delay, Duration(0));
      EXPECT_LE(delay, ceiling);
    }
  }
  std::set<Duration::rep> distinct;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Backoff backoff(milliseconds(100), milliseconds(5000), seed);
    for (int i = 0; i < 5; ++i) (void)backoff.Next();
    distinct.insert(backoff.Next().count());  // attempt 5: ceiling 3.2 s
  }
  EXPECT_GT(distinct.size(), 10u);
}

TEST(Backoff, GrowsExponentiallyOnAverageAndResets) {
  // The mean of many draws at each attempt roughly doubles until the cap.
  auto mean_at = [](int attempt) {
    double sum = 0;
    constexpr int kDraws = 400;
    for (int seed = 1; seed <= kDraws; ++seed) {
      Backoff backoff(milliseconds(100), milliseconds(100000), static_cast<std::uint64_t>(seed));
      for (int i = 0; i < attempt; ++i) (void)backoff.Next();
      sum += std::chrono::duration<double>(backoff.Next()).count();
    }
    return sum / kDraws;
  };
  const double m2 = mean_at(2);
  const double m5 = mean_at(5);
  EXPECT_GT(m5, m2 * 4);  // expected ratio 8
  EXPECT_LT(m5, m2 * 16);

  Backoff backoff(milliseconds(100), milliseconds(1000), 7);
  for (int i = 0; i < 5; ++i) (void)backoff.Next();
  EXPECT_EQ(backoff.attempt(), 5);
  backoff.Reset();
  EXPECT_EQ(backoff.attempt(), 0);
  EXPECT_LE(backoff.Next(), milliseconds(100));
}

}  // namespace
}  // namespace atlas::core
