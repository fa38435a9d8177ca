// The architecture checks (docs/diagnostics.md, "Architecture checks"): what the module tree
// (types, parameters, shapes and FLOPs of the first forward) says about wasted parameters and
// compute. Checks for a kind of network look for that kind of module in the tree (never at the
// run's name) and stay silent on networks without it.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "diagnostics/check.hpp"
#include "diagnostics/checks/model_view.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

using checks::ComputeShare;
using checks::FlopsOf;
using checks::Kind;
using checks::KindOf;
using checks::ShapeOf;

Finding ArchFinding(std::string_view check, Severity severity, std::optional<std::string> layer) {
  Finding f;
  f.check = std::string(check);
  f.category = Category::kArchitecture;
  f.severity = severity;
  f.layer = std::move(layer);
  return f;
}

std::string Str(std::int64_t v) { return std::to_string(v); }

// The leaves of one kind, in forward order.
std::vector<const ModuleNode*> LeavesOf(const RunTelemetry& run, Kind kind) {
  std::vector<const ModuleNode*> out;
  for (const ModuleNode* leaf : checks::Leaves(run)) {
    if (KindOf(leaf->info.type) == kind) out.push_back(leaf);
  }
  return out;
}

// The channels (dimension 1) of a convolution's input or output shape.
std::optional<std::int64_t> Channels(const Json& shape) {
  const std::vector<std::int64_t> s = ShapeOf(shape);
  if (s.size() < 3 || s[1] <= 0) return std::nullopt;
  return s[1];
}

// The spatial dimensions of a convolution's input or output shape (after batch and channels).
std::vector<std::int64_t> Spatial(const Json& shape) {
  std::vector<std::int64_t> s = ShapeOf(shape);
  if (s.size() < 3) return {};
  return {s.begin() + 2, s.end()};
}

std::int64_t LastDim(const Json& shape) {
  const std::vector<std::int64_t> s = ShapeOf(shape);
  return s.empty() ? 0 : s.back();
}

// Consecutive children of nn.Sequential containers, where the forward order is the
// registration order for certain. Dropout and Identity children are skipped (they add no
// non-linearity); each pair is (earlier, later).
std::vector<std::pair<const ModuleNode*, const ModuleNode*>> SequentialPairs(
    const RunTelemetry& run) {
  std::vector<std::pair<const ModuleNode*, const ModuleNode*>> out;
  for (const ModuleNode& m : run.modules) {
    if (m.info.type != "Sequential") continue;
    const ModuleNode* previous = nullptr;
    for (std::size_t child : m.children) {
      const ModuleNode* node = &run.modules[child];
      const Kind kind = KindOf(node->info.type);
      if (kind == Kind::kDropout || node->info.type == "Identity") continue;
      if (previous != nullptr) out.emplace_back(previous, node);
      previous = node;
    }
  }
  return out;
}

// ----- architecture.overparameterized_layer -----

void CheckOverparameterized(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double ratio_min = t.Get("architecture.overparameterized_layer.ratio");
  const double share_min = t.Get("architecture.overparameterized_layer.min_param_share");
  const double params = static_cast<double>(checks::ModelParams(run));
  const auto flops = checks::ModelFlops(run);
  if (!(params > 0) || !flops) return;
  for (const ModuleNode* leaf : checks::Leaves(run)) {
    const Kind kind = KindOf(leaf->info.type);
    if (kind != Kind::kConv && kind != Kind::kLinear) continue;
    const double param_share = static_cast<double>(leaf->info.params) / params;
    const auto compute_share = ComputeShare(run, leaf->info.name);
    if (!compute_share || !(*compute_share > 0) || param_share < share_min) continue;
    const double ratio = param_share / *compute_share;
    if (!(ratio > ratio_min)) continue;
    const std::string& name = leaf->info.name;
    Finding f = ArchFinding("architecture.overparameterized_layer", Severity::kInfo, name);
    f.title = name + " holds " + Pct(param_share) + " of the parameters for " +
              Pct(*compute_share) + " of the compute";
    f.evidence = {{"params", leaf->info.params},     {"param_share", param_share},
                  {"compute_share", *compute_share}, {"params_over_compute", ratio},
                  {"threshold_ratio", ratio_min},    {"threshold_min_param_share", share_min}};
    f.why =
        "A layer whose share of the parameters far exceeds its share of the compute is mostly "
        "memory: it dominates the model's size, optimizer state and overfitting risk while "
        "adding little computation, so a narrower layer usually trains as well for less.";
    f.fix = kind == Kind::kLinear
                ? "Shrink the input of " + name +
                      ": pool before flattening (`nn.AdaptiveAvgPool2d(1)`) "
                      "or lower its `out_features`; a low-rank pair `nn.Linear(in, r)` + "
                      "`nn.Linear(r, out)` also cuts its parameters."
                : "Use fewer channels in " + name +
                      " or a depthwise-separable convolution "
                      "(`groups=in_channels` followed by a 1x1 `nn.Conv2d`).";
    sink.Add(std::move(f));
  }
}

