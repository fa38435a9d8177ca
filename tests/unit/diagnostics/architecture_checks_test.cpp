// The architecture checks, one at a time: each fires on its planted problem, stays silent on
// healthy controls (an MLP, a CNN with batch norm and pooling, a small transformer) and on
// networks of a kind it does not apply to, and stays silent without a module tree.
#include <gtest/gtest.h>

#include <string>

#include "model_fixtures.hpp"

namespace atlas::diagnostics {
namespace {

using testing::CnnModules;
using testing::HealthyMlpSamples;
using testing::LayerOf;
using testing::MlpModules;
using testing::Module;
using testing::RunCheck;
using json = nlohmann::json;

// Two epochs of 2 kJ each.
json Energy() {
  return json::array(
      {{{"epoch", 0}, {"joules", {{"gpu", 2000}}}}, {{"epoch", 1}, {"joules", {{"gpu", 2000}}}}});
}

json Model(json modules) { return {{"architecture", std::move(modules)}, {"epochs", Energy()}}; }

// A small transformer encoder for sequences of 16 tokens, d_model 64.
json TransformerModules() {
  const std::string l = "encoder.layers.0";
  return json::array({
      Module("", "TinyTransformer", "<root>", 0, {8, 16}, {8, 16, 100}, 1.2e6),
      Module("embed", "Embedding", "", 6400, {8, 16}, {8, 16, 64}, 0),
      Module("encoder", "TransformerEncoder", "", 0, {8, 16, 64}, {8, 16, 64}, 1.0e6),
      Module("encoder.layers", "ModuleList", "encoder", 0, nullptr, nullptr, 0),
      Module(l, "TransformerEncoderLayer", "encoder.layers", 0, {8, 16, 64}, {8, 16, 64}, 1.0e6),
      Module(l + ".self_attn", "MultiheadAttention", l, 12480, {8, 16, 64}, {8, 16, 64}, 5e5),
      Module(l + ".self_attn.out_proj", "NonDynamicallyQuantizableLinear", l + ".self_attn", 4160,
             nullptr, nullptr, 0),
      Module(l + ".linear1", "Linear", l, 8320, {8, 16, 64}, {8, 16, 128}, 2.6e5),
      Module(l + ".dropout", "Dropout", l, 0, {8, 16, 128}, {8, 16, 128}, 0),
      Module(l + ".linear2", "Linear", l, 8256, {8, 16, 128}, {8, 16, 64}, 2.6e5),
      Module(l + ".norm1", "LayerNorm", l, 128, {8, 16, 64}, {8, 16, 64}, 5e3),
      Module(l + ".norm2", "LayerNorm", l, 128, {8, 16, 64}, {8, 16, 64}, 5e3),
      Module(l + ".dropout1", "Dropout", l, 0, {8, 16, 64}, {8, 16, 64}, 0),
      Module(l + ".dropout2", "Dropout", l, 0, {8, 16, 64}, {8, 16, 64}, 0),
      Module("head", "Linear", "", 6500, {8, 16, 64}, {8, 16, 100}, 2.0e5),
  });
}

std::vector<std::string> ArchitectureIds() {
  std::vector<std::string> ids;
  for (const CheckInfo& c : ArchitectureChecks()) ids.emplace_back(c.id);
  return ids;
}

TEST(ArchitectureChecks, NoWarningOnTheHealthyControls) {
  json mlp = Model(MlpModules());
  mlp["layer_samples"] = HealthyMlpSamples(6);
  mlp["config"] = {{"observer", {{"loss_fn", nullptr}}}};
  mlp["hyperparameters"] = {{"dropout", 0.2}};
  for (const json& run : std::vector<json>{mlp, Model(CnnModules()), Model(TransformerModules())}) {
    for (const std::string& id : ArchitectureIds()) {
      for (const Finding& f : RunCheck(id, run)) {
        EXPECT_EQ(f.severity, Severity::kInfo) << id << ": " << f.title;
      }
    }
  }
}

TEST(ArchitectureChecks, SilentWithoutAModuleTree) {
  json run = {{"layer_samples", HealthyMlpSamples(6)},
              {"epochs", Energy()},
              {"hyperparameters", {{"dropout", 0.9}}},
              {"config", {{"observer", {{"loss_fn", nullptr}}}}}};
  for (const std::string& id : ArchitectureIds()) {
    EXPECT_TRUE(RunCheck(id, run).empty()) << id;
  }
}

TEST(ArchitectureChecks, ConvolutionChecksStaySilentOnNetworksWithoutConvolutions) {
  for (const json& run : std::vector<json>{Model(MlpModules()), Model(TransformerModules())}) {
    for (const char* id : {"architecture.fc_dominance", "architecture.missing_downsampling",
                           "architecture.large_kernel", "architecture.early_channel_explosion",
                           "architecture.conv_bottleneck"}) {
      EXPECT_TRUE(RunCheck(id, run).empty()) << id;
    }
  }
}

// ----- overparameterized_layer and fc_dominance -----

json FcHeavyCnn() {
  json m = CnnModules();
  m.back() = Module("fc", "Linear", "", 40000, {32, 32}, {32, 1000}, 64000);
  return m;
}

TEST(ArchitectureOverparameterized, FiresOnALayerWithFarMoreParamsThanCompute) {
  const auto findings = RunCheck("architecture.overparameterized_layer", Model(FcHeavyCnn()));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "fc");
  EXPECT_EQ(findings[0].severity, Severity::kInfo);
  EXPECT_GT(findings[0].evidence["params_over_compute"].get<double>(), 10.0);
}

TEST(ArchitectureOverparameterized, SilentOnBalancedLayersAndWithoutFlops) {
  EXPECT_TRUE(RunCheck("architecture.overparameterized_layer", Model(CnnModules())).empty());
  EXPECT_TRUE(RunCheck("architecture.overparameterized_layer", Model(MlpModules())).empty());
  json m = FcHeavyCnn();
  for (json& module : m) module["flops"] = nullptr;
  EXPECT_TRUE(RunCheck("architecture.overparameterized_layer", Model(m)).empty());
}

TEST(ArchitectureFcDominance, FiresWhenLinearLayersHoldMostOfACnnsParameters) {
  const auto findings = RunCheck("architecture.fc_dominance", Model(FcHeavyCnn()));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "fc");
  EXPECT_NE(findings[0].fix.find("nn.AdaptiveAvgPool2d(1)"), std::string::npos);
  ASSERT_TRUE(findings[0].energy_at_stake);
}

