// The layer checks, one at a time: each fires on its planted problem, stays silent on a healthy
// MLP, and stays silent when the data it reads was not sent.
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

// ----- layer.dead -----

json DeadRun(double dead_share) {
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    json& relu = LayerOf(s, "3");
    std::vector<double> active = relu["extra"]["unit_active_frac"];
    const auto dead = static_cast<std::size_t>(dead_share * 128);
    for (std::size_t u = 0; u < dead; ++u) active[u] = 0.0;
    relu["extra"]["unit_active_frac"] = active;
    relu["dead_fraction"] = dead_share;
  }
  return run;
}

TEST(LayerDead, FiresOnTheReluWithMostUnitsDeadWithEnergyOfTheLinearBeforeIt) {
  const auto findings = RunCheck("layer.dead", DeadRun(0.75));
  ASSERT_EQ(findings.size(), 1u);
  const Finding& f = findings[0];
  EXPECT_EQ(f.layer, "3");
  EXPECT_EQ(f.severity, Severity::kWarning);
  EXPECT_NEAR(f.evidence["dead_unit_fraction"].get<double>(), 0.75, 0.01);
  EXPECT_EQ(f.epochs, (std::vector<std::int64_t>{0, 1, 2}));
  ASSERT_TRUE(f.energy_at_stake);
  // 75% of layer "2"'s share (32768 / 52224) of 3 kJ.
  EXPECT_NEAR(f.energy_at_stake->joules, 0.75 * 32768.0 / 52224.0 * 3000.0, 1.0);
  EXPECT_NE(f.fix.find("kaiming_normal_(2.weight"), std::string::npos) << f.fix;
}

TEST(LayerDead, AlmostAllDeadIsCritical) {
  const auto findings = RunCheck("layer.dead", DeadRun(0.95));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].severity, Severity::kCritical);
}

TEST(LayerDead, SilentOnAHealthyMlpAndBelowTheLayerFraction) {
  EXPECT_TRUE(RunCheck("layer.dead", HealthyMlpRun()).empty());
  EXPECT_TRUE(RunCheck("layer.dead", DeadRun(0.4)).empty());
}

TEST(LayerDead, UsesDeadFractionWhenThereAreNoPerUnitArrays) {
  json run = DeadRun(0.75);
  for (json& s : run["layer_samples"]) LayerOf(s, "3")["extra"].erase("unit_active_frac");
  const auto findings = RunCheck("layer.dead", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_NE(findings[0].evidence["basis"].get<std::string>().find("dead_fraction"),
            std::string::npos);
}

TEST(LayerDead, SilentWithoutSamplesOrWithTooFew) {
  json run = DeadRun(0.75);
  run["layer_samples"] = json::array({run["layer_samples"][0], run["layer_samples"][1]});
  EXPECT_TRUE(RunCheck("layer.dead", run).empty());
  EXPECT_TRUE(RunCheck("layer.dead", json{{"architecture", MlpModules()}}).empty());
}

TEST(LayerDead, IgnoresLinearOutputsThatAreNeverPositive) {
  // Signed outputs (a Linear) with many never-positive units are not dead ReLUs.
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) LayerOf(s, "2")["dead_fraction"] = 0.9;
  EXPECT_TRUE(RunCheck("layer.dead", run).empty());
}

// ----- layer.dormant_units -----

TEST(LayerDormant, FiresOnUnitsThatFireButBarelyContribute) {
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) LayerOf(s, "1")["extra"]["dormant_fraction"] = 0.6;
  const auto findings = RunCheck("layer.dormant_units", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "1");
  EXPECT_EQ(findings[0].severity, Severity::kWarning);
  // dead_fraction 0.01 is subtracted: dead units are layer.dead's.
  EXPECT_NEAR(findings[0].evidence["dormant_not_dead_fraction"].get<double>(), 0.59, 1e-9);
}

