#include "queue/mpmc_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace atlas::core {
namespace {

TEST(MpmcRing, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(MpmcRing<int>(0).capacity(), 2u);
  EXPECT_EQ(MpmcRing<int>(5).capacity(), 8u);
  EXPECT_EQ(MpmcRing<int>(8).capacity(), 8u);
}

TEST(MpmcRing, FullRingRefusesAndKeepsTheItem) {
  MpmcRing<std::string> ring(4);
  for (int i = 0; i < 4; ++i) {
    std::string item = "r" + std::to_string(i);
    ASSERT_TRUE(ring.TryPush(item));
  }
  std::string extra = "extra";
  EXPECT_FALSE(ring.TryPush(extra));
  EXPECT_EQ(extra, "extra");  // a refused item is not moved from
  EXPECT_EQ(ring.ApproxSize(), 4u);
  EXPECT_EQ(ring.Claimed(), 4u);

  std::string out;
  std::uint64_t ticket = 99;
  ASSERT_TRUE(ring.TryPop(out, ticket));
  EXPECT_EQ(out, "r0");
  EXPECT_EQ(ticket, 0u);
  EXPECT_TRUE(ring.TryPush(extra));  // one slot free again
}

TEST(MpmcRing, FifoWithConsecutiveTicketsAcrossLaps) {
  MpmcRing<int> ring(4);
  std::uint64_t expected_ticket = 0;
  for (int lap = 0; lap < 5; ++lap) {
    for (int i = 0; i < 3; ++i) {
      int v = lap * 10 + i;
      ASSERT_TRUE(ring.TryPush(v));
    }
    for (int i = 0; i < 3; ++i) {
      int out = -1;
      std::uint64_t ticket = 0;
      ASSERT_TRUE(ring.TryPop(out, ticket));
      EXPECT_EQ(out, lap * 10 + i);
      EXPECT_EQ(ticket, expected_ticket++);
    }
    int none = 0;
    std::uint64_t ticket = 0;
    EXPECT_FALSE(ring.TryPop(none, ticket));
  }
}

// Several producers push while one consumer pops: every accepted item comes out exactly once,
// each producer's items in its own order, and tickets are 0..n-1 in pop order. Items refused
// because the ring was full are counted by the producers and account for the rest.
TEST(MpmcRing, MultipleProducersOneConsumer) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20000;
  MpmcRing<std::uint64_t> ring(64);
  std::atomic<int> running{kProducers};
  std::atomic<std::uint64_t> refused{0};
  std::vector<std::thread> producers;
  producers.reserve(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        std::uint64_t item = (static_cast<std::uint64_t>(p) << 32) | static_cast<std::uint64_t>(i);
        if (!ring.TryPush(item)) refused.fetch_add(1);
      }
      running.fetch_sub(1);
    });
  }
  std::vector<std::int64_t> last_of(kProducers, -1);
  std::uint64_t popped = 0;
  std::uint64_t next_ticket = 0;
  bool in_order = true;
  while (true) {
    std::uint64_t item = 0;
    std::uint64_t ticket = 0;
    if (ring.TryPop(item, ticket)) {
      const auto p = static_cast<std::size_t>(item >> 32);
      const auto i = static_cast<std::int64_t>(item & 0xffffffffu);
      in_order = in_order && i > last_of[p] && ticket == next_ticket;
      last_of[p] = i;
      ++next_ticket;
      ++popped;
      continue;
    }
    if (running.load() == 0 && ring.ApproxSize() == 0) break;
    std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(popped + refused.load(), static_cast<std::uint64_t>(kProducers) * kPerProducer);
  EXPECT_EQ(ring.Claimed(), popped);
}

}  // namespace
}  // namespace atlas::core
