// The gradient checks (docs/diagnostics.md, "Gradient checks"): vanishing, exploding and
// non-finite gradients from the layer_stats samples, and a batch far above the critical batch
// size from a gradient-noise-scale measurement.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "diagnostics/check.hpp"
#include "diagnostics/checks/model_view.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

using checks::kGradNorm;
using checks::StatIndex;
using checks::StatOf;

constexpr std::size_t kGradAbsMean = StatIndex("grad_abs_mean");
constexpr std::size_t kNonfiniteGrads = StatIndex("nonfinite_grads");

// The gradient figures of one layer_stats sample, in forward (registration) order.
struct GradientProfile {
  const model::LayerStatsRecord* record = nullptr;
  std::vector<std::pair<const std::string*, double>> norms;  // finite grad_norm per layer
  double mean_abs = std::nan("");                            // mean of the layers' grad_abs_mean
  double total_norm = 0;                                     // sqrt of the sum of squared norms

  double first() const { return norms.front().second; }
  double last() const { return norms.back().second; }
  // first / last; +inf when the last is 0 and the first is not, NaN when both are.
  double ratio() const { return first() / last(); }
};

// The profiles of the samples with gradients of at least two layers, ascending step.
std::vector<GradientProfile> Profiles(const RunTelemetry& run) {
  std::vector<GradientProfile> out;
  for (const model::LayerStatsRecord& r : run.layer_samples) {
    GradientProfile p;
    p.record = &r;
    double abs_sum = 0;
    std::size_t abs_count = 0;
    for (const model::LayerStat& s : r.layers) {
      const auto norm = StatOf(s, kGradNorm);
      if (norm && std::isfinite(*norm) && *norm >= 0) {
        p.norms.emplace_back(&s.layer, *norm);
        p.total_norm += *norm * *norm;
      }
      const auto abs_mean = StatOf(s, kGradAbsMean);
      if (abs_mean && std::isfinite(*abs_mean)) {
        abs_sum += *abs_mean;
        ++abs_count;
      }
    }
    if (p.norms.size() < 2) continue;
    p.total_norm = std::sqrt(p.total_norm);
    if (abs_count > 0) p.mean_abs = abs_sum / static_cast<double>(abs_count);
    out.push_back(std::move(p));
  }
  return out;
}

std::span<const GradientProfile> LastProfiles(const std::vector<GradientProfile>& all,
                                              std::size_t n) {
  const std::span<const GradientProfile> span(all);
  return n >= span.size() ? span : span.subspan(span.size() - n);
}

std::vector<std::int64_t> EpochsOf(std::span<const GradientProfile> profiles) {
  std::vector<std::int64_t> epochs;
  for (const GradientProfile& p : profiles) {
    if (p.record->epoch) epochs.push_back(*p.record->epoch);
  }
  return epochs;  // FindingSink sorts and de-duplicates
}

Json NormsJson(const GradientProfile& p) {
  Json out = Json::object();
  for (const auto& [layer, norm] : p.norms) out[*layer] = norm;
  return out;
}

Finding GradientFinding(std::string_view check, Severity severity,
                        std::optional<std::string> layer) {
  Finding f;
  f.check = std::string(check);
  f.category = Category::kGradient;
  f.severity = severity;
  f.layer = std::move(layer);
  return f;
}

// ----- gradient.vanishing -----