// ----- architecture.fc_dominance -----

void CheckFcDominance(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double share_min = t.Get("architecture.fc_dominance.param_share");
  if (LeavesOf(run, Kind::kConv).empty()) return;  // a CNN check
  const double params = static_cast<double>(checks::ModelParams(run));
  if (!(params > 0)) return;
  const std::vector<const ModuleNode*> linears = LeavesOf(run, Kind::kLinear);
  if (linears.empty()) return;
  double fc_params = 0;
  double fc_compute = 0;
  const ModuleNode* largest = linears.front();
  for (const ModuleNode* l : linears) {
    fc_params += static_cast<double>(l->info.params);
    fc_compute += ComputeShare(run, l->info.name).value_or(0.0);
    if (l->info.params > largest->info.params) largest = l;
  }
  const double share = fc_params / params;
  if (!(share >= share_min)) return;
  const std::string& name = largest->info.name;
  Finding f = ArchFinding("architecture.fc_dominance", Severity::kWarning, name);
  f.title = "fully connected layers hold " + Pct(share) + " of this CNN's parameters";
  f.evidence = {{"fc_params", fc_params},  {"model_params", params},
                {"fc_param_share", share}, {"fc_compute_share", fc_compute},
                {"largest_fc", name},      {"threshold_param_share", share_min}};
  f.why =
      "In a convolutional network the fully connected head should be small; when it holds most "
      "of the parameters it overfits easily, inflates memory and optimizer state, and its "
      "flattened input ties the model to one input size.";
  f.fix = "Replace the flatten + " + name +
          " head with global average pooling: "
          "`nn.AdaptiveAvgPool2d(1)`, `nn.Flatten()`, then one `nn.Linear(channels, classes)`; "
          "or add pooling before the flatten so " +
          name + " sees fewer features.";
  if (fc_compute > 0) {
    f.energy_at_stake = checks::ShareOfEnergy(run, fc_compute, "the fully connected layers");
  }
  sink.Add(std::move(f));
}

// ----- architecture.missing_downsampling -----

void CheckMissingDownsampling(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  // The finding names the third full-resolution convolution, so fewer than 3 judge as 3.
  const std::size_t min_convs =
      std::max<std::size_t>(3, t.Count("architecture.missing_downsampling.full_res_convs"));
  const std::vector<const ModuleNode*> convs = LeavesOf(run, Kind::kConv);
  if (convs.size() < min_convs) return;
  const std::vector<std::int64_t> input = Spatial(convs.front()->info.input_shape);
  if (input.empty()) return;
  // A convolution at "full resolution": every spatial side more than half the network input's.
  std::vector<const ModuleNode*> full;
  for (const ModuleNode* c : convs) {
    const std::vector<std::int64_t> out = Spatial(c->info.output_shape);
    if (out.size() != input.size()) continue;
    bool at_full = true;
    for (std::size_t d = 0; d < out.size(); ++d) at_full = at_full && 2 * out[d] > input[d];
    if (at_full) full.push_back(c);
  }
  if (full.size() < min_convs) return;
  // Pooling after the second full-resolution conv would quarter (2D) every later one's cost.
  double later_share = 0;
  for (std::size_t i = 2; i < full.size(); ++i) {
    later_share += ComputeShare(run, full[i]->info.name).value_or(0.0);
  }
  const double reduction = 1.0 - 1.0 / std::pow(2.0, static_cast<double>(input.size()));
  std::string after = full[1]->info.name;
  const std::vector<const ModuleNode*> leaves = checks::Leaves(run);
  for (std::size_t i = 0; i + 1 < leaves.size(); ++i) {
    if (leaves[i] == full[1] && checks::IsActivation(leaves[i + 1]->info.type)) {
      after = leaves[i + 1]->info.name;
    }
  }
  std::string sides;
  for (std::int64_t s : input) sides += (sides.empty() ? "" : "x") + Str(s);
  Finding f =
      ArchFinding("architecture.missing_downsampling", Severity::kWarning, full[2]->info.name);
  f.title = Str(static_cast<std::int64_t>(full.size())) + " convolutions run at the full " + sides +
            " input resolution";
  Json names = Json::array();
  for (const ModuleNode* c : full) names.push_back(c->info.name);
  f.evidence = {{"full_resolution_convs", names},
                {"input_spatial", input},
                {"convs", convs.size()},
                {"compute_share_after_second", later_share},
                {"threshold_full_res_convs", min_convs}};
  f.why =
      "Without pooling or strided convolutions every layer pays for the full spatial "
      "resolution: compute grows with the number of positions while deeper layers gain little "
      "from it, so most of the energy goes into redundant positions.";
  f.fix = std::string("Add `nn.MaxPool2d(2)` after ") + after + " (or give " + full[2]->info.name +
          " `stride=2`), halving the resolution every one or two "
          "convolutions and widening the channels instead.";
  f.energy_at_stake = checks::ShareOfEnergy(run, later_share * reduction,
                                            "the convolutions after the second at full resolution");
  sink.Add(std::move(f));
}

