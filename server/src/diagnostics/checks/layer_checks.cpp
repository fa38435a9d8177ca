// The layer checks (docs/diagnostics.md, "Layer checks"): dead and dormant units, saturation,
// parameters that never move, update ratios, collapsed weights, non-finite values and the
// initialisation, each read from the run's layer_stats samples.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "diagnostics/check.hpp"
#include "diagnostics/checks/model_view.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

using checks::EpochsOf;
using checks::ExtraArray;
using checks::ExtraNumber;
using checks::FiniteValues;
using checks::kGradNorm;
using checks::LayerHistory;
using checks::LayerSample;
using checks::StatIndex;
using checks::StatOf;

constexpr std::size_t kActivationMean = StatIndex("activation_mean");
constexpr std::size_t kActivationStd = StatIndex("activation_std");
constexpr std::size_t kActivationAbsMean = StatIndex("activation_abs_mean");
constexpr std::size_t kDeadFraction = StatIndex("dead_fraction");
constexpr std::size_t kSaturatedFraction = StatIndex("saturated_fraction");
constexpr std::size_t kWeightAbsMean = StatIndex("weight_abs_mean");
constexpr std::size_t kWeightSparsity = StatIndex("weight_sparsity");
constexpr std::size_t kWeightNorm = StatIndex("weight_norm");
constexpr std::size_t kUpdateRatio = StatIndex("update_ratio");
constexpr std::size_t kNonfiniteActivations = StatIndex("nonfinite_activations");
constexpr std::size_t kNonfiniteWeights = StatIndex("nonfinite_weights");