void CheckVanishing(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double ratio_max = t.Get("gradient.vanishing.ratio");
  const double first_max = t.Get("gradient.vanishing.first_norm");
  const double mean_abs_max = t.Get("gradient.vanishing.mean_abs");
  const std::size_t min_samples =
      std::max<std::size_t>(1, t.Count("gradient.vanishing.min_samples"));
  const std::vector<GradientProfile> all = Profiles(run);
  const auto window = LastProfiles(all, t.Count("gradient.vanishing.window"));
  std::vector<GradientProfile> hits;
  for (const GradientProfile& p : window) {
    const bool autotrainer = p.ratio() <= ratio_max && p.first() <= first_max;
    const bool sagemaker = p.mean_abs < mean_abs_max;
    if (autotrainer || sagemaker) hits.push_back(p);
  }
  // A majority of the window, so one unlucky batch does not count.
  if (hits.size() < min_samples || 2 * hits.size() <= window.size()) return;
  const GradientProfile& p = hits.back();
  const std::string& first_layer = *p.norms.front().first;
  Finding f = GradientFinding("gradient.vanishing", Severity::kWarning, first_layer);
  f.epochs = EpochsOf(hits);
  f.title = "vanishing gradients: " + first_layer + " gets " + Fmt(p.ratio()) +
            "x the gradient of " + *p.norms.back().first;
  f.evidence = {{"step", p.record->step},
                {"first_layer", first_layer},
                {"last_layer", *p.norms.back().first},
                {"first_grad_norm", p.first()},
                {"last_grad_norm", p.last()},
                {"first_over_last", p.ratio()},
                {"mean_grad_abs", p.mean_abs},
                {"grad_norm_by_layer", NormsJson(p)},
                {"samples_vanishing", hits.size()},
                {"samples_judged", window.size()},
                {"threshold_ratio", ratio_max},
                {"threshold_first_norm", first_max},
                {"threshold_mean_abs", mean_abs_max}};
  f.why =
      "The early layers receive almost no gradient, so they stay near their initial weights "
      "while every step still pays for their forward and backward passes: the run spends "
      "energy on layers that do not learn and converges slowly, if at all.";
  f.fix =
      "Use a non-saturating activation (`nn.ReLU()`/`nn.GELU()` instead of `nn.Sigmoid()`/"
      "`nn.Tanh()`), add normalisation (`nn.BatchNorm1d`/`nn.LayerNorm`) or residual "
      "connections between " +
      first_layer + " and " + *p.norms.back().first +
      ", use `nn.init.kaiming_normal_` initialisation, or make the network shallower.";
  // The layers that barely learn: gradient norms below the ratio of the last layer's.
  double share = 0;
  std::size_t stalled = 0;
  for (const auto& [layer, norm] : p.norms) {
    if (norm > ratio_max * p.last()) continue;
    ++stalled;
    share += checks::ComputeShare(run, *layer).value_or(0.0);
  }
  f.evidence["layers_below_ratio"] = stalled;
  f.energy_at_stake = checks::ShareOfEnergy(run, share, "the layers whose gradient vanished");
  sink.Add(std::move(f));
}

// ----- gradient.exploding -----