// ----- architecture.redundant_layers -----

double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const auto n = static_cast<double>(a.size());
  double ma = 0;
  double mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0;
  double saa = 0;
  double sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (!(saa > 0) || !(sbb > 0)) return std::nan("");
  return sab / std::sqrt(saa * sbb);
}

// The stat-bearing leaf whose output a block's output is: the block's compute leaf, or the
// activation or normalisation right after it.
const ModuleNode* BlockOutput(const std::vector<const ModuleNode*>& leaves, std::size_t i) {
  const ModuleNode* out = leaves[i];
  for (std::size_t j = i + 1; j < leaves.size(); ++j) {
    const Kind kind = KindOf(leaves[j]->info.type);
    if (kind == Kind::kDropout || kind == Kind::kPassThrough) continue;
    if (checks::IsActivation(leaves[j]->info.type) || kind == Kind::kNorm) {
      out = leaves[j];
      continue;
    }
    break;
  }
  return out;
}

// The latest samples of a layer, newest first, by name.
std::vector<const model::LayerStat*> StatsOf(const RunTelemetry& run, std::string_view layer,
                                             std::size_t window) {
  std::vector<const model::LayerStat*> out;
  for (auto r = run.layer_samples.rbegin(); r != run.layer_samples.rend() && out.size() < window;
       ++r) {
    for (const model::LayerStat& s : r->layers) {
      if (s.layer == layer) out.push_back(&s);
    }
  }
  return out;
}

struct Redundancy {
  std::string basis;
  double value = 0;
  std::size_t samples = 0;
};

// Statistical evidence that block `i`'s output barely differs from its input: the observer's
// extra.angular_distance between the module's input and output when sent, else the per-unit
// activation profiles of the block's input and output agreeing unit for unit (in a healthy
// layer unit k of the output has no relation to unit k of the input: the correlation is ~0).
std::optional<Redundancy> RedundancyOf(const RunTelemetry& run, const Thresholds& t,
                                       const std::vector<const ModuleNode*>& leaves,
                                       std::size_t i) {
  const auto window = std::max<std::size_t>(1, t.Count("architecture.redundant_layers.window"));
  const auto min_samples =
      std::max<std::size_t>(1, t.Count("architecture.redundant_layers.min_samples"));
  const ModuleNode* block = leaves[i];
  std::vector<double> distances;
  for (const model::LayerStat* s : StatsOf(run, block->info.name, window)) {
    if (auto d = checks::ExtraNumber(*s, "angular_distance")) distances.push_back(*d);
  }
  if (distances.size() >= min_samples) {
    const double d = Median(distances);
    if (d <= t.Get("architecture.redundant_layers.angular_distance")) {
      return Redundancy{"extra.angular_distance (input vs output)", d, distances.size()};
    }
    return std::nullopt;  // measured, and the block does change its input
  }
  if (i == 0) return std::nullopt;
  // The block's input: the output of the previous stat-bearing leaf.
  const ModuleNode* input = nullptr;
  for (std::size_t j = i; j-- > 0;) {
    const Kind kind = KindOf(leaves[j]->info.type);
    if (kind == Kind::kDropout || kind == Kind::kPassThrough) continue;
    input = leaves[j];
    break;
  }
  if (input == nullptr || ShapeOf(input->info.output_shape) != ShapeOf(block->info.input_shape)) {
    return std::nullopt;
  }
  const ModuleNode* output = BlockOutput(leaves, i);
  const auto min_units =
      std::max<std::size_t>(2, t.Count("architecture.redundant_layers.min_units"));
  const std::vector<const model::LayerStat*> in_stats = StatsOf(run, input->info.name, window);
  const std::vector<const model::LayerStat*> out_stats = StatsOf(run, output->info.name, window);
  std::vector<double> correlations;
  for (std::size_t k = 0; k < std::min(in_stats.size(), out_stats.size()); ++k) {
    const std::vector<double> a = checks::ExtraArray(*in_stats[k], "unit_score");
    const std::vector<double> b = checks::ExtraArray(*out_stats[k], "unit_score");
    if (a.size() != b.size() || a.size() < min_units) return std::nullopt;
    const double c = Correlation(a, b);
    if (!std::isfinite(c)) return std::nullopt;
    correlations.push_back(c);
  }
  if (correlations.size() < min_samples) return std::nullopt;
  const double c = *std::min_element(correlations.begin(), correlations.end());
  if (c < t.Get("architecture.redundant_layers.unit_correlation")) return std::nullopt;
  return Redundancy{"correlation of per-unit activation profiles (extra.unit_score) of " +
                        input->info.name + " and " + output->info.name + ", least of the samples",
                    c, correlations.size()};
}

