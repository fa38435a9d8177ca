#include "architecture.hpp"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <map>
#include <memory>
#include <utility>

namespace atlas::torch::internal {
namespace {

// The parent's qualified name: "features.0" -> "features", "fc" -> "" (the root).
std::string ParentName(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

// The weight of a Linear or Conv module (null for any other module), and which kind it is.
const at::Tensor* KnownWeight(const ::torch::nn::Module& module, ModuleKind* kind) {
  *kind = ModuleKind::kConv;
  if (const auto* conv = module.as<::torch::nn::Conv1dImpl>()) return &conv->weight;
  if (const auto* conv = module.as<::torch::nn::Conv2dImpl>()) return &conv->weight;
  if (const auto* conv = module.as<::torch::nn::Conv3dImpl>()) return &conv->weight;
  *kind = ModuleKind::kLinear;
  if (const auto* linear = module.as<::torch::nn::LinearImpl>()) return &linear->weight;
  *kind = ModuleKind::kOther;
  return nullptr;
}

bool IsNorm(const ::torch::nn::Module& module) {
  namespace nn = ::torch::nn;
  return module.as<nn::BatchNorm1dImpl>() != nullptr ||
         module.as<nn::BatchNorm2dImpl>() != nullptr ||
         module.as<nn::BatchNorm3dImpl>() != nullptr ||
         module.as<nn::InstanceNorm1dImpl>() != nullptr ||
         module.as<nn::InstanceNorm2dImpl>() != nullptr ||
         module.as<nn::InstanceNorm3dImpl>() != nullptr ||
         module.as<nn::GroupNormImpl>() != nullptr;
}

// Weight elements per output channel: the multiply-accumulates behind each output element.
std::int64_t MacsPerOutput(const at::Tensor* weight) {
  if (weight == nullptr || !weight->defined() || weight->dim() == 0 || weight->size(0) == 0) {
    return 0;
  }
  return weight->numel() / weight->size(0);
}

TrackedModule Track(const std::string& name, const ::torch::nn::Module& module, bool is_root) {
  TrackedModule tracked;
  tracked.info.name = name;
  tracked.info.type = TypeName(module.name());
  if (!is_root) tracked.info.parent = ParentName(name);
  for (const auto& item : module.named_parameters(/*recurse=*/false)) {
    const at::Tensor& p = item.value();
    if (!p.defined()) continue;
    tracked.info.params += p.numel();
    if (p.requires_grad()) tracked.info.trainable_params += p.numel();
    tracked.params.push_back(p);
    tracked.param_names.push_back(item.key());
  }
  tracked.macs_per_output = MacsPerOutput(KnownWeight(module, &tracked.kind));
  if (IsNorm(module)) tracked.kind = ModuleKind::kNorm;
  if (const auto* linear = module.as<::torch::nn::LinearImpl>()) {
    tracked.flops_without_shape = 2.0 * static_cast<double>(linear->options.in_features()) *
                                  static_cast<double>(linear->options.out_features());
    tracked.info.flops = tracked.flops_without_shape;
  }
  return tracked;
}

}  // namespace

std::string TypeName(std::string_view rtti_name) {
  std::string_view name = rtti_name;
  // Drop template arguments, then every enclosing namespace or class.
  if (const auto angle = name.find('<'); angle != std::string_view::npos) {
    name = name.substr(0, angle);
  }
  if (const auto colons = name.rfind("::"); colons != std::string_view::npos) {
    name = name.substr(colons + 2);
  }
  // LibTorch's convention: class LinearImpl, wrapped by the holder Linear.
  constexpr std::string_view kImpl = "Impl";
  if (name.size() > kImpl.size() && name.substr(name.size() - kImpl.size()) == kImpl) {
    name.remove_suffix(kImpl.size());
  }
  if (name.empty()) return std::string(rtti_name.empty() ? "Module" : rtti_name);
  return std::string(name);
}

std::vector<TrackedModule> ExtractModules(const ::torch::nn::Module& root) {
  std::vector<TrackedModule> modules;
  modules.push_back(Track("", root, /*is_root=*/true));
  // include_self=false: named_modules() needs the root in a shared_ptr to list it, and a model
  // may live on the stack.
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    modules.push_back(Track(item.key(), *item.value(), /*is_root=*/false));
  }
  return modules;
}

std::optional<double> FlopsPerSample(const TrackedModule& module,
                                     const std::vector<std::int64_t>& output_shape) {
  if (output_shape.empty()) return std::nullopt;
  // A 1-d output is one unbatched sample; otherwise dimension 0 is the batch.
  double per_sample = output_shape.size() == 1 ? static_cast<double>(output_shape[0]) : 1.0;
  for (std::size_t i = 1; i < output_shape.size(); ++i) {
    per_sample *= static_cast<double>(output_shape[i]);
  }
  if (module.kind == ModuleKind::kNorm) return 5.0 * per_sample;
  if (module.macs_per_output == 0) return std::nullopt;
  return 2.0 * per_sample * static_cast<double>(module.macs_per_output);
}

void AddChildFlops(std::vector<ModuleInfo>* modules) {
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < modules->size(); ++i) index.emplace((*modules)[i].name, i);
  // Children come after their parents (named_modules() order), so walking backwards adds each
  // module's total to its parent before the parent's own total is passed on.
  for (std::size_t i = modules->size(); i-- > 1;) {
    const ModuleInfo& child = (*modules)[i];
    if (!child.flops || !child.parent) continue;
    const auto parent = index.find(*child.parent);
    if (parent == index.end() || parent->second >= i) continue;
    auto& total = (*modules)[parent->second].flops;
    total = total.value_or(0.0) + *child.flops;
  }
}

std::vector<ModuleInfo> ModuleInfos(const std::vector<TrackedModule>& modules) {
  std::vector<ModuleInfo> infos;
  infos.reserve(modules.size());
  for (const TrackedModule& m : modules) infos.push_back(m.info);
  return infos;
}

}  // namespace atlas::torch::internal
