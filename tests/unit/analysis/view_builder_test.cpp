#include "analysis/view_builder.hpp"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "analysis/rebuild.hpp"
#include "test_util.hpp"

namespace atlas::analysis {
namespace {

using testing::Epoch;
using testing::Layers;
using testing::Step;
using testing::StoreFixture;

model::Run BareRun() {
  model::Run run;
  run.id = "r";
  run.project_id = 1;
  return run;
}

TEST(ViewBuilder, FoldsStepsIntoTheirEpochsAndTheOpenEpoch) {
  ViewBuilder builder(BareRun());
  model::RecordBatch batch;
  for (int i = 0; i < 10; ++i) batch.steps.push_back(Step(i, 0, 1.0 + i));
  batch.epochs.push_back(Epoch(10, 0, 5.5, 6.0));
  for (int i = 11; i < 14; ++i) batch.steps.push_back(Step(i, 1, 0.5));
  EXPECT_TRUE(builder.Apply(batch));

  const diagnostics::RunTelemetry view = builder.Snapshot();
  ASSERT_EQ(view.epochs.size(), 1u);
  const diagnostics::EpochView& e0 = view.epochs[0];
  EXPECT_EQ(e0.steps.steps, 10);
  EXPECT_DOUBLE_EQ(e0.steps.field(model::StepField::kLoss).mean(), 5.5);
  EXPECT_DOUBLE_EQ(e0.joules, 1000);
  EXPECT_EQ(view.open_epoch.steps, 3);
  EXPECT_EQ(view.all_steps.steps, 13);
  EXPECT_EQ(view.loss_trace.size(), 13u);
  EXPECT_EQ(*view.batch_size, 32);
}

TEST(ViewBuilder, OnlyRecordsThatChangeTheDiagnosisMatter) {
  ViewBuilder builder(BareRun());
  model::RecordBatch steps_only;
  steps_only.steps.push_back(Step(0, 0, 1.0));
  EXPECT_FALSE(builder.Apply(steps_only));
  model::RecordBatch layers;
  layers.layer_stats.push_back(Layers(1, 0));
  EXPECT_TRUE(builder.Apply(layers));
}

TEST(ViewBuilder, LossTraceStaysBoundedAndKeepsSpikes) {
  ViewLimits limits;
  limits.loss_points = 256;
  ViewBuilder builder(BareRun(), limits);
  for (int i = 0; i < 100000; ++i) {
    double loss = 1.0;
    if (i == 31337) loss = 50.0;
    if (i == 77777) loss = 0.01;
    builder.ApplyStep(Step(i, 0, loss));
  }
  const diagnostics::RunTelemetry view = builder.Snapshot();
  EXPECT_LE(view.loss_trace.size(), 256u);
  EXPECT_GT(view.loss_trace.size(), 64u);
  const auto [lo, hi] =
      std::minmax_element(view.loss_trace.begin(), view.loss_trace.end(),
                          [](const diagnostics::LossPoint& a, const diagnostics::LossPoint& b) {
                            return a.loss < b.loss;
                          });
  EXPECT_EQ(hi->step, 31337);
  EXPECT_EQ(lo->step, 77777);
  EXPECT_TRUE(std::is_sorted(view.loss_trace.begin(), view.loss_trace.end(),
                             [](const auto& a, const auto& b) { return a.step < b.step; }));
  EXPECT_EQ(view.all_steps.steps, 100000);
}

TEST(ViewBuilder, LayerSamplesEventsAndProfilesAreBounded) {
  ViewLimits limits;
  limits.layer_samples = 16;
  limits.events = 4;
  limits.profiles = 2;
  ViewBuilder builder(BareRun(), limits);
  for (int i = 0; i < 100; ++i) builder.ApplyLayerStats(Layers(i, 0));
  for (int i = 0; i < 10; ++i) {
    builder.ApplyEvent({100 + i, 1.7e9, i % 2 ? "warning" : "info", "log", "m", {}});
    builder.ApplyProfile({200 + i, i, 1.7e9, model::Json::object()});
  }
  const diagnostics::RunTelemetry view = builder.Snapshot();
  EXPECT_LE(view.layer_samples.size(), 16u);
  EXPECT_EQ(view.layer_samples.front().step, 0);  // the first sample is always kept
  EXPECT_EQ(view.layer_samples.back().step, 99);  // and so is the newest
  EXPECT_EQ(view.events.size(), 4u);
  EXPECT_TRUE(std::all_of(view.events.begin(), view.events.end(),
                          [](const auto& e) { return e.level == "warning"; }));
  EXPECT_EQ(view.profiles.size(), 2u);
  EXPECT_EQ(view.profiles.back().seq, 209);
}

TEST(ViewBuilder, PlannedEpochsAndBatchSizeComeFromTheHyperparameters) {
  model::Run run = BareRun();
  run.config = {{"epochs", 7}};
  ViewBuilder builder(run);
  EXPECT_EQ(*builder.Snapshot().planned_epochs, 7);
  builder.ApplyHyperparameters({{"num_epochs", 20}, {"batch_size", 128}});
  const diagnostics::RunTelemetry view = builder.Snapshot();
  EXPECT_EQ(*view.planned_epochs, 20);
  EXPECT_EQ(*view.batch_size, 128);
}

TEST(ViewBuilder, ArchitectureBuildsTheModuleTreeAndFinishEndsTheRun) {
  ViewBuilder builder(BareRun());
  model::RecordBatch batch;
  batch.architectures.push_back(
      {5,
       {{"", "Net", std::nullopt, 0, 0, nullptr, nullptr, std::nullopt},
        {"fc", "Linear", std::string(""), 10, 10, nullptr, nullptr, 20.0}}});
  batch.finishes.push_back({6, 1.7e9 + 100, model::RunStatus::kCompleted, "", {}});
  EXPECT_TRUE(builder.Apply(batch));
  const diagnostics::RunTelemetry view = builder.Snapshot();
  ASSERT_EQ(view.modules.size(), 2u);
  EXPECT_EQ(view.modules[0].subtree_params, 10);
  EXPECT_TRUE(view.finished);
  EXPECT_EQ(view.status, model::RunStatus::kCompleted);
}

class RebuildTest : public StoreFixture {};

// The view rebuilt from the store equals the one built batch by batch from the same records.
TEST_F(RebuildTest, RebuildFromTheStoreEqualsTheIncrementalView) {
  const model::Run run = CreateRun("p", {{"country_iso_code", "FRA"}});
  ViewLimits limits;
  limits.loss_points = 64;  // small, so compaction happens during the run
  limits.layer_samples = 8;
  ViewBuilder incremental(run, limits);
  std::int64_t seq = 0;
  for (int epoch = 0; epoch < 6; ++epoch) {
    model::RecordBatch batch;
    for (int i = 0; i < 50; ++i) {
      batch.steps.push_back(Step(
          seq, epoch, 3.0 / static_cast<double>(1 + seq) + static_cast<double>(seq % 7) * 0.01));
      ++seq;
    }
    batch.layer_stats.push_back(Layers(seq++, epoch));
    batch.layer_stats.push_back(Layers(seq++, epoch));
    batch.events.push_back({seq++, 1.7e9, "warning", "telemetry_error", "slow", {}});
    batch.epochs.push_back(Epoch(seq++, epoch, 1.0 / (epoch + 1), 1.2 / (epoch + 1)));
    if (epoch == 0) batch.hyperparameters.push_back({seq++, {{"num_epochs", 6}}});
    ASSERT_TRUE(store_->Ingest(run.id, batch).ok());
    incremental.Apply(batch);
  }

  auto rebuilt = RebuildView(*store_, run.id, limits);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().message();
  EXPECT_EQ(rebuilt->batches_stored, 6);
  const diagnostics::RunTelemetry a = incremental.Snapshot();
  const diagnostics::RunTelemetry b = rebuilt->builder->Snapshot();

  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  for (std::size_t i = 0; i < a.epochs.size(); ++i) {
    EXPECT_EQ(a.epochs[i].record.epoch, b.epochs[i].record.epoch);
    EXPECT_EQ(a.epochs[i].steps.steps, b.epochs[i].steps.steps);
    EXPECT_DOUBLE_EQ(a.epochs[i].steps.field(model::StepField::kLoss).sum,
                     b.epochs[i].steps.field(model::StepField::kLoss).sum);
    EXPECT_DOUBLE_EQ(a.epochs[i].joules, b.epochs[i].joules);
    EXPECT_EQ(a.epochs[i].Val("loss"), b.epochs[i].Val("loss"));
  }
  EXPECT_EQ(a.all_steps.steps, b.all_steps.steps);
  ASSERT_EQ(a.loss_trace.size(), b.loss_trace.size());
  for (std::size_t i = 0; i < a.loss_trace.size(); ++i) {
    EXPECT_EQ(a.loss_trace[i].step, b.loss_trace[i].step);
    EXPECT_DOUBLE_EQ(a.loss_trace[i].loss, b.loss_trace[i].loss);
  }
  ASSERT_EQ(a.layer_samples.size(), b.layer_samples.size());
  for (std::size_t i = 0; i < a.layer_samples.size(); ++i) {
    EXPECT_EQ(a.layer_samples[i].seq, b.layer_samples[i].seq);
  }
  EXPECT_EQ(a.events.size(), b.events.size());
  EXPECT_EQ(a.hyperparameters, b.hyperparameters);
  EXPECT_EQ(a.planned_epochs, b.planned_epochs);
  EXPECT_EQ(a.batch_size, b.batch_size);
  EXPECT_EQ(a.carbon.grid_g_co2_per_kwh, b.carbon.grid_g_co2_per_kwh);
  EXPECT_EQ(a.carbon.grid_source, b.carbon.grid_source);
  EXPECT_EQ(a.last_ts, b.last_ts);
}

// A view rebuilt while batches are being stored holds whole batches, as many as it says: each
// batch here has 20 steps, an event and the end of an epoch, and a view read across two
// committed states would hold an epoch without its steps, or steps without their epoch.
TEST_F(RebuildTest, ARebuildDuringIngestHoldsWholeBatches) {
  const model::Run run = CreateRun();
  constexpr int kBatches = 150;
  std::atomic<bool> ingesting = true;
  std::thread writer([&] {
    std::int64_t seq = 0;
    for (int epoch = 0; epoch < kBatches; ++epoch) {
      model::RecordBatch batch;
      for (int i = 0; i < 20; ++i) batch.steps.push_back(Step(seq++, epoch, 1.0));
      batch.events.push_back({seq++, 1.7e9, "warning", "telemetry_error", "slow", {}});
      batch.epochs.push_back(Epoch(seq++, epoch, 1.0, 1.0));
      EXPECT_TRUE(store_->Ingest(run.id, batch).ok());
    }
    ingesting = false;
  });
  ViewLimits limits;
  limits.events = kBatches;
  int rebuilds = 0;
  std::string mismatch;  // the first view that was not whole batches (asserted after the join)
  while ((ingesting || rebuilds == 0) && mismatch.empty()) {
    auto rebuilt = RebuildView(*store_, run.id, limits);
    if (!rebuilt.ok()) {
      mismatch = rebuilt.status().message();
      break;
    }
    const diagnostics::RunTelemetry view = rebuilt->builder->Snapshot();
    const std::int64_t batches = rebuilt->batches_stored;
    if (std::cmp_not_equal(view.epochs.size(), batches) || view.all_steps.steps != 20 * batches ||
        std::cmp_not_equal(view.events.size(), batches)) {
      mismatch = fmt::format("{} batches stored, the view has {} epochs, {} steps, {} events",
                             batches, view.epochs.size(), view.all_steps.steps, view.events.size());
    }
    ++rebuilds;
  }
  writer.join();
  EXPECT_EQ(mismatch, "");
  EXPECT_GT(rebuilds, 0);
}

TEST_F(RebuildTest, UnknownRunIsNotFound) {
  auto rebuilt = RebuildView(*store_, "nope");
  ASSERT_FALSE(rebuilt.ok());
  EXPECT_EQ(rebuilt.status().code(), StatusCode::kNotFound);
}

TEST(CarbonModelFor, ResolvesTheGridIntensityFromTheConfig) {
  const diagnostics::CarbonModel fra = CarbonModelFor({{"country_iso_code", "FRA"}});
  const diagnostics::CarbonModel world = CarbonModelFor(model::Json::object());
  EXPECT_GT(fra.grid_g_co2_per_kwh, 0);
  EXPECT_GT(world.grid_g_co2_per_kwh, 0);
  EXPECT_NE(fra.grid_g_co2_per_kwh, world.grid_g_co2_per_kwh);
  EXPECT_EQ(fra.eur_per_tonne_co2, 50.0);
}

}  // namespace
}  // namespace atlas::analysis
