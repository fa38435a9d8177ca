// Layer statistics on models with known weights, gradients and outputs: every value is worked
// out by hand in the comments, so the checks are exact (up to rounding).
#include <gtest/gtest.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "architecture.hpp"
#include "capture.hpp"
#include "json.hpp"
#include "model/records.hpp"
#include "stats.hpp"

namespace {

using atlas::torch::internal::ExtractModules;
using atlas::torch::internal::ForwardCapture;
using atlas::torch::internal::kLayerStatNames;
using atlas::torch::internal::LayerSample;
using atlas::torch::internal::LayerStat;
using atlas::torch::internal::LayerValues;

double Get(const LayerValues& layer, LayerStat s) {
  const auto& v = layer.Get(s);
  EXPECT_TRUE(v.has_value()) << kLayerStatNames[static_cast<std::size_t>(s)] << " of "
                             << layer.layer;
  return v.value_or(std::nan(""));
}

TEST(LayerStatNames, MatchTheServer) {
  ASSERT_EQ(kLayerStatNames.size(), atlas::model::kLayerStatNames.size());
  for (std::size_t i = 0; i < kLayerStatNames.size(); ++i) {
    EXPECT_EQ(kLayerStatNames[i], atlas::model::kLayerStatNames[i]);
  }
}

TEST(LayerSample, WeightStatisticsOfKnownWeights) {
  torch::nn::Linear linear(4, 4);
  {
    const torch::NoGradGuard no_grad;
    linear->weight.fill_(2.0);
    linear->weight[0].zero_();  // 4 zeros, 12 twos
    linear->bias.zero_();
    linear->bias[0] = 4.0;  // 2 zeros, one four, and one below 1e-8: 3 count as sparse
    linear->bias[1] = 1e-9;
  }
  const auto modules = ExtractModules(*linear);
  LayerSample sample(modules, {});
  sample.AddWeights();
  const auto layers = sample.Read();
  ASSERT_EQ(layers.size(), 1u);
  const LayerValues& l = layers[0];
  EXPECT_EQ(l.layer, "");
  EXPECT_DOUBLE_EQ(Get(l, LayerStat::kWeightNorm), 8.0);            // sqrt(12 * 4 + 16)
  EXPECT_NEAR(Get(l, LayerStat::kWeightAbsMean), 28.0 / 20, 1e-9);  // (24 + 4 + 1e-9) / 20
  EXPECT_DOUBLE_EQ(Get(l, LayerStat::kWeightSparsity), 7.0 / 20);   // (4 + 3) / 20
  EXPECT_EQ(Get(l, LayerStat::kNonfiniteWeights), 0.0);
  EXPECT_FALSE(l.Get(LayerStat::kGradNorm).has_value());     // no gradients were taken
  EXPECT_FALSE(l.Get(LayerStat::kUpdateRatio).has_value());  // nor a snapshot
  EXPECT_FALSE(l.Get(LayerStat::kActivationMean).has_value());
}

TEST(LayerSample, GradientStatisticsCountNonFiniteValues) {
  torch::nn::Sequential model(torch::nn::Linear(torch::nn::LinearOptions(4, 4).bias(false)),
                              torch::nn::Linear(torch::nn::LinearOptions(4, 4).bias(false)),
                              torch::nn::Linear(2, 2));
  const auto modules = ExtractModules(*model);  // "", "0", "1", "2"
  auto grad0 = torch::full({4, 4}, 0.5);
  auto grad1 = torch::full({4, 4}, 1.0);
  grad1[1][2] = std::numeric_limits<double>::quiet_NaN();
  grad1[3][3] = std::numeric_limits<double>::infinity();
  modules[1].params[0].mutable_grad() = grad0.to(torch::kFloat);
  modules[2].params[0].mutable_grad() = grad1.to(torch::kFloat);
  // Module "2" has no gradients at all (it took no part in a backward pass).

  LayerSample sample(modules, {});
  sample.AddGradients();
  sample.AddWeights();
  const auto layers = sample.Read();
  ASSERT_EQ(layers.size(), 3u);  // the root owns no parameters and is left out
  EXPECT_EQ(layers[0].layer, "0");
  EXPECT_DOUBLE_EQ(Get(layers[0], LayerStat::kGradNorm), 2.0);  // sqrt(16 * 0.25)
  EXPECT_DOUBLE_EQ(Get(layers[0], LayerStat::kGradAbsMean), 0.5);
  EXPECT_EQ(Get(layers[0], LayerStat::kNonfiniteGrads), 0.0);
  EXPECT_EQ(layers[1].layer, "1");
  EXPECT_TRUE(std::isnan(Get(layers[1], LayerStat::kGradNorm)));
  EXPECT_EQ(Get(layers[1], LayerStat::kNonfiniteGrads), 2.0);
  EXPECT_EQ(layers[2].layer, "2");
  EXPECT_FALSE(layers[2].Get(LayerStat::kGradNorm).has_value());
  EXPECT_TRUE(layers[2].Get(LayerStat::kWeightNorm).has_value());
}

TEST(LayerSample, UpdateRatioAfterOneSgdStep) {
  torch::nn::Linear linear(torch::nn::LinearOptions(4, 4).bias(false));
  {
    const torch::NoGradGuard no_grad;
    linear->weight.fill_(1.0);  // ||W_before|| = 4
  }
  torch::optim::SGD sgd(linear->parameters(), torch::optim::SGDOptions(0.1));
  // loss = sum(W x) with x = ones: dloss/dW = 1 everywhere (||g|| = 4), so the step moves every
  // weight by -0.1: ||W_after - W_before|| = sqrt(16 * 0.01) = 0.4, a ratio of 0.4 / 4.
  linear->forward(torch::ones({1, 4})).sum().backward();
  const auto modules = ExtractModules(*linear);
  LayerSample sample(modules, {});
  sample.AddGradients();
  sample.AddWeights();  // before the step, as the Observer does at MarkBackward
  sample.SnapshotWeights();
  sgd.step();
  sample.AddUpdate();
  const auto layers = sample.Read();
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_NEAR(Get(layers[0], LayerStat::kGradNorm), 4.0, 1e-12);
  EXPECT_NEAR(Get(layers[0], LayerStat::kWeightNorm), 4.0, 1e-12);
  EXPECT_NEAR(Get(layers[0], LayerStat::kUpdateRatio), 0.1, 1e-7);  // 0.9 is inexact in float
}

TEST(LayerSample, NoUpdateRatioWithoutASnapshot) {
  torch::nn::Linear linear(2, 2);
  const auto modules = ExtractModules(*linear);
  LayerSample sample(modules, {});
  sample.AddWeights();
  sample.AddUpdate();
  const auto layers = sample.Read();
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_FALSE(layers[0].Get(LayerStat::kUpdateRatio).has_value());
}

TEST(LayerSample, ActivationStatisticsAndDeadUnitsOfALinear) {
  torch::nn::Linear linear(2, 4);
  {
    const torch::NoGradGuard no_grad;
    linear->weight.copy_(torch::tensor({{-1.0F, -1.0F}, {1.0F, 1.0F}, {1.0F, 0.0F}, {0.0F, 1.0F}}));
    linear->bias.zero_();
  }
  const auto modules = ExtractModules(*linear);
  ForwardCapture capture(modules, /*keep_outputs=*/true);
  capture.Start();
  // Outputs: [-3, 3, 1, 2] and [-7, 7, 3, 4]; unit 0 is never positive.
  (void)linear->forward(torch::tensor({{1.0F, 2.0F}, {3.0F, 4.0F}}));
  capture.Stop();
  LayerSample sample(modules, {/*max_units=*/3, /*dormant_threshold=*/0.6});
  sample.AddActivations(capture.calls());
  const auto layers = sample.Read();
  ASSERT_EQ(layers.size(), 1u);
  const LayerValues& l = layers[0];
  EXPECT_DOUBLE_EQ(Get(l, LayerStat::kActivationMean), 10.0 / 8);
  EXPECT_DOUBLE_EQ(Get(l, LayerStat::kActivationAbsMean), 30.0 / 8);
  // Population variance: mean of squares 146 / 8 minus the squared mean.
  EXPECT_NEAR(Get(l, LayerStat::kActivationStd), std::sqrt(146.0 / 8 - 1.5625), 1e-12);
  EXPECT_EQ(Get(l, LayerStat::kNonfiniteActivations), 0.0);
  EXPECT_DOUBLE_EQ(Get(l, LayerStat::kDeadFraction), 0.25);
  // Units are the last dimension (4 of them, 2 positions each). Their mean |a| is 5, 5, 2, 3
  // against a layer mean of 3.75: ReDo scores 4/3, 4/3, 8/15, 4/5, so one unit is <= 0.6.
  ASSERT_EQ(l.extra_numbers.size(), 3u);
  EXPECT_EQ(l.extra_numbers[0].first, "dormant_fraction");
  EXPECT_DOUBLE_EQ(l.extra_numbers[0].second, 0.25);
  EXPECT_EQ(l.extra_numbers[1].second, 0.6);
  EXPECT_EQ(l.extra_numbers[2].first, "units");
  EXPECT_EQ(l.extra_numbers[2].second, 4.0);
  ASSERT_EQ(l.extra_arrays.size(), 2u);
  EXPECT_EQ(l.extra_arrays[0].first, "unit_active_frac");
  EXPECT_EQ(l.extra_arrays[0].second, (std::vector<double>{0, 1, 1}));  // max_units = 3
  EXPECT_EQ(l.extra_arrays[1].first, "unit_score");
  ASSERT_EQ(l.extra_arrays[1].second.size(), 3u);
  EXPECT_DOUBLE_EQ(l.extra_arrays[1].second[0], 5 / 3.75);
  EXPECT_DOUBLE_EQ(l.extra_arrays[1].second[2], 2 / 3.75);
}

TEST(LayerSample, DeadChannelsOfAConvolution) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 2, 1).bias(false));
  {
    const torch::NoGradGuard no_grad;
    conv->weight.copy_(torch::tensor({-1.0F, 1.0F}).reshape({2, 1, 1, 1}));
  }
  const auto modules = ExtractModules(*conv);
  ForwardCapture capture(modules, true);
  capture.Start();
  // Positive input: channel 0 (dimension 1, not the last) is dead.
  (void)conv->forward(torch::rand({3, 1, 4, 4}) + 0.1);
  capture.Stop();
  LayerSample sample(modules, {});
  sample.AddActivations(capture.calls());
  const auto layers = sample.Read();
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_DOUBLE_EQ(Get(layers[0], LayerStat::kDeadFraction), 0.5);
}

TEST(LayerSample, ModulesWithoutAnyStatisticAreLeftOut) {
  torch::nn::Linear linear(2, 2);
  const auto modules = ExtractModules(*linear);
  LayerSample sample(modules, {});
  EXPECT_TRUE(sample.Read().empty());
}

}  // namespace
