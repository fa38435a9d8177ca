// The CPU and RAM models on fake procfs files: TDP choice, process-tree CPU time, machine
// utilisation, resident memory, each with exact joules.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

#include "energy/model_source.hpp"
#include "energy_fixture.hpp"

namespace atlas::energy::testing {
namespace {

double TicksPerSecond() { return static_cast<double>(::sysconf(_SC_CLK_TCK)); }

TEST(CpuInfoTest, CountsProcessorsAndSockets) {
  const CpuInfo info = ParseCpuInfo(
      "processor\t: 0\nmodel name\t: AMD EPYC 7742 64-Core Processor\nphysical id\t: 0\n\n"
      "processor\t: 1\nmodel name\t: AMD EPYC 7742 64-Core Processor\nphysical id\t: 1\n\n"
      "processor\t: 2\nmodel name\t: AMD EPYC 7742 64-Core Processor\nphysical id\t: 1\n");
  EXPECT_EQ(info.model, "AMD EPYC 7742 64-Core Processor");
  EXPECT_EQ(info.logical, 3);
  EXPECT_EQ(info.sockets, 2);
}

TEST(CpuTdpTest, LongestTableMatchWins) {
  ASSERT_TRUE(FindCpuTdp("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz"));
  EXPECT_EQ(FindCpuTdp("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz")->tdp_w, 205);
  EXPECT_EQ(FindCpuTdp("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")->tdp_w, 150);
  EXPECT_FALSE(FindCpuTdp("AMD EPYC"));
}

TEST(CpuTdpTest, TableTimesSocketsUserOverrideAndPerThreadFallback) {
  const TdpChoice table = ChooseTdp({"AMD EPYC 7742 64-Core Processor", 256, 2}, std::nullopt);
  EXPECT_DOUBLE_EQ(table.watts, 450.0);
  EXPECT_NE(table.source.find("EPYC 7742"), std::string::npos);
  EXPECT_DOUBLE_EQ(ChooseTdp({"AMD EPYC 7742", 256, 2}, 123.0).watts, 123.0);
  const TdpChoice fallback = ChooseTdp({"AMD EPYC", 16, 1}, std::nullopt);
  EXPECT_DOUBLE_EQ(fallback.watts, 16 * kWattsPerThreadFallback);
  EXPECT_NE(fallback.source.find("not in the TDP table"), std::string::npos);
}

class ModelTest : public ::testing::Test {
 protected:
  std::unique_ptr<EnergyMonitor> StartMonitor(EnergyConfig config) {
    config.rapl = false;
    auto monitor = EnergyMonitor::Create(std::move(config));
    EXPECT_TRUE(monitor.ok()) << monitor.status().message();
    EXPECT_TRUE((*monitor)->Start().ok());
    return std::move(*monitor);
  }

