// StepRecorder: the fields of a step record from the moments a training loop reports, driven by
// a ManualClock, a scripted process probe and a scripted energy counter.
#include "atlas/step_recorder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "testing/manual_clock.hpp"

namespace atlas {
namespace {

using std::chrono::milliseconds;

class ScriptedProbe final : public ProcessProbe {
 public:
  double CpuSeconds() override { return cpu_s; }
  std::optional<double> RssBytes() override { return rss; }

  double cpu_s = 0;
  std::optional<double> rss = 4096.0;
};

class StepRecorderTest : public ::testing::Test {
 protected:
  StepRecorder MakeRecorder(StepRecorderOptions options = {}) {
    return StepRecorder(options, &clock_, &probe_);
  }

  // One observer.step(): data wait, forward, backward, then the optimizer step.
  void HostStep(StepRecorder& recorder, std::int64_t step, double loss, milliseconds data,
                milliseconds forward, milliseconds backward, milliseconds optimizer) {
    clock_.Advance(data);
    recorder.Begin();
    recorder.ForwardStart();
    clock_.Advance(forward);
    recorder.ForwardEnd();
    recorder.BackwardStart();
    clock_.Advance(backward);
    recorder.End(StepEnd{step, 0, loss, 64.0, std::nullopt, StepTiming::kHost});
    recorder.OptimizerBegin();
    clock_.Advance(optimizer);
    recorder.OptimizerEnd(0.001);
  }

