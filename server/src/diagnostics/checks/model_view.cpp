// The model view's derivations (model_view.hpp).
#include "diagnostics/checks/model_view.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>
#include <utility>

#include "diagnostics/check.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics::checks {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool OneOf(std::string_view type, std::span<const std::string_view> names) {
  return std::find(names.begin(), names.end(), type) != names.end();
}

constexpr std::array<std::string_view, 2> kReluFamily = {"ReLU", "ReLU6"};
constexpr std::array<std::string_view, 5> kSaturating = {"Tanh", "Sigmoid", "Hardtanh",
                                                         "Hardsigmoid", "Softsign"};
constexpr std::array<std::string_view, 15> kOtherActivations = {
    "LeakyReLU", "PReLU",    "RReLU",     "ELU", "SELU",       "CELU",       "GELU",     "SiLU",
    "Mish",      "Softplus", "Hardswish", "GLU", "Tanhshrink", "LogSigmoid", "Threshold"};
constexpr std::array<std::string_view, 5> kNorms = {"LayerNorm", "GroupNorm", "RMSNorm",
                                                    "LocalResponseNorm", "SyncBatchNorm"};
constexpr std::array<std::string_view, 4> kPassThrough = {"Flatten", "Unflatten", "Identity",
                                                          "Unfold"};
constexpr std::array<std::string_view, 4> kRecurrent = {"RNN", "LSTM", "GRU", "RNNBase"};

}  // namespace

