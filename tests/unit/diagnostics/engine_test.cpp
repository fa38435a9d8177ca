// The engine's arithmetic: the finding merge, the grade, the stopping analysis, the waste and
// the forecast, on small hand-built runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "diagnostics/check.hpp"
#include "diagnostics/diagnosis_json.hpp"
#include "diagnostics/engine.hpp"
#include "diagnostics/signals.hpp"
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

// ----- Stopping -----

// A run whose metric `split.loss` takes `values`, 60 s and 100 J per epoch.
nlohmann::json SeriesRun(const char* split, std::vector<double> values) {
  nlohmann::json t = {
      {"epoch_series",
       {{std::string(split) + ".loss", values}, {"duration_s", 60}, {"energy.gpu", 100}}},
      {"carbon",
       {{"pue", 1.5},
        {"grid_g_co2_per_kwh", 400},
        {"eur_per_tonne_co2", 50},
        {"g_co2_per_car_km", 100}}}};
  return t;
}

TEST(Stopping, LinearDescentThenFlat) {
  // Linear descent has no curvature, so the noise estimate is 0 and the margin is the
  // relative floor (0.1% of the best).
  const RunTelemetry run =
      Telemetry(SeriesRun("train", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5}));
  const Stopping st = AnalyseStopping(run, Thresholds());
  EXPECT_EQ(st.metric, "train.loss");
  EXPECT_EQ(st.best_epoch, 5);
  EXPECT_DOUBLE_EQ(*st.best_value, 0.5);
  EXPECT_EQ(st.optimal_epoch, 5);
  EXPECT_EQ(st.online_stop_epoch, 8);  // three epochs without improvement after epoch 5
  EXPECT_EQ(st.pitch_rule_epoch, 6);   // the first epoch whose gain is < 5% of the total
}

TEST(Stopping, OptimalIsTheEarliestEpochWithinTheTolerance) {
  const RunTelemetry run =
      Telemetry(SeriesRun("train", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.498, 0.497}));
  const Stopping st = AnalyseStopping(run, Thresholds());
  EXPECT_EQ(st.best_epoch, 7);
  EXPECT_EQ(st.optimal_epoch, 5);  // 0.5 is within 1% of 0.497
  EXPECT_FALSE(st.online_stop_epoch.has_value());
}

TEST(Stopping, GeneralisationLossStopsAtOnceOnValidation) {
  const RunTelemetry run = Telemetry(SeriesRun("val", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.56}));
  const Stopping st = AnalyseStopping(run, Thresholds());
  EXPECT_EQ(st.metric, "val.loss");
  EXPECT_EQ(st.online_stop_epoch, 6);  // GL = 12% > 5%, the rise beyond the (zero) noise
  // The same curve as training loss waits for the patience window.
  EXPECT_FALSE(AnalyseStopping(Telemetry(SeriesRun("train", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.56})),
                               Thresholds())
                   .online_stop_epoch.has_value());
}

TEST(Stopping, NoiseWidensTheMargin) {
  // The same flat tail: with jitter the small dips are not improvements.
  const std::vector<double> noisy = {1.0, 0.9, 0.8, 0.7, 0.6, 0.52, 0.5, 0.53, 0.49, 0.52, 0.5};
  const Stopping st = AnalyseStopping(Telemetry(SeriesRun("train", noisy)), Thresholds());
  EXPECT_GT(NoiseSigma(noisy), 0.01);
  EXPECT_EQ(st.online_stop_epoch, 8);  // 0.49 at epoch 8 is within the noise of 0.52
}

TEST(Waste, EpochsSecondsEnergyAndFractionAfterTheOptimum) {
  const RunTelemetry run =
      Telemetry(SeriesRun("train", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5}));
  const Stopping st = AnalyseStopping(run, Thresholds());
  const Waste w = WasteAfter(run, st);
  EXPECT_EQ(w.epochs, 3);
  EXPECT_DOUBLE_EQ(w.seconds, 180);
  EXPECT_DOUBLE_EQ(w.footprint.joules, 300);
  EXPECT_DOUBLE_EQ(w.footprint.kwh, 300 / 3.6e6 * 1.5);
  EXPECT_DOUBLE_EQ(w.footprint.kg_co2, w.footprint.kwh * 0.4);
  EXPECT_DOUBLE_EQ(w.footprint.eur, w.footprint.kg_co2 / 1000 * 50);
  EXPECT_DOUBLE_EQ(w.footprint.car_km, w.footprint.kg_co2 * 1000 / 100);
  EXPECT_DOUBLE_EQ(w.fraction, 3.0 / 9.0);
}