double Mean(const std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// The parts joined, in one allocation.
std::string Concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

Finding LayerFinding(std::string_view check, Severity severity, const std::string& layer,
                     std::span<const LayerSample> samples) {
  Finding f;
  f.check = std::string(check);
  f.category = Category::kLayer;
  f.severity = severity;
  f.layer = layer;
  f.epochs = EpochsOf(samples);
  return f;
}

// Whether the layer's output is never negative in any sample (activation_mean equals
// activation_abs_mean): the stand-in for a ReLU-family type when no module tree was sent.
bool NonNegativeOutput(std::span<const LayerSample> samples) {
  bool any = false;
  for (const LayerSample& s : samples) {
    const auto mean = StatOf(*s.stat, kActivationMean);
    const auto abs_mean = StatOf(*s.stat, kActivationAbsMean);
    if (!mean || !abs_mean || !std::isfinite(*mean) || !std::isfinite(*abs_mean)) continue;
    if (std::abs(*abs_mean - *mean) > 1e-9 * std::max(1.0, std::abs(*abs_mean))) return false;
    any = true;
  }
  return any;
}

// The compute whose outputs a fraction of an activation layer's units waste: the Conv or
// Linear before it (the activation's own FLOPs are negligible).
std::optional<EnergyAtStake> WastedProducerEnergy(const RunTelemetry& run, const std::string& layer,
                                                  double fraction) {
  const ModuleNode* producer = checks::PrecedingCompute(run, layer);
  const std::string name = producer != nullptr ? producer->info.name : layer;
  const auto share = checks::ComputeShare(run, name);
  if (!share) return std::nullopt;
  return checks::ShareOfEnergy(
      run, *share * fraction,
      Pct(fraction) + " of the units of " + name + ", " + Pct(*share) + " of the model's FLOPs");
}

std::string ProducerName(const RunTelemetry& run, const std::string& layer) {
  const ModuleNode* producer = checks::PrecedingCompute(run, layer);
  return producer != nullptr ? producer->info.name : "the layer before " + layer;
}

// ----- layer.dead -----

// The share of the layer's units active on fewer than `active_below` of the inputs seen over
// `samples`, from extra.unit_active_frac; nullopt when the arrays are missing or disagree.
std::optional<std::pair<double, std::size_t>> DeadFromUnits(std::span<const LayerSample> samples,
                                                            double active_below) {
  std::vector<double> activity;
  for (const LayerSample& s : samples) {
    const std::vector<double> units = ExtraArray(*s.stat, "unit_active_frac");
    if (units.empty()) return std::nullopt;
    if (activity.empty()) activity.assign(units.size(), 0.0);
    if (units.size() != activity.size()) return std::nullopt;
    for (std::size_t u = 0; u < units.size(); ++u) activity[u] += units[u];
  }
  if (activity.empty()) return std::nullopt;
  std::size_t dead = 0;
  for (double a : activity) {
    if (a / static_cast<double>(samples.size()) < active_below) ++dead;
  }
  return std::make_pair(static_cast<double>(dead) / static_cast<double>(activity.size()),
                        activity.size());
}

// Whether layer.dead, layer.dormant_units and layer.saturated judge this layer: an activation
// module (of the family the check names), or, without a module tree, a layer whose figures
// say so. The output layer is left out: its values are the model's answer, not features.
bool IsReluLayer(const RunTelemetry& run, const LayerHistory& h) {
  if (const ModuleNode* m = run.FindModule(h.layer)) return checks::IsReluFamily(m->info.type);
  return run.modules.empty() && NonNegativeOutput(h.samples);
}

void CheckDead(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double active_below = t.Get("layer.dead.unit_active_fraction");
  const double layer_fraction = t.Get("layer.dead.layer_fraction");
  const double critical_fraction = t.Get("layer.dead.critical_fraction");
  const std::size_t min_samples = std::max<std::size_t>(1, t.Count("layer.dead.min_samples"));
  for (const LayerHistory& h : checks::LayerHistories(run)) {
    if (!IsReluLayer(run, h) || checks::IsOutputLayer(run, h.layer)) continue;
    const auto samples = h.Last(t.Count("layer.dead.window"));
    if (samples.size() < min_samples) continue;
    std::optional<double> dead;
    std::size_t units_seen = 0;
    std::string basis;
    if (auto from_units = DeadFromUnits(samples, active_below)) {
      dead = from_units->first;
      units_seen = from_units->second;
      basis = "extra.unit_active_frac averaged over the samples";
    } else if (auto fractions = FiniteValues(samples, kDeadFraction);
               fractions.size() == samples.size()) {
      // A unit dead over the window is dead in every sample: the least dead sample bounds it.
      dead = *std::min_element(fractions.begin(), fractions.end());
      basis = "dead_fraction, least of the samples (no per-unit arrays)";
    }
    if (!dead || !(*dead > layer_fraction)) continue;
    const Severity severity = *dead >= critical_fraction ? Severity::kCritical : Severity::kWarning;
    Finding f = LayerFinding("layer.dead", severity, h.layer, samples);
    f.title = h.layer + ": " + Pct(*dead) + " of units are dead";
    f.evidence = {{"dead_unit_fraction", *dead},
                  {"samples", samples.size()},
                  {"first_step", samples.front().step},
                  {"last_step", samples.back().step},
                  {"basis", basis},
                  {"threshold_unit_active_fraction", active_below},
                  {"threshold_layer_fraction", layer_fraction},
                  {"threshold_critical_fraction", critical_fraction}};
    if (units_seen > 0) f.evidence["units_observed"] = units_seen;
    if (auto units = ExtraNumber(*samples.back().stat, "units")) f.evidence["units"] = *units;
    const std::string producer = ProducerName(run, h.layer);
    f.why =
        "A dead ReLU unit outputs 0 for every input, so it passes no gradient and never "
        "recovers: the FLOPs that compute it in every forward and backward pass buy nothing, and "
        "the layer has less capacity than you pay for.";
    f.fix =
        Concat({"Lower the learning rate; initialise ", producer, " with `nn.init.kaiming_normal_(",
                producer, ".weight, nonlinearity=\"relu\")`; add a `nn.BatchNorm` before ", h.layer,
                ", or replace ", h.layer, " with `nn.LeakyReLU(0.01)`."});
    f.energy_at_stake = WastedProducerEnergy(run, h.layer, *dead);
    sink.Add(std::move(f));
  }
}

// ----- layer.dormant_units -----

// A sample's dormant fraction: extra.dormant_fraction, else from extra.unit_score.
std::optional<double> DormantFraction(const model::LayerStat& s) {
  if (auto d = ExtraNumber(s, "dormant_fraction")) return d;
  const std::vector<double> scores = ExtraArray(s, "unit_score");
  if (scores.empty()) return std::nullopt;
  const double tau = ExtraNumber(s, "dormant_threshold").value_or(0.1);
  const auto dormant =
      std::count_if(scores.begin(), scores.end(), [tau](double x) { return x <= tau; });
  return static_cast<double>(dormant) / static_cast<double>(scores.size());
}

bool IsActivationLayer(const RunTelemetry& run, const LayerHistory& h) {
  if (const ModuleNode* m = run.FindModule(h.layer)) return checks::IsActivation(m->info.type);
  return run.modules.empty() && NonNegativeOutput(h.samples);
}

void CheckDormant(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double info_fraction = t.Get("layer.dormant_units.fraction");
  const double warning_fraction = t.Get("layer.dormant_units.warning_fraction");
  const std::size_t min_samples =
      std::max<std::size_t>(1, t.Count("layer.dormant_units.min_samples"));
  for (const LayerHistory& h : checks::LayerHistories(run)) {
    if (!IsActivationLayer(run, h) || checks::IsOutputLayer(run, h.layer)) continue;
    const auto samples = h.Last(t.Count("layer.dormant_units.window"));
    if (samples.size() < min_samples) continue;
    // Dead units are dormant too (score 0) and layer.dead reports them: this check counts the
    // units that still fire but contribute almost nothing.
    std::vector<double> dormant_only;
    std::optional<double> tau;
    for (const LayerSample& s : samples) {
      const auto dormant = DormantFraction(*s.stat);
      if (!dormant) break;
      const double dead = StatOf(*s.stat, kDeadFraction).value_or(0.0);
      dormant_only.push_back(std::max(0.0, *dormant - (std::isfinite(dead) ? dead : 0.0)));
      tau = ExtraNumber(*s.stat, "dormant_threshold");
    }
    if (dormant_only.size() != samples.size()) continue;
    const double fraction = Mean(dormant_only);
    if (!(fraction >= info_fraction)) continue;
    const Severity severity = fraction >= warning_fraction ? Severity::kWarning : Severity::kInfo;
    Finding f = LayerFinding("layer.dormant_units", severity, h.layer, samples);
    f.title = h.layer + ": " + Pct(fraction) + " of units are dormant";
    f.evidence = {{"dormant_not_dead_fraction", fraction},
                  {"samples", samples.size()},
                  {"threshold_fraction", info_fraction},
                  {"threshold_warning_fraction", warning_fraction}};
    if (tau) f.evidence["dormant_threshold_tau"] = *tau;
    f.why =
        "A dormant unit (ReDo score <= tau: its mean |activation| is a small fraction of the "
        "layer's average) still costs its full share of every forward and backward pass but "
        "barely influences the output; a growing share of them means the network is losing "
        "capacity it pays for in energy.";
    f.fix = "Recycle the dormant units of " + h.layer +
            " (ReDo: re-initialise their incoming weights in " + ProducerName(run, h.layer) +
            " and zero their outgoing weights), lower the learning rate, or narrow the layer "
            "to the units it uses.";
    f.energy_at_stake = WastedProducerEnergy(run, h.layer, fraction);
    sink.Add(std::move(f));
  }
}

// ----- layer.saturated -----

bool IsSaturatingLayer(const RunTelemetry& run, const LayerHistory& h) {
  if (const ModuleNode* m = run.FindModule(h.layer)) return checks::IsSaturating(m->info.type);
  // The observer sends saturated_fraction for Tanh and Sigmoid only.
  return run.modules.empty();
}

void CheckSaturated(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double threshold = t.Get("layer.saturated.fraction");
  const double critical = t.Get("layer.saturated.critical_fraction");
  const std::size_t min_samples = std::max<std::size_t>(1, t.Count("layer.saturated.min_samples"));
  for (const LayerHistory& h : checks::LayerHistories(run)) {
    if (!IsSaturatingLayer(run, h) || checks::IsOutputLayer(run, h.layer)) continue;
    const auto samples = h.Last(t.Count("layer.saturated.window"));
    const std::vector<double> values = FiniteValues(samples, kSaturatedFraction);
    if (values.size() < min_samples) continue;
    const double fraction = Mean(values);
    if (!(fraction > threshold)) continue;
    const Severity severity = fraction >= critical ? Severity::kCritical : Severity::kWarning;
    Finding f = LayerFinding("layer.saturated", severity, h.layer, samples);
    f.title = h.layer + ": " + Pct(fraction) + " of outputs are saturated";
    const ModuleNode* m = run.FindModule(h.layer);
    f.evidence = {{"saturated_fraction", fraction},
                  {"samples", values.size()},
                  {"threshold_fraction", threshold},
                  {"threshold_critical_fraction", critical},
                  {"definition", "Tanh |a| > 0.99; Sigmoid a < 0.01 or a > 0.99"}};
    if (m != nullptr) f.evidence["type"] = m->info.type;
    f.why =
        "A saturated tanh or sigmoid has a derivative near 0, so almost no gradient reaches "
        "the layers below it: training slows or stalls while every step still costs full "
        "compute.";
    const std::string producer = ProducerName(run, h.layer);
    f.fix = Concat(
        {"Normalise the input of ", h.layer, " (add `nn.BatchNorm1d`/`nn.LayerNorm` after ",
         producer, "), initialise ", producer, " with `nn.init.xavier_uniform_`, ",
         "lower the learning rate, or use `nn.ReLU()`/`nn.GELU()` in place of ", h.layer, "."});
    f.energy_at_stake = WastedProducerEnergy(run, h.layer, fraction);
    sink.Add(std::move(f));
  }
}

// ----- layer.not_updating -----

// For each sample (by step) whether any layer's weights moved: the optimizer stepped.
std::vector<std::int64_t> StepsWithUpdates(const RunTelemetry& run) {
  std::vector<std::int64_t> steps;
  for (const model::LayerStatsRecord& r : run.layer_samples) {
    for (const model::LayerStat& s : r.layers) {
      const auto u = StatOf(s, kUpdateRatio);
      if (u && std::isfinite(*u) && *u > 0) {
        steps.push_back(r.step);
        break;
      }
    }
  }
  return steps;
}

void CheckNotUpdating(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const std::size_t min_samples =
      std::max<std::size_t>(1, t.Count("layer.not_updating.min_samples"));
  const double min_grad_to_weight = t.Get("layer.not_updating.min_grad_to_weight");
  const std::vector<std::int64_t> stepped = StepsWithUpdates(run);
  for (const LayerHistory& h : checks::LayerHistories(run)) {
    // Samples where this layer had a gradient and the optimizer moved some other layer.
    std::vector<LayerSample> judged;
    bool moved = false;
    for (const LayerSample& s : h.samples) {
      const auto grad = StatOf(*s.stat, kGradNorm);
      const auto update = StatOf(*s.stat, kUpdateRatio);
      if (!grad || !update || !std::isfinite(*grad) || !(*grad > 0) || !std::isfinite(*update)) {
        continue;
      }
      if (!std::binary_search(stepped.begin(), stepped.end(), s.step)) continue;
      // A gradient this small next to the weights rounds away in float32 at any usual learning
      // rate: the weights stand still because the gradient vanished (gradient.vanishing), not
      // because the optimizer skips the layer.
      const auto weight = StatOf(*s.stat, kWeightNorm);
      if (weight && std::isfinite(*weight) && *weight > 0 && *grad / *weight < min_grad_to_weight) {
        continue;
      }
      if (*update != 0) moved = true;
      judged.push_back(s);
    }
    if (moved || judged.size() < min_samples) continue;
    Finding f = LayerFinding("layer.not_updating", Severity::kCritical, h.layer, judged);
    f.title = h.layer + ": gets gradients but its weights never change";
    f.evidence = {{"samples", judged.size()},
                  {"update_ratio", 0.0},
                  {"first_step", judged.front().step},
                  {"last_step", judged.back().step},
                  {"last_grad_norm", *StatOf(*judged.back().stat, kGradNorm)},
                  {"threshold_min_samples", min_samples}};
    f.why =
        "The backward pass computes gradients for these parameters and the optimizer never "
        "applies them, usually because they were not passed to the optimizer: the gradient "
        "compute is wasted and the layer keeps its random initial weights.";
    f.fix =
        "Give the optimizer every parameter, e.g. `torch.optim.Adam(model.parameters())` "
        "(check that " +
        h.layer +
        " is registered as a submodule, not kept in a plain "
        "list: use `nn.ModuleList`); or, if it is meant to stay fixed, call `" +
        h.layer + ".requires_grad_(False)` so no gradient is computed for it.";
    // The weight gradient of a layer costs about its forward FLOPs; a training step costs
    // about three forward passes.
    if (auto share = checks::ComputeShare(run, h.layer)) {
      f.energy_at_stake = checks::ShareOfEnergy(
          run, *share / 3.0, "the weight gradients of " + h.layer + ", a third of its share");
    }
    sink.Add(std::move(f));
  }
}

// ----- layer.update_ratio -----

void CheckUpdateRatio(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double low = t.Get("layer.update_ratio.low");
  const double high = t.Get("layer.update_ratio.high");
  const double critical_high = t.Get("layer.update_ratio.critical_high");
  const std::size_t min_samples =
      std::max<std::size_t>(1, t.Count("layer.update_ratio.min_samples"));
  for (const LayerHistory& h : checks::LayerHistories(run)) {
    const auto samples = h.Last(t.Count("layer.update_ratio.window"));
    std::vector<double> ratios;
    for (double r : FiniteValues(samples, kUpdateRatio)) {
      if (r > 0) ratios.push_back(r);  // 0 is layer.not_updating's case
    }
    if (ratios.size() < min_samples) continue;
    const double median = Median(ratios);
    const bool too_high = median > high;
    if (!too_high && !(median < low)) continue;
    const Severity severity = median > critical_high ? Severity::kCritical : Severity::kWarning;
    Finding f = LayerFinding("layer.update_ratio", severity, h.layer, samples);
    f.title =
        h.layer + ": update ratio " + Fmt(median) + (too_high ? " (too large)" : " (too small)");
    f.evidence = {{"median_update_ratio", median},
                  {"samples", ratios.size()},
                  {"threshold_low", low},
                  {"threshold_high", high},
                  {"threshold_critical_high", critical_high}};
    if (too_high) {
      f.why =
          "Each step changes the weights by more than a tenth of their size: the optimizer "
          "overshoots, the loss becomes noisy or diverges, and the epochs spent bouncing are "
          "wasted energy.";
      f.fix =
          "Lower the learning rate (try 10x lower) or add warm-up; clip gradients with "
          "`torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)`; for " +
          h.layer + " alone, give it its own parameter group with a smaller `lr`.";
    } else {
      f.why = "Each step changes the weights by less than 1e-5 of their size: " + h.layer +
              " barely learns while its forward and backward passes cost full compute, so the run "
              "needs many more epochs (and joules) than it should.";
      f.fix = "Raise the learning rate (or the learning rate of " + h.layer +
              "'s parameter group), check the schedule has not decayed it to ~0, and check the "
              "gradients reaching " +
              h.layer + " (gradient.vanishing).";
    }
    sink.Add(std::move(f));
  }
}

// ----- layer.near_zero_weights -----

void CheckNearZeroWeights(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double sparsity_threshold = t.Get("layer.near_zero_weights.sparsity");
  const double sparsity_warning = t.Get("layer.near_zero_weights.warning_sparsity");
  const double collapse = t.Get("layer.near_zero_weights.collapse_scale");
  for (const LayerHistory& h : checks::LayerHistories(run)) {
    // Normalisation layers start with zero biases by design: only Conv/Linear weights count.
    if (const ModuleNode* m = run.FindModule(h.layer)) {
      const checks::Kind kind = checks::KindOf(m->info.type);
      if (kind != checks::Kind::kConv && kind != checks::Kind::kLinear) continue;
    }
    const auto last = h.Last(1);
    if (last.empty()) continue;
    const model::LayerStat& s = *last.front().stat;
    const auto sparsity = StatOf(s, kWeightSparsity);
    const auto abs_mean = StatOf(s, kWeightAbsMean);
    // The weights' scale relative to the fan-in (PyTorch's default init gives about 0.5).
    std::optional<double> scale;
    if (const ModuleNode* m = run.FindModule(h.layer); m != nullptr && abs_mean) {
      if (auto fan_in = checks::FanIn(*m); fan_in && std::isfinite(*abs_mean)) {
        scale = *abs_mean * std::sqrt(*fan_in);
      }
    }
    const bool sparse = sparsity && std::isfinite(*sparsity) && *sparsity >= sparsity_threshold;
    const bool collapsed = scale && *scale < collapse;
    if (!sparse && !collapsed) continue;
    const Severity severity =
        collapsed || *sparsity >= sparsity_warning ? Severity::kWarning : Severity::kInfo;
    Finding f = LayerFinding("layer.near_zero_weights", severity, h.layer, last);
    f.title = sparse ? h.layer + ": " + Pct(*sparsity) + " of weights are ~0"
                     : h.layer + ": weights collapsed towards 0";
    f.evidence = {{"step", last.front().step},
                  {"threshold_sparsity", sparsity_threshold},
                  {"threshold_warning_sparsity", sparsity_warning},
                  {"threshold_collapse_scale", collapse}};
    if (sparsity) f.evidence["weight_sparsity"] = *sparsity;
    if (abs_mean) f.evidence["weight_abs_mean"] = *abs_mean;
    if (scale) f.evidence["scale_abs_mean_x_sqrt_fan_in"] = *scale;
    f.why =
        "Weights at ~0 are multiplied in full in every dense forward and backward pass: the "
        "compute and memory they take buy nothing, and a layer collapsing to 0 (too strong "
        "weight decay or L1) cuts the signal to the layers after it.";
    f.fix = sparse ? "Prune " + h.layer +
                         " for real (`torch.nn.utils.prune` then "
                         "`prune.remove`, or a narrower layer) so the zeros stop costing FLOPs; "
                         "if the sparsity is not intended, lower the weight decay / L1 penalty."
                   : "Lower the weight decay on " + h.layer +
                         " (e.g. `weight_decay=1e-4`, "
                         "and none on biases and norms) and check its gradients are not vanishing.";
    if (sparse) {
      if (auto share = checks::ComputeShare(run, h.layer)) {
        f.energy_at_stake =
            checks::ShareOfEnergy(run, *share * *sparsity, "the zero weights of " + h.layer);
      }
    }
    sink.Add(std::move(f));
  }
}

// ----- layer.nonfinite -----

double NonfiniteCount(const model::LayerStat& s) {
  double count = 0;
  for (std::size_t i : {kNonfiniteActivations, kNonfiniteWeights}) {
    const auto v = StatOf(s, i);
    if (v && std::isfinite(*v) && *v > 0) count += *v;
  }
  const auto norm = StatOf(s, kWeightNorm);
  if (count == 0 && norm && !std::isfinite(*norm)) count = 1;  // the norm alone says so
  return count;
}

void CheckNonfiniteLayerValues(const RunTelemetry& run, const Thresholds& /*t*/,
                               FindingSink& sink) {
  for (const model::LayerStatsRecord& r : run.layer_samples) {
    std::vector<std::string> affected;
    const model::LayerStat* origin = nullptr;
    for (const model::LayerStat& s : r.layers) {
      if (NonfiniteCount(s) > 0) {
        if (origin == nullptr) origin = &s;
        affected.push_back(s.layer);
      }
    }
    if (origin == nullptr) continue;
    // Every later sample with non-finite values: the epochs the problem covers.
    std::vector<LayerSample> covered;
    for (const model::LayerStatsRecord& later : run.layer_samples) {
      if (later.step < r.step) continue;
      for (const model::LayerStat& s : later.layers) {
        if (NonfiniteCount(s) > 0) {
          covered.push_back(LayerSample{later.step, later.epoch, &s});
          break;
        }
      }
    }
    Finding f = LayerFinding("layer.nonfinite", Severity::kCritical, origin->layer, covered);
    f.title = origin->layer + ": NaN/Inf values from step " + std::to_string(r.step);
    f.evidence = {{"step", r.step},
                  {"nonfinite_activations", StatOf(*origin, kNonfiniteActivations).value_or(0)},
                  {"nonfinite_weights", StatOf(*origin, kNonfiniteWeights).value_or(0)},
                  {"affected_layers", affected},
                  {"threshold", 0}};
    f.why =
        "Once a NaN or Inf enters the activations or weights it spreads to every later value: "
        "the loss is meaningless and every step after it burns energy for nothing.";
    f.fix =
        "Stop the run; lower the learning rate or add gradient clipping "
        "(`torch.nn.utils.clip_grad_norm_`), check the inputs for NaN, and run one step "
        "under `torch.autograd.set_detect_anomaly(True)` to find the operation in " +
        origin->layer + " that produced it (log of 0, division by 0, overflow in fp16).";
    sink.Add(std::move(f));
    return;  // the earliest sample names the origin; later ones only repeat it
  }
}

// ----- layer.poor_init -----

void CheckPoorInit(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  if (run.layer_samples.empty() || run.modules.empty()) return;
  const model::LayerStatsRecord& first = run.layer_samples.front();
  if (static_cast<double>(first.step) > t.Get("layer.poor_init.max_step")) return;
  const double growth = t.Get("layer.poor_init.std_growth");
  const double decay = t.Get("layer.poor_init.std_decay");
  const double scale_high = t.Get("layer.poor_init.scale_high");
  const double scale_low = t.Get("layer.poor_init.scale_low");
  const std::vector<LayerSample> at{LayerSample{first.step, first.epoch, nullptr}};

  // The activation std of each Conv/Linear output, in forward order (the output layer left
  // out: a zero-initialised head is a deliberate choice).
  std::vector<std::pair<const model::LayerStat*, double>> depth;
  for (const model::LayerStat& s : first.layers) {
    const ModuleNode* m = run.FindModule(s.layer);
    if (m == nullptr || !checks::FanIn(*m) || checks::IsOutputLayer(run, s.layer)) continue;
    if (const auto abs_mean = StatOf(s, kWeightAbsMean); abs_mean && std::isfinite(*abs_mean)) {
      const double scale = *abs_mean * std::sqrt(*checks::FanIn(*m));
      if (scale > scale_high || scale < scale_low) {
        Finding f = LayerFinding("layer.poor_init", Severity::kWarning, s.layer, at);
        f.epochs =
            first.epoch ? std::vector<std::int64_t>{*first.epoch} : std::vector<std::int64_t>{};
        f.title = s.layer + ": initial weight scale " + Fmt(scale) + " x 1/sqrt(fan_in)";
        f.evidence = {{"step", first.step},
                      {"weight_abs_mean", *abs_mean},
                      {"fan_in", *checks::FanIn(*m)},
                      {"scale_abs_mean_x_sqrt_fan_in", scale},
                      {"pytorch_default_scale", 0.5},
                      {"threshold_scale_low", scale_low},
                      {"threshold_scale_high", scale_high}};
        f.why =
            "Weights far from a fan-in-scaled initialisation make activations and gradients "
            "explode or vanish through depth: the first epochs are spent repairing the scale "
            "(or training never recovers), which costs energy for no accuracy.";
        f.fix = "Initialise " + s.layer + " with `nn.init.kaiming_normal_(" + s.layer +
                ".weight, nonlinearity=\"relu\")` (ReLU) or `nn.init.xavier_uniform_` (tanh), "
                "or keep PyTorch's default initialisation.";
        sink.Add(std::move(f));
      }
    }
    const auto std_dev = StatOf(s, kActivationStd);
    if (std_dev && std::isfinite(*std_dev)) depth.emplace_back(&s, *std_dev);
  }
  if (depth.size() < 3 || !(depth.front().second > 0)) return;
  const double ratio = depth.back().second / depth.front().second;
  if (!(ratio >= growth) && !(ratio <= decay)) return;
  const std::string& layer = depth.back().first->layer;
  Finding f = LayerFinding("layer.poor_init", Severity::kWarning, layer, at);
  f.epochs = first.epoch ? std::vector<std::int64_t>{*first.epoch} : std::vector<std::int64_t>{};
  f.title = std::string("activations ") + (ratio >= growth ? "explode" : "collapse") +
            " through depth at initialisation (" + Fmt(ratio) + "x by " + layer + ")";
  Json stds = Json::object();
  for (const auto& [stat, value] : depth) stds[stat->layer] = value;
  f.evidence = {{"step", first.step},
                {"activation_std_by_layer", stds},
                {"last_over_first", ratio},
                {"threshold_growth", growth},
                {"threshold_decay", decay}};
  f.why =
      "At initialisation the activation scale should stay roughly constant through depth; "
      "when it grows or shrinks by orders of magnitude, gradients do too, and the first epochs "
      "(or the whole run) are spent on a badly conditioned model.";
  f.fix =
      "Use fan-in-scaled initialisation for every Conv/Linear (`nn.init.kaiming_normal_` "
      "for ReLU, `nn.init.xavier_uniform_` for tanh) or add normalisation "
      "(`nn.BatchNorm`/`nn.LayerNorm`) between " +
      depth.front().first->layer + " and " + layer + ".";
  sink.Add(std::move(f));
}

constexpr CheckInfo kLayerChecks[] = {
    {"layer.dead", Category::kLayer, &CheckDead,
     "ReLU units active on < 1% of inputs for > 50% of the layer"},
    {"layer.dormant_units", Category::kLayer, &CheckDormant,
     "units that fire but barely contribute (ReDo score <= tau)"},
    {"layer.saturated", Category::kLayer, &CheckSaturated,
     "tanh/sigmoid outputs stuck at their limits"},
    {"layer.not_updating", Category::kLayer, &CheckNotUpdating,
     "parameters that get gradients but never change"},
    {"layer.update_ratio", Category::kLayer, &CheckUpdateRatio,
     "||dW|| / ||W|| outside [1e-5, 1e-1]"},
    {"layer.near_zero_weights", Category::kLayer, &CheckNearZeroWeights,
     "weights that are ~0 (sparse or collapsed) but still cost dense compute"},
    {"layer.nonfinite", Category::kLayer, &CheckNonfiniteLayerValues,
     "NaN/Inf activations or weights"},
    {"layer.poor_init", Category::kLayer, &CheckPoorInit,
     "weight scale or activation scale through depth off at initialisation"},
};

}  // namespace

std::span<const CheckInfo> LayerChecks() { return kLayerChecks; }

}  // namespace atlas::diagnostics