TEST(LayerDormant, ComputesTheFractionFromUnitScoresWhenNotSent) {
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    json& relu = LayerOf(s, "1");
    relu["extra"].erase("dormant_fraction");
    std::vector<double> scores(128, 1.6);
    for (int u = 0; u < 48; ++u) scores[u] = 0.05;  // 37.5% dormant
    relu["extra"]["unit_score"] = scores;
  }
  const auto findings = RunCheck("layer.dormant_units", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].severity, Severity::kInfo);
}

TEST(LayerDormant, SilentOnAHealthyMlpAndWithoutTheField) {
  EXPECT_TRUE(RunCheck("layer.dormant_units", HealthyMlpRun()).empty());
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    for (json& l : s["layers"]) l.erase("extra");
  }
  EXPECT_TRUE(RunCheck("layer.dormant_units", run).empty());
}

// ----- layer.saturated -----

json SaturatedRun(double fraction) {
  json run = HealthyMlpRun();
  run["architecture"] = MlpModules("Tanh");
  for (json& s : run["layer_samples"]) {
    for (const char* name : {"1", "3"}) {
      json& l = LayerOf(s, name);
      l["activation_mean"] = 0.0;
      l["saturated_fraction"] = name == std::string("1") ? fraction : 0.05;
    }
  }
  return run;
}

TEST(LayerSaturated, FiresOnATanhStuckAtItsLimits) {
  const auto findings = RunCheck("layer.saturated", SaturatedRun(0.7));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "1");
  EXPECT_EQ(findings[0].severity, Severity::kWarning);
  EXPECT_EQ(findings[0].evidence["type"], "Tanh");
  EXPECT_EQ(RunCheck("layer.saturated", SaturatedRun(0.95))[0].severity, Severity::kCritical);
}

TEST(LayerSaturated, SilentBelowTheThresholdAndWithoutTheStatistic) {
  EXPECT_TRUE(RunCheck("layer.saturated", SaturatedRun(0.3)).empty());
  EXPECT_TRUE(RunCheck("layer.saturated", HealthyMlpRun()).empty());
}

TEST(LayerSaturated, SilentOnTheOutputSigmoidOfABinaryClassifier) {
  json run = HealthyMlpRun();
  run["architecture"].push_back(testing::Module("5", "Sigmoid", "", 0, {32, 10}, {32, 10}, 10));
  run["architecture"][0]["output_shape"] = {32, 10};
  for (json& s : run["layer_samples"]) {
    s["layers"].push_back({{"layer", "5"}, {"saturated_fraction", 0.9}});
  }
  EXPECT_TRUE(RunCheck("layer.saturated", run).empty());
}

// ----- layer.not_updating -----

TEST(LayerNotUpdating, FiresOnALayerWithGradientsAndZeroUpdates) {
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) LayerOf(s, "2")["update_ratio"] = 0.0;
  const auto findings = RunCheck("layer.not_updating", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "2");
  EXPECT_EQ(findings[0].severity, Severity::kCritical);
  ASSERT_TRUE(findings[0].energy_at_stake);
  EXPECT_NEAR(findings[0].energy_at_stake->joules, 32768.0 / 52224.0 / 3.0 * 3000.0, 1.0);
}

TEST(LayerNotUpdating, SilentWhenNoLayerMovedOrTheLayerIsFrozen) {
  // Gradient accumulation: the sampled step had no optimizer step at all.
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    for (json& l : s["layers"]) {
      if (l.contains("update_ratio")) l["update_ratio"] = 0.0;
    }
  }
  EXPECT_TRUE(RunCheck("layer.not_updating", run).empty());
  // Frozen: no gradient, no update.
  run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    LayerOf(s, "2").erase("grad_norm");
    LayerOf(s, "2")["update_ratio"] = 0.0;
  }
  EXPECT_TRUE(RunCheck("layer.not_updating", run).empty());
  EXPECT_TRUE(RunCheck("layer.not_updating", HealthyMlpRun()).empty());
}

