// Test fixtures for the layer, gradient and architecture checks: module trees and layer_stats
// samples of small models in the JSON form of the golden case files (cases/README.md), and a
// runner that calls one registered check by id.
//
// Test-only, header-only; every function is pure.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagnostics/check.hpp"
#include "diagnostics/thresholds.hpp"
#include "fixture.hpp"

namespace atlas::diagnostics::testing {

using json = nlohmann::json;

// One module record of an architecture record.
inline json Module(std::string name, std::string type, const std::string& parent,
                   std::int64_t params, json in, json out, double flops) {
  json m = {{"name", std::move(name)},
            {"type", std::move(type)},
            {"params", params},
            {"trainable_params", params},
            {"input_shape", std::move(in)},
            {"output_shape", std::move(out)},
            {"flops", flops}};
  m["parent"] = parent == "<root>" ? json(nullptr) : json(parent);
  return m;
}

// nn.Sequential(Linear(64,128), ReLU, Linear(128,128), ReLU, Linear(128,10)), batch 32.
inline json MlpModules(std::string_view act = "ReLU") {
  const std::string a(act);
  return json::array({Module("", "Sequential", "<root>", 0, {32, 64}, {32, 10}, 52224),
                      Module("0", "Linear", "", 8320, {32, 64}, {32, 128}, 16384),
                      Module("1", a, "", 0, {32, 128}, {32, 128}, 128),
                      Module("2", "Linear", "", 16512, {32, 128}, {32, 128}, 32768),
                      Module("3", a, "", 0, {32, 128}, {32, 128}, 128),
                      Module("4", "Linear", "", 1290, {32, 128}, {32, 10}, 2560)});
}

// A healthy CNN for 8x8 digits: conv-bn-relu-pool twice, global average pool, one Linear.
inline json CnnModules() {
  return json::array({
      Module("", "Net", "<root>", 0, {32, 1, 8, 8}, {32, 10}, 1.0e6),
      Module("features", "Sequential", "", 0, {32, 1, 8, 8}, {32, 32, 2, 2}, 9.9e5),
      Module("features.0", "Conv2d", "features", 160, {32, 1, 8, 8}, {32, 16, 8, 8}, 1.8e5),
      Module("features.1", "BatchNorm2d", "features", 32, {32, 16, 8, 8}, {32, 16, 8, 8}, 4e3),
      Module("features.2", "ReLU", "features", 0, {32, 16, 8, 8}, {32, 16, 8, 8}, 1e3),
      Module("features.3", "MaxPool2d", "features", 0, {32, 16, 8, 8}, {32, 16, 4, 4}, 1e3),
      Module("features.4", "Conv2d", "features", 4640, {32, 16, 4, 4}, {32, 32, 4, 4}, 7.9e5),
      Module("features.5", "BatchNorm2d", "features", 64, {32, 32, 4, 4}, {32, 32, 4, 4}, 2e3),
      Module("features.6", "ReLU", "features", 0, {32, 32, 4, 4}, {32, 32, 4, 4}, 5e2),
      Module("features.7", "MaxPool2d", "features", 0, {32, 32, 4, 4}, {32, 32, 2, 2}, 5e2),
      Module("pool", "AdaptiveAvgPool2d", "", 0, {32, 32, 2, 2}, {32, 32, 1, 1}, 128),
      Module("flatten", "Flatten", "", 0, {32, 32, 1, 1}, {32, 32}, 0),
      Module("fc", "Linear", "", 330, {32, 32}, {32, 10}, 640),
  });
}

// A deterministic spread of per-unit values around `mean` (+-spread), different for each seed.
inline std::vector<double> Units(int n, double mean, double spread, int seed) {
  std::vector<double> v;
  v.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    v.push_back(mean + spread * std::sin(12.9898 * (i + 1) * (seed + 1) + 78.233 * seed));
  }
  return v;
}

// A layer_stats record.
inline json Sample(std::int64_t step, std::int64_t epoch, json layers) {
  return {{"step", step}, {"epoch", epoch}, {"layers", std::move(layers)}};
}

// The layer entries of a healthy MLP sample (MlpModules); `seed` varies the unit arrays.
inline json HealthyMlpLayers(int seed) {
  json layers = json::array();
  const double grads[3] = {0.5, 0.4, 0.3};
  const char* linear[3] = {"0", "2", "4"};
  const double fan_in[3] = {64, 128, 128};
  for (int i = 0; i < 3; ++i) {
    layers.push_back({{"layer", linear[i]},
                      {"activation_mean", 0.01},
                      {"activation_std", 0.8},
                      {"activation_abs_mean", 0.6},
                      {"dead_fraction", 0},
                      {"grad_norm", grads[i]},
                      {"grad_abs_mean", 1e-3},
                      {"weight_norm", 5.0},
                      {"weight_abs_mean", 0.5 / std::sqrt(fan_in[i])},
                      {"weight_sparsity", 0},
                      {"update_ratio", 1e-3},
                      {"nonfinite_activations", 0},
                      {"nonfinite_grads", 0},
                      {"nonfinite_weights", 0}});
    if (i < 2) {
      layers.push_back({{"layer", i == 0 ? "1" : "3"},
                        {"activation_mean", 0.35},
                        {"activation_std", 0.5},
                        {"activation_abs_mean", 0.35},
                        {"dead_fraction", 0.01},
                        {"nonfinite_activations", 0},
                        {"extra",
                         {{"unit_active_frac", Units(128, 0.5, 0.3, seed * 7 + i)},
                          {"unit_score", Units(128, 1.0, 0.6, seed * 7 + i + 3)},
                          {"dormant_fraction", 0.02},
                          {"dormant_threshold", 0.1},
                          {"units", 128}}}});
    }
  }
  return layers;
}

// `count` healthy MLP samples, every 50 steps, two per epoch.
inline json HealthyMlpSamples(int count) {
  json samples = json::array();
  for (int k = 0; k < count; ++k)
    samples.push_back(Sample(std::int64_t{50} * k, k / 2, HealthyMlpLayers(k)));
  return samples;
}

// A healthy MLP run (MlpModules with activation `act`): `samples` layer samples and three
// epochs of 1 kJ each.
inline json HealthyMlpRun(int samples = 6, std::string_view act = "ReLU") {
  return {{"architecture", MlpModules(act)},
          {"layer_samples", HealthyMlpSamples(samples)},
          {"epochs", json::array({{{"epoch", 0}, {"joules", {{"cpu", 1000}}}},
                                  {{"epoch", 1}, {"joules", {{"cpu", 1000}}}},
                                  {{"epoch", 2}, {"joules", {{"cpu", 1000}}}}})}};
}

// The entry named `layer` of a sample (it must exist).
inline json& LayerOf(json& sample, std::string_view layer) {
  for (json& l : sample["layers"]) {
    if (l["layer"] == layer) return l;
  }
  ADD_FAILURE() << "no layer " << layer;
  static json none;
  return none;
}

inline RunTelemetry Telemetry(const json& j) {
  Result<RunTelemetry> t = ParseTelemetry(j);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : RunTelemetry{};
}

// Runs the registered check `id` alone.
inline std::vector<Finding> RunCheck(std::string_view id, const RunTelemetry& run,
                                     const Thresholds& thresholds = Thresholds()) {
  FindingSink sink;
  for (const CheckInfo& c : AllChecks()) {
    if (c.id == id) c.run(run, thresholds, sink);
  }
  return sink.Take();
}

inline std::vector<Finding> RunCheck(std::string_view id, const json& telemetry) {
  return RunCheck(id, Telemetry(telemetry));
}

}  // namespace atlas::diagnostics::testing
