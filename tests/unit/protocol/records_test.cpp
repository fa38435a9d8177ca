// Well-formed record batches and finish bodies: every kind with every field, non-finite values,
// and a large batch.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "model/records.hpp"
#include "protocol/parse.hpp"
#include "test_util.hpp"

namespace atlas::protocol {
namespace {

using model::StepField;

TEST(ParseRecordBatch, EmptyBatch) {
  const auto batch = Expect(ParseRecordBatch(R"({"records": []})"));
  EXPECT_EQ(batch.size(), 0u);
}

TEST(ParseRecordBatch, StepWithEveryField) {
  std::string record = R"({"kind": "step", "seq": 5, "step": 100, "epoch": 2, "ts": 1700000000.5)";
  for (std::size_t i = 0; i < model::kStepFields.size(); ++i) {
    record += ", \"" + std::string(model::kStepFields[i].name) + "\": " + std::to_string(i) + ".25";
  }
  record += R"(, "metrics": {"accuracy": 0.875, "grad.scale": -3, "n": 7}})";

  const auto batch = Expect(ParseRecordBatch(Batch(record)));
  ASSERT_EQ(batch.steps.size(), 1u);
  ASSERT_EQ(batch.size(), 1u);
  const model::StepRecord& step = batch.steps[0];
  EXPECT_EQ(step.seq, 5);
  EXPECT_EQ(step.step, 100);
  EXPECT_EQ(step.epoch, 2);
  EXPECT_DOUBLE_EQ(step.ts, 1700000000.5);
  for (std::size_t i = 0; i < model::kStepFields.size(); ++i) {
    const auto& value = step.at(model::kStepFields[i].field);
    ASSERT_TRUE(value.has_value()) << model::kStepFields[i].name;
    EXPECT_DOUBLE_EQ(*value, static_cast<double>(i) + 0.25) << model::kStepFields[i].name;
  }
  ASSERT_EQ(step.metrics.size(), 3u);
  EXPECT_EQ(step.metrics[0], (std::pair<std::string, double>{"accuracy", 0.875}));
  EXPECT_EQ(step.metrics[1], (std::pair<std::string, double>{"grad.scale", -3.0}));
  EXPECT_EQ(step.metrics[2], (std::pair<std::string, double>{"n", 7.0}));
}

TEST(ParseRecordBatch, MinimalStepLeavesOptionalFieldsAbsent) {
  const auto batch = Expect(ParseRecordBatch(
      Batch(R"({"kind": "step", "seq": 0, "step": 0, "ts": 1, "epoch": null, "loss": null})")));
  ASSERT_EQ(batch.steps.size(), 1u);
  const model::StepRecord& step = batch.steps[0];
  EXPECT_FALSE(step.epoch.has_value());
  for (const auto& value : step.fields) EXPECT_FALSE(value.has_value());
  EXPECT_TRUE(step.metrics.empty());
}

TEST(ParseRecordBatch, IntegralFloatsAreIntegers) {
  const auto batch = Expect(ParseRecordBatch(
      Batch(R"({"kind": "step", "seq": 3.0, "step": 1e3, "epoch": -0.0, "ts": 2})")));
  ASSERT_EQ(batch.steps.size(), 1u);
  EXPECT_EQ(batch.steps[0].seq, 3);
  EXPECT_EQ(batch.steps[0].step, 1000);
  EXPECT_EQ(batch.steps[0].epoch, 0);
}

TEST(ParseRecordBatch, NonFiniteStringsBecomeNonFiniteDoubles) {
  const auto batch = Expect(ParseRecordBatch(Batch(R"(
    {"kind": "step", "seq": 1, "step": 1, "ts": 1, "loss": "NaN", "samples_per_s": "Infinity",
     "tokens_per_s": "NaN", "metrics": {"low": "-Infinity", "high": "Infinity"}},
    {"kind": "epoch", "seq": 2, "epoch": 0, "ts": 2, "train": {"loss": "NaN"},
     "val": {"loss": "-Infinity"},
     "energy": [{"component": "gpu", "joules": "Infinity", "method": "estimated:tdp"}]},
    {"kind": "layer_stats", "seq": 3, "step": 1, "ts": 3,
     "layers": [{"layer": "fc", "grad_norm": "NaN", "weight_norm": "Infinity",
                 "activation_mean": "-Infinity"}]})")));
  ASSERT_EQ(batch.steps.size(), 1u);
  const model::StepRecord& step = batch.steps[0];
  EXPECT_TRUE(std::isnan(*step.at(StepField::kLoss)));
  EXPECT_EQ(*step.at(StepField::kSamplesPerS), INFINITY);
  EXPECT_TRUE(std::isnan(*step.at(StepField::kTokensPerS)));
  EXPECT_EQ(step.metrics.at(0).second, -INFINITY);
  EXPECT_EQ(step.metrics.at(1).second, INFINITY);

  ASSERT_EQ(batch.epochs.size(), 1u);
  EXPECT_TRUE(std::isnan(batch.epochs[0].train.at(0).second));
  EXPECT_EQ(batch.epochs[0].val.at(0).second, -INFINITY);
  EXPECT_EQ(batch.epochs[0].energy.at(0).joules, INFINITY);

  ASSERT_EQ(batch.layer_stats.size(), 1u);
  const model::LayerStat& layer = batch.layer_stats[0].layers.at(0);
  EXPECT_TRUE(std::isnan(*layer.values[5]));  // grad_norm
  EXPECT_EQ(*layer.values[7], INFINITY);      // weight_norm
  EXPECT_EQ(*layer.values[0], -INFINITY);     // activation_mean
}

TEST(ParseRecordBatch, NaNPassesNonNegativeFields) {
  const auto batch = Expect(ParseRecordBatch(Batch(
      R"({"kind": "step", "seq": 1, "step": 1, "ts": 1, "step_ms": "NaN", "lr": "Infinity"})")));
  ASSERT_EQ(batch.steps.size(), 1u);
  EXPECT_TRUE(std::isnan(*batch.steps[0].at(StepField::kStepMs)));
  EXPECT_EQ(*batch.steps[0].at(StepField::kLearningRate), INFINITY);
}

TEST(ParseRecordBatch, EpochWithEveryField) {
  const auto batch = Expect(ParseRecordBatch(Batch(R"({
    "kind": "epoch", "seq": 10, "epoch": 3, "ts": 1700000100, "duration_s": 61.5,
    "train": {"loss": 0.5, "accuracy": 0.91},
    "val": {"loss": 0.6},
    "energy": [
      {"component": "gpu", "device": "cuda:0", "joules": 12345.5, "method": "measured:nvml-counter"},
      {"component": "cpu", "joules": 800, "method": "estimated:cpu-model", "device": null},
      {"component": "ram", "device": "dram-0", "joules": 0, "method": "measured:rapl"},
      {"component": "other", "joules": 1, "method": "estimated:fixed"}
    ]})")));
  ASSERT_EQ(batch.epochs.size(), 1u);
  const model::EpochRecord& epoch = batch.epochs[0];
  EXPECT_EQ(epoch.seq, 10);
  EXPECT_EQ(epoch.epoch, 3);
  EXPECT_EQ(epoch.ts, 1700000100);
  EXPECT_EQ(epoch.duration_s, 61.5);
  ASSERT_EQ(epoch.train.size(), 2u);
  EXPECT_EQ(epoch.train[1], (std::pair<std::string, double>{"accuracy", 0.91}));
  ASSERT_EQ(epoch.val.size(), 1u);
  ASSERT_EQ(epoch.energy.size(), 4u);
  EXPECT_EQ(epoch.energy[0].component, "gpu");
  EXPECT_EQ(epoch.energy[0].device, "cuda:0");
  EXPECT_EQ(epoch.energy[0].joules, 12345.5);
  EXPECT_EQ(epoch.energy[0].method, "measured:nvml-counter");
  EXPECT_EQ(epoch.energy[1].device, "");
  EXPECT_EQ(epoch.energy[3].component, "other");
}

TEST(ParseRecordBatch, LayerStatsWithEveryField) {
  std::string layer = R"({"layer": "features.0")";
  for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
    layer += ", \"" + std::string(model::kLayerStatNames[i]) + "\": " + std::to_string(i) + ".5";
  }
  layer += R"(, "extra": {"unit_active_frac": [0.5, 1, 0]}})";
  const auto batch = Expect(ParseRecordBatch(
      Batch(R"({"kind": "layer_stats", "seq": 4, "step": 50, "epoch": 1, "ts": 5, "layers": [)" +
            layer + R"(, {"layer": ""}]})")));
  ASSERT_EQ(batch.layer_stats.size(), 1u);
  const model::LayerStatsRecord& record = batch.layer_stats[0];
  EXPECT_EQ(record.seq, 4);
  EXPECT_EQ(record.step, 50);
  EXPECT_EQ(record.epoch, 1);
  ASSERT_EQ(record.layers.size(), 2u);
  EXPECT_EQ(record.layers[0].layer, "features.0");
  for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
    ASSERT_TRUE(record.layers[0].values[i].has_value()) << model::kLayerStatNames[i];
    EXPECT_EQ(*record.layers[0].values[i], static_cast<double>(i) + 0.5);
  }
  EXPECT_EQ(record.layers[0].extra, model::Json::parse(R"({"unit_active_frac": [0.5, 1, 0]})"));
  EXPECT_EQ(record.layers[1].layer, "");  // the root module
  EXPECT_EQ(record.layers[1].extra, model::Json::object());
}

TEST(ParseRecordBatch, ProfileEventAndHyperparameters) {
  const auto batch = Expect(ParseRecordBatch(Batch(R"(
    {"kind": "profile", "seq": 1, "step": 20, "ts": 10,
     "data": {"top_ops": [{"name": "aten::addmm", "cuda_ms": 1.5}]}},
    {"kind": "event", "seq": 2, "ts": 11, "level": "warning", "type": "telemetry_error",
     "message": "NVML not found", "data": {"count": 1}},
    {"kind": "event", "seq": 3, "ts": 12, "level": "info", "type": "checkpoint", "message": ""},
    {"kind": "hyperparameters", "seq": 4, "values": {"lr": 0.1, "optimizer": "sgd"}})")));
  ASSERT_EQ(batch.profiles.size(), 1u);
  EXPECT_EQ(batch.profiles[0].step, 20);
  EXPECT_EQ(batch.profiles[0].data["top_ops"][0]["name"], "aten::addmm");
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].level, "warning");
  EXPECT_EQ(batch.events[0].type, "telemetry_error");
  EXPECT_EQ(batch.events[0].message, "NVML not found");
  EXPECT_EQ(batch.events[0].data, model::Json::parse(R"({"count": 1})"));
  EXPECT_EQ(batch.events[1].message, "");
  EXPECT_EQ(batch.events[1].data, model::Json::object());
  ASSERT_EQ(batch.hyperparameters.size(), 1u);
  EXPECT_EQ(batch.hyperparameters[0].seq, 4);
  EXPECT_EQ(batch.hyperparameters[0].values,
            model::Json::parse(R"({"lr": 0.1, "optimizer": "sgd"})"));
}

TEST(ParseRecordBatch, ArchitectureWithEveryField) {
  const auto batch = Expect(ParseRecordBatch(Batch(R"({"kind": "architecture", "seq": 0,
    "modules": [
      {"name": "", "type": "Net", "parent": null, "params": 0, "trainable_params": 0},
      {"name": "features", "type": "Sequential", "parent": "", "params": 0,
       "trainable_params": 0},
      {"name": "features.0", "type": "Conv2d", "parent": "features", "params": 320,
       "trainable_params": 320, "input_shape": [64, 1, 28, 28], "output_shape": [64, 32, 26, 26],
       "flops": 194688},
      {"name": "fc", "type": "Linear", "parent": "", "params": 1290, "trainable_params": 0,
       "input_shape": null, "output_shape": null, "flops": null}
    ]})")));
  ASSERT_EQ(batch.architectures.size(), 1u);
  const auto& modules = batch.architectures[0].modules;
  ASSERT_EQ(modules.size(), 4u);
  EXPECT_EQ(modules[0].name, "");
  EXPECT_EQ(modules[0].type, "Net");
  EXPECT_FALSE(modules[0].parent.has_value());
  EXPECT_EQ(modules[1].parent, "");
  EXPECT_EQ(modules[2].parent, "features");
  EXPECT_EQ(modules[2].params, 320);
  EXPECT_EQ(modules[2].trainable_params, 320);
  EXPECT_EQ(modules[2].input_shape, model::Json::parse("[64, 1, 28, 28]"));
  EXPECT_EQ(modules[2].output_shape, model::Json::parse("[64, 32, 26, 26]"));
  EXPECT_EQ(modules[2].flops, 194688.0);
  EXPECT_TRUE(modules[3].input_shape.is_null());
  EXPECT_FALSE(modules[3].flops.has_value());
  EXPECT_EQ(modules[3].trainable_params, 0);
}

TEST(ParseRecordBatch, FinishInABatch) {
  const auto batch = Expect(ParseRecordBatch(Batch(
      R"({"kind": "finish", "seq": 99, "ts": 20, "status": "failed",
          "reason": "Traceback (most recent call last):\n  ...", "client_stats": {"dropped": 0}})")));
  ASSERT_EQ(batch.finishes.size(), 1u);
  EXPECT_EQ(batch.finishes[0].seq, 99);
  EXPECT_EQ(batch.finishes[0].status, model::RunStatus::kFailed);
  EXPECT_EQ(batch.finishes[0].reason, "Traceback (most recent call last):\n  ...");
  EXPECT_EQ(batch.finishes[0].client_stats, model::Json::parse(R"({"dropped": 0})"));
}

TEST(ParseRecordBatch, MixedKindsKeepTheirOrderWithinEachKind) {
  const auto batch = Expect(ParseRecordBatch(Batch(R"(
    {"kind": "step", "seq": 1, "step": 1, "ts": 1},
    {"kind": "event", "seq": 2, "ts": 1, "level": "info", "type": "log", "message": "a"},
    {"ts": 2, "step": 2, "seq": 3, "kind": "step"},
    {"kind": "epoch", "seq": 4, "epoch": 0, "ts": 3})")));
  EXPECT_EQ(batch.size(), 4u);
  ASSERT_EQ(batch.steps.size(), 2u);
  EXPECT_EQ(batch.steps[0].seq, 1);
  EXPECT_EQ(batch.steps[1].seq, 3);  // "kind" may come last
  EXPECT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.epochs.size(), 1u);
}

TEST(ParseRecordBatch, OpaqueObjectsKeepTheirTypes) {
  const auto batch = Expect(ParseRecordBatch(Batch(R"({"kind": "hyperparameters", "seq": 1,
    "values": {"big": 18446744073709551615, "neg": -5, "f": 0.5, "s": "\u00e9\n", "t": true,
               "n": null, "nan_text": "NaN", "deep": [[[{"a": []}]]]}})")));
  ASSERT_EQ(batch.hyperparameters.size(), 1u);
  const model::Json& values = batch.hyperparameters[0].values;
  EXPECT_TRUE(values["big"].is_number_unsigned());
  EXPECT_EQ(values["big"].get<std::uint64_t>(), 18446744073709551615ULL);
  EXPECT_TRUE(values["neg"].is_number_integer());
  EXPECT_EQ(values["neg"].get<std::int64_t>(), -5);
  EXPECT_TRUE(values["f"].is_number_float());
  EXPECT_EQ(values["s"], "\xC3\xA9\n");
  EXPECT_EQ(values["t"], true);
  EXPECT_TRUE(values["n"].is_null());
  EXPECT_EQ(values["nan_text"], "NaN");  // opaque: stored as given, not converted
  EXPECT_EQ(values["deep"], model::Json::parse(R"([[[{"a": []}]]])"));
}

TEST(ParseRecordBatch, TenThousandSteps) {
  constexpr int kSteps = 10000;
  std::string records;
  for (int i = 0; i < kSteps; ++i) {
    if (i > 0) records += ',';
    records += R"({"kind":"step","seq":)" + std::to_string(i) + R"(,"step":)" +
               std::to_string(i * 2) + R"(,"epoch":)" + std::to_string(i / 1000) + R"(,"ts":)" +
               std::to_string(1700000000 + i) + R"(,"loss":)" + std::to_string(1.0 / (i + 1)) +
               R"(,"samples":64,"step_ms":12.5,"metrics":{"acc":)" + std::to_string(i % 100) + "}}";
  }
  const auto batch = Expect(ParseRecordBatch(Batch(records)));
  ASSERT_EQ(batch.steps.size(), static_cast<std::size_t>(kSteps));
  EXPECT_EQ(batch.size(), static_cast<std::size_t>(kSteps));
  for (int i = 0; i < kSteps; ++i) {
    const model::StepRecord& step = batch.steps[static_cast<std::size_t>(i)];
    ASSERT_EQ(step.seq, i);
    ASSERT_EQ(step.step, i * 2);
    ASSERT_EQ(step.epoch, i / 1000);
    ASSERT_EQ(step.ts, 1700000000 + i);
    ASSERT_NEAR(*step.at(StepField::kLoss), 1.0 / (i + 1), 1e-6);
    ASSERT_EQ(*step.at(StepField::kSamples), 64);
    ASSERT_EQ(step.metrics.size(), 1u);
    ASSERT_EQ(step.metrics[0].second, i % 100);
  }
}

TEST(ParseRecordBatch, LargeBodyUsesItsOwnParserAndStaysCorrect) {
  // Over the size kept by the per-thread parser (4 MiB): this path owns a fresh parser.
  std::string records;
  int count = 0;
  while (records.size() < (std::size_t{5} << 20)) {
    if (count > 0) records += ',';
    records += R"({"kind":"step","seq":)" + std::to_string(count) +
               R"(,"step":1,"ts":1,"metrics":{"padding_value_with_a_long_name":1}})";
    ++count;
  }
  const auto batch = Expect(ParseRecordBatch(Batch(records)));
  EXPECT_EQ(batch.steps.size(), static_cast<std::size_t>(count));
  // And a small body right after still parses on the shared parser.
  EXPECT_EQ(Expect(ParseRecordBatch(Batch(R"({"kind":"step","seq":1,"step":1,"ts":1})"))).size(),
            1u);
}

TEST(ParseFinish, ReadsTheFinishObjectWithoutKind) {
  const auto finish = Expect(ParseFinish(
      R"({"seq": 12, "ts": 1700000500, "status": "stopped", "reason": "user asked",
          "client_stats": {"sent": 10, "dropped": {"queue_full": 2}}})"));
  EXPECT_EQ(finish.seq, 12);
  EXPECT_EQ(finish.ts, 1700000500);
  EXPECT_EQ(finish.status, model::RunStatus::kStopped);
  EXPECT_EQ(finish.reason, "user asked");
  EXPECT_EQ(finish.client_stats["dropped"]["queue_full"], 2);
}

TEST(ParseFinish, MinimalBody) {
  const auto finish = Expect(ParseFinish(R"({"seq": 0, "ts": 1, "status": "completed"})"));
  EXPECT_EQ(finish.status, model::RunStatus::kCompleted);
  EXPECT_EQ(finish.reason, "");
  EXPECT_EQ(finish.client_stats, model::Json::object());
}

TEST(ParseFinish, ReasonMayHoldALongTraceback) {
  const std::string reason(60000, 'x');
  const auto finish = Expect(
      ParseFinish(R"({"seq": 0, "ts": 1, "status": "failed", "reason": ")" + reason + "\"}"));
  EXPECT_EQ(finish.reason.size(), reason.size());
}

}  // namespace
}  // namespace atlas::protocol
