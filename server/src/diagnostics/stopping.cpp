// The optimal stopping point: the online patience rule, the retrospective optimum, the pitch's
// rule, and the work done after the optimum (docs/diagnostics.md, "Optimal stopping point").
#include <algorithm>
#include <cmath>
#include <string>

#include "diagnostics/engine.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

// The margin an improvement must exceed to count: noise_k deviations of the metric's
// epoch-to-epoch noise, and at least min_rel_delta of the reference value.
double Margin(double reference, double sigma, const Thresholds& t) {
  return std::max(t.Get("convergence.past_optimal_stop.noise_k") * sigma,
                  t.Get("convergence.past_optimal_stop.min_rel_delta") * std::fabs(reference));
}

// Prechelt's patience family made noise-aware: the best is replaced only by a value below it by
// more than the margin; the rule says stop after `patience` epochs without such an improvement,
// or (validation only) as soon as the generalisation loss GL exceeds alpha percent and the rise
// is beyond the noise.
std::optional<std::int64_t> OnlineStop(const EpochSeries& s, double sigma, bool validation,
                                       const Thresholds& t) {
  const double patience = t.Get("convergence.past_optimal_stop.patience");
  const double alpha = t.Get("convergence.past_optimal_stop.gl_alpha");
  const double noise_k = t.Get("convergence.past_optimal_stop.noise_k");
  std::size_t best = 0;
  double lowest = s.values[0];
  for (std::size_t i = 1; i < s.size(); ++i) {
    const double v = s.values[i];
    lowest = std::min(lowest, v);
    if (v < s.values[best] - Margin(s.values[best], sigma, t)) {
      best = i;
      continue;
    }
    if (static_cast<double>(i - best) >= patience) return s.epochs[i];
    if (validation && lowest > 0) {
      const double gl = 100 * (v / lowest - 1);
      if (gl > alpha && v - lowest > noise_k * sigma) return s.epochs[i];
    }
  }
  return std::nullopt;
}

// The pitch's rule: the first epoch whose improvement is below `fraction` of the cumulative
// improvement since the first epoch.
std::optional<std::int64_t> PitchRule(const EpochSeries& s, const Thresholds& t) {
  const double fraction = t.Get("convergence.past_optimal_stop.pitch_fraction");
  for (std::size_t i = 1; i < s.size(); ++i) {
    const double cumulative = s.values[0] - s.values[i];
    if (cumulative <= 0) continue;
    if (s.values[i - 1] - s.values[i] < fraction * cumulative) return s.epochs[i];
  }
  return std::nullopt;
}

}  // namespace

Stopping AnalyseStopping(const RunTelemetry& run, const Thresholds& t) {
  Stopping st;
  st.tolerance = t.Get("convergence.past_optimal_stop.tolerance");
  const EpochSeries s = StoppingSeries(run);
  st.metric = s.name;
  if (s.empty()) return st;
  const auto best = static_cast<std::size_t>(std::min_element(s.values.begin(), s.values.end()) -
                                             s.values.begin());
  st.best_epoch = s.epochs[best];
  st.best_value = s.values[best];
  if (s.size() < 2) return st;

  const double sigma = NoiseSigma(s.values);
  // Within the tolerance of the best, or within one noise deviation of it: the metric cannot
  // tell such epochs apart from the best.
  const double within = std::max(st.tolerance * std::fabs(s.values[best]), sigma);
  for (std::size_t i = 0; i <= best; ++i) {
    if (s.values[i] <= s.values[best] + within) {
      st.optimal_epoch = s.epochs[i];
      break;
    }
  }
  const bool validation = s.name.rfind("val.", 0) == 0;
  st.online_stop_epoch = OnlineStop(s, sigma, validation, t);
  st.online_rule =
      "no improvement beyond max(" + Fmt(t.Get("convergence.past_optimal_stop.noise_k")) +
      " sigma, " + Fmt(100 * t.Get("convergence.past_optimal_stop.min_rel_delta")) +
      "% of best) for " + Fmt(t.Get("convergence.past_optimal_stop.patience")) + " epochs" +
      (validation ? ", or GL > " + Fmt(t.Get("convergence.past_optimal_stop.gl_alpha")) + "%" : "");
  st.pitch_rule_epoch = PitchRule(s, t);
  return st;
}

Waste WasteAfter(const RunTelemetry& run, const Stopping& stopping) {
  Waste w;
  if (!stopping.optimal_epoch) return w;
  double joules = 0;
  for (std::size_t i = 0; i < run.epochs.size(); ++i) {
    if (run.epochs[i].record.epoch <= *stopping.optimal_epoch) continue;
    ++w.epochs;
    w.seconds += EpochSeconds(run, i).value_or(0);
    joules += run.epochs[i].joules;
  }
  w.footprint = FootprintOf(joules, run.carbon);
  const double total_joules = run.total_joules();
  const double total_seconds = TotalSeconds(run);
  if (total_joules > 0) {
    w.fraction = joules / total_joules;
  } else if (total_seconds > 0) {
    w.fraction = w.seconds / total_seconds;
  }
  return w;
}

}  // namespace atlas::diagnostics