void CheckRedundant(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const std::vector<const ModuleNode*> leaves = checks::Leaves(run);
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const ModuleNode* block = leaves[i];
    const Kind kind = KindOf(block->info.type);
    const bool compute = kind == Kind::kConv || kind == Kind::kLinear || kind == Kind::kAttention;
    const std::vector<std::int64_t> in = ShapeOf(block->info.input_shape);
    // Only a shape-preserving block can be removed without changing its neighbours.
    if (!compute || in.empty() || in != ShapeOf(block->info.output_shape)) continue;
    const auto evidence = RedundancyOf(run, t, leaves, i);
    if (!evidence) continue;
    const std::string& name = block->info.name;
    Finding f = ArchFinding("architecture.redundant_layers", Severity::kWarning, name);
    f.title = name + "'s output barely differs from its input";
    f.evidence = {
        {"basis", evidence->basis},
        {"value", evidence->value},
        {"samples", evidence->samples},
        {"shape", in},
        {"threshold_unit_correlation", t.Get("architecture.redundant_layers.unit_correlation")},
        {"threshold_angular_distance", t.Get("architecture.redundant_layers.angular_distance")}};
    f.why =
        "A block that maps its input to nearly the same output adds no representational power "
        "but costs its full forward and backward compute every step.";
    f.fix = "Remove " + name +
            " (and its activation) from the model, or replace it with "
            "`nn.Identity()` and check the validation metric is unchanged.";
    const ModuleNode* out = BlockOutput(leaves, i);
    double share = ComputeShare(run, name).value_or(0.0);
    if (out != block) share += ComputeShare(run, out->info.name).value_or(0.0);
    f.energy_at_stake = checks::ShareOfEnergy(run, share, "the redundant block " + name);
    sink.Add(std::move(f));
  }
}

// ----- architecture.collapsible_linear -----

// Whether the model writes its non-linearities as modules (so a custom forward with no module
// between two Linear layers most likely applies none).
bool HasActivationModules(const RunTelemetry& run) {
  return std::any_of(run.modules.begin(), run.modules.end(),
                     [](const ModuleNode& m) { return checks::IsActivation(m.info.type); });
}

// Pairs of Linear layers with no non-linearity between them, and how that is known: adjacent in
// an nn.Sequential (certain), or adjacent leaves of one custom module whose shapes chain, in a
// model that registers its activations as modules elsewhere (a custom forward could still apply
// F.relu between them, which no module record shows; PyTorch's transformer layers do exactly
// that and are left out).
std::vector<std::tuple<const ModuleNode*, const ModuleNode*, std::string>> LinearPairs(
    const RunTelemetry& run) {
  std::vector<std::tuple<const ModuleNode*, const ModuleNode*, std::string>> out;
  for (const auto& [first, second] : SequentialPairs(run)) {
    if (first->info.type == "Linear" && second->info.type == "Linear") {
      out.emplace_back(first, second, "adjacent in an nn.Sequential");
    }
  }
  if (!HasActivationModules(run)) return out;
  const std::vector<const ModuleNode*> leaves = checks::Leaves(run);
  for (std::size_t i = 0; i + 1 < leaves.size(); ++i) {
    const ModuleNode* a = leaves[i];
    const ModuleNode* b = leaves[i + 1];
    if (a->info.type != "Linear" || b->info.type != "Linear" || a->info.parent != b->info.parent) {
      continue;
    }
    const ModuleNode* parent = checks::ParentOf(run, *a);
    if (parent == nullptr || parent->info.type == "Sequential" ||
        KindOf(parent->info.type) == Kind::kAttention) {
      continue;
    }
    const std::vector<std::int64_t> out_a = ShapeOf(a->info.output_shape);
    if (out_a.empty() || out_a != ShapeOf(b->info.input_shape)) continue;
    out.emplace_back(a, b,
                     "consecutive in registration order, shapes chain, and the model's other "
                     "non-linearities are modules");
  }
  return out;
}

