// The forecast: projected totals for the planned epochs and a learning-curve fit predicting the
// plateau (docs/diagnostics.md, "Forecast").
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "diagnostics/engine.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

// The furthest epoch the plateau search looks at.
constexpr std::int64_t kMaxPlateauEpoch = 100000;

struct Fit {
  double a = 0;  // the asymptote
  double b = 0;
  double shape = 0;  // c of the power law, k of the exponential
  double rmse = std::numeric_limits<double>::infinity();
};

// y = a + b * basis(x): ordinary least squares in (a, b) for a fixed basis.
Fit FitLinear(const std::vector<double>& x, const std::vector<double>& y,
              const std::function<double(double)>& basis) {
  const auto n = static_cast<double>(x.size());
  double su = 0, sy = 0, suu = 0, suy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double u = basis(x[i]);
    su += u;
    sy += y[i];
    suu += u * u;
    suy += u * y[i];
  }
  Fit f;
  const double det = n * suu - su * su;
  if (std::fabs(det) < 1e-12) return f;
  f.b = (n * suy - su * sy) / det;
  f.a = (sy - f.b * su) / n;
  double sq = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - (f.a + f.b * basis(x[i]));
    sq += r * r;
  }
  f.rmse = std::sqrt(sq / n);
  return f;
}

// The best shape parameter on a log-spaced grid, then refined around it.
Fit FitFamily(const std::vector<double>& x, const std::vector<double>& y, bool power) {
  auto basis_for = [power](double shape) {
    return power
               ? std::function<double(double)>([shape](double v) { return std::pow(v, -shape); })
               : std::function<double(double)>([shape](double v) { return std::exp(-shape * v); });
  };
  Fit best;
  double lo = 0.01;
  double hi = power ? 4.0 : 3.0;
  for (int round = 0; round < 3; ++round) {
    const double step = std::log(hi / lo) / 40;
    double best_shape = best.shape;
    for (int i = 0; i <= 40; ++i) {
      const double shape = lo * std::exp(step * i);
      Fit f = FitLinear(x, y, basis_for(shape));
      f.shape = shape;
      if (f.rmse < best.rmse) {
        best = f;
        best_shape = shape;
      }
    }
    lo = best_shape * std::exp(-step);
    hi = best_shape * std::exp(step);
  }
  return best;
}

}  // namespace

Forecast ForecastRun(const RunTelemetry& run, const Thresholds& t) {
  Forecast fc;
  fc.planned_epochs = run.planned_epochs;
  const auto done = static_cast<std::int64_t>(run.epochs.size());

  // Projected totals: what is spent, plus the remaining epochs at the median epoch's cost (the
  // median resists a slow first epoch and a checkpointing epoch).
  if (run.planned_epochs && done > 0) {
    std::vector<double> seconds, joules;
    for (std::size_t i = 0; i < run.epochs.size(); ++i) {
      if (auto s = EpochSeconds(run, i)) seconds.push_back(*s);
      joules.push_back(run.epochs[i].joules);
    }
    const auto remaining =
        static_cast<double>(std::max<std::int64_t>(*run.planned_epochs - done, 0));
    if (!seconds.empty()) fc.total_seconds = TotalSeconds(run) + remaining * Median(seconds);
    if (run.total_joules() > 0) {
      fc.total = FootprintOf(run.total_joules() + remaining * Median(joules), run.carbon);
    }
  }

  // The learning curve of the stopping metric, against x = epoch + 1.
  const EpochSeries s = StoppingSeries(run);
  if (s.size() < 4) return fc;
  std::vector<double> x;
  for (std::int64_t e : s.epochs) x.push_back(static_cast<double>(e + 1));
  const Fit power = FitFamily(x, s.values, true);
  const Fit expo = FitFamily(x, s.values, false);
  const bool use_power = power.rmse <= expo.rmse;
  const Fit& fit = use_power ? power : expo;
  if (!std::isfinite(fit.rmse) || fit.b <= 0) return fc;  // not a decreasing curve: no plateau
  fc.curve_model = use_power ? "power law a + b * (epoch+1)^-c, c = " + Fmt(fit.shape)
                             : "exponential a + b * exp(-k * (epoch+1)), k = " + Fmt(fit.shape);
  fc.fit_rmse = fit.rmse;
  fc.plateau_value = fit.a;

  // The plateau: the first epoch whose remaining improvement (the fit's distance to its
  // asymptote) is within the stopping tolerance of the asymptote, or within the fit's residual
  // deviation (the metric's noise around the curve: a smaller gap could not be observed).
  const double within =
      std::max(t.Get("convergence.past_optimal_stop.tolerance") * std::fabs(fit.a), fit.rmse);
  for (std::int64_t e = 0; e <= kMaxPlateauEpoch; ++e) {
    const double xe = static_cast<double>(e + 1);
    const double gap = fit.b * (use_power ? std::pow(xe, -fit.shape) : std::exp(-fit.shape * xe));
    if (gap <= within) {
      fc.plateau_epoch = e;
      break;
    }
  }
  if (fc.plateau_epoch && run.planned_epochs && *run.planned_epochs > *fc.plateau_epoch + 1 &&
      done > 0) {
    std::vector<double> joules;
    for (const EpochView& e : run.epochs) joules.push_back(e.joules);
    const auto saved = static_cast<double>(*run.planned_epochs - *fc.plateau_epoch - 1);
    if (Median(joules) > 0)
      fc.saving_if_stopped_at_plateau = FootprintOf(saved * Median(joules), run.carbon);
  }
  return fc;
}

}  // namespace atlas::diagnostics
