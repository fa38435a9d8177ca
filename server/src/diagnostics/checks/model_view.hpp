// Model view: what the layer, gradient and architecture checks read about the model, derived
// from a RunTelemetry: each layer's layer_stats history, the module tree's leaves in forward
// order, module kinds by PyTorch type name, shapes, compute shares and energy at stake.
//
// Private to checks/{layer,gradient,architecture}_checks.cpp. Pure functions and plain values
// holding pointers into the RunTelemetry they were built from (valid while it is); thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostics/finding.hpp"
#include "diagnostics/telemetry.hpp"

namespace atlas::diagnostics::checks {

// ----- layer_stats -----

// The index of statistic `name` in model::kLayerStatNames (a compile-time constant).
consteval std::size_t StatIndex(std::string_view name) {
  for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
    if (model::kLayerStatNames[i] == name) return i;
  }
  throw "unknown layer statistic";  // not a constant expression: a compile error
}

// The statistics that more than one family of checks reads.
inline constexpr std::size_t kGradNorm = StatIndex("grad_norm");

// The value of one statistic of a layer entry, if sent (it may be NaN or infinite).
inline std::optional<double> StatOf(const model::LayerStat& s, std::size_t index) {
  return s.values[index];
}
// A finite value of `key` in the entry's extra object, if present.
std::optional<double> ExtraNumber(const model::LayerStat& s, std::string_view key);
// The finite numbers of the array `key` in the entry's extra object (empty when absent).
std::vector<double> ExtraArray(const model::LayerStat& s, std::string_view key);

// One layer in one layer_stats sample.
struct LayerSample {
  std::int64_t step = 0;
  std::optional<std::int64_t> epoch;
  const model::LayerStat* stat = nullptr;
};

// Every sample of one layer, ascending step.
struct LayerHistory {
  std::string layer;
  std::vector<LayerSample> samples;

  // The latest `n` samples (all of them when there are fewer).
  std::span<const LayerSample> Last(std::size_t n) const;
};

// The history of every layer, in the order layers first appear in the samples (the observer
// sends them in module registration order).
std::vector<LayerHistory> LayerHistories(const RunTelemetry& run);

// The epochs `samples` cover (ascending, no repeats; samples without an epoch are skipped).
std::vector<std::int64_t> EpochsOf(std::span<const LayerSample> samples);

// The finite values of statistic `index` over `samples`.
std::vector<double> FiniteValues(std::span<const LayerSample> samples, std::size_t index);

// ----- the module tree -----

// What a module is, from its PyTorch type name.
enum class Kind {
  kConv,         // Conv1d/2d/3d (not transposed)
  kLinear,       // Linear (and LazyLinear)
  kActivation,   // a non-linearity: ReLU, GELU, Tanh, Sigmoid, ...
  kReluFamily,   // ReLU or ReLU6: outputs exactly 0 below the threshold (subset of activation)
  kSaturating,   // Tanh, Sigmoid, Hardtanh, Hardsigmoid (subset of activation)
  kNorm,         // BatchNorm*, LayerNorm, GroupNorm, InstanceNorm*, RMSNorm
  kPool,         // MaxPool*, AvgPool*, Adaptive*Pool*, LPPool*
  kDropout,      // Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout
  kSoftmax,      // Softmax (not LogSoftmax: log_softmax before cross-entropy is harmless)
  kPassThrough,  // Flatten, Unflatten, Identity
  kRecurrent,    // RNN, LSTM, GRU
  kAttention,    // MultiheadAttention and Transformer* layers
  kEmbedding,    // Embedding, EmbeddingBag
  kOther,
};

Kind KindOf(std::string_view type);
bool IsActivation(std::string_view type);  // any non-linearity, ReLU family and saturating too
bool IsReluFamily(std::string_view type);
bool IsSaturating(std::string_view type);

// The leaves of the module tree (modules without children), in registration order, which is
// the forward order for nn.Sequential and the usual order of custom modules.
std::vector<const ModuleNode*> Leaves(const RunTelemetry& run);

// The parent node of `node`, or nullptr.
const ModuleNode* ParentOf(const RunTelemetry& run, const ModuleNode& node);

// A module's forward FLOPs per sample (its subtree's), if known.
std::optional<double> FlopsOf(const ModuleNode& node);
// The whole model's forward FLOPs per sample, if known and positive.
std::optional<double> ModelFlops(const RunTelemetry& run);
// The model's parameter count (the root's subtree), 0 without a module tree.
std::int64_t ModelParams(const RunTelemetry& run);
// `module`'s share of the model's forward FLOPs, if both are known.
std::optional<double> ComputeShare(const RunTelemetry& run, std::string_view module);

// A shape as sent (a JSON array of integers including the batch dimension), or empty.
std::vector<std::int64_t> ShapeOf(const Json& shape);
// The output shape of the model's root module, or empty.
std::vector<std::int64_t> ModelOutputShape(const RunTelemetry& run);

// The energy at stake of `share` of the run's compute: share x the energy spent so far, with
// its footprint. nullopt when the run reports no energy or the share is not positive.
std::optional<EnergyAtStake> ShareOfEnergy(const RunTelemetry& run, double share,
                                           std::string_view what);

// The last Conv or Linear leaf before the leaf named `name` (the layer whose outputs an
// activation module transforms), or nullptr.
const ModuleNode* PrecedingCompute(const RunTelemetry& run, std::string_view name);

// The fan-in of a Conv or Linear module (inputs per output unit), from its parameter count and
// output shape: params / output units (the bias adds one, which an order-of-magnitude
// comparison ignores). nullopt for other modules or without shapes.
std::optional<double> FanIn(const ModuleNode& node);

// The output units of a module: channels (dimension 1) for Conv, else the last dimension.
std::optional<std::int64_t> OutputUnits(const ModuleNode& node);

// The module named `name` is the model's output layer: the last leaf that ran, or a leaf whose
// output shape is the model's output shape with nothing but pass-through leaves after it.
bool IsOutputLayer(const RunTelemetry& run, std::string_view name);

}  // namespace atlas::diagnostics::checks