std::optional<double> ExtraNumber(const model::LayerStat& s, std::string_view key) {
  if (!s.extra.is_object()) return std::nullopt;
  const auto it = s.extra.find(key);
  if (it == s.extra.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

std::vector<double> ExtraArray(const model::LayerStat& s, std::string_view key) {
  std::vector<double> out;
  if (!s.extra.is_object()) return out;
  const auto it = s.extra.find(key);
  if (it == s.extra.end() || !it->is_array()) return out;
  out.reserve(it->size());
  for (const Json& v : *it) {
    if (v.is_number() && std::isfinite(v.get<double>())) out.push_back(v.get<double>());
  }
  return out;
}

std::span<const LayerSample> LayerHistory::Last(std::size_t n) const {
  const std::span<const LayerSample> all(samples);
  return n >= all.size() ? all : all.subspan(all.size() - n);
}

std::vector<LayerHistory> LayerHistories(const RunTelemetry& run) {
  std::vector<LayerHistory> out;
  std::unordered_map<std::string_view, std::size_t> index;
  for (const model::LayerStatsRecord& record : run.layer_samples) {
    for (const model::LayerStat& stat : record.layers) {
      auto [it, added] = index.try_emplace(stat.layer, out.size());
      if (added) out.push_back(LayerHistory{stat.layer, {}});
      out[it->second].samples.push_back(LayerSample{record.step, record.epoch, &stat});
    }
  }
  return out;
}

std::vector<std::int64_t> EpochsOf(std::span<const LayerSample> samples) {
  std::vector<std::int64_t> epochs;
  for (const LayerSample& s : samples) {
    if (s.epoch) epochs.push_back(*s.epoch);
  }
  std::sort(epochs.begin(), epochs.end());
  epochs.erase(std::unique(epochs.begin(), epochs.end()), epochs.end());
  return epochs;
}

std::vector<double> FiniteValues(std::span<const LayerSample> samples, std::size_t index) {
  std::vector<double> out;
  for (const LayerSample& s : samples) {
    const auto v = StatOf(*s.stat, index);
    if (v && std::isfinite(*v)) out.push_back(*v);
  }
  return out;
}

bool IsReluFamily(std::string_view type) { return OneOf(type, kReluFamily); }

bool IsSaturating(std::string_view type) { return OneOf(type, kSaturating); }

bool IsActivation(std::string_view type) {
  return IsReluFamily(type) || IsSaturating(type) || OneOf(type, kOtherActivations);
}

Kind KindOf(std::string_view type) {
  if (IsReluFamily(type)) return Kind::kReluFamily;
  if (IsSaturating(type)) return Kind::kSaturating;
  if (IsActivation(type)) return Kind::kActivation;
  if (type == "Conv1d" || type == "Conv2d" || type == "Conv3d" || StartsWith(type, "LazyConv")) {
    return Kind::kConv;
  }
  if (type == "Linear" || type == "LazyLinear") return Kind::kLinear;
  if (StartsWith(type, "BatchNorm") || StartsWith(type, "InstanceNorm") ||
      StartsWith(type, "LazyBatchNorm") || OneOf(type, kNorms)) {
    return Kind::kNorm;
  }
  if (type.find("Pool") != std::string_view::npos) return Kind::kPool;
  if (type.find("Dropout") != std::string_view::npos) return Kind::kDropout;
  if (type == "Softmax" || type == "Softmax2d") return Kind::kSoftmax;
  if (OneOf(type, kPassThrough)) return Kind::kPassThrough;
  if (OneOf(type, kRecurrent)) return Kind::kRecurrent;
  if (type == "MultiheadAttention" || StartsWith(type, "Transformer")) return Kind::kAttention;
  if (type == "Embedding" || type == "EmbeddingBag") return Kind::kEmbedding;
  return Kind::kOther;
}

std::vector<const ModuleNode*> Leaves(const RunTelemetry& run) {
  std::vector<const ModuleNode*> out;
  for (const ModuleNode& m : run.modules) {
    if (m.children.empty()) out.push_back(&m);
  }
  return out;
}

const ModuleNode* ParentOf(const RunTelemetry& run, const ModuleNode& node) {
  if (!node.info.parent) return nullptr;
  return run.FindModule(*node.info.parent);
}

std::optional<double> FlopsOf(const ModuleNode& node) {
  if (node.subtree_flops && std::isfinite(*node.subtree_flops)) return node.subtree_flops;
  if (node.info.flops && std::isfinite(*node.info.flops)) return node.info.flops;
  return std::nullopt;
}

std::optional<double> ModelFlops(const RunTelemetry& run) {
  if (run.modules.empty()) return std::nullopt;
  const auto flops = FlopsOf(run.modules.front());
  if (!flops || *flops <= 0) return std::nullopt;
  return flops;
}

std::int64_t ModelParams(const RunTelemetry& run) {
  return run.modules.empty() ? 0 : run.modules.front().subtree_params;
}

std::optional<double> ComputeShare(const RunTelemetry& run, std::string_view module) {
  const ModuleNode* node = run.FindModule(module);
  const auto total = ModelFlops(run);
  if (node == nullptr || !total) return std::nullopt;
  const auto flops = FlopsOf(*node);
  if (!flops) return std::nullopt;
  return std::clamp(*flops / *total, 0.0, 1.0);
}

std::vector<std::int64_t> ShapeOf(const Json& shape) {
  std::vector<std::int64_t> out;
  if (!shape.is_array()) return out;
  for (const Json& d : shape) {
    if (!d.is_number_integer()) return {};
    out.push_back(d.get<std::int64_t>());
  }
  return out;
}

std::vector<std::int64_t> ModelOutputShape(const RunTelemetry& run) {
  return run.modules.empty() ? std::vector<std::int64_t>{}
                             : ShapeOf(run.modules.front().info.output_shape);
}

std::optional<EnergyAtStake> ShareOfEnergy(const RunTelemetry& run, double share,
                                           std::string_view what) {
  const double joules = run.total_joules();
  if (!(joules > 0) || !(share > 0) || !std::isfinite(share)) return std::nullopt;
  share = std::min(share, 1.0);
  std::string basis = Pct(share) + " of compute (" + std::string(what) + ") x " +
                      Fmt(joules / 1000.0) + " kJ spent so far";
  return StakeOf(share * joules, run.carbon, std::move(basis));
}

const ModuleNode* PrecedingCompute(const RunTelemetry& run, std::string_view name) {
  const ModuleNode* last = nullptr;
  for (const ModuleNode* leaf : Leaves(run)) {
    if (leaf->info.name == name) return last;
    const Kind kind = KindOf(leaf->info.type);
    if (kind == Kind::kConv || kind == Kind::kLinear) last = leaf;
  }
  return nullptr;
}

std::optional<std::int64_t> OutputUnits(const ModuleNode& node) {
  const std::vector<std::int64_t> out = ShapeOf(node.info.output_shape);
  const Kind kind = KindOf(node.info.type);
  if (kind == Kind::kConv && out.size() >= 3) return out[1];
  if (kind != Kind::kConv && out.size() >= 2) return out.back();
  return std::nullopt;
}

std::optional<double> FanIn(const ModuleNode& node) {
  const Kind kind = KindOf(node.info.type);
  if (kind != Kind::kConv && kind != Kind::kLinear) return std::nullopt;
  const auto units = OutputUnits(node);
  if (!units || *units <= 0 || node.info.params <= 0) return std::nullopt;
  return static_cast<double>(node.info.params) / static_cast<double>(*units);
}

bool IsOutputLayer(const RunTelemetry& run, std::string_view name) {
  const std::vector<const ModuleNode*> leaves = Leaves(run);
  const std::vector<std::int64_t> model_out = ModelOutputShape(run);
  // Walk back from the last leaf that ran, over pass-through and dropout leaves.
  for (auto it = leaves.rbegin(); it != leaves.rend(); ++it) {
    const ModuleNode& leaf = **it;
    if (leaf.info.output_shape.is_null()) continue;  // never ran in the first forward
    if (leaf.info.name == name) return true;
    const Kind kind = KindOf(leaf.info.type);
    if (kind == Kind::kPassThrough || kind == Kind::kDropout) continue;
    break;
  }
  // A custom forward may register its head before other modules: match the output shape.
  const ModuleNode* node = run.FindModule(name);
  if (node == nullptr || model_out.empty()) return false;
  return ShapeOf(node->info.output_shape) == model_out && node->children.empty() &&
         KindOf(node->info.type) != Kind::kPassThrough;
}

}  // namespace atlas::diagnostics::checks
