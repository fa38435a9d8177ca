// The registered model as the observer sees it: its modules in named_modules() order, each with
// the parameters it owns directly (the tensors the layer statistics read), and the FLOPs rule
// for the module kinds whose cost is known.
//
// Plain values and functions; used on the training thread only.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json.hpp"

namespace atlas::torch::internal {

// The module kinds whose cost or output layout the observer knows. Convolution and
// normalisation (batch, instance, group) outputs hold channels in dimension 1.
enum class ModuleKind : std::uint8_t { kOther, kLinear, kConv, kNorm };
inline bool IsChannelFirst(ModuleKind kind) {
  return kind == ModuleKind::kConv || kind == ModuleKind::kNorm;
}

struct TrackedModule {
  ModuleInfo info;
  ModuleKind kind =
      ModuleKind::kOther;  // what the architecture record says (shapes filled in later)
  // The parameters the module owns directly, in registration order, and their names.
  std::vector<at::Tensor> params;
  std::vector<std::string> param_names;
  // For Linear and Conv modules: multiply-accumulates per output element (weight elements per
  // output channel), which gives the FLOPs once the output shape is known. 0 otherwise.
  std::int64_t macs_per_output = 0;
  // For Linear only: 2 x in_features x out_features, the FLOPs of a 2-d input without a shape.
  std::optional<double> flops_without_shape;
};

// "torch::nn::LinearImpl" -> "Linear", "(anonymous namespace)::NetImpl" -> "Net",
// "Block<float>" -> "Block": the class name a Python user would see.
std::string TypeName(std::string_view rtti_name);

// Every module of `root` (the root first, named ""), with parents, own parameter counts and
// parameters. Works for a root that is not held by a shared_ptr.
std::vector<TrackedModule> ExtractModules(const ::torch::nn::Module& root);

// Forward FLOPs per sample of a module whose own output (batch first) has `output_shape`, by
// the Python observer's formulas (a multiply-add is 2 FLOPs): Linear and Conv 2 x output
// elements x weight elements per output channel, normalisation 5 x output elements; nullopt
// for other modules or an empty shape. Children are not included (see AddChildFlops).
std::optional<double> FlopsPerSample(const TrackedModule& module,
                                     const std::vector<std::int64_t>& output_shape);

// Adds every module's FLOPs to its ancestors', so that a container's and the root's figure
// include their children, as the Python observer's do (modules whose FLOPs are unknown add
// nothing).
void AddChildFlops(std::vector<ModuleInfo>* modules);

// The architecture record's modules.
std::vector<ModuleInfo> ModuleInfos(const std::vector<TrackedModule>& modules);

}  // namespace atlas::torch::internal
