// The gradient checks, one at a time: each fires on its planted problem, stays silent on a
// healthy MLP, and stays silent when the data it reads was not sent.
#include <gtest/gtest.h>

#include <string>

#include "model_fixtures.hpp"

namespace atlas::diagnostics {
namespace {

using testing::HealthyMlpRun;
using testing::LayerOf;
using testing::MlpModules;
using testing::RunCheck;
using json = nlohmann::json;

// The gradient checks judge a Sigmoid MLP, whose gradients can vanish.
json HealthySigmoidRun(int samples = 6) { return HealthyMlpRun(samples, "Sigmoid"); }

// Sets the gradient norms of the three Linear layers in samples [from, end).
void SetGrads(json& run, double first, double middle, double last, std::size_t from = 0) {
  for (std::size_t k = from; k < run["layer_samples"].size(); ++k) {
    LayerOf(run["layer_samples"][k], "0")["grad_norm"] = first;
    LayerOf(run["layer_samples"][k], "2")["grad_norm"] = middle;
    LayerOf(run["layer_samples"][k], "4")["grad_norm"] = last;
  }
}

// ----- gradient.vanishing -----

TEST(GradientVanishing, FiresOnTheAutoTrainerRatioAtTheFirstLayer) {
  json run = HealthySigmoidRun();
  SetGrads(run, 2e-5, 1e-3, 0.5);
  const auto findings = RunCheck("gradient.vanishing", run);
  ASSERT_EQ(findings.size(), 1u);
  const Finding& f = findings[0];
  EXPECT_EQ(f.layer, "0");
  EXPECT_EQ(f.category, Category::kGradient);
  EXPECT_NEAR(f.evidence["first_over_last"].get<double>(), 4e-5, 1e-12);
  EXPECT_EQ(f.evidence["layers_below_ratio"], 1);
  ASSERT_TRUE(f.energy_at_stake);
  EXPECT_NEAR(f.energy_at_stake->joules, 16384.0 / 52224.0 * 3000.0, 1.0);
}

TEST(GradientVanishing, FiresOnTheSageMakerMeanAbsoluteGradient) {
  json run = HealthySigmoidRun();
  for (json& s : run["layer_samples"]) {
    for (json& l : s["layers"]) {
      if (l.contains("grad_abs_mean")) l["grad_abs_mean"] = 1e-9;
    }
  }
  EXPECT_EQ(RunCheck("gradient.vanishing", run).size(), 1u);
}

TEST(GradientVanishing, NeedsAMajorityOfTheWindow) {
  json run = HealthySigmoidRun();
  SetGrads(run, 2e-5, 1e-3, 0.5, 4);  // two of six samples
  EXPECT_TRUE(RunCheck("gradient.vanishing", run).empty());
}

TEST(GradientVanishing, SilentWhenTheFirstLayerIsNotTinyHealthyOrAbsent) {
  json run = HealthySigmoidRun();
  SetGrads(run, 4e-4, 1e-2, 1.0);  // ratio 4e-4 but first 4e-4 > 1e-4
  EXPECT_TRUE(RunCheck("gradient.vanishing", run).empty());
  EXPECT_TRUE(RunCheck("gradient.vanishing", HealthySigmoidRun()).empty());
  run = HealthySigmoidRun();
  for (json& s : run["layer_samples"]) {
    for (json& l : s["layers"]) {
      l.erase("grad_norm");
      l.erase("grad_abs_mean");
    }
  }
  EXPECT_TRUE(RunCheck("gradient.vanishing", run).empty());
}

// ----- gradient.exploding -----

TEST(GradientExploding, FiresOnTheFirstOverLastRatio) {
  json run = HealthySigmoidRun();
  SetGrads(run, 80, 5, 0.5);
  const auto findings = RunCheck("gradient.exploding", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_FALSE(findings[0].layer);  // run-wide; the evidence names the layer
  EXPECT_EQ(findings[0].evidence["layer"], "0");
  EXPECT_EQ(findings[0].evidence["rule"], "first/last ratio");
}

TEST(GradientExploding, FiresOnAHugeNormAndOnGrowth) {
  json run = HealthySigmoidRun();
  SetGrads(run, 0.5, 2000, 0.5, 5);
  auto findings = RunCheck("gradient.exploding", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].evidence["layer"], "2");
  EXPECT_EQ(findings[0].evidence["rule"], "total norm");
  run = HealthySigmoidRun();
  SetGrads(run, 40, 60, 50, 5);  // ~100x the first sample's total norm of ~0.77
  findings = RunCheck("gradient.exploding", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].evidence["rule"], "growth");
}

TEST(GradientExploding, SilentOnHealthyGradientsAndWithoutThem) {
  EXPECT_TRUE(RunCheck("gradient.exploding", HealthySigmoidRun()).empty());
  json run = HealthySigmoidRun();
  SetGrads(run, 20, 5, 0.5);  // ratio 40 < 70
  EXPECT_TRUE(RunCheck("gradient.exploding", run).empty());
  EXPECT_TRUE(RunCheck("gradient.exploding", json{{"architecture", MlpModules()}}).empty());
}

// ----- gradient.nonfinite -----

TEST(GradientNonfinite, FiresAtTheEarliestSampleNearestTheLoss) {
  json run = HealthySigmoidRun();
  for (std::size_t k = 2; k < run["layer_samples"].size(); ++k) {
    LayerOf(run["layer_samples"][k], "2")["nonfinite_grads"] = 5;
    LayerOf(run["layer_samples"][k], "4")["grad_norm"] = "Infinity";
  }
  const auto findings = RunCheck("gradient.nonfinite", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "4");
  EXPECT_EQ(findings[0].severity, Severity::kCritical);
  EXPECT_EQ(findings[0].evidence["step"], 100);
  EXPECT_EQ(findings[0].evidence["affected_layers"], json::array({"2", "4"}));
  EXPECT_EQ(findings[0].epochs, (std::vector<std::int64_t>{1, 2}));
}

TEST(GradientNonfinite, SilentWhenFiniteOrAbsent) {
  EXPECT_TRUE(RunCheck("gradient.nonfinite", HealthySigmoidRun()).empty());
  EXPECT_TRUE(RunCheck("gradient.nonfinite", json::object()).empty());
}

// ----- gradient.noise_scale -----

json WithNoiseScale(double gns, double batch) {
  json run = HealthySigmoidRun();
  run["batch_size"] = batch;
  for (json& s : run["layer_samples"]) {
    s["layers"].push_back({{"layer", ""}, {"extra", {{"gradient_noise_scale", gns}}}});
  }
  return run;
}

TEST(GradientNoiseScale, FiresWhenTheBatchIsFarAboveTheCriticalBatchSize) {
  const auto findings = RunCheck("gradient.noise_scale", WithNoiseScale(50, 2048));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_FALSE(findings[0].layer);
  const double ratio = 2048.0 / 50.0;
  EXPECT_NEAR(findings[0].evidence["batch_over_noise_scale"].get<double>(), ratio, 1e-9);
  ASSERT_TRUE(findings[0].energy_at_stake);
  EXPECT_NEAR(findings[0].energy_at_stake->joules, (1.0 - 2.0 / (1.0 + ratio)) * 3000.0, 1e-6);
}

TEST(GradientNoiseScale, SilentNearTheCriticalBatchOrWithoutAMeasurement) {
  EXPECT_TRUE(RunCheck("gradient.noise_scale", WithNoiseScale(500, 2048)).empty());
  json run = HealthySigmoidRun();
  run["batch_size"] = 2048;
  EXPECT_TRUE(RunCheck("gradient.noise_scale", run).empty());
  run = WithNoiseScale(50, 2048);
  run.erase("batch_size");
  EXPECT_TRUE(RunCheck("gradient.noise_scale", run).empty());
}

TEST(GradientChecks, AreRegisteredInTheGradientCategory) {
  const auto checks = GradientChecks();
  ASSERT_EQ(checks.size(), 4u);
  for (const CheckInfo& c : checks) EXPECT_EQ(c.category, Category::kGradient) << c.id;
}

}  // namespace
}  // namespace atlas::diagnostics