void CheckCollapsibleLinear(const RunTelemetry& run, const Thresholds& /*t*/, FindingSink& sink) {
  for (const auto& [first, second, basis] : LinearPairs(run)) {
    const std::int64_t in = LastDim(first->info.input_shape);
    const std::int64_t hidden = LastDim(first->info.output_shape);
    const std::int64_t out = LastDim(second->info.output_shape);
    // A hidden width below both ends is a low-rank factorisation: fewer FLOPs than the merged
    // map, so a deliberate choice, not waste.
    if (in <= 0 || hidden <= 0 || out <= 0 || hidden < std::min(in, out)) continue;
    const auto pair = static_cast<double>(in * hidden + hidden * out);
    const double saving = 1.0 - static_cast<double>(in * out) / pair;
    Finding f =
        ArchFinding("architecture.collapsible_linear", Severity::kWarning, second->info.name);
    f.title = first->info.name + " and " + second->info.name +
              " are two linear maps with no non-linearity between them";
    f.evidence = {
        {"first", first->info.name},      {"second", second->info.name}, {"in_features", in},
        {"hidden_features", hidden},      {"out_features", out},         {"basis", basis},
        {"flop_saving_if_merged", saving}};
    f.why =
        "Two Linear layers in a row compose to a single linear map W2 W1: the pair has the "
        "expressive power of one layer but costs the parameters and FLOPs of two.";
    f.fix = "Put a non-linearity between them (`nn.ReLU()` after " + first->info.name +
            ") if the depth is meant, or merge them into one `nn.Linear(" + Str(in) + ", " +
            Str(out) + ")`.";
    const double share = ComputeShare(run, first->info.name).value_or(0.0) +
                         ComputeShare(run, second->info.name).value_or(0.0);
    f.energy_at_stake = checks::ShareOfEnergy(
        run, share * saving,
        "merging " + first->info.name + " and " + second->info.name + " into one layer");
    sink.Add(std::move(f));
  }
}

// ----- architecture.large_kernel -----

// The kernel area (k_h x k_w) of a 2D convolution from its parameter count: groups 1 with or
// without a bias, else depthwise. nullopt when no reading divides exactly.
std::optional<std::int64_t> KernelArea(const ModuleNode& conv) {
  const auto cin = Channels(conv.info.input_shape);
  const auto cout = Channels(conv.info.output_shape);
  const std::int64_t p = conv.info.params;
  if (!cin || !cout || p <= 0) return std::nullopt;
  for (const std::int64_t per_out : {*cin, std::int64_t{1}}) {  // groups = 1, then depthwise
    for (const std::int64_t bias : {*cout, std::int64_t{0}}) {
      const std::int64_t weights = p - bias;
      const std::int64_t unit = per_out * *cout;
      if (weights > 0 && weights % unit == 0) return weights / unit;
    }
  }
  return std::nullopt;
}

void CheckLargeKernel(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double area_min = t.Get("architecture.large_kernel.kernel_area");
  const double share_min = t.Get("architecture.large_kernel.min_compute_share");
  const double warning_share = t.Get("architecture.large_kernel.warning_compute_share");
  for (const ModuleNode* conv : LeavesOf(run, Kind::kConv)) {
    if (conv->info.type != "Conv2d" || Spatial(conv->info.input_shape).size() != 2) continue;
    const auto area = KernelArea(*conv);
    const auto share = ComputeShare(run, conv->info.name);
    if (!area || !share || static_cast<double>(*area) < area_min || *share < share_min) continue;
    // Stacked 3x3 convolutions with the same receptive field: (k - 1) / 2 of them.
    const double k = std::sqrt(static_cast<double>(*area));
    const double stacked = std::ceil((k - 1.0) / 2.0);
    const double saving = std::max(0.0, 1.0 - 9.0 * stacked / static_cast<double>(*area));
    const std::string& name = conv->info.name;
    const Severity severity = *share >= warning_share ? Severity::kWarning : Severity::kInfo;
    Finding f = ArchFinding("architecture.large_kernel", severity, name);
    f.title =
        name + " uses a " + Str(*area) + "-element kernel for " + Pct(*share) + " of the compute";
    f.evidence = {{"kernel_area", *area},
                  {"compute_share", *share},
                  {"stacked_3x3_equivalent", stacked},
                  {"flop_saving_if_stacked", saving},
                  {"threshold_kernel_area", area_min},
                  {"threshold_min_compute_share", share_min}};
    f.why =
        "A convolution's cost grows with the kernel area; a stack of 3x3 convolutions covers "
        "the same receptive field with fewer FLOPs and parameters and adds non-linearities "
        "(VGG, Simonyan & Zisserman 2015).";
    f.fix = "Replace " + name + " with " + Str(static_cast<std::int64_t>(stacked)) +
            " stacked `nn.Conv2d(..., kernel_size=3, padding=1)` layers (with `nn.ReLU()` "
            "between), or downsample before it.";
    f.energy_at_stake =
        checks::ShareOfEnergy(run, *share * saving, "stacking 3x3 kernels in " + name);
    sink.Add(std::move(f));
  }
}

