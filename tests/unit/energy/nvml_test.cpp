// The GPU source against the fake NVML library: the counter path, the power-integration path
// (a GPU without the counter), failures, and a GPU with neither, each with exact joules.
#include <gtest/gtest.h>

#include <cmath>

#include "energy_fixture.hpp"

namespace atlas::energy::testing {
namespace {

class NvmlTest : public ::testing::Test {
 protected:
  void SetUp() override { nvml_.Reset(); }

  std::unique_ptr<EnergyMonitor> StartMonitor(EnergyConfig config) {
    config.rapl = false;
    auto monitor = EnergyMonitor::Create(std::move(config));
    EXPECT_TRUE(monitor.ok()) << monitor.status().message();
    EXPECT_TRUE((*monitor)->Start().ok());
    return std::move(*monitor);
  }

  TempTree tree_;
  atlas::testing::ManualClock clock_;
  FakeNvml nvml_;
};

TEST_F(NvmlTest, CounterDeltasAreTheGpuEnergy) {
  nvml_.AddDevice("NVIDIA H100 80GB HBM3");
  nvml_.SetEnergyMj(0, 1'000'000);
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  nvml_.SetEnergyMj(0, 1'250'500);
  ASSERT_TRUE(Tick(clock_, *monitor));
  Snapshot s = monitor->Latest();
  const std::optional<DeviceReading> gpu = Find(s, "gpu-0");
  ASSERT_TRUE(gpu.has_value());
  EXPECT_EQ(gpu->method, "measured:nvml-counter");
  EXPECT_EQ(gpu->name, "NVIDIA H100 80GB HBM3");
  EXPECT_DOUBLE_EQ(gpu->joules, 250.5);
  EXPECT_DOUBLE_EQ(gpu->power_w, 2505.0);  // 250.5 J over 0.1 s
  EXPECT_EQ(gpu->degraded, "");
  EXPECT_EQ(gpu->utilization_percent, 87.0);
  EXPECT_EQ(gpu->memory_used_bytes, static_cast<double>(20ULL << 30));
  EXPECT_EQ(gpu->memory_total_bytes, static_cast<double>(80ULL << 30));
  EXPECT_EQ(gpu->power_limit_w, 700.0);

  nvml_.SetEnergyMj(0, 1'300'500);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->TotalJoules(), 300.5);
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kGpu), 300.5);
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 0.0);  // no model without procfs
}

