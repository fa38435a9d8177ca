// LayerSample: the layer statistics of one sampled step.
//
// Each Add* call queues reductions on the device where the tensors live (no host
// synchronisation); Read() stacks every queued scalar and copies them to the host in one
// transfer per device (one in the usual single-device case), then aggregates them per module on
// the host. Aggregation is over the parameters a module owns directly:
//   weight_norm  = sqrt(sum over its parameters of ||p||^2)
//   weight_abs_mean, weight_sparsity = sum |p| / numel, zeros / numel (over all its elements)
//   grad_norm, grad_abs_mean, nonfinite_grads: the same over the parameters that have a grad
//   update_ratio = sqrt(sum ||p_after - p_before||^2) / weight_norm (after the update)
// and, from the module's output captured in the forward (capture.hpp): activation_mean,
// activation_std (population), activation_abs_mean, nonfinite_activations and, for Linear (units
// on the last dimension) and Conv (channels, dimension 1) modules, dead_fraction: the fraction
// of units never positive anywhere in the batch.
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

class LayerSample {
 public:
  // `modules` is borrowed and must outlive the sample.
  explicit LayerSample(const std::vector<TrackedModule>& modules);

  // Statistics of the outputs in `calls` (one per module, as ForwardCapture gives them).
  void AddActivations(const std::vector<ModuleCall>& calls);
  // Gradient statistics of every parameter that has a grad.
  void AddGradients();
  bool has_gradients() const { return gradients_added_; }
  // Copies the parameters, so that AddWeights can measure the optimizer's update.
  void SnapshotWeights();
  // Weight statistics, and the update since SnapshotWeights when it was called.
  void AddWeights();

  // The one transfer; one entry per module with at least one statistic, in module order.
  std::vector<LayerValues> Read();

 private:
  enum class Quantity : std::uint8_t {
    kWeightSquares,
    kWeightAbsSum,
    kWeightZeros,
    kWeightNonfinite,
    kGradSquares,
    kGradAbsSum,
    kGradNonfinite,
    kUpdateSquares,
    kActivationMean,
    kActivationStd,
    kActivationAbsMean,
    kActivationNonfinite,
    kDeadFraction,
  };
  struct Slot {
    std::size_t module;
    Quantity quantity;
  };
  // Per module, what the host knows without a transfer.
  struct Counts {
    std::int64_t weight_elements = 0;
    std::int64_t grad_elements = 0;
    bool has_update = false;
  };

  void Queue(std::size_t module, Quantity quantity, const at::Tensor& scalar);

  const std::vector<TrackedModule>& modules_;
  std::vector<at::Tensor> scalars_;  // 0-d double tensors on the parameters' devices
  std::vector<Slot> slots_;          // what each scalar is
  std::vector<Counts> counts_;
  std::vector<std::vector<at::Tensor>> before_;  // the snapshot, per module and parameter
  bool gradients_added_ = false;
};

}  // namespace atlas::torch::internal
