// The RAPL source on a fake powercap tree: package and dram domains, wraparound, duplicate
// zones (MMIO copies, one zone per die reading the same package), psys, permission denied.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "energy/rapl_source.hpp"
#include "energy_fixture.hpp"

namespace atlas::energy::testing {
namespace {

class RaplTest : public ::testing::Test {
 protected:
  std::unique_ptr<EnergyMonitor> StartMonitor(EnergyConfig config) {
    auto monitor = EnergyMonitor::Create(std::move(config));
    EXPECT_TRUE(monitor.ok()) << monitor.status().message();
    EXPECT_TRUE((*monitor)->Start().ok());
    return std::move(*monitor);
  }
  bool HasNote(const EnergyMonitor& m, const std::string& part) {
    const auto notes = m.Notes();
    return std::any_of(notes.begin(), notes.end(),
                       [&](const std::string& n) { return n.find(part) != std::string::npos; });
  }

  TempTree tree_;
  atlas::testing::ManualClock clock_;
};

TEST(RaplDeltaTest, WrapsAtTheMaximumRange) {
  EXPECT_EQ(RaplDelta(100, 250, 1000), 150u);
  EXPECT_EQ(RaplDelta(900, 50, 1000), 150u);  // 900 -> 1000, then 0 -> 50
  EXPECT_EQ(RaplDelta(900, 50, 0), 50u);      // range unknown: a restart from 0
}

TEST_F(RaplTest, PackageAndDramAreMeasuredCoreIsInsideThePackage) {
  tree_.Zone("intel-rapl:0", "package-0", 1'000'000);
  tree_.Zone("intel-rapl:0:0", "core", 500'000);
  tree_.Zone("intel-rapl:0:1", "dram", 200'000);
  auto monitor = StartMonitor(Config(tree_, &clock_));
  tree_.SetEnergy("intel-rapl:0", 6'000'000);
  tree_.SetEnergy("intel-rapl:0:0", 4'000'000);
  tree_.SetEnergy("intel-rapl:0:1", 700'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  const Snapshot s = monitor->Latest();
  ASSERT_EQ(s.devices.size(), 2u);  // no model: both components are measured
  const std::optional<DeviceReading> package = Find(s, "package-0");
  const std::optional<DeviceReading> dram = Find(s, "dram-0");
  ASSERT_TRUE(package.has_value());
  ASSERT_TRUE(dram.has_value());
  EXPECT_EQ(package->method, "measured:rapl");
  EXPECT_EQ(package->component, Component::kCpu);
  EXPECT_DOUBLE_EQ(package->joules, 5.0);
  EXPECT_DOUBLE_EQ(package->power_w, 50.0);
  EXPECT_EQ(dram->component, Component::kRam);
  EXPECT_DOUBLE_EQ(dram->joules, 0.5);
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 5.0);
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kRam), 0.5);
  EXPECT_DOUBLE_EQ(monitor->TotalJoules(), 5.5);
}

TEST_F(RaplTest, WraparoundIsCountedOnce) {
  constexpr std::uint64_t kMax = 262'143'328'850ULL;
  tree_.Zone("intel-rapl:0", "package-0", kMax - 1'000'000, kMax);
  auto monitor = StartMonitor(Config(tree_, &clock_));
  tree_.SetEnergy("intel-rapl:0", 500'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 1.5);
  tree_.SetEnergy("intel-rapl:0", 2'500'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 3.5);
}

TEST_F(RaplTest, DuplicateZonesOfOnePackageAreNotDoubleCounted) {
  // Two sockets; an MMIO copy of package-0; and a second zone per die that reads package-0's
  // counter again (the same domain name and package).
  tree_.Zone("intel-rapl:0", "package-0", 0);
  tree_.Zone("intel-rapl:1", "package-1", 0);
  tree_.Zone("intel-rapl:2", "package-0", 0);
  tree_.Zone("intel-rapl-mmio:0", "package-0", 0);
  tree_.Zone("intel-rapl:0:0", "dram", 0);
  tree_.Zone("intel-rapl:2:0", "dram", 0);  // dram of the duplicate: the same domain
  auto monitor = StartMonitor(Config(tree_, &clock_));
  for (const char* zone : {"intel-rapl:0", "intel-rapl:2", "intel-rapl-mmio:0"}) {
    tree_.SetEnergy(zone, 3'000'000);
  }
  tree_.SetEnergy("intel-rapl:1", 2'000'000);
  tree_.SetEnergy("intel-rapl:0:0", 1'000'000);
  tree_.SetEnergy("intel-rapl:2:0", 1'000'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 5.0);  // 3 + 2, not 3 + 2 + 3 + 3
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kRam), 1.0);
  EXPECT_TRUE(HasNote(*monitor, "intel-rapl-mmio:0 duplicates package-0/package-0"));
  EXPECT_TRUE(HasNote(*monitor, "intel-rapl:2 duplicates"));
}

TEST_F(RaplTest, DiesWithTheirOwnCountersAreEachCounted) {
  tree_.Zone("intel-rapl:0", "package-0-die-0", 0);
  tree_.Zone("intel-rapl:1", "package-0-die-1", 0);
  auto monitor = StartMonitor(Config(tree_, &clock_));
  tree_.SetEnergy("intel-rapl:0", 1'000'000);
  tree_.SetEnergy("intel-rapl:1", 2'000'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 3.0);
}

TEST_F(RaplTest, PsysIsIgnoredBesidePackagesAndUsedAlone) {
  tree_.Zone("intel-rapl:0", "package-0", 0);
  tree_.Zone("intel-rapl:1", "psys", 0);
  {
    auto monitor = StartMonitor(Config(tree_, &clock_));
    tree_.SetEnergy("intel-rapl:0", 1'000'000);
    tree_.SetEnergy("intel-rapl:1", 9'000'000);
    ASSERT_TRUE(Tick(clock_, *monitor));
    EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 1.0);
    EXPECT_TRUE(HasNote(*monitor, "psys"));
  }
  tree_.Remove("sys/class/powercap/intel-rapl:0/name");  // no package domain any more
  auto monitor = StartMonitor(Config(tree_, &clock_));
  tree_.SetEnergy("intel-rapl:1", 12'000'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  const std::optional<DeviceReading> psys = Find(monitor->Latest(), "psys");
  ASSERT_TRUE(psys.has_value());
  EXPECT_DOUBLE_EQ(psys->joules, 3.0);
  EXPECT_NE(psys->degraded.find("whole platform"), std::string::npos);
}

void ExpectModelFallback(const EnergyMonitor& monitor, const std::string& path) {
  const Snapshot s = monitor.Latest();
  const std::optional<DeviceReading> cpu = Find(s, "cpu");
  ASSERT_TRUE(cpu.has_value());
  EXPECT_EQ(cpu->method, "estimated:cpu-model");
  EXPECT_EQ(cpu->degraded.rfind("RAPL permission denied: " + path, 0), 0u) << cpu->degraded;
  EXPECT_FALSE(Find(s, "package-0").has_value());
}

TEST_F(RaplTest, PermissionDeniedFallsBackToTheModelAndSaysSo) {
  tree_.Zone("intel-rapl:0", "package-0", 0);
  tree_.Process(kFakePid, 0, 0, 1024);
  DenyingReader files("/energy_uj");
  EnergyConfig config = Config(tree_, &clock_);
  config.files = &files;
  auto monitor = StartMonitor(config);
  ExpectModelFallback(*monitor, tree_.sys() + "/class/powercap/intel-rapl:0/energy_uj");
}

TEST_F(RaplTest, PermissionDeniedByTheFileModeFallsBack) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "running as root, which reads a mode-000 file anyway; "
                    "PermissionDeniedFallsBackToTheModelAndSaysSo covers this with a denying "
                    "reader";
  }
  tree_.Zone("intel-rapl:0", "package-0", 0);
  tree_.Process(kFakePid, 0, 0, 1024);
  tree_.Chmod("sys/class/powercap/intel-rapl:0/energy_uj", 0);
  auto monitor = StartMonitor(Config(tree_, &clock_));
  ExpectModelFallback(*monitor, tree_.sys() + "/class/powercap/intel-rapl:0/energy_uj");
}