// ----- architecture.early_channel_explosion -----

void CheckEarlyChannelExplosion(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double factor = t.Get("architecture.early_channel_explosion.factor");
  const double min_channels = t.Get("architecture.early_channel_explosion.min_channels");
  const std::vector<const ModuleNode*> convs = LeavesOf(run, Kind::kConv);
  if (convs.size() < 2) return;
  const auto first = Channels(convs.front()->info.output_shape);
  std::int64_t later = 0;
  for (std::size_t i = 1; i < convs.size(); ++i) {
    later = std::max(later, Channels(convs[i]->info.output_shape).value_or(0));
  }
  if (!first || later <= 0) return;
  const auto c0 = static_cast<double>(*first);
  if (c0 < min_channels || c0 < factor * static_cast<double>(later)) return;
  const std::string& name = convs.front()->info.name;
  Finding f = ArchFinding("architecture.early_channel_explosion", Severity::kWarning, name);
  f.title = name + " expands to " + Str(*first) + " channels, " +
            Fmt(c0 / static_cast<double>(later)) + "x any later convolution";
  f.evidence = {{"first_conv_channels", *first},
                {"max_later_channels", later},
                {"input_channels", Channels(convs.front()->info.input_shape).value_or(0)},
                {"first_conv_compute_share", ComputeShare(run, name).value_or(0.0)},
                {"threshold_factor", factor},
                {"threshold_min_channels", min_channels}};
  f.why =
      "The widest layer sits at the highest resolution, where every channel costs the most "
      "FLOPs and activation memory; the usual design (narrow early, wider as resolution falls) "
      "gets the same accuracy for a fraction of the compute.";
  f.fix = "Start " + name + " narrow (e.g. " + Str(std::max<std::int64_t>(later / 4, 8)) +
          " channels) and widen the later convolutions as the resolution falls (double the "
          "channels at each `nn.MaxPool2d(2)`).";
  sink.Add(std::move(f));
}

// ----- architecture.conv_bottleneck -----

void CheckConvBottleneck(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double factor = t.Get("architecture.conv_bottleneck.factor");
  const std::vector<const ModuleNode*> convs = LeavesOf(run, Kind::kConv);
  for (std::size_t i = 1; i + 1 < convs.size(); ++i) {
    const auto before = Channels(convs[i - 1]->info.output_shape);
    const auto here = Channels(convs[i]->info.output_shape);
    const auto after = Channels(convs[i + 1]->info.output_shape);
    if (!before || !here || !after) continue;
    const auto narrow = static_cast<double>(*here);
    if (narrow * factor > static_cast<double>(std::min(*before, *after))) continue;
    const std::string& name = convs[i]->info.name;
    Finding f = ArchFinding("architecture.conv_bottleneck", Severity::kWarning, name);
    f.title = name + " squeezes " + Str(*before) + " channels to " + Str(*here) + " before " +
              Str(*after);
    f.evidence = {{"channels_before", *before},
                  {"channels", *here},
                  {"channels_after", *after},
                  {"squeeze", static_cast<double>(std::min(*before, *after)) / narrow},
                  {"threshold_factor", factor}};
    f.why =
        "Every feature the later layers use must pass through this narrow layer; squeezing "
        "the channels far below both neighbours discards information, so the wide layers "
        "around it pay full compute for features they cannot get back.";
    f.fix = "Widen " + name + " to at least " +
            Str(static_cast<std::int64_t>(std::min(*before, *after) / 4)) +
            " channels (a 4x squeeze as in ResNet bottlenecks at most), or remove the squeeze.";
    sink.Add(std::move(f));
  }
}

// ----- architecture.compute_hotspot -----

