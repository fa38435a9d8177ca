#include "stats.hpp"

#include <ATen/Functions.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace atlas::torch::internal {
namespace {

// Weights this close to zero count as zero for weight_sparsity (as in the Python observer).
constexpr double kSparseEpsilon = 1e-8;

at::Tensor Squares(const at::Tensor& x) {
  return at::linalg_vector_norm(x, 2, std::nullopt, false, at::kDouble).square();
}
at::Tensor AbsSum(const at::Tensor& x) { return x.abs().sum(at::kDouble); }
at::Tensor Nonfinite(const at::Tensor& x) {
  return at::isfinite(x).logical_not().sum().to(at::kDouble);
}

// The output as [units, positions] (see stats.hpp for what a unit is).
at::Tensor ByUnit(const at::Tensor& y, ModuleKind kind) {
  if (y.dim() == 1) return y.reshape({-1, 1});
  const std::int64_t unit_dim = y.dim() >= 3 && IsChannelFirst(kind) ? 1 : y.dim() - 1;
  return y.movedim(unit_dim, 0).reshape({y.size(unit_dim), -1});
}

std::vector<double> Head(const std::vector<double>& v, std::int64_t n) {
  const auto count = static_cast<std::size_t>(std::max<std::int64_t>(n, 0));
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(count, v.size()))};
}

}  // namespace

LayerSample::LayerSample(const std::vector<TrackedModule>& modules, LayerSampleOptions options)
    : modules_(modules), options_(options), counts_(modules.size()), before_(modules.size()) {}

void LayerSample::Queue(std::size_t module, Quantity quantity, const at::Tensor& values) {
  pieces_.push_back(values.reshape({-1}));
  what_.push_back({module, quantity});
}

void LayerSample::AddActivations(const std::vector<ModuleCall>& calls) {
  const c10::NoGradGuard no_grad;
  for (std::size_t m = 0; m < calls.size() && m < modules_.size(); ++m) {
    const at::Tensor& out = calls[m].output;
    if (!calls[m].seen || !out.defined() || !out.is_floating_point() || out.numel() == 0) {
      continue;
    }
    const at::Tensor y = out.detach().to(at::kDouble);
    const at::Tensor units = ByUnit(y, modules_[m].kind);
    counts_[m].activation_elements = y.numel();
    counts_[m].units = units.size(0);
    Queue(m, Quantity::kActivationSum, y.sum());
    Queue(m, Quantity::kActivationAbsSum, y.abs().sum());
    Queue(m, Quantity::kActivationSquares, y.square().sum());
    Queue(m, Quantity::kActivationNonfinite, Nonfinite(y));
    Queue(m, Quantity::kUnitActive, units.gt(0).sum(1).to(at::kDouble));
    Queue(m, Quantity::kUnitAbs, units.abs().sum(1));
  }
}

void LayerSample::AddGradients() {
  const c10::NoGradGuard no_grad;
  gradients_added_ = true;
  for (std::size_t m = 0; m < modules_.size(); ++m) {
    for (const at::Tensor& p : modules_[m].params) {
      const at::Tensor& g = p.grad();
      if (!g.defined() || !g.is_floating_point()) continue;
      counts_[m].grad_elements += g.numel();
      Queue(m, Quantity::kGradSquares, Squares(g));
      Queue(m, Quantity::kGradAbsSum, AbsSum(g));
      Queue(m, Quantity::kGradNonfinite, Nonfinite(g));
    }
  }
}

void LayerSample::AddWeights() {
  const c10::NoGradGuard no_grad;
  weights_added_ = true;
  for (std::size_t m = 0; m < modules_.size(); ++m) {
    for (const at::Tensor& p : modules_[m].params) {
      const at::Tensor w = p.detach();
      if (!w.is_floating_point()) continue;
      counts_[m].weight_elements += w.numel();
      Queue(m, Quantity::kWeightSquares, Squares(w));
      Queue(m, Quantity::kWeightAbsSum, AbsSum(w));
      Queue(m, Quantity::kWeightSmall, w.abs().lt(kSparseEpsilon).sum().to(at::kDouble));
      Queue(m, Quantity::kWeightNonfinite, Nonfinite(w));
    }
  }
}

void LayerSample::SnapshotWeights() {
  const c10::NoGradGuard no_grad;
  for (std::size_t m = 0; m < modules_.size(); ++m) {
    before_[m].clear();
    for (const at::Tensor& p : modules_[m].params) before_[m].push_back(p.detach().clone());
  }
}

void LayerSample::AddUpdate() {
  const c10::NoGradGuard no_grad;
  for (std::size_t m = 0; m < modules_.size(); ++m) {
    const auto& params = modules_[m].params;
    if (before_[m].size() != params.size() || params.empty()) continue;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const at::Tensor w = params[i].detach();
      if (!w.is_floating_point()) continue;
      Queue(m, Quantity::kUpdateSquares, Squares(w - before_[m][i]));
      counts_[m].has_update = true;
    }
    before_[m].clear();
  }
}