TEST(ArchitectureFcDominance, SilentOnAHealthyCnn) {
  EXPECT_TRUE(RunCheck("architecture.fc_dominance", Model(CnnModules())).empty());
}

// ----- missing_downsampling -----

json FullResolutionCnn() {
  return json::array({
      Module("", "Sequential", "<root>", 0, {32, 1, 8, 8}, {32, 10}, 9.5e5),
      Module("0", "Conv2d", "", 160, {32, 1, 8, 8}, {32, 16, 8, 8}, 1.8e4),
      Module("1", "ReLU", "", 0, {32, 16, 8, 8}, {32, 16, 8, 8}, 1e3),
      Module("2", "Conv2d", "", 2320, {32, 16, 8, 8}, {32, 16, 8, 8}, 2.9e5),
      Module("3", "ReLU", "", 0, {32, 16, 8, 8}, {32, 16, 8, 8}, 1e3),
      Module("4", "Conv2d", "", 2320, {32, 16, 8, 8}, {32, 16, 8, 8}, 2.9e5),
      Module("5", "ReLU", "", 0, {32, 16, 8, 8}, {32, 16, 8, 8}, 1e3),
      Module("6", "Conv2d", "", 2320, {32, 16, 8, 8}, {32, 16, 8, 8}, 2.9e5),
      Module("7", "ReLU", "", 0, {32, 16, 8, 8}, {32, 16, 8, 8}, 1e3),
      Module("8", "Flatten", "", 0, {32, 16, 8, 8}, {32, 1024}, 0),
      Module("9", "Linear", "", 10250, {32, 1024}, {32, 10}, 2e4),
  });
}

TEST(ArchitectureMissingDownsampling, FiresOnAConvStackAtFullResolution) {
  const auto findings = RunCheck("architecture.missing_downsampling", Model(FullResolutionCnn()));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "4");
  EXPECT_NE(findings[0].fix.find("`nn.MaxPool2d(2)` after 3"), std::string::npos)
      << findings[0].fix;
  ASSERT_TRUE(findings[0].energy_at_stake);
  // Convs 4 and 6 at a quarter of their cost.
  EXPECT_NEAR(findings[0].energy_at_stake->joules, 0.75 * 5.8e5 / 9.5e5 * 4000.0, 1.0);
}

TEST(ArchitectureMissingDownsampling, SilentWithPoolingOrWithoutShapes) {
  EXPECT_TRUE(RunCheck("architecture.missing_downsampling", Model(CnnModules())).empty());
  json m = FullResolutionCnn();
  for (json& module : m) module["output_shape"] = nullptr;
  EXPECT_TRUE(RunCheck("architecture.missing_downsampling", Model(m)).empty());
}

