#include "stats.hpp"

#include <ATen/Functions.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

namespace atlas::torch::internal {
namespace {

at::Tensor Norm(const at::Tensor& x) {
  return at::linalg_vector_norm(x, 2, std::nullopt, false, at::kDouble);
}
at::Tensor AbsSum(const at::Tensor& x) { return x.abs().sum(at::kDouble); }
at::Tensor Zeros(const at::Tensor& x) { return x.eq(0).sum().to(at::kDouble); }
at::Tensor Nonfinite(const at::Tensor& x) {
  return at::isfinite(x).logical_not().sum().to(at::kDouble);
}

// The fraction of units never positive in `y`, units on dimension `unit_dim`.
at::Tensor DeadFraction(const at::Tensor& y, std::int64_t unit_dim) {
  const at::Tensor active = y.gt(0).movedim(unit_dim, 0).reshape({y.size(unit_dim), -1}).any(1);
  return active.logical_not().to(at::kDouble).mean();
}

// Which dimension holds a module's units, or nullopt when dead_fraction does not apply.
std::optional<std::int64_t> UnitDim(ModuleKind kind, const at::Tensor& y) {
  if (y.dim() < 2) return std::nullopt;
  switch (kind) {
    case ModuleKind::kLinear:
      return y.dim() - 1;
    case ModuleKind::kConv:
      return 1;
    case ModuleKind::kOther:
      break;
  }
  return std::nullopt;
}

// Sums of one module's scalars as read back, by quantity.
struct Totals {
  std::map<int, double> sum;  // keyed by Quantity
  bool Has(int q) const { return sum.count(q) != 0; }
  double Get(int q) const { return sum.at(q); }
};

}  // namespace

LayerSample::LayerSample(const std::vector<TrackedModule>& modules)
    : modules_(modules), counts_(modules.size()), before_(modules.size()) {}

void LayerSample::Queue(std::size_t module, Quantity quantity, const at::Tensor& scalar) {
  scalars_.push_back(scalar.reshape({}));
  slots_.push_back({module, quantity});
}

void LayerSample::AddActivations(const std::vector<ModuleCall>& calls) {
  const c10::NoGradGuard no_grad;
  for (std::size_t m = 0; m < calls.size() && m < modules_.size(); ++m) {
    const at::Tensor& out = calls[m].output;
    if (!calls[m].seen || !out.defined() || !out.is_floating_point() || out.numel() == 0) {
      continue;
    }
    const at::Tensor y = out.detach().to(at::kDouble);
    Queue(m, Quantity::kActivationMean, y.mean());
    Queue(m, Quantity::kActivationStd, y.std(/*unbiased=*/false));
    Queue(m, Quantity::kActivationAbsMean, y.abs().mean());
    Queue(m, Quantity::kActivationNonfinite, Nonfinite(y));
    if (const auto dim = UnitDim(modules_[m].kind, y)) {
      Queue(m, Quantity::kDeadFraction, DeadFraction(y, *dim));
    }
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
      Queue(m, Quantity::kGradSquares, Norm(g).square());
      Queue(m, Quantity::kGradAbsSum, AbsSum(g));
      Queue(m, Quantity::kGradNonfinite, Nonfinite(g));
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

void LayerSample::AddWeights() {
  const c10::NoGradGuard no_grad;
  for (std::size_t m = 0; m < modules_.size(); ++m) {
    const auto& params = modules_[m].params;
    const bool has_before = before_[m].size() == params.size() && !params.empty();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const at::Tensor w = params[i].detach();
      if (!w.is_floating_point()) continue;
      counts_[m].weight_elements += w.numel();
      Queue(m, Quantity::kWeightSquares, Norm(w).square());
      Queue(m, Quantity::kWeightAbsSum, AbsSum(w));
      Queue(m, Quantity::kWeightZeros, Zeros(w));
      Queue(m, Quantity::kWeightNonfinite, Nonfinite(w));
      if (has_before) {
        Queue(m, Quantity::kUpdateSquares, Norm(w - before_[m][i]).square());
        counts_[m].has_update = true;
      }
    }
    before_[m].clear();
  }
}

std::vector<LayerValues> LayerSample::Read() {
  // One stack and one device-to-host copy per device holding scalars.
  std::map<std::string, std::vector<std::size_t>> by_device;
  for (std::size_t i = 0; i < scalars_.size(); ++i) {
    by_device[scalars_[i].device().str()].push_back(i);
  }
  std::vector<double> values(scalars_.size(), 0.0);
  for (const auto& [device, indices] : by_device) {
    std::vector<at::Tensor> group;
    group.reserve(indices.size());
    for (const std::size_t i : indices) group.push_back(scalars_[i]);
    const at::Tensor host = at::stack(group).to(at::kCPU, at::kDouble).contiguous();
    const double* data = host.data_ptr<double>();
    for (std::size_t k = 0; k < indices.size(); ++k) values[indices[k]] = data[k];
  }

  std::vector<Totals> totals(modules_.size());
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    totals[slots_[i].module].sum[static_cast<int>(slots_[i].quantity)] += values[i];
  }

  std::vector<LayerValues> layers;
  for (std::size_t m = 0; m < modules_.size(); ++m) {
    if (modules_[m].params.empty()) continue;
    const Totals& t = totals[m];
    const Counts& c = counts_[m];
    auto q = [](Quantity quantity) { return static_cast<int>(quantity); };
    LayerValues layer;
    layer.layer = modules_[m].info.name;
    if (c.weight_elements > 0) {
      const double n = static_cast<double>(c.weight_elements);
      const double norm = std::sqrt(t.Get(q(Quantity::kWeightSquares)));
      layer.Set(LayerStat::kWeightNorm, norm);
      layer.Set(LayerStat::kWeightAbsMean, t.Get(q(Quantity::kWeightAbsSum)) / n);
      layer.Set(LayerStat::kWeightSparsity, t.Get(q(Quantity::kWeightZeros)) / n);
      layer.Set(LayerStat::kNonfiniteWeights, t.Get(q(Quantity::kWeightNonfinite)));
      // A zero norm has no meaningful ratio; a NaN norm gives NaN, which is worth showing.
      if (c.has_update && norm != 0) {
        layer.Set(LayerStat::kUpdateRatio, std::sqrt(t.Get(q(Quantity::kUpdateSquares))) / norm);
      }
    }
    if (c.grad_elements > 0) {
      const double n = static_cast<double>(c.grad_elements);
      layer.Set(LayerStat::kGradNorm, std::sqrt(t.Get(q(Quantity::kGradSquares))));
      layer.Set(LayerStat::kGradAbsMean, t.Get(q(Quantity::kGradAbsSum)) / n);
      layer.Set(LayerStat::kNonfiniteGrads, t.Get(q(Quantity::kGradNonfinite)));
    }
    constexpr std::array<std::pair<Quantity, LayerStat>, 5> kActivations = {
        {{Quantity::kActivationMean, LayerStat::kActivationMean},
         {Quantity::kActivationStd, LayerStat::kActivationStd},
         {Quantity::kActivationAbsMean, LayerStat::kActivationAbsMean},
         {Quantity::kActivationNonfinite, LayerStat::kNonfiniteActivations},
         {Quantity::kDeadFraction, LayerStat::kDeadFraction}}};
    for (const auto& [quantity, stat] : kActivations) {
      if (t.Has(q(quantity))) layer.Set(stat, t.Get(q(quantity)));
    }
    const bool any = std::any_of(layer.values.begin(), layer.values.end(),
                                 [](const auto& v) { return v.has_value(); });
    if (any) layers.push_back(std::move(layer));
  }
  scalars_.clear();
  slots_.clear();
  return layers;
}

}  // namespace atlas::torch::internal
