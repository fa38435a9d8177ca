// The JSON texts of the rare record kinds the LibTorch observer sends through
// Client::RecordJson (docs/protocol.md: architecture, layer_stats, epoch, event,
// hyperparameters), built from plain values. This file knows nothing of LibTorch, so it compiles
// fast and its output can be checked against the server's parser without a model.
//
// Pure functions over values; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace atlas::torch::internal {

// The same types as atlas::torch::Metrics and atlas::torch::Hyperparameters (observer.cpp checks
// this), spelled out here so that this file needs no LibTorch header.
using MetricList = std::vector<std::pair<std::string, double>>;
using HyperValue = std::variant<bool, std::int64_t, double, std::string>;
using HyperList = std::vector<std::pair<std::string, HyperValue>>;

// The layer statistics of protocol v1, in the order and with the names of the server's
// model::kLayerStatNames (a unit test checks that they match).
enum class LayerStat : std::uint8_t {
  kActivationMean,
  kActivationStd,
  kActivationAbsMean,
  kDeadFraction,
  kSaturatedFraction,
  kGradNorm,
  kGradAbsMean,
  kWeightNorm,
  kWeightAbsMean,
  kWeightSparsity,
  kUpdateRatio,
  kNonfiniteActivations,
  kNonfiniteGrads,
  kNonfiniteWeights,
  kCount,
};

inline constexpr std::size_t kLayerStatCount = static_cast<std::size_t>(LayerStat::kCount);

inline constexpr std::array<std::string_view, kLayerStatCount> kLayerStatNames = {
    "activation_mean",    "activation_std",   "activation_abs_mean", "dead_fraction",
    "saturated_fraction", "grad_norm",        "grad_abs_mean",       "weight_norm",
    "weight_abs_mean",    "weight_sparsity",  "update_ratio",        "nonfinite_activations",
    "nonfinite_grads",    "nonfinite_weights"};

// The statistics of one layer (a module owning parameters) at one sampled step. Absent values
// are left out of the record.
struct LayerValues {
  std::string layer;
  std::array<std::optional<double>, kLayerStatCount> values{};
  // The entry's opaque "extra" object: numbers and arrays of numbers, in this order.
  std::vector<std::pair<std::string, double>> extra_numbers;
  std::vector<std::pair<std::string, std::vector<double>>> extra_arrays;

  void Set(LayerStat s, double v) { values[static_cast<std::size_t>(s)] = v; }
  const std::optional<double>& Get(LayerStat s) const {
    return values[static_cast<std::size_t>(s)];
  }
};

// One module of an architecture record.
struct ModuleInfo {
  std::string name;  // "" for the root
  std::string type;
  std::optional<std::string> parent;  // nullopt for the root
  std::int64_t params = 0;            // owned directly, not by children
  std::int64_t trainable_params = 0;
  std::optional<std::vector<std::int64_t>> input_shape;
  std::optional<std::vector<std::int64_t>> output_shape;
  std::optional<double> flops;  // multiply-accumulates per sample, forward
};

// The fields of each record kind, without "kind" and "seq" (Client::RecordJson adds them).
std::string ArchitectureJson(const std::vector<ModuleInfo>& modules);
std::string LayerStatsJson(std::int64_t step, std::optional<std::int64_t> epoch, double ts,
                           const std::vector<LayerValues>& layers);
std::string EpochJson(std::int64_t epoch, double ts, std::optional<double> duration_s,
                      const MetricList& train, const MetricList& val);
// `level` is one of debug, info, warning, error; `data` becomes an object of strings.
std::string EventJson(double ts, std::string_view level, std::string_view type,
                      std::string_view message,
                      const std::vector<std::pair<std::string, std::string>>& data);
std::string HyperparametersJson(const HyperList& values);
// The same from a JSON object's text; throws std::invalid_argument when it is not one.
std::string HyperparametersJson(std::string_view json_object);

// The JSON object texts of the run-create request's framework and host fields.
std::string FrameworkJson(std::string_view torch_version, bool cuda_available,
                          std::int64_t cuda_devices);
std::string HostJson();

}  // namespace atlas::torch::internal
