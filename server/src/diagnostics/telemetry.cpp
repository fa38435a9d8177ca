// RunTelemetry's small accessors and the module tree builder.
#include "diagnostics/telemetry.hpp"

#include <unordered_map>

namespace atlas::diagnostics {
namespace {

std::optional<double> Lookup(const std::vector<std::pair<std::string, double>>& values,
                             std::string_view name) {
  for (const auto& [key, value] : values) {
    if (key == name) return value;
  }
  return std::nullopt;
}

}  // namespace

void StepAggregate::Merge(const StepAggregate& later) {
  if (later.steps == 0) return;
  if (steps == 0) {
    first_step = later.first_step;
    first_ts = later.first_ts;
  }
  last_step = later.last_step;
  last_ts = later.last_ts;
  steps += later.steps;
  for (std::size_t i = 0; i < fields.size(); ++i) fields[i].Merge(later.fields[i]);
}

std::optional<double> EpochView::Train(std::string_view name) const {
  return Lookup(record.train, name);
}

std::optional<double> EpochView::Val(std::string_view name) const {
  return Lookup(record.val, name);
}

double RunTelemetry::total_joules() const {
  double total = 0;
  for (const EpochView& e : epochs) total += e.joules;
  return total;
}

const ModuleNode* RunTelemetry::FindModule(std::string_view name) const {
  for (const ModuleNode& m : modules) {
    if (m.info.name == name) return &m;
  }
  return nullptr;
}

std::vector<ModuleNode> BuildModuleTree(const std::vector<model::ModuleInfo>& modules) {
  std::vector<ModuleNode> nodes;
  nodes.reserve(modules.size());
  std::unordered_map<std::string, std::size_t> index;
  std::vector<std::optional<std::size_t>> parent_of;
  for (const model::ModuleInfo& info : modules) {
    const std::size_t i = nodes.size();
    nodes.push_back(ModuleNode{info, {}, info.params, info.flops});
    index.emplace(info.name, i);
    std::optional<std::size_t> parent;
    if (info.parent) {
      // The protocol guarantees the parent is an earlier module; a dangling name (not possible
      // after validation) simply leaves the module without a parent.
      if (auto it = index.find(*info.parent); it != index.end() && it->second != i) {
        parent = it->second;
        nodes[it->second].children.push_back(i);
      }
    }
    parent_of.push_back(parent);
  }
  // Parents precede their children, so one backward pass accumulates every subtree.
  std::vector<bool> flops_complete(nodes.size(), true);
  std::vector<double> child_flops(nodes.size(), 0.0);
  for (std::size_t k = nodes.size(); k-- > 0;) {
    ModuleNode& node = nodes[k];
    // A module's own FLOPs are measured over its whole forward (children included); a module
    // without a figure takes the sum of its children when every child has one.
    if (!node.subtree_flops && !node.children.empty() && flops_complete[k]) {
      node.subtree_flops = child_flops[k];
    }
    if (!parent_of[k]) continue;
    const std::size_t p = *parent_of[k];
    nodes[p].subtree_params += node.subtree_params;
    if (node.subtree_flops) {
      child_flops[p] += *node.subtree_flops;
    } else {
      flops_complete[p] = false;
    }
  }
  return nodes;
}

}  // namespace atlas::diagnostics