TEST(LayerNotUpdating, SilentWhenTheGradientIsTooSmallToMoveTheWeights) {
  // A vanished gradient (deep sigmoid stack): the weights stand still because lr x 1e-11 rounds
  // away in float32, which is gradient.vanishing's finding, not a missing optimizer group.
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    LayerOf(s, "2")["update_ratio"] = 0.0;
    LayerOf(s, "2")["grad_norm"] = 1e-11;
    LayerOf(s, "2")["weight_norm"] = 4.0;
  }
  EXPECT_TRUE(RunCheck("layer.not_updating", run).empty());
  // The same layer with a gradient the optimizer would have applied still fires.
  for (json& s : run["layer_samples"]) LayerOf(s, "2")["grad_norm"] = 1e-3;
  EXPECT_EQ(RunCheck("layer.not_updating", run).size(), 1u);
}

TEST(LayerNotUpdating, SilentWithoutUpdateRatios) {
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    for (json& l : s["layers"]) l.erase("update_ratio");
  }
  EXPECT_TRUE(RunCheck("layer.not_updating", run).empty());
}

// ----- layer.update_ratio -----

TEST(LayerUpdateRatio, FiresOnUpdatesTooLargeOrTooSmall) {
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    LayerOf(s, "0")["update_ratio"] = 0.5;
    LayerOf(s, "4")["update_ratio"] = 2e-7;
  }
  const auto findings = RunCheck("layer.update_ratio", run);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].layer, "0");
  EXPECT_NE(findings[0].title.find("too large"), std::string::npos);
  EXPECT_EQ(findings[1].layer, "4");
  EXPECT_NE(findings[1].title.find("too small"), std::string::npos);
  for (json& s : run["layer_samples"]) LayerOf(s, "0")["update_ratio"] = 3.0;
  EXPECT_EQ(RunCheck("layer.update_ratio", run)[0].severity, Severity::kCritical);
}

TEST(LayerUpdateRatio, JudgesTheMedianSoOneSpikeDoesNotFire) {
  json run = HealthyMlpRun();
  LayerOf(run["layer_samples"][3], "0")["update_ratio"] = 0.9;
  EXPECT_TRUE(RunCheck("layer.update_ratio", run).empty());
}

TEST(LayerUpdateRatio, SilentWithoutRatios) {
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    for (json& l : s["layers"]) l.erase("update_ratio");
  }
  EXPECT_TRUE(RunCheck("layer.update_ratio", run).empty());
}

// ----- layer.near_zero_weights -----

TEST(LayerNearZeroWeights, FiresOnSparseAndOnCollapsedWeights) {
  json run = HealthyMlpRun();
  LayerOf(run["layer_samples"].back(), "2")["weight_sparsity"] = 0.95;
  LayerOf(run["layer_samples"].back(), "0")["weight_abs_mean"] = 1e-5;
  const auto findings = RunCheck("layer.near_zero_weights", run);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].layer, "0");
  EXPECT_NE(findings[0].title.find("collapsed"), std::string::npos);
  EXPECT_EQ(findings[1].layer, "2");
  EXPECT_EQ(findings[1].severity, Severity::kWarning);
  ASSERT_TRUE(findings[1].energy_at_stake);
}

TEST(LayerNearZeroWeights, SilentOnHealthyWeightsAndWithoutWeightStatistics) {
  EXPECT_TRUE(RunCheck("layer.near_zero_weights", HealthyMlpRun()).empty());
  json run = HealthyMlpRun();
  for (json& s : run["layer_samples"]) {
    for (json& l : s["layers"]) {
      l.erase("weight_sparsity");
      l.erase("weight_abs_mean");
    }
  }
  EXPECT_TRUE(RunCheck("layer.near_zero_weights", run).empty());
}

// ----- layer.nonfinite -----

