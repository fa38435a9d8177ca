// The monitor itself: configuration checks, Start/Stop, the sampler's cadence on a manual
// clock, SampleNow, and the lock-free totals agreeing with the snapshots.
#include <gtest/gtest.h>

#include <chrono>

#include "energy_fixture.hpp"

namespace atlas::energy::testing {
namespace {

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override { tree_.Zone("intel-rapl:0", "package-0", 0); }
  TempTree tree_;
  atlas::testing::ManualClock clock_;
};

TEST_F(MonitorTest, RejectsABadConfiguration) {
  EnergyConfig config = Config(tree_, &clock_);
  config.sample_hz = 5;  // too slow to integrate power
  EXPECT_EQ(EnergyMonitor::Create(config).status().code(), StatusCode::kInvalidArgument);
  config.sample_hz = 10;
  config.cpu_tdp_w = -1;
  EXPECT_EQ(EnergyMonitor::Create(config).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MonitorTest, StartsOnceAndStopTakesALastSample) {
  auto monitor = EnergyMonitor::Create(Config(tree_, &clock_));
  ASSERT_TRUE(monitor.ok());
  EnergyMonitor& m = **monitor;
  EXPECT_EQ(m.SampleNow().sample, 0u);  // before Start: nothing is sampled
  ASSERT_TRUE(m.Start().ok());
  EXPECT_EQ(m.Start().code(), StatusCode::kConflict);
  tree_.SetEnergy("intel-rapl:0", 2'000'000);
  m.Stop();
  EXPECT_EQ(m.Latest().sample, 1u);
  EXPECT_DOUBLE_EQ(m.TotalJoules(), 2.0);
  m.Stop();  // idempotent
  tree_.SetEnergy("intel-rapl:0", 9'000'000);
  EXPECT_DOUBLE_EQ(m.SampleNow().total_joules, 2.0);  // after Stop: no more samples
}

TEST_F(MonitorTest, SampleNowReadsEveryDeviceAtOnce) {
  auto monitor = EnergyMonitor::Create(Config(tree_, &clock_));
  ASSERT_TRUE(monitor.ok());
  ASSERT_TRUE((*monitor)->Start().ok());
  tree_.SetEnergy("intel-rapl:0", 1'500'000);
  clock_.Advance(std::chrono::milliseconds(40));  // before the sampler's first deadline
  const Snapshot s = (*monitor)->SampleNow();
  EXPECT_EQ(s.sample, 1u);
  EXPECT_DOUBLE_EQ(s.seconds, 0.04);
  EXPECT_DOUBLE_EQ(s.total_joules, 1.5);
  EXPECT_DOUBLE_EQ((*monitor)->TotalJoules(), 1.5);
  EXPECT_DOUBLE_EQ(Find(s, "package-0")->power_w, 1.5 / 0.04);
}

TEST_F(MonitorTest, SamplerKeepsItsCadenceAndCatchesUpAfterAStall) {
  auto monitor = EnergyMonitor::Create(Config(tree_, &clock_));
  ASSERT_TRUE(monitor.ok());
  EnergyMonitor& m = **monitor;
  ASSERT_TRUE(m.Start().ok());
  ASSERT_TRUE(Tick(clock_, m));
  EXPECT_EQ(m.Latest().sample, 1u);
  EXPECT_DOUBLE_EQ(m.Latest().seconds, 0.1);
  // A stall of 0.35 s: one sample at the end of it, then the cadence restarts from there.
  ASSERT_TRUE(clock_.WaitForSleepers(1));
  clock_.Advance(std::chrono::milliseconds(350));
  ASSERT_TRUE(WaitForSample(m, 2));
  EXPECT_DOUBLE_EQ(m.Latest().seconds, 0.45);
  ASSERT_TRUE(Tick(clock_, m));
  EXPECT_DOUBLE_EQ(m.Latest().seconds, 0.55);
  EXPECT_EQ(m.Latest().sample, 3u);
}

TEST_F(MonitorTest, LockFreeTotalsMatchTheSnapshot) {
  tree_.Zone("intel-rapl:0:0", "dram", 0);
  auto monitor = EnergyMonitor::Create(Config(tree_, &clock_));
  ASSERT_TRUE(monitor.ok());
  EnergyMonitor& m = **monitor;
  ASSERT_TRUE(m.Start().ok());
  for (int i = 1; i <= 5; ++i) {
    tree_.SetEnergy("intel-rapl:0", i * 1'000'000ULL);
    tree_.SetEnergy("intel-rapl:0:0", i * 250'000ULL);
    ASSERT_TRUE(Tick(clock_, m));
    const Snapshot s = m.Latest();
    EXPECT_DOUBLE_EQ(m.TotalJoules(), s.total_joules);
    EXPECT_DOUBLE_EQ(m.ComponentJoules(Component::kCpu) + m.ComponentJoules(Component::kRam),
                     s.total_joules);
  }
  EXPECT_DOUBLE_EQ(m.TotalJoules(), 6.25);
  EXPECT_EQ(ToString(Component::kGpu), "gpu");
  EXPECT_EQ(ToString(Component::kRam), "ram");
}

}  // namespace
}  // namespace atlas::energy::testing