  TempTree tree_;
  atlas::testing::ManualClock clock_;
};

TEST_F(ModelTest, ProcessTreeCpuTimeTimesTdpOverLogicalCpus) {
  tree_.CpuInfo("Unknown CPU", 4, 1);
  const auto ticks = static_cast<std::uint64_t>(TicksPerSecond());
  tree_.Process(kFakePid, 10 * ticks, 2 * ticks, 1024, "4243");
  tree_.Process(4243, ticks, 0, 1024);
  EnergyConfig config = Config(tree_, &clock_);
  config.cpu_tdp_w = 100.0;
  auto monitor = StartMonitor(config);
  // 0.3 s of the parent's CPU time and 0.1 s of its child's in 0.1 s of wall time: 4 CPUs are
  // 100% busy for 0.1 s, so 100 W x 0.1 s = 10 J... at 1/4 x 0.4 CPU-seconds per 0.1 s, i.e.
  // 100 W x 0.4 / 4 = 10 J.
  tree_.Process(kFakePid, 10 * ticks + 3 * ticks / 10, 2 * ticks, 1024, "4243");
  tree_.Process(4243, ticks + ticks / 10, 0, 1024);
  ASSERT_TRUE(Tick(clock_, *monitor));
  const DeviceReading cpu = *Find(monitor->Latest(), "cpu");
  EXPECT_EQ(cpu.method, "estimated:cpu-model");
  EXPECT_NEAR(cpu.joules, 10.0, 1e-9);
  EXPECT_NEAR(cpu.power_w, 100.0, 1e-9);
  EXPECT_NE(cpu.degraded.find("TDP 100 W (user setting)"), std::string::npos) << cpu.degraded;
}

TEST_F(ModelTest, ANewChildCountsFromWhenItIsFirstSeen) {
  tree_.CpuInfo("Unknown CPU", 2, 1);
  const auto ticks = static_cast<std::uint64_t>(TicksPerSecond());
  tree_.Process(kFakePid, 0, 0, 0);
  EnergyConfig config = Config(tree_, &clock_);
  config.cpu_tdp_w = 10.0;
  auto monitor = StartMonitor(config);
  tree_.Process(kFakePid, 0, 0, 0, "77");
  tree_.Process(77, 5 * ticks, 0, 0);  // 5 s of CPU before it was first seen: not this run's
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 0.0);
  tree_.Process(77, 5 * ticks + ticks / 10, 0, 0);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_NEAR(monitor->ComponentJoules(Component::kCpu), 10.0 * 0.1 / 2, 1e-9);
}

TEST_F(ModelTest, MachineScopeUsesProcStatBusyShare) {
  tree_.CpuInfo("Unknown CPU", 2, 1);
  tree_.Write("proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n");
  tree_.Write("proc/meminfo", "MemTotal:  8388608 kB\nMemAvailable:  4194304 kB\n");
  EnergyConfig config = Config(tree_, &clock_);
  config.model_scope = ModelScope::kMachine;
  config.cpu_tdp_w = 60.0;
  auto monitor = StartMonitor(config);
  // 150 busy of 200 jiffies (guest time is inside user and is not added again).
  tree_.Write("proc/stat", "cpu  200 0 150 850 0 0 0 0 77 0\n");
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_NEAR(monitor->ComponentJoules(Component::kCpu), 60.0 * 0.75 * 0.1, 1e-12);
  // 4 GiB used x 0.375 W/GiB = 1.5 W for 0.1 s.
  EXPECT_NEAR(monitor->ComponentJoules(Component::kRam), 0.15, 1e-12);
}

TEST_F(ModelTest, ResidentMemoryOfTheTreeTimesWattsPerGib) {
  tree_.CpuInfo("Unknown CPU", 2, 1);
  tree_.Process(kFakePid, 0, 0, 1024ULL * 1024, "88");  // 1 GiB
  tree_.Process(88, 0, 0, 1024ULL * 1024);              // 1 GiB
  auto monitor = StartMonitor(Config(tree_, &clock_));
  tree_.Process(88, 0, 0, 3ULL * 1024 * 1024);  // 3 GiB: 4 GiB in all now
  ASSERT_TRUE(Tick(clock_, *monitor));
  // Trapezoid of 2 GiB and 4 GiB x 0.375 W/GiB over 0.1 s.
  EXPECT_NEAR(Find(monitor->Latest(), "ram")->joules, (0.75 + 1.5) / 2 * 0.1, 1e-12);
}

TEST_F(ModelTest, UnreadableInputsAreNaNNotZero) {
  auto monitor = StartMonitor(Config(tree_, &clock_));  // no procfs files at all
  const DeviceReading cpu = *Find(monitor->Latest(), "cpu");
  EXPECT_TRUE(std::isnan(cpu.joules));
  EXPECT_EQ(cpu.method, "unavailable");
  EXPECT_NE(cpu.degraded.find("cannot read"), std::string::npos) << cpu.degraded;
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_TRUE(std::isnan(Find(monitor->Latest(), "ram")->joules));
  EXPECT_DOUBLE_EQ(monitor->TotalJoules(), 0.0);
}

}  // namespace
}  // namespace atlas::energy::testing