TEST(LayerNonfinite, NamesTheFirstLayerOfTheEarliestSample) {
  json run = HealthyMlpRun();
  for (std::size_t k = 3; k < run["layer_samples"].size(); ++k) {
    LayerOf(run["layer_samples"][k], "2")["nonfinite_activations"] = 12;
    LayerOf(run["layer_samples"][k], "4")["nonfinite_activations"] = 40;
  }
  LayerOf(run["layer_samples"][4], "0")["weight_norm"] = "NaN";
  const auto findings = RunCheck("layer.nonfinite", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "2");
  EXPECT_EQ(findings[0].severity, Severity::kCritical);
  EXPECT_EQ(findings[0].evidence["step"], 150);
  EXPECT_EQ(findings[0].evidence["affected_layers"], json::array({"2", "4"}));
  EXPECT_EQ(findings[0].epochs, (std::vector<std::int64_t>{1, 2}));
}

TEST(LayerNonfinite, SilentWhenEverythingIsFinite) {
  EXPECT_TRUE(RunCheck("layer.nonfinite", HealthyMlpRun()).empty());
  EXPECT_TRUE(RunCheck("layer.nonfinite", json::object()).empty());
}

// ----- layer.poor_init -----

TEST(LayerPoorInit, FiresOnActivationsExplodingThroughDepth) {
  json run = HealthyMlpRun();
  run["architecture"] = MlpModules();
  // A deeper MLP so three hidden Linear layers are judged (the output layer is left out).
  run["architecture"][5] = testing::Module("4", "Linear", "", 16512, {32, 128}, {32, 128}, 32768);
  run["architecture"].push_back(testing::Module("5", "ReLU", "", 0, {32, 128}, {32, 128}, 128));
  run["architecture"].push_back(
      testing::Module("6", "Linear", "", 1290, {32, 128}, {32, 10}, 2560));
  json& first = run["layer_samples"][0];
  LayerOf(first, "0")["activation_std"] = 8.0;
  LayerOf(first, "2")["activation_std"] = 90.0;
  LayerOf(first, "4")["activation_std"] = 1000.0;
  const auto findings = RunCheck("layer.poor_init", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "4");
  EXPECT_NEAR(findings[0].evidence["last_over_first"].get<double>(), 125.0, 1e-9);
}

TEST(LayerPoorInit, FiresOnAWeightScaleFarFromFanInInit) {
  json run = HealthyMlpRun();
  // N(0, 1.25^2) weights: mean |w| = 1.0, scale 1.0 * sqrt(129) against the default's 0.5.
  LayerOf(run["layer_samples"][0], "2")["weight_abs_mean"] = 1.0;
  const auto findings = RunCheck("layer.poor_init", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "2");
  EXPECT_GT(findings[0].evidence["scale_abs_mean_x_sqrt_fan_in"].get<double>(), 10.0);
}

TEST(LayerPoorInit, SilentOnDefaultInitLaterSamplesAndWithoutAModuleTree) {
  EXPECT_TRUE(RunCheck("layer.poor_init", HealthyMlpRun()).empty());
  // The same scale in a sample taken long after step 0 is not the initialisation.
  json run = HealthyMlpRun();
  run["layer_samples"].erase(0);
  LayerOf(run["layer_samples"][0], "2")["weight_abs_mean"] = 1.0;
  EXPECT_TRUE(RunCheck("layer.poor_init", run).empty());
  run = HealthyMlpRun();
  run.erase("architecture");
  LayerOf(run["layer_samples"][0], "2")["weight_abs_mean"] = 1.0;
  EXPECT_TRUE(RunCheck("layer.poor_init", run).empty());
}

TEST(LayerChecks, AreRegisteredInTheLayerCategory) {
  const auto checks = LayerChecks();
  ASSERT_EQ(checks.size(), 8u);
  for (const CheckInfo& c : checks) {
    EXPECT_EQ(c.category, Category::kLayer) << c.id;
    EXPECT_EQ(c.id.substr(0, 6), "layer.") << c.id;
  }
}

}  // namespace
}  // namespace atlas::diagnostics