// ----- redundant_layers -----

TEST(ArchitectureRedundant, FiresWhenABlocksOutputProfileMatchesItsInputUnitForUnit) {
  json run = Model(MlpModules());
  run["layer_samples"] = HealthyMlpSamples(6);
  for (json& s : run["layer_samples"]) {
    LayerOf(s, "3")["extra"]["unit_score"] = LayerOf(s, "1")["extra"]["unit_score"];
  }
  const auto findings = RunCheck("architecture.redundant_layers", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "2");
  EXPECT_NEAR(findings[0].evidence["value"].get<double>(), 1.0, 1e-9);
  ASSERT_TRUE(findings[0].energy_at_stake);
}

TEST(ArchitectureRedundant, UsesTheAngularDistanceWhenSent) {
  json run = Model(MlpModules());
  run["layer_samples"] = HealthyMlpSamples(6);
  for (json& s : run["layer_samples"]) LayerOf(s, "2")["extra"] = {{"angular_distance", 0.01}};
  ASSERT_EQ(RunCheck("architecture.redundant_layers", run).size(), 1u);
  // A measured distance overrules the profile evidence.
  for (json& s : run["layer_samples"]) {
    LayerOf(s, "2")["extra"] = {{"angular_distance", 0.4}};
    LayerOf(s, "3")["extra"]["unit_score"] = LayerOf(s, "1")["extra"]["unit_score"];
  }
  EXPECT_TRUE(RunCheck("architecture.redundant_layers", run).empty());
}

TEST(ArchitectureRedundant, SilentOnAHealthyMlpAndWithoutLayerStatistics) {
  json run = Model(MlpModules());
  run["layer_samples"] = HealthyMlpSamples(10);
  EXPECT_TRUE(RunCheck("architecture.redundant_layers", run).empty());
  EXPECT_TRUE(RunCheck("architecture.redundant_layers", Model(MlpModules())).empty());
}

// ----- collapsible_linear -----

json LinearPair(std::int64_t hidden, const std::string& parent_type) {
  const auto h = static_cast<double>(hidden);
  return json::array({
      Module("", parent_type, "<root>", 0, {32, 64}, {32, 10}, 2.0 * 64 * h + 20 * h),
      Module("0", "Linear", "", 65 * hidden, {32, 64}, {32, hidden}, 2.0 * 64 * h),
      Module("1", "Dropout", "", 0, {32, hidden}, {32, hidden}, 0),
      Module("2", "Linear", "", 10 * hidden + 10, {32, hidden}, {32, 10}, 20.0 * h),
  });
}

TEST(ArchitectureCollapsibleLinear, FiresOnLinearLinearInASequential) {
  const auto findings =
      RunCheck("architecture.collapsible_linear", Model(LinearPair(128, "Sequential")));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "2");
  EXPECT_NE(findings[0].fix.find("nn.Linear(64, 10)"), std::string::npos);
  // 64x10 merged against 64x128 + 128x10.
  EXPECT_NEAR(findings[0].evidence["flop_saving_if_merged"].get<double>(),
              1.0 - 640.0 / (64.0 * 128 + 128.0 * 10), 1e-12);
  ASSERT_TRUE(findings[0].energy_at_stake);
}

// The zoo's CollapsibleMLP: a custom module registering flat, proj1, proj2, act, head and
// calling head(act(proj2(proj1(flat(x))))).
json CustomCollapsible(bool activation_modules) {
  json m = json::array({
      Module("", "CollapsibleMLP", "<root>", 0, {32, 1, 8, 8}, {32, 10}, 52480),
      Module("flat", "Flatten", "", 0, {32, 1, 8, 8}, {32, 64}, 0),
      Module("proj1", "Linear", "", 8320, {32, 64}, {32, 128}, 16384),
      Module("proj2", "Linear", "", 16512, {32, 128}, {32, 128}, 32768),
      Module("act", "ReLU", "", 0, {32, 128}, {32, 128}, 128),
      Module("head", "Linear", "", 1290, {32, 128}, {32, 10}, 2560),
  });
  if (!activation_modules) m.erase(4);
  return m;
}

TEST(ArchitectureCollapsibleLinear, FiresOnAdjacentLinearsOfACustomModule) {
  const auto findings = RunCheck("architecture.collapsible_linear", Model(CustomCollapsible(true)));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "proj2");
  EXPECT_NE(findings[0].evidence["basis"].get<std::string>().find("registration order"),
            std::string::npos);
}