TEST(Waste, FractionFallsBackToTimeWithoutEnergy) {
  nlohmann::json j = SeriesRun("train", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5});
  j["epoch_series"].erase("energy.gpu");
  j["epoch_series"]["duration_s"] = {10, 10, 10, 10, 10, 10, 20, 20, 20};
  const RunTelemetry run = Telemetry(j);
  const Waste w = WasteAfter(run, AnalyseStopping(run, Thresholds()));
  EXPECT_EQ(w.footprint.joules, 0);
  EXPECT_DOUBLE_EQ(w.fraction, 60.0 / 120.0);
}

TEST(PastOptimalStop, FindingCarriesTheEnergyAfterTheOptimum) {
  const RunTelemetry run =
      Telemetry(SeriesRun("train", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5}));
  const Diagnosis d = Diagnose(run, Thresholds());
  const auto it = std::find_if(d.findings.begin(), d.findings.end(), [](const Finding& f) {
    return f.check == "convergence.past_optimal_stop";
  });
  ASSERT_NE(it, d.findings.end());
  EXPECT_EQ(it->epochs, (std::vector<std::int64_t>{6, 7, 8}));
  ASSERT_TRUE(it->energy_at_stake.has_value());
  EXPECT_DOUBLE_EQ(it->energy_at_stake->joules, 300);
  EXPECT_DOUBLE_EQ(it->energy_at_stake->kg_co2, d.waste.footprint.kg_co2);
}

// ----- Forecast -----

TEST(Forecast, ProjectsThePlannedEpochsAtTheMedianEpoch) {
  nlohmann::json j = SeriesRun("train", {1.0, 0.9, 0.8});
  j["epoch_series"]["duration_s"] = {90, 60, 60};  // a slow first epoch
  j["planned_epochs"] = 10;
  const RunTelemetry run = Telemetry(j);
  const Forecast fc = ForecastRun(run, Thresholds());
  EXPECT_EQ(fc.planned_epochs, 10);
  EXPECT_DOUBLE_EQ(*fc.total_seconds, 210 + 7 * 60);
  EXPECT_DOUBLE_EQ(fc.total->joules, 1000);
  EXPECT_DOUBLE_EQ(fc.total->kwh, 1000 / 3.6e6 * 1.5);
  EXPECT_FALSE(fc.plateau_value.has_value());  // four epochs are needed for a curve fit
}

TEST(Forecast, RecoversAnExponentialLearningCurve) {
  std::vector<double> values;
  values.reserve(8);
  for (int e = 0; e < 8; ++e) values.push_back(0.5 + 2 * std::exp(-0.5 * (e + 1)));
  nlohmann::json j = SeriesRun("val", values);
  j["planned_epochs"] = 40;
  const Forecast fc = ForecastRun(Telemetry(j), Thresholds());
  EXPECT_EQ(fc.curve_model.rfind("exponential", 0), 0u) << fc.curve_model;
  EXPECT_NEAR(*fc.plateau_value, 0.5, 1e-3);
  EXPECT_LT(*fc.fit_rmse, 1e-4);
  // The plateau: 2 exp(-0.5 (e+1)) <= 1% of 0.5, i.e. e + 1 >= 2 ln(400) = 11.98.
  ASSERT_TRUE(fc.plateau_epoch.has_value());
  EXPECT_EQ(*fc.plateau_epoch, 11);
  ASSERT_TRUE(fc.saving_if_stopped_at_plateau.has_value());
  EXPECT_DOUBLE_EQ(fc.saving_if_stopped_at_plateau->joules, (40 - 11 - 1) * 100.0);
}

TEST(Forecast, RecoversAPowerLawLearningCurve) {
  std::vector<double> values;
  values.reserve(10);
  for (int e = 0; e < 10; ++e) values.push_back(0.2 + 1.5 * std::pow(e + 1, -0.8));
  const Forecast fc = ForecastRun(Telemetry(SeriesRun("train", values)), Thresholds());
  EXPECT_EQ(fc.curve_model.rfind("power law", 0), 0u) << fc.curve_model;
  EXPECT_NEAR(*fc.plateau_value, 0.2, 5e-3);
}

TEST(Forecast, NoPlateauForARisingCurve) {
  const Forecast fc =
      ForecastRun(Telemetry(SeriesRun("train", {0.5, 0.6, 0.8, 1.1, 1.5, 2.0})), Thresholds());
  EXPECT_FALSE(fc.plateau_value.has_value());
  EXPECT_FALSE(fc.plateau_epoch.has_value());
}