void CheckComputeHotspot(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double share_min = t.Get("architecture.compute_hotspot.share");
  const double layers_min = t.Get("architecture.compute_hotspot.min_layers");
  std::vector<const ModuleNode*> compute;
  for (const ModuleNode* leaf : checks::Leaves(run)) {
    const Kind kind = KindOf(leaf->info.type);
    if (kind == Kind::kConv || kind == Kind::kLinear || kind == Kind::kAttention ||
        kind == Kind::kRecurrent) {
      compute.push_back(leaf);
    }
  }
  if (static_cast<double>(compute.size()) < layers_min) return;
  const ModuleNode* top = nullptr;
  double top_share = 0;
  for (const ModuleNode* c : compute) {
    const double share = ComputeShare(run, c->info.name).value_or(0.0);
    if (share > top_share) {
      top = c;
      top_share = share;
    }
  }
  if (top == nullptr || top_share < share_min) return;
  const std::string& name = top->info.name;
  Finding f = ArchFinding("architecture.compute_hotspot", Severity::kInfo, name);
  f.title = name + " does " + Pct(top_share) + " of the model's forward FLOPs";
  f.evidence = {{"compute_share", top_share},
                {"flops_per_sample", FlopsOf(*top).value_or(0.0)},
                {"type", top->info.type},
                {"compute_layers", compute.size()},
                {"threshold_share", share_min}};
  f.why =
      "One layer does most of the work, so it decides most of the run's energy: a change "
      "there saves more than any change elsewhere.";
  const Kind kind = KindOf(top->info.type);
  f.fix = kind == Kind::kConv ? "Reduce the resolution before " + name +
                                    " (`nn.MaxPool2d(2)` or `stride=2`), "
                                    "use fewer channels, or a depthwise-separable convolution."
                              : "Shrink " + name +
                                    "'s input (pool or project it first) or its width; check "
                                    "whether a smaller layer reaches the same validation metric.";
  f.energy_at_stake = checks::ShareOfEnergy(run, top_share, name + "'s share");
  sink.Add(std::move(f));
}

// ----- architecture.excess_dropout -----

// A dropout probability the run logged as a hyperparameter, if any.
std::optional<std::pair<std::string, double>> DropoutHyperparameter(const RunTelemetry& run) {
  if (!run.hyperparameters.is_object()) return std::nullopt;
  for (const auto& [key, value] : run.hyperparameters.items()) {
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool named = lower == "dropout" || lower == "dropout_p" || lower == "dropout_rate" ||
                       lower == "dropout_prob" || lower == "p_dropout" || lower == "drop_rate" ||
                       lower == "drop_prob";
    if (!named || !value.is_number()) continue;
    const double p = value.get<double>();
    if (p > 0 && p < 1) return std::make_pair(key, p);
  }
  return std::nullopt;
}

void CheckExcessDropout(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double p_max = t.Get("architecture.excess_dropout.p");
  const std::vector<const ModuleNode*> dropouts = LeavesOf(run, Kind::kDropout);
  if (dropouts.empty()) return;
  // Two dropout modules in a row of an nn.Sequential: the rates compound.
  for (const ModuleNode& m : run.modules) {
    if (m.info.type != "Sequential") continue;
    for (std::size_t k = 0; k + 1 < m.children.size(); ++k) {
      const ModuleNode& a = run.modules[m.children[k]];
      const ModuleNode& b = run.modules[m.children[k + 1]];
      if (KindOf(a.info.type) != Kind::kDropout || KindOf(b.info.type) != Kind::kDropout) continue;
      Finding f = ArchFinding("architecture.excess_dropout", Severity::kWarning, b.info.name);
      f.title = a.info.name + " and " + b.info.name + " are two dropout layers in a row";
      f.evidence = {{"first", a.info.name}, {"second", b.info.name}, {"rule", "stacked dropout"}};
      f.why =
          "Stacked dropout multiplies the keep probabilities: far more of the signal is "
          "dropped than either rate says, so training needs many more epochs (and joules) to "
          "converge, often to a worse result.";
      f.fix = "Remove " + b.info.name + " and set the rate you want on " + a.info.name + ".";
      sink.Add(std::move(f));
    }
  }
  const auto logged = DropoutHyperparameter(run);
  if (!logged || !(logged->second > p_max)) return;
  Finding f = ArchFinding("architecture.excess_dropout", Severity::kWarning, std::nullopt);
  f.title = "dropout rate " + Fmt(logged->second) + " on " +
            Str(static_cast<std::int64_t>(dropouts.size())) + " dropout layers";
  Json names = Json::array();
  for (const ModuleNode* d : dropouts) names.push_back(d->info.name);
  f.evidence = {{"hyperparameter", logged->first},
                {"p", logged->second},
                {"dropout_layers", names},
                {"rule", "logged rate"},
                {"threshold_p", p_max}};
  f.why =
      "Dropping more than half the units slows convergence sharply (Srivastava et al. 2014 "
      "use p = 0.5 for hidden layers at most, 0.1-0.2 for inputs): the run needs more epochs, "
      "and more energy, for the same accuracy, and underfits when the model is small.";
  f.fix =
      "Lower the dropout rate to 0.1-0.5 (e.g. `nn.Dropout(p=0.2)`), or drop it where "
      "batch normalisation already regularises.";
  sink.Add(std::move(f));
}