  testing::ManualClock clock_;
  ScriptedProbe probe_;
};

TEST_F(StepRecorderTest, NothingOpenNothingClosed) {
  StepRecorder recorder = MakeRecorder();
  EXPECT_FALSE(recorder.open());
  EXPECT_FALSE(recorder.Close().has_value());
}

TEST_F(StepRecorderTest, PhaseTimesThroughputAndTimestamp) {
  StepRecorder recorder = MakeRecorder();
  HostStep(recorder, 0, 2.5, milliseconds(0), milliseconds(10), milliseconds(20), milliseconds(5));
  ASSERT_TRUE(recorder.Close().has_value());  // what the next step's begin does
  HostStep(recorder, 1, 2.0, milliseconds(3), milliseconds(10), milliseconds(20), milliseconds(5));
  ASSERT_TRUE(recorder.open());
  EXPECT_EQ(recorder.open_step(), 1);
  clock_.Advance(milliseconds(7));
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->step, 1);
  EXPECT_EQ(record->epoch, 0);
  EXPECT_DOUBLE_EQ(record->Get(StepField::kLoss), 2.0);
  EXPECT_NEAR(record->Get(StepField::kDataMs), 3.0, 1e-9);
  EXPECT_NEAR(record->Get(StepField::kForwardMs), 10.0, 1e-9);
  EXPECT_NEAR(record->Get(StepField::kBackwardMs), 20.0, 1e-9);
  EXPECT_NEAR(record->Get(StepField::kOptimizerMs), 5.0, 1e-9);
  // From the previous step's end (its optimizer step) to this one's: 3 + 10 + 20 + 5 ms.
  EXPECT_NEAR(record->Get(StepField::kStepMs), 38.0, 1e-9);
  EXPECT_DOUBLE_EQ(record->Get(StepField::kSamples), 64.0);
  EXPECT_NEAR(record->Get(StepField::kSamplesPerS), 64.0 / 0.038, 1e-6);
  EXPECT_FALSE(record->Has(StepField::kTokens));
  EXPECT_DOUBLE_EQ(record->Get(StepField::kLearningRate), 0.001);
  // The record's time is its end, not the moment it was closed.
  EXPECT_NEAR(record->ts, clock_.UnixSeconds() - 0.007, 1e-6);
  EXPECT_FALSE(recorder.open());
}

TEST_F(StepRecorderTest, EachCloseTakesItsOwnOptimizerTime) {
  StepRecorder recorder = MakeRecorder();
  HostStep(recorder, 0, 1.0, milliseconds(0), milliseconds(1), milliseconds(1), milliseconds(4));
  ASSERT_TRUE(recorder.Close().has_value());
  HostStep(recorder, 1, 1.0, milliseconds(0), milliseconds(1), milliseconds(1), milliseconds(6));
  const std::optional<StepRecord> second = recorder.Close();
  ASSERT_TRUE(second.has_value());
  EXPECT_NEAR(second->Get(StepField::kOptimizerMs), 6.0, 1e-9);
  EXPECT_NEAR(second->Get(StepField::kStepMs), 8.0, 1e-9);
}

TEST_F(StepRecorderTest, FirstStepHasNoDataWaitAndStartsAtItsCall) {
  StepRecorder recorder = MakeRecorder();
  clock_.Advance(milliseconds(100));  // before the loop: not part of any step
  HostStep(recorder, 0, 1.0, milliseconds(0), milliseconds(2), milliseconds(3), milliseconds(1));
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_FALSE(record->Has(StepField::kDataMs));
  EXPECT_NEAR(record->Get(StepField::kStepMs), 6.0, 1e-9);
}

TEST_F(StepRecorderTest, DeviceTimedStepsLeaveThePhasesToTheCaller) {
  StepRecorder recorder = MakeRecorder();
  recorder.Begin();
  clock_.Advance(milliseconds(4));
  recorder.End(StepEnd{0, std::nullopt, std::nullopt, 8.0, 256.0, StepTiming::kDevice});
  recorder.OptimizerBegin();
  clock_.Advance(milliseconds(2));
  recorder.OptimizerEnd(std::nullopt);
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_FALSE(record->Has(StepField::kLoss));  // the caller reads it from the device later
  EXPECT_FALSE(record->Has(StepField::kForwardMs));
  EXPECT_FALSE(record->Has(StepField::kBackwardMs));
  EXPECT_FALSE(record->Has(StepField::kOptimizerMs));
  EXPECT_FALSE(record->Has(StepField::kLearningRate));
  EXPECT_FALSE(record->epoch.has_value());
  EXPECT_NEAR(record->Get(StepField::kStepMs), 6.0, 1e-9);
  EXPECT_NEAR(record->Get(StepField::kTokensPerS), 256.0 / 0.006, 1e-6);
}

TEST_F(StepRecorderTest, ManualStepsWithoutBeginHaveNoDataWait) {
  StepRecorder recorder = MakeRecorder();
  recorder.End(StepEnd{0, 0, 1.0, std::nullopt, std::nullopt, StepTiming::kNone});
  ASSERT_TRUE(recorder.Close().has_value());
  clock_.Advance(milliseconds(12));
  recorder.End(StepEnd{1, 0, 1.0, std::nullopt, std::nullopt, StepTiming::kNone});
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_FALSE(record->Has(StepField::kDataMs));
  EXPECT_FALSE(record->Has(StepField::kForwardMs));
  EXPECT_NEAR(record->Get(StepField::kStepMs), 12.0, 1e-9);
}

TEST_F(StepRecorderTest, APauseIsNotDataWait) {
  StepRecorder recorder = MakeRecorder();
  HostStep(recorder, 0, 1.0, milliseconds(0), milliseconds(1), milliseconds(1), milliseconds(1));
  ASSERT_TRUE(recorder.Close().has_value());
  clock_.Advance(milliseconds(500));
  recorder.MarkIdle();
  HostStep(recorder, 1, 1.0, milliseconds(2), milliseconds(1), milliseconds(1), milliseconds(1));
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(record->Get(StepField::kDataMs), 2.0, 1e-9);
}

TEST_F(StepRecorderTest, CpuPercentIsOfEveryUsableCpuAndRssComesFromTheProbe) {
  StepRecorderOptions options;
  options.usable_cpus = 4;
  StepRecorder recorder = MakeRecorder(options);
  // 20 ms of wall time in which the process used 40 ms of CPU: half of 4 CPUs.
  probe_.cpu_s = 0.040;
  HostStep(recorder, 0, 1.0, milliseconds(0), milliseconds(10), milliseconds(10), milliseconds(0));
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(record->Get(StepField::kCpuPercent), 50.0, 1e-9);
  EXPECT_DOUBLE_EQ(record->Get(StepField::kRssBytes), 4096.0);
}

TEST_F(StepRecorderTest, ResourcesOnlyEveryNthStepAndOnlyWhatIsAskedFor) {
  StepRecorderOptions options;
  options.resources_every = 2;
  options.memory = false;
  StepRecorder recorder = MakeRecorder(options);
  for (std::int64_t step = 0; step < 4; ++step) {
    HostStep(recorder, step, 1.0, milliseconds(1), milliseconds(1), milliseconds(1),
             milliseconds(1));
    const std::optional<StepRecord> record = recorder.Close();
    ASSERT_TRUE(record.has_value());
    EXPECT_EQ(record->Has(StepField::kCpuPercent), step % 2 == 0) << step;
    EXPECT_FALSE(record->Has(StepField::kRssBytes));
  }
}

TEST_F(StepRecorderTest, ResourcesAtMostOncePerIntervalAndOncePerEpoch) {
  StepRecorderOptions options;
  options.resources_interval = milliseconds(100);
  StepRecorder recorder = MakeRecorder(options);
  std::vector<std::int64_t> read;
  // Steps of 30 ms (epoch 0): the first step reads, then the first after each 100 ms.
  for (std::int64_t step = 0; step < 8; ++step) {
    HostStep(recorder, step, 1.0, milliseconds(0), milliseconds(10), milliseconds(10),
             milliseconds(10));
    const std::optional<StepRecord> record = recorder.Close();
    ASSERT_TRUE(record.has_value());
    EXPECT_EQ(record->Has(StepField::kCpuPercent), record->Has(StepField::kRssBytes)) << step;
    if (record->Has(StepField::kRssBytes)) read.push_back(step);
  }
  EXPECT_EQ(read, (std::vector<std::int64_t>{0, 4}));
  // A new epoch reads at its first step, however soon.
  recorder.Begin();
  recorder.ForwardStart();
  clock_.Advance(milliseconds(1));
  recorder.End(StepEnd{8, 1, 1.0, 64.0, std::nullopt, StepTiming::kHost});
  std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_TRUE(record->Has(StepField::kRssBytes));
  recorder.Begin();
  recorder.End(StepEnd{9, 1, 1.0, 64.0, std::nullopt, StepTiming::kHost});
  record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_FALSE(record->Has(StepField::kRssBytes));
}

TEST_F(StepRecorderTest, WithoutAProbeThereAreNoResourceFields) {
  StepRecorder recorder(StepRecorderOptions{}, &clock_, nullptr);
  HostStep(recorder, 0, 1.0, milliseconds(1), milliseconds(1), milliseconds(1), milliseconds(1));
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_FALSE(record->Has(StepField::kCpuPercent));
  EXPECT_FALSE(record->Has(StepField::kRssBytes));
}

TEST_F(StepRecorderTest, EnergyWindowsEndAtEachOptimizerStepAndAddUp) {
  StepRecorder recorder = MakeRecorder();
  double joules = 0;
  recorder.SetEnergySource([&joules] { return joules; });
  double total = 0;
  for (std::int64_t step = 0; step < 3; ++step) {
    joules += 1.5;  // used during the step
    HostStep(recorder, step, 1.0, milliseconds(0), milliseconds(10), milliseconds(10),
             milliseconds(5));
    joules += 100.0;  // after the optimizer step: belongs to the next window
    clock_.Advance(milliseconds(3));
    const std::optional<StepRecord> record = recorder.Close();
    ASSERT_TRUE(record.has_value());
    total += record->Get(StepField::kEnergyJ);
    if (step == 0) {
      EXPECT_NEAR(record->Get(StepField::kEnergyJ), 1.5, 1e-12);
      EXPECT_NEAR(record->Get(StepField::kPowerW), 1.5 / 0.025, 1e-9);
    } else {
      EXPECT_NEAR(record->Get(StepField::kEnergyJ), 101.5, 1e-12);
    }
  }
  // An epoch ends with nothing open: the next window starts at the epoch's reading.
  recorder.EnergyEpochEnd(joules);
  EXPECT_NEAR(total + 100.0, joules, 1e-9);
}

TEST_F(StepRecorderTest, AnEpochEndExtendsTheOpenStepsEnergyWindow) {
  StepRecorder recorder = MakeRecorder();
  double joules = 0;
  recorder.SetEnergySource([&joules] { return joules; });
  joules = 2.0;
  HostStep(recorder, 0, 1.0, milliseconds(0), milliseconds(1), milliseconds(1), milliseconds(1));
  joules = 5.0;  // validation, after the optimizer step, before the epoch's end
  recorder.EnergyEpochEnd(joules);
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(record->Get(StepField::kEnergyJ), 5.0, 1e-12);
}

TEST_F(StepRecorderTest, WithoutOptimizerStepsTheStepEndMarksTheEnergy) {
  StepRecorder recorder = MakeRecorder();
  double joules = 0;
  recorder.SetEnergySource([&joules] { return joules; });
  recorder.Begin();
  joules = 3.0;
  recorder.End(StepEnd{0, 0, 1.0, std::nullopt, std::nullopt, StepTiming::kNone});
  joules = 10.0;
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(record->Get(StepField::kEnergyJ), 3.0, 1e-12);
}

TEST_F(StepRecorderTest, ACounterReadInPlaceGivesTheSameWindowsAsASource) {
  std::atomic<double> counter{0.0};
  StepRecorder recorder = MakeRecorder();
  recorder.SetEnergyCounter(&counter);
  counter.store(2.0);
  HostStep(recorder, 0, 1.0, milliseconds(0), milliseconds(10), milliseconds(10), milliseconds(5));
  counter.store(7.0);  // after the optimizer step: the next window's
  std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(record->Get(StepField::kEnergyJ), 2.0, 1e-12);
  HostStep(recorder, 1, 1.0, milliseconds(0), milliseconds(10), milliseconds(10), milliseconds(5));
  record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(record->Get(StepField::kEnergyJ), 5.0, 1e-12);
  // A source set later replaces the counter (and restarts the windows at 0 J).
  recorder.SetEnergySource([] { return 1.0; });
  HostStep(recorder, 2, 1.0, milliseconds(0), milliseconds(1), milliseconds(1), milliseconds(1));
  record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(record->Get(StepField::kEnergyJ), 1.0, 1e-12);
  recorder.SetEnergyCounter(nullptr);
  HostStep(recorder, 3, 1.0, milliseconds(0), milliseconds(1), milliseconds(1), milliseconds(1));
  record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_FALSE(record->Has(StepField::kEnergyJ));
}

TEST_F(StepRecorderTest, AnUnreadableCounterReadsAsNoEnergy) {
  StepRecorder recorder = MakeRecorder();
  recorder.SetEnergySource([] { return std::nan(""); });
  HostStep(recorder, 0, 1.0, milliseconds(1), milliseconds(1), milliseconds(1), milliseconds(1));
  const std::optional<StepRecord> record = recorder.Close();
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->Get(StepField::kEnergyJ), 0.0);
}

