// LayerSample: the layer statistics of one sampled step, defined as the Python observer defines
// them (python/atlas_observatory/layer_health.py, docs/observer.md), so that a LibTorch run and a
// PyTorch run of the same model read alike.
//
// Each Add* call queues reductions on the device where the tensors live (no host
// synchronisation); Read() concatenates everything queued and copies it to the host in one
// transfer per device (one in the usual single-device case), then derives the figures per module
// on the host. Over the parameters a module owns directly:
//   weight_norm = sqrt(sum of ||p||^2); weight_abs_mean = sum |p| / elements;
//   weight_sparsity = the share of weights with |w| < 1e-8; nonfinite_weights
//   grad_norm, grad_abs_mean, nonfinite_grads: the same over the parameters that have a grad
//   update_ratio = ||W_after - W_before|| / ||W_before|| for one optimizer step
// (weights are read when AddWeights is called: before the optimizer step in the Observer, like
// the Python side). From the module's output captured in the forward (capture.hpp), with a
// "unit" being dimension 1 of a convolution or normalisation output of 3 or more dimensions,
// else the last dimension, and every other element a "position":
//   activation_mean, activation_std (population), activation_abs_mean over all elements;
//   nonfinite_activations; dead_fraction = the share of units never > 0 at any position;
//   extra: units, unit_active_frac (each unit's share of positions > 0), unit_score (ReDo:
//   a unit's mean |a| over the layer's mean of those), dormant_fraction (units whose score is
//   <= dormant_threshold) and dormant_threshold. Per-unit arrays keep at most max_units units;
//   the layer-wide figures cover every unit.
//
// Reductions run in double precision. Everything runs under a NoGradGuard on the training
// thread; a LayerSample is not shared.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "architecture.hpp"
#include "capture.hpp"
#include "json.hpp"

namespace atlas::torch::internal {

struct LayerSampleOptions {
  std::int64_t max_units = 1024;
  double dormant_threshold = 0.1;
};

class LayerSample {
 public:
  // `modules` is borrowed and must outlive the sample.
  LayerSample(const std::vector<TrackedModule>& modules, LayerSampleOptions options);

  // Statistics of the outputs in `calls` (one per module, as ForwardCapture gives them).
  void AddActivations(const std::vector<ModuleCall>& calls);
  // Gradient statistics of every parameter that has a grad.
  void AddGradients();
  bool has_gradients() const { return gradients_added_; }
  // Weight statistics of the parameters as they are now.
  void AddWeights();
  bool has_weights() const { return weights_added_; }
  // Copies the parameters, so that AddUpdate can measure the optimizer's update.
  void SnapshotWeights();
  // The update since SnapshotWeights (nothing when there was no snapshot).
  void AddUpdate();

  // The one transfer; one entry per module with at least one statistic, in module order.
  std::vector<LayerValues> Read();

 private:
  enum class Quantity : std::uint8_t {
    kWeightSquares,
    kWeightAbsSum,
    kWeightSmall,
    kWeightNonfinite,
    kGradSquares,
    kGradAbsSum,
    kGradNonfinite,
    kUpdateSquares,
    kActivationSum,
    kActivationAbsSum,
    kActivationSquares,
    kActivationNonfinite,
    kUnitActive,  // per unit: positions > 0
    kUnitAbs,     // per unit: sum of |a|
    kCount,
  };
  struct Piece {
    std::size_t module;
    Quantity quantity;
  };
  // Per module, what the host knows without a transfer.
  struct Counts {
    std::int64_t weight_elements = 0;
    std::int64_t grad_elements = 0;
    std::int64_t activation_elements = 0;
    std::int64_t units = 0;
    bool has_update = false;
  };

  void Queue(std::size_t module, Quantity quantity, const at::Tensor& values);
  LayerValues Derive(std::size_t module, const std::vector<std::vector<double>>& sums) const;

  const std::vector<TrackedModule>& modules_;
  LayerSampleOptions options_;
  std::vector<at::Tensor> pieces_;  // 1-d double tensors on the parameters' devices
  std::vector<Piece> what_;         // what each piece is
  std::vector<Counts> counts_;
  std::vector<std::vector<at::Tensor>> before_;  // the snapshot, per module and parameter
  bool gradients_added_ = false;
  bool weights_added_ = false;
};

}  // namespace atlas::torch::internal