// ----- architecture.double_softmax -----

// Whether the run's loss is cross-entropy: the Observer's `loss_fn` config (null means its
// default, cross-entropy, in `step()`), else unknown.
std::optional<bool> LossIsCrossEntropy(const RunTelemetry& run) {
  if (!run.config.is_object()) return std::nullopt;
  const auto observer = run.config.find("observer");
  if (observer == run.config.end() || !observer->is_object()) return std::nullopt;
  const auto loss = observer->find("loss_fn");
  if (loss == observer->end()) return std::nullopt;
  if (loss->is_null()) return true;
  if (!loss->is_string()) return std::nullopt;
  std::string lower = loss->get<std::string>();
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("cross_entropy") != std::string::npos ||
         lower.find("crossentropy") != std::string::npos;
}

void CheckDoubleSoftmax(const RunTelemetry& run, const Thresholds& /*t*/, FindingSink& sink) {
  const ModuleNode* last = nullptr;
  for (const ModuleNode* leaf : checks::Leaves(run)) {
    if (leaf->info.output_shape.is_null()) continue;  // did not run in the first forward
    const Kind kind = KindOf(leaf->info.type);
    if (kind != Kind::kDropout && kind != Kind::kPassThrough) last = leaf;
  }
  if (last == nullptr || KindOf(last->info.type) != Kind::kSoftmax) return;
  const std::vector<std::int64_t> model_out = checks::ModelOutputShape(run);
  if (!model_out.empty() && ShapeOf(last->info.output_shape) != model_out) return;
  const auto cross_entropy = LossIsCrossEntropy(run);
  if (!cross_entropy || !*cross_entropy) return;
  Finding f = ArchFinding("architecture.double_softmax", Severity::kWarning, last->info.name);
  f.title = "the model ends in " + last->info.name + " (Softmax) and the loss is cross-entropy";
  const auto& loss = run.config["observer"]["loss_fn"];
  f.evidence = {{"last_module", last->info.name},
                {"type", last->info.type},
                {"loss_fn", loss.is_null() ? Json("default (cross-entropy)") : loss}};
  f.why =
      "`nn.CrossEntropyLoss` applies log-softmax itself; a Softmax before it squashes the "
      "logits into [0, 1], so the loss can barely fall and its gradients shrink: training is "
      "slow or stalls, wasting the epochs' energy.";
  f.fix = "Remove " + last->info.name +
          " from the model and feed the raw logits to "
          "`nn.CrossEntropyLoss`; apply `torch.softmax` only at inference, for probabilities.";
  sink.Add(std::move(f));
}

constexpr CheckInfo kArchitectureChecks[] = {
    {"architecture.overparameterized_layer", Category::kArchitecture, &CheckOverparameterized,
     "a layer's share of parameters over its share of compute > 10"},
    {"architecture.fc_dominance", Category::kArchitecture, &CheckFcDominance,
     "fully connected layers hold most of a CNN's parameters"},
    {"architecture.missing_downsampling", Category::kArchitecture, &CheckMissingDownsampling,
     "convolutions that all run at the input resolution (no pooling or stride)"},
    {"architecture.redundant_layers", Category::kArchitecture, &CheckRedundant,
     "a shape-preserving block whose output barely differs from its input"},
    {"architecture.collapsible_linear", Category::kArchitecture, &CheckCollapsibleLinear,
     "Linear followed by Linear with no non-linearity between"},
    {"architecture.large_kernel", Category::kArchitecture, &CheckLargeKernel,
     "a 7x7-or-larger convolution with a real share of the compute"},
    {"architecture.early_channel_explosion", Category::kArchitecture, &CheckEarlyChannelExplosion,
     "the first convolution is far wider than any later one"},
    {"architecture.conv_bottleneck", Category::kArchitecture, &CheckConvBottleneck,
     "a convolution far narrower than both its neighbours"},
    {"architecture.compute_hotspot", Category::kArchitecture, &CheckComputeHotspot,
     "one layer does most of the forward FLOPs"},
    {"architecture.excess_dropout", Category::kArchitecture, &CheckExcessDropout,
     "dropout rate above 0.5, or dropout layers stacked"},
    {"architecture.double_softmax", Category::kArchitecture, &CheckDoubleSoftmax,
     "a Softmax as the last layer while the loss is cross-entropy"},
};

}  // namespace

std::span<const CheckInfo> ArchitectureChecks() { return kArchitectureChecks; }

}  // namespace atlas::diagnostics