TEST_F(RaplTest, NoPowercapMeansTheModelsWithTheReason) {
  tree_.Process(kFakePid, 0, 0, 1024);
  auto monitor = StartMonitor(Config(tree_, &clock_));
  const std::optional<DeviceReading> cpu = Find(monitor->Latest(), "cpu");
  ASSERT_TRUE(cpu.has_value());
  EXPECT_EQ(cpu->degraded.rfind("RAPL not available: " + tree_.sys() + "/class/powercap", 0), 0u)
      << cpu->degraded;
  ASSERT_TRUE(Find(monitor->Latest(), "ram").has_value());
  EXPECT_EQ(Find(monitor->Latest(), "ram")->method, "estimated:ram-model");
}

TEST_F(RaplTest, AFailedReadIsBridgedByTheNextOne) {
  tree_.Zone("intel-rapl:0", "package-0", 1'000'000);
  tree_.Zone("intel-rapl:0:0", "dram", 0);
  auto monitor = StartMonitor(Config(tree_, &clock_));
  tree_.Write("sys/class/powercap/intel-rapl:0/energy_uj", "garbage\n");
  ASSERT_TRUE(Tick(clock_, *monitor));
  EXPECT_DOUBLE_EQ(monitor->ComponentJoules(Component::kCpu), 0.0);
  tree_.SetEnergy("intel-rapl:0", 4'000'000);
  ASSERT_TRUE(Tick(clock_, *monitor));
  const DeviceReading package = *Find(monitor->Latest(), "package-0");
  EXPECT_DOUBLE_EQ(package.joules, 3.0);
  EXPECT_NE(package.degraded.find("1 of 2 readings failed"), std::string::npos) << package.degraded;
}

}  // namespace
}  // namespace atlas::energy::testing