TEST_F(NvmlTest, GpuWithoutCounterIntegratesPowerWithTheTrapezoidRule) {
  nvml_.AddDevice("Tesla T4", kNotSupported);
  nvml_.SetPowerMw(0, 100'000);
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  nvml_.SetPowerMw(0, 200'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(Find(monitor->Latest(), "gpu-0")->joules, 15.0);  // (100 + 200) / 2 * 0.1
  nvml_.SetPowerMw(0, 300'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  const DeviceReading gpu = *Find(monitor->Latest(), "gpu-0");
  EXPECT_DOUBLE_EQ(gpu.joules, 40.0);  // + (200 + 300) / 2 * 0.1
  EXPECT_DOUBLE_EQ(gpu.power_w, 250.0);
  EXPECT_EQ(gpu.method, "measured:nvml-power");
  EXPECT_NE(gpu.degraded.find("Not Supported"), std::string::npos) << gpu.degraded;
}

TEST_F(NvmlTest, FailedPowerReadingsAreBridgedAndReported) {
  nvml_.AddDevice("Tesla T4", kNotSupported);
  nvml_.SetPowerMw(0, 100'000);
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  nvml_.SetPowerError(0, 15);  // NVML_ERROR_UNKNOWN
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(Find(monitor->Latest(), "gpu-0")->joules, 0.0);
  nvml_.SetPowerError(0, 0);
  nvml_.SetPowerMw(0, 300'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  const DeviceReading gpu = *Find(monitor->Latest(), "gpu-0");
  EXPECT_DOUBLE_EQ(gpu.joules, 40.0);  // (100 + 300) / 2 * 0.2: a line across the gap
  EXPECT_NE(gpu.degraded.find("1 of 2 readings failed"), std::string::npos) << gpu.degraded;
}

TEST_F(NvmlTest, GpuWithNeitherCounterNorPowerIsNaNNeverZero) {
  nvml_.AddDevice("Old GPU", kNotSupported, kNotSupported);
  nvml_.AddDevice("H100");
  nvml_.SetEnergyMj(1, 5'000);
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  nvml_.SetEnergyMj(1, 7'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  const Snapshot s = monitor->Latest();
  const std::optional<DeviceReading> old = Find(s, "gpu-0");
  ASSERT_TRUE(old.has_value());
  EXPECT_TRUE(std::isnan(old->joules));
  EXPECT_EQ(old->method, "unavailable");
  EXPECT_NE(old->degraded.find("unknown"), std::string::npos) << old->degraded;
  EXPECT_DOUBLE_EQ(s.total_joules, 2.0);  // the measured GPU only
}

TEST_F(NvmlTest, CountersAndPowerOnSeveralGpusSum) {
  nvml_.AddDevice("A100", 0);
  nvml_.AddDevice("T4", kNotSupported);
  nvml_.SetEnergyMj(0, 0);
  nvml_.SetPowerMw(1, 70'000);
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  nvml_.SetEnergyMj(0, 30'000);
  nvml_.SetPowerMw(1, 70'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(Find(monitor->Latest(), "gpu-0")->joules, 30.0);
  EXPECT_DOUBLE_EQ(Find(monitor->Latest(), "gpu-1")->joules, 7.0);
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kGpu), 37.0);
}

TEST_F(NvmlTest, GpuIndicesSelectDevices) {
  nvml_.AddDevice("A");
  nvml_.AddDevice("B");
  EnergyConfig config = Config(tree_, &clock_, true);
  config.gpu_indices = {1};
  auto monitor = StartMonitor(config);
  const Snapshot s = monitor->Latest();
  EXPECT_FALSE(Find(s, "gpu-0").has_value());
  ASSERT_TRUE(Find(s, "gpu-1").has_value());
  EXPECT_EQ(Find(s, "gpu-1")->name, "B");
}

TEST_F(NvmlTest, CounterThatGoesBackRestartsFromZero) {
  nvml_.AddDevice("A100");
  nvml_.SetEnergyMj(0, 900'000);
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  nvml_.SetEnergyMj(0, 910'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  nvml_.SetEnergyMj(0, 4'000);  // the driver was reloaded
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->TotalJoules(), 14.0);
}

TEST_F(NvmlTest, MissingLibraryIsANoteNotAFailure) {
  EnergyConfig config = Config(tree_, &clock_, false);
  config.nvml_library = tree_.root() + "/no/libnvidia-ml.so.1";
  auto monitor = StartMonitor(config);
  ASSERT_EQ(monitor->Notes().size(), 1u);
  EXPECT_NE(monitor->Notes()[0].find("NVML not loaded"), std::string::npos);
  EXPECT_FALSE(Find(monitor->Latest(), "gpu-0").has_value());
}

TEST_F(NvmlTest, InitFailureIsANote) {
  nvml_.Reset(9);  // NVML_ERROR_DRIVER_NOT_LOADED
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  ASSERT_FALSE(monitor->Notes().empty());
  EXPECT_EQ(monitor->Notes()[0], "NVML not initialised: Driver Not Loaded");
}

TEST_F(NvmlTest, NoGpuIsANote) {
  auto monitor = StartMonitor(Config(tree_, &clock_, true));
  ASSERT_FALSE(monitor->Notes().empty());
  EXPECT_EQ(monitor->Notes()[0], "NVML reports no GPU to measure");
  EXPECT_EQ(nvml_.Shutdowns(), 1);  // initialised, so shut down again
}

TEST_F(NvmlTest, DestructionShutsNvmlDown) {
  nvml_.AddDevice("A100");
  {
    auto monitor = StartMonitor(Config(tree_, &clock_, true));
    EXPECT_EQ(nvml_.Shutdowns(), 0);
  }
  EXPECT_EQ(nvml_.Shutdowns(), 1);
}

}  // namespace
}  // namespace atlas::energy::testing