// ----- The JSON document -----

TEST(DiagnosisJson, HasExactlyTheDocumentedKeys) {
  const RunTelemetry run =
      Telemetry(SeriesRun("train", {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5}));
  const nlohmann::json doc = ToJson(Diagnose(run, Thresholds()));
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"category_scores", "findings", "forecast", "grade",
                                      "layer_scores", "optimal_stop_epoch", "pitch_rule_epoch",
                                      "score", "spent", "stopping", "waste"}));
  EXPECT_EQ(doc["optimal_stop_epoch"], 5);
  EXPECT_EQ(doc["pitch_rule_epoch"], 6);
  for (const char* k : {"epochs", "seconds", "kwh", "kg_co2", "eur", "car_km", "fraction"}) {
    EXPECT_TRUE(doc["waste"].contains(k)) << k;
  }
  ASSERT_FALSE(doc["findings"].empty());
  std::vector<std::string> finding_keys;
  for (const auto& [k, v] : doc["findings"][0].items()) finding_keys.push_back(k);
  EXPECT_EQ(finding_keys,
            (std::vector<std::string>{"category", "check", "energy_at_stake", "epochs", "evidence",
                                      "fix", "layer", "severity", "title", "why"}));
}

TEST(DiagnosisJson, RoundTrips) {
  nlohmann::json j = SeriesRun("val", {1.0, 0.8, 0.6, 0.55, 0.56, 0.58, 0.6, 0.61});
  j["planned_epochs"] = 12;
  const Diagnosis d = Diagnose(Telemetry(j), Thresholds());
  const nlohmann::json doc = ToJson(d);
  Result<Diagnosis> back = DiagnosisFromJson(doc);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(ToJson(*back), doc);
  Result<std::vector<Finding>> findings = FindingsFromJson(doc["findings"]);
  ASSERT_TRUE(findings.ok());
  EXPECT_EQ(findings->size(), d.findings.size());
}

TEST(DiagnosisJson, RejectsAMalformedFindingByKey) {
  nlohmann::json f =
      ToJson(MakeFinding("layer.dead", Category::kLayer, Severity::kWarning, "fc1", {1}));
  f["severity"] = "fatal";
  Result<Finding> r = FindingFromJson(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("severity"), std::string::npos);
  f.erase("severity");
  EXPECT_FALSE(FindingFromJson(f).ok());
}

// ----- Telemetry -----

TEST(ModuleTree, SubtreeParamsAndFlops) {
  const RunTelemetry run =
      Telemetry({{"architecture",
                  {{{"name", ""}, {"type", "Net"}, {"params", 0}, {"trainable_params", 0}},
                   {{"name", "features"},
                    {"type", "Sequential"},
                    {"parent", ""},
                    {"params", 0},
                    {"trainable_params", 0}},
                   {{"name", "features.0"},
                    {"type", "Conv2d"},
                    {"parent", "features"},
                    {"params", 320},
                    {"trainable_params", 320},
                    {"flops", 1000}},
                   {{"name", "features.1"},
                    {"type", "ReLU"},
                    {"parent", "features"},
                    {"params", 0},
                    {"trainable_params", 0},
                    {"flops", 10}},
                   {{"name", "fc"},
                    {"type", "Linear"},
                    {"parent", ""},
                    {"params", 1290},
                    {"trainable_params", 1290}}}}});
  ASSERT_EQ(run.modules.size(), 5u);
  EXPECT_EQ(run.modules[0].subtree_params, 1610);
  EXPECT_EQ(run.modules[1].subtree_params, 320);
  EXPECT_EQ(run.modules[1].children, (std::vector<std::size_t>{2, 3}));
  EXPECT_DOUBLE_EQ(*run.modules[1].subtree_flops, 1010);   // the children's sum
  EXPECT_FALSE(run.modules[0].subtree_flops.has_value());  // fc has no figure
  EXPECT_EQ(run.FindModule("fc"), &run.modules[4]);
  EXPECT_EQ(run.FindModule("nope"), nullptr);
}

TEST(Signals, NoiseSigmaIgnoresALinearTrendAndMeasuresJitter) {
  EXPECT_EQ(NoiseSigma({5, 4, 3, 2, 1, 0}), 0);
  EXPECT_GT(NoiseSigma({1, 1.1, 1, 1.1, 1, 1.1}), 0.05);
  EXPECT_EQ(NoiseSigma({1, 2}), 0);
  EXPECT_DOUBLE_EQ(Median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(Median({4, 1, 2, 3}), 2.5);
}

}  // namespace
}  // namespace atlas::diagnostics