TEST(ArchitectureCollapsibleLinear, SilentOnCustomModulesWithFunctionalActivations) {
  // No activation module anywhere: the forward applies them functionally, maybe between.
  EXPECT_TRUE(RunCheck("architecture.collapsible_linear", Model(CustomCollapsible(false))).empty());
}

TEST(ArchitectureCollapsibleLinear, SilentOnLowRankPairsActivationsAndCustomForwards) {
  EXPECT_TRUE(
      RunCheck("architecture.collapsible_linear", Model(LinearPair(8, "Sequential"))).empty());
  EXPECT_TRUE(RunCheck("architecture.collapsible_linear", Model(MlpModules())).empty());
  // A custom module separating them by a Dropout: its forward may do anything in between.
  EXPECT_TRUE(RunCheck("architecture.collapsible_linear", Model(LinearPair(128, "Net"))).empty());
  EXPECT_TRUE(RunCheck("architecture.collapsible_linear", Model(TransformerModules())).empty());
}

// ----- large_kernel -----

json LargeKernelCnn(std::int64_t k) {
  const std::int64_t conv = std::int64_t{3} * 64 * k * k + 64;
  const double conv_flops = 2.0 * 3 * 64 * static_cast<double>(k * k) * 1024;
  return json::array({
      Module("", "Sequential", "<root>", 0, {8, 3, 32, 32}, {8, 10}, conv_flops + 2e5),
      Module("0", "Conv2d", "", conv, {8, 3, 32, 32}, {8, 64, 32, 32}, conv_flops),
      Module("1", "ReLU", "", 0, {8, 64, 32, 32}, {8, 64, 32, 32}, 6e4),
      Module("2", "AdaptiveAvgPool2d", "", 0, {8, 64, 32, 32}, {8, 64, 1, 1}, 6e4),
      Module("3", "Flatten", "", 0, {8, 64, 1, 1}, {8, 64}, 0),
      Module("4", "Linear", "", 650, {8, 64}, {8, 10}, 1280),
  });
}

TEST(ArchitectureLargeKernel, FiresOnA7x7ConvolutionDoingMostOfTheWork) {
  const auto findings = RunCheck("architecture.large_kernel", Model(LargeKernelCnn(7)));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "0");
  EXPECT_EQ(findings[0].evidence["kernel_area"], 49);
  EXPECT_EQ(findings[0].severity, Severity::kWarning);
  EXPECT_NEAR(findings[0].evidence["flop_saving_if_stacked"].get<double>(), 1.0 - 27.0 / 49.0,
              1e-12);
}

TEST(ArchitectureLargeKernel, SilentOn3x3AndWithoutShapes) {
  EXPECT_TRUE(RunCheck("architecture.large_kernel", Model(LargeKernelCnn(3))).empty());
  EXPECT_TRUE(RunCheck("architecture.large_kernel", Model(CnnModules())).empty());
  json m = LargeKernelCnn(7);
  for (json& module : m) module["input_shape"] = nullptr;
  EXPECT_TRUE(RunCheck("architecture.large_kernel", Model(m)).empty());
}

// ----- early_channel_explosion and conv_bottleneck -----

json ConvChannels(std::vector<std::int64_t> channels) {
  json m = json::array({Module("", "Sequential", "<root>", 0, {8, channels[0], 16, 16},
                               {8, channels.back(), 16, 16}, 1e6)});
  for (std::size_t i = 1; i < channels.size(); ++i) {
    const std::int64_t cin = channels[i - 1];
    const std::int64_t cout = channels[i];
    m.push_back(Module(std::to_string(2 * i - 2), "Conv2d", "", cin * cout * 9 + cout,
                       {8, cin, 16, 16}, {8, cout, 16, 16}, 1e5));
    m.push_back(Module(std::to_string(2 * i - 1), "ReLU", "", 0, {8, cout, 16, 16},
                       {8, cout, 16, 16}, 1e3));
  }
  return m;
}

TEST(ArchitectureEarlyChannelExplosion, FiresWhenTheFirstConvIsTheWidest) {
  const auto findings =
      RunCheck("architecture.early_channel_explosion", Model(ConvChannels({3, 128, 32, 16})));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "0");
  EXPECT_EQ(findings[0].evidence["first_conv_channels"], 128);
}

TEST(ArchitectureEarlyChannelExplosion, SilentWhenChannelsGrowWithDepth) {
  EXPECT_TRUE(RunCheck("architecture.early_channel_explosion", Model(ConvChannels({3, 16, 32, 64})))
                  .empty());
  EXPECT_TRUE(RunCheck("architecture.early_channel_explosion", Model(CnnModules())).empty());
}