std::vector<LayerValues> LayerSample::Read() {
  // One concatenation and one device-to-host copy per device holding pieces.
  std::map<std::string, std::vector<std::size_t>> by_device;
  for (std::size_t i = 0; i < pieces_.size(); ++i) {
    by_device[pieces_[i].device().str()].push_back(i);
  }
  std::vector<std::vector<double>> host(pieces_.size());
  for (const auto& [device, indices] : by_device) {
    std::vector<at::Tensor> group;
    group.reserve(indices.size());
    for (const std::size_t i : indices) group.push_back(pieces_[i]);
    const at::Tensor values = at::cat(group).to(at::kCPU, at::kDouble).contiguous();
    const double* data = values.data_ptr<double>();
    for (const std::size_t i : indices) {
      const auto n = static_cast<std::size_t>(pieces_[i].numel());
      host[i].assign(data, data + n);
      data += n;
    }
  }

  // Per module and quantity: scalar pieces add up; a per-unit piece is kept as it is.
  constexpr auto kQuantities = static_cast<std::size_t>(Quantity::kCount);
  std::vector<std::vector<std::vector<double>>> sums(modules_.size(),
                                                     std::vector<std::vector<double>>(kQuantities));
  for (std::size_t i = 0; i < what_.size(); ++i) {
    auto& sum = sums[what_[i].module][static_cast<std::size_t>(what_[i].quantity)];
    const bool per_unit =
        what_[i].quantity == Quantity::kUnitActive || what_[i].quantity == Quantity::kUnitAbs;
    if (per_unit || sum.empty()) {
      sum = host[i];
    } else {
      sum[0] += host[i].at(0);
    }
  }

  std::vector<LayerValues> layers;
  for (std::size_t m = 0; m < modules_.size(); ++m) {
    LayerValues layer = Derive(m, sums[m]);
    const bool any = std::any_of(layer.values.begin(), layer.values.end(),
                                 [](const auto& v) { return v.has_value(); });
    if (any) layers.push_back(std::move(layer));
  }
  pieces_.clear();
  what_.clear();
  return layers;
}

LayerValues LayerSample::Derive(std::size_t m, const std::vector<std::vector<double>>& sums) const {
  auto has = [&sums](Quantity q) { return !sums[static_cast<std::size_t>(q)].empty(); };
  auto get = [&sums](Quantity q) { return sums[static_cast<std::size_t>(q)].at(0); };
  const Counts& c = counts_[m];
  LayerValues layer;
  layer.layer = modules_[m].info.name;

  if (c.weight_elements > 0 && has(Quantity::kWeightSquares)) {
    const double n = static_cast<double>(c.weight_elements);
    const double squares = get(Quantity::kWeightSquares);
    layer.Set(LayerStat::kWeightNorm, std::sqrt(squares));
    layer.Set(LayerStat::kWeightAbsMean, get(Quantity::kWeightAbsSum) / n);
    layer.Set(LayerStat::kWeightSparsity, get(Quantity::kWeightSmall) / n);
    layer.Set(LayerStat::kNonfiniteWeights, get(Quantity::kWeightNonfinite));
    // A zero norm has no meaningful ratio; a NaN norm gives NaN, which is worth showing.
    if (c.has_update && has(Quantity::kUpdateSquares) && squares != 0) {
      layer.Set(LayerStat::kUpdateRatio, std::sqrt(get(Quantity::kUpdateSquares) / squares));
    }
  }
  if (c.grad_elements > 0 && has(Quantity::kGradSquares)) {
    const double n = static_cast<double>(c.grad_elements);
    layer.Set(LayerStat::kGradNorm, std::sqrt(get(Quantity::kGradSquares)));
    layer.Set(LayerStat::kGradAbsMean, get(Quantity::kGradAbsSum) / n);
    layer.Set(LayerStat::kNonfiniteGrads, get(Quantity::kGradNonfinite));
  }
  if (c.activation_elements > 0 && c.units > 0 && has(Quantity::kActivationSum)) {
    const double elements = static_cast<double>(c.activation_elements);
    const double units = static_cast<double>(c.units);
    const double rows = elements / units;  // positions per unit
    const double mean = get(Quantity::kActivationSum) / elements;
    const double mean_square = get(Quantity::kActivationSquares) / elements;
    layer.Set(LayerStat::kActivationMean, mean);
    layer.Set(LayerStat::kActivationStd, std::sqrt(std::max(mean_square - mean * mean, 0.0)));
    layer.Set(LayerStat::kActivationAbsMean, get(Quantity::kActivationAbsSum) / elements);
    layer.Set(LayerStat::kNonfiniteActivations, get(Quantity::kActivationNonfinite));

    const auto& active = sums[static_cast<std::size_t>(Quantity::kUnitActive)];
    const auto& unit_abs = sums[static_cast<std::size_t>(Quantity::kUnitAbs)];
    const double dead = static_cast<double>(std::count(active.begin(), active.end(), 0.0));
    layer.Set(LayerStat::kDeadFraction, dead / units);
    // ReDo: a unit's mean |a| over the mean of those means across the layer's units.
    const double mean_abs = get(Quantity::kActivationAbsSum) / rows / units;
    std::vector<double> active_frac;
    std::vector<double> scores;
    double dormant = 0;
    for (std::size_t u = 0; u < active.size() && u < unit_abs.size(); ++u) {
      active_frac.push_back(active[u] / rows);
      const double score = mean_abs > 0 ? unit_abs[u] / rows / mean_abs : 0.0;
      scores.push_back(score);
      if (score <= options_.dormant_threshold) ++dormant;
    }
    layer.extra_numbers = {{"dormant_fraction", dormant / units},
                           {"dormant_threshold", options_.dormant_threshold},
                           {"units", units}};
    layer.extra_arrays = {{"unit_active_frac", Head(active_frac, options_.max_units)},
                          {"unit_score", Head(scores, options_.max_units)}};
  }
  return layer;
}

}  // namespace atlas::torch::internal