TEST_F(StepRecorderTest, EpochLossSumsAreKeptPerEpoch) {
  StepRecorder recorder = MakeRecorder();
  recorder.AddEpochLoss(0, 1.0);
  recorder.AddEpochLoss(0, 3.0);
  recorder.AddEpochLoss(1, 7.0);
  EXPECT_EQ(recorder.TakeEpochLoss(0), (std::pair<double, std::int64_t>{4.0, 2}));
  EXPECT_EQ(recorder.TakeEpochLoss(0), (std::pair<double, std::int64_t>{0.0, 0}));
  EXPECT_EQ(recorder.TakeEpochLoss(1), (std::pair<double, std::int64_t>{7.0, 1}));
}

TEST(RealProcessProbeTest, ReadsThisProcess) {
  const std::unique_ptr<ProcessProbe> probe = NewRealProcessProbe();
  const double before = probe->CpuSeconds();
  volatile double sink = 0;
  for (int i = 0; i < 2'000'000; ++i) sink = sink + std::sqrt(static_cast<double>(i));
  EXPECT_GT(probe->CpuSeconds(), before);
  const std::optional<double> rss = probe->RssBytes();
  ASSERT_TRUE(rss.has_value());
  EXPECT_GT(*rss, 1 << 20);  // a test binary is resident with more than 1 MiB
  EXPECT_EQ(std::fmod(*rss, static_cast<double>(sysconf(_SC_PAGESIZE))), 0.0);
}

}  // namespace
}  // namespace atlas