void CheckExploding(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double ratio_min = t.Get("gradient.exploding.ratio");
  const double norm_max = t.Get("gradient.exploding.norm");
  const double growth_max = t.Get("gradient.exploding.growth");
  const std::size_t min_samples =
      std::max<std::size_t>(1, t.Count("gradient.exploding.min_samples"));
  const std::vector<GradientProfile> all = Profiles(run);
  if (all.empty()) return;
  const auto window = LastProfiles(all, t.Count("gradient.exploding.window"));
  if (window.empty()) return;  // an override of 0 samples judges none
  std::vector<GradientProfile> ratio_hits;
  const GradientProfile* largest = &window.front();
  for (const GradientProfile& p : window) {
    if (p.ratio() >= ratio_min && std::isfinite(p.ratio())) ratio_hits.push_back(p);
    if (p.total_norm > largest->total_norm) largest = &p;
  }
  const double growth =
      all.front().total_norm > 0 ? all.back().total_norm / all.front().total_norm : 0.0;
  const bool by_ratio = ratio_hits.size() >= min_samples && 2 * ratio_hits.size() > window.size();
  const bool by_norm = largest->total_norm >= norm_max;
  const bool by_growth = all.size() >= 2 && growth >= growth_max;
  if (!by_ratio && !by_norm && !by_growth) return;
  const GradientProfile& p = by_ratio ? ratio_hits.back() : *largest;
  // The layer with the largest gradient is where the explosion shows.
  const auto top =
      std::max_element(p.norms.begin(), p.norms.end(),
                       [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::string& layer = by_ratio ? *p.norms.front().first : *top->first;
  // Run-wide: an explosion is a property of the whole optimisation (learning rate, loss
  // scale), whichever layer shows it first; the evidence names that layer.
  Finding f = GradientFinding("gradient.exploding", Severity::kWarning, std::nullopt);
  f.epochs = by_ratio ? EpochsOf(ratio_hits) : EpochsOf(window);
  f.title = by_ratio ? "exploding gradients: " + layer + " gets " + Fmt(p.ratio()) +
                           "x the gradient of " + *p.norms.back().first
                     : "exploding gradients: total norm " + Fmt(p.total_norm) +
                           (by_growth ? " (" + Fmt(growth) + "x its first value)" : "");
  f.evidence = {{"step", p.record->step},
                {"layer", layer},
                {"rule", by_ratio ? "first/last ratio" : (by_norm ? "total norm" : "growth")},
                {"first_over_last", p.ratio()},
                {"total_grad_norm", p.total_norm},
                {"growth_since_first_sample", growth},
                {"grad_norm_by_layer", NormsJson(p)},
                {"threshold_ratio", ratio_min},
                {"threshold_norm", norm_max},
                {"threshold_growth", growth_max}};
  f.why =
      "Exploding gradients make updates overshoot: the loss jumps or turns NaN, and the steps "
      "spent oscillating (or the whole run, if it diverges) are energy for no progress.";
  f.fix =
      "Clip gradients (`torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)` before "
      "`optimizer.step()`), lower the learning rate or add warm-up, and add normalisation "
      "(`nn.BatchNorm`/`nn.LayerNorm`) around " +
      layer + ".";
  sink.Add(std::move(f));
}

// ----- gradient.nonfinite -----

bool HasNonfiniteGrad(const model::LayerStat& s) {
  const auto count = StatOf(s, kNonfiniteGrads);
  if (count && std::isfinite(*count) && *count > 0) return true;
  const auto norm = StatOf(s, kGradNorm);
  return norm && !std::isfinite(*norm);
}

void CheckNonfiniteGradients(const RunTelemetry& run, const Thresholds& /*t*/, FindingSink& sink) {
  for (const model::LayerStatsRecord& r : run.layer_samples) {
    std::vector<std::string> affected;
    for (const model::LayerStat& s : r.layers) {
      if (HasNonfiniteGrad(s)) affected.push_back(s.layer);
    }
    if (affected.empty()) continue;
    std::vector<std::int64_t> epochs;
    for (const model::LayerStatsRecord& later : run.layer_samples) {
      if (later.step < r.step || !later.epoch) continue;
      if (std::any_of(later.layers.begin(), later.layers.end(), HasNonfiniteGrad)) {
        epochs.push_back(*later.epoch);
      }
    }
    // Backward runs from the loss: the affected layer nearest the output is where it entered.
    const std::string& layer = affected.back();
    Finding f = GradientFinding("gradient.nonfinite", Severity::kCritical, layer);
    f.epochs = std::move(epochs);
    f.title = "NaN/Inf gradients from step " + std::to_string(r.step) + " (" +
              std::to_string(affected.size()) + " layers)";
    const model::LayerStat* stat = nullptr;
    for (const model::LayerStat& s : r.layers) {
      if (s.layer == layer) stat = &s;
    }
    f.evidence = {{"step", r.step}, {"affected_layers", affected}, {"threshold", 0}};
    if (stat != nullptr) {
      if (auto n = StatOf(*stat, kNonfiniteGrads); n && std::isfinite(*n)) {
        f.evidence["nonfinite_grads"] = *n;
      }
    }
    f.why =
        "A NaN or Inf gradient poisons every weight the optimizer touches: from this step on "
        "the model cannot improve and each further step is wasted energy.";
    f.fix =
        "Stop the run; clip gradients (`torch.nn.utils.clip_grad_norm_`), lower the "
        "learning rate, use `torch.cuda.amp.GradScaler` with fp16, check the loss for "
        "log(0) or division by 0, and find the first bad operation with "
        "`torch.autograd.set_detect_anomaly(True)` for one step.";
    sink.Add(std::move(f));
    return;  // the earliest sample says where; later ones repeat it
  }
}

// ----- gradient.noise_scale -----

void CheckNoiseScale(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double ratio_max = t.Get("gradient.noise_scale.batch_ratio");
  const std::size_t min_samples =
      std::max<std::size_t>(1, t.Count("gradient.noise_scale.min_samples"));
  if (!run.batch_size || !(*run.batch_size > 0)) return;
  // The measurement: extra.gradient_noise_scale of any layer entry (the observer would send it
  // on the root module's entry, layer ""), B_simple of McCandlish et al. 2018.
  std::vector<double> values;
  std::vector<std::int64_t> epochs;
  std::int64_t last_step = 0;
  for (const model::LayerStatsRecord& r : run.layer_samples) {
    for (const model::LayerStat& s : r.layers) {
      if (auto gns = checks::ExtraNumber(s, "gradient_noise_scale"); gns && *gns > 0) {
        values.push_back(*gns);
        if (r.epoch) epochs.push_back(*r.epoch);
        last_step = r.step;
        break;
      }
    }
  }
  const std::size_t window = t.Count("gradient.noise_scale.window");
  if (window > 0 && values.size() > window) {
    values.erase(values.begin(), values.end() - static_cast<std::ptrdiff_t>(window));
  }
  if (values.size() < min_samples) return;
  const double noise_scale = Median(values);
  const double batch = *run.batch_size;
  const double ratio = batch / noise_scale;
  if (!(ratio >= ratio_max)) return;
  // McCandlish et al.: steps S = S_min (1 + B_noise / B), samples E = E_min (1 + B / B_noise).
  // Against training at B = B_noise, the share of the compute that buys no fewer steps:
  const double wasted = 1.0 - 2.0 / (1.0 + ratio);
  Finding f = GradientFinding("gradient.noise_scale", Severity::kWarning, std::nullopt);
  f.epochs = std::move(epochs);
  f.title = "batch size " + Fmt(batch) + " is " + Fmt(ratio) + "x the critical batch size (~" +
            Fmt(noise_scale) + ")";
  f.evidence = {{"batch_size", batch},
                {"gradient_noise_scale", noise_scale},
                {"batch_over_noise_scale", ratio},
                {"samples", values.size()},
                {"last_step", last_step},
                {"compute_share_beyond_critical_batch", wasted},
                {"threshold_batch_ratio", ratio_max}};
  f.why =
      "Above the critical batch size (about the gradient noise scale), a larger batch barely "
      "reduces the number of steps to reach a given loss while each step costs "
      "proportionally more: the extra samples per step are compute spent for no fewer steps.";
  f.fix = "Lower the batch size towards ~" + Fmt(noise_scale) +
          " (scale the learning rate with it, e.g. linearly), or keep the batch and stop "
          "earlier; the noise scale grows as the loss falls, so re-check later in training.";
  f.energy_at_stake = checks::ShareOfEnergy(run, wasted, "steps at a batch beyond the critical");
  sink.Add(std::move(f));
}

constexpr CheckInfo kGradientChecks[] = {
    {"gradient.vanishing", Category::kGradient, &CheckVanishing,
     "first/last layer gradient-norm ratio <= 1e-3 with first <= 1e-4, or mean |g| < 1e-7"},
    {"gradient.exploding", Category::kGradient, &CheckExploding,
     "first/last gradient-norm ratio >= 70, a very large norm, or a norm growing 100x"},
    {"gradient.nonfinite", Category::kGradient, &CheckNonfiniteGradients, "NaN/Inf gradients"},
    {"gradient.noise_scale", Category::kGradient, &CheckNoiseScale,
     "batch size far above the critical batch size (gradient noise scale)"},
};

}  // namespace

std::span<const CheckInfo> GradientChecks() { return kGradientChecks; }

}  // namespace atlas::diagnostics
