// The engine's arithmetic: the finding merge, the grade, the stopping analysis, the waste and
// the forecast, on small hand-built runs.
#include <gtest/gtest.h>

#include <string>

#include "diagnostics/check.hpp"
#include "diagnostics/engine.hpp"
#include "fixture.hpp"

namespace atlas::diagnostics {
namespace {

Finding MakeFinding(std::string check, Category category, Severity severity,
                    std::optional<std::string> layer, std::vector<std::int64_t> epochs) {
  Finding f;
  f.check = std::move(check);
  f.category = category;
  f.severity = severity;
  f.layer = std::move(layer);
  f.epochs = std::move(epochs);
  f.title = "t";
  return f;
}

RunTelemetry Telemetry(const nlohmann::json& j) {
  Result<RunTelemetry> t = testing::ParseTelemetry(j);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : RunTelemetry{};
}

// ----- FindingSink -----

TEST(FindingSink, MergesTheSameCheckAndLayerOverEpochs) {
  FindingSink sink;
  sink.Add(MakeFinding("layer.dead", Category::kLayer, Severity::kWarning, "fc1", {3, 1}));
  sink.Add(MakeFinding("layer.dead", Category::kLayer, Severity::kCritical, "fc1", {2, 3}));
  sink.Add(MakeFinding("layer.dead", Category::kLayer, Severity::kInfo, "fc1", {4}));
  ASSERT_EQ(sink.findings().size(), 1u);
  EXPECT_EQ(sink.findings()[0].epochs, (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(sink.findings()[0].severity, Severity::kCritical);
}

TEST(FindingSink, KeepsDifferentLayersApart) {
  FindingSink sink;
  sink.Add(MakeFinding("layer.dead", Category::kLayer, Severity::kWarning, "fc1", {1}));
  sink.Add(MakeFinding("layer.dead", Category::kLayer, Severity::kWarning, "fc2", {1}));
  sink.Add(MakeFinding("layer.dead", Category::kLayer, Severity::kWarning, std::nullopt, {1}));
  EXPECT_EQ(sink.findings().size(), 3u);
}

// ----- Grade -----

TEST(Grade, NoFindingsIsA100) {
  Diagnosis d;
  Grade(RunTelemetry{}, d);
  EXPECT_EQ(d.grade, 'A');
  EXPECT_EQ(d.score, 100);
  for (double s : d.category_scores) EXPECT_EQ(s, 100);
}

TEST(Grade, AHealthyRunWithMinorNotesGradesAOrB) {
  Diagnosis d;
  d.findings.push_back(MakeFinding("carbon.high_intensity_grid", Category::kCarbon, Severity::kInfo,
                                   std::nullopt, {}));
  d.findings.push_back(
      MakeFinding("device.slow_epoch", Category::kDevice, Severity::kWarning, std::nullopt, {3}));
  Grade(RunTelemetry{}, d);
  EXPECT_TRUE(d.grade == 'A' || d.grade == 'B') << d.grade << " " << d.score;
  EXPECT_EQ(d.score, 100 - 3 - 12);
  EXPECT_EQ(d.category_scores[static_cast<std::size_t>(Category::kDevice)], 88);
  EXPECT_EQ(d.category_scores[static_cast<std::size_t>(Category::kLayer)], 100);
}

TEST(Grade, ACriticalFindingForbidsAAndB) {
  Diagnosis d;
  d.findings.push_back(MakeFinding("convergence.divergence", Category::kConvergence,
                                   Severity::kCritical, std::nullopt, {5}));
  Grade(RunTelemetry{}, d);
  EXPECT_NE(d.grade, 'A');
  EXPECT_NE(d.grade, 'B');
  EXPECT_LE(d.score, 70);
}

TEST(Grade, AFindingRepeatedOverEpochsCountsOnce) {
  RunTelemetry run;
  FindingSink sink;
  for (std::int64_t epoch = 0; epoch < 50; ++epoch) {
    sink.Add(MakeFinding("device.slow_epoch", Category::kDevice, Severity::kWarning, std::nullopt,
                         {epoch}));
  }
  Diagnosis long_run;
  long_run.findings = sink.Take();
  Grade(run, long_run);

  Diagnosis short_run;
  short_run.findings.push_back(
      MakeFinding("device.slow_epoch", Category::kDevice, Severity::kWarning, std::nullopt, {0}));
  Grade(run, short_run);
  EXPECT_EQ(long_run.score, short_run.score);
}

TEST(Grade, OneCheckOnManyLayersWeighsAtMostTwice) {
  Diagnosis d;
  for (int i = 0; i < 12; ++i) {
    d.findings.push_back(MakeFinding("layer.dead", Category::kLayer, Severity::kWarning,
                                     "relu" + std::to_string(i), {1}));
  }
  Grade(RunTelemetry{}, d);
  EXPECT_EQ(d.score, 100 - 2 * 12);
}

TEST(Grade, LayerScoresCoverEveryLeafModuleAndPenaliseFindings) {
  const RunTelemetry run =
      Telemetry({{"architecture",
                  {{{"name", ""}, {"type", "Net"}, {"params", 0}, {"trainable_params", 0}},
                   {{"name", "fc1"},
                    {"type", "Linear"},
                    {"parent", ""},
                    {"params", 10},
                    {"trainable_params", 10}},
                   {{"name", "fc2"},
                    {"type", "Linear"},
                    {"parent", ""},
                    {"params", 10},
                    {"trainable_params", 10}}}}});
  Diagnosis d;
  d.findings.push_back(MakeFinding("layer.dead", Category::kLayer, Severity::kWarning, "fc1", {1}));
  Grade(run, d);
  ASSERT_EQ(d.layer_scores.size(), 2u);
  EXPECT_EQ(d.layer_scores.at("fc1"), 100 - LayerPenalty(Severity::kWarning));
  EXPECT_EQ(d.layer_scores.at("fc2"), 100);
}

TEST(Grade, LettersFollowTheDocumentedBands) {
  EXPECT_EQ(GradeOf(100), 'A');
  EXPECT_EQ(GradeOf(90), 'A');
  EXPECT_EQ(GradeOf(89.9), 'B');
  EXPECT_EQ(GradeOf(75), 'B');
  EXPECT_EQ(GradeOf(60), 'C');
  EXPECT_EQ(GradeOf(45), 'D');
  EXPECT_EQ(GradeOf(30), 'E');
  EXPECT_EQ(GradeOf(29.9), 'F');
}

}  // namespace
}  // namespace atlas::diagnostics