TEST(ArchitectureConvBottleneck, FiresOnAConvFarNarrowerThanBothNeighbours) {
  const auto findings =
      RunCheck("architecture.conv_bottleneck", Model(ConvChannels({3, 64, 4, 64})));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "2");
  EXPECT_EQ(findings[0].evidence["squeeze"], 16.0);
}

TEST(ArchitectureConvBottleneck, SilentOnAResNetStyle4xSqueeze) {
  EXPECT_TRUE(
      RunCheck("architecture.conv_bottleneck", Model(ConvChannels({3, 256, 64, 256}))).empty());
  EXPECT_TRUE(RunCheck("architecture.conv_bottleneck", Model(CnnModules())).empty());
}

// ----- compute_hotspot -----

TEST(ArchitectureComputeHotspot, FiresAsInfoOnTheLayerDoingMostFlops) {
  const auto findings = RunCheck("architecture.compute_hotspot", Model(MlpModules()));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "2");
  EXPECT_EQ(findings[0].severity, Severity::kInfo);
  ASSERT_TRUE(findings[0].energy_at_stake);
  EXPECT_NEAR(findings[0].energy_at_stake->joules, 32768.0 / 52224.0 * 4000.0, 1.0);
}

TEST(ArchitectureComputeHotspot, SilentOnBalancedModelsAndSmallOnes) {
  EXPECT_TRUE(
      RunCheck("architecture.compute_hotspot", Model(ConvChannels({3, 16, 16, 16}))).empty());
  EXPECT_TRUE(
      RunCheck("architecture.compute_hotspot", Model(LinearPair(128, "Sequential"))).empty());
}

// ----- excess_dropout -----

json WithDropout(json modules) {
  json run = Model(std::move(modules));
  run["architecture"].push_back(Module("5", "Dropout", "", 0, {32, 10}, {32, 10}, 0));
  return run;
}

TEST(ArchitectureExcessDropout, FiresOnALoggedRateAboveOneHalf) {
  json run = WithDropout(MlpModules());
  run["hyperparameters"] = {{"Dropout_Rate", 0.8}};
  const auto findings = RunCheck("architecture.excess_dropout", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_FALSE(findings[0].layer);
  EXPECT_EQ(findings[0].evidence["p"], 0.8);
}

TEST(ArchitectureExcessDropout, FiresOnStackedDropoutLayers) {
  json run = WithDropout(MlpModules());
  run["architecture"].push_back(Module("6", "Dropout", "", 0, {32, 10}, {32, 10}, 0));
  const auto findings = RunCheck("architecture.excess_dropout", run);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "6");
}

TEST(ArchitectureExcessDropout, SilentOnModerateRatesOrWithoutDropoutModules) {
  json run = WithDropout(MlpModules());
  run["hyperparameters"] = {{"dropout", 0.3}};
  EXPECT_TRUE(RunCheck("architecture.excess_dropout", run).empty());
  run = Model(MlpModules());
  run["hyperparameters"] = {{"dropout", 0.8}};
  EXPECT_TRUE(RunCheck("architecture.excess_dropout", run).empty());
}

// ----- double_softmax -----

json SoftmaxMlp(std::string type, json loss_fn) {
  json run = Model(MlpModules());
  run["architecture"].push_back(Module("5", std::move(type), "", 0, {32, 10}, {32, 10}, 50));
  run["config"] = {{"observer", {{"loss_fn", std::move(loss_fn)}}}};
  return run;
}

TEST(ArchitectureDoubleSoftmax, FiresOnSoftmaxBeforeCrossEntropy) {
  auto findings = RunCheck("architecture.double_softmax", SoftmaxMlp("Softmax", nullptr));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].layer, "5");
  findings = RunCheck("architecture.double_softmax", SoftmaxMlp("Softmax", "cross_entropy"));
  EXPECT_EQ(findings.size(), 1u);
}

TEST(ArchitectureDoubleSoftmax, SilentOnLogSoftmaxOtherLossesOrAnUnknownLoss) {
  EXPECT_TRUE(RunCheck("architecture.double_softmax", SoftmaxMlp("LogSoftmax", nullptr)).empty());
  EXPECT_TRUE(RunCheck("architecture.double_softmax", SoftmaxMlp("Softmax", "mse_loss")).empty());
  json run = SoftmaxMlp("Softmax", nullptr);
  run.erase("config");
  EXPECT_TRUE(RunCheck("architecture.double_softmax", run).empty());
  json mlp = Model(MlpModules());
  mlp["config"] = {{"observer", {{"loss_fn", nullptr}}}};
  EXPECT_TRUE(RunCheck("architecture.double_softmax", mlp).empty());
}

}  // namespace
}  // namespace atlas::diagnostics
