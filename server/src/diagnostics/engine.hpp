// The diagnostics engine: every check, the grade, the optimal stopping point, the waste and the
// forecast of one run, computed from its RunTelemetry. Pure: same view in, same Diagnosis out.
//
// The JSON form (diagnosis_json.hpp: ToJson) is the body of GET /api/v1/runs/{id}/diagnostics,
// documented in docs/diagnostics.md.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "diagnostics/carbon_model.hpp"
#include "diagnostics/finding.hpp"
#include "diagnostics/telemetry.hpp"
#include "diagnostics/thresholds.hpp"

namespace atlas::diagnostics {

// What the optimal stopping analysis found (docs/diagnostics.md, "Optimal stopping point").
struct Stopping {
  std::string metric;  // "val.loss" or "train.loss"
  std::optional<std::int64_t> best_epoch;
  std::optional<double> best_value;
  // In retrospect: the earliest epoch within the tolerance of the best.
  std::optional<std::int64_t> optimal_epoch;
  double tolerance = 0;  // relative
  // Online: the epoch at which the patience rule said stop (fires convergence.past_optimal_stop).
  std::optional<std::int64_t> online_stop_epoch;
  std::string online_rule;  // e.g. "UP3 + noise-aware patience"
  // The pitch's rule: marginal improvement < 5% of cumulative improvement.
  std::optional<std::int64_t> pitch_rule_epoch;
};

// The work done after the optimal stop.
struct Waste {
  std::int64_t epochs = 0;
  double seconds = 0;
  Footprint footprint;  // joules, kwh, kg_co2, eur, car_km
  double fraction = 0;  // of the run's compute (energy when measured, else time)
};

// The projection for the planned epochs, and the learning-curve fit.
struct Forecast {
  std::optional<std::int64_t> planned_epochs;
  std::optional<double> total_seconds;
  std::optional<Footprint> total;  // energy and footprint for the planned epochs
  std::string curve_model;         // e.g. "power law a + b * epoch^-c"
  std::optional<double> plateau_value;
  std::optional<std::int64_t> plateau_epoch;  // where the fit comes within tolerance of plateau
  std::optional<Footprint> saving_if_stopped_at_plateau;
  std::optional<double> fit_rmse;
};

struct Diagnosis {
  char grade = 'A';  // 'A'..'F'
  double score = 100;
  std::array<double, kCategoryCount> category_scores{};  // indexed by Category
  std::vector<Finding> findings;                         // most severe first
  std::map<std::string, double> layer_scores;            // module name -> 0..100
  Stopping stopping;
  Waste waste;
  Forecast forecast;
  Footprint spent;  // the run so far
};

Diagnosis Diagnose(const RunTelemetry& run, const Thresholds& thresholds);

// The parts of Diagnose, each pure, exposed for the checks that need them and for the tests.

// The penalty one finding takes from its run's and its category's score (grade.cpp).
double RunPenalty(Severity s);
// The penalty one finding takes from its layer's score.
double LayerPenalty(Severity s);
// The grade, score, category scores and layer scores of `d.findings` (grade.cpp).
void Grade(const RunTelemetry& run, Diagnosis& d);
// The letter of a 0-100 score (A >= 90, B >= 75, C >= 60, D >= 45, E >= 30, else F).
char GradeOf(double score);

// The optimal stopping analysis of the run's stopping metric (stopping.cpp).
Stopping AnalyseStopping(const RunTelemetry& run, const Thresholds& thresholds);
// The work after `stopping.optimal_epoch` (zero when there is none).
Waste WasteAfter(const RunTelemetry& run, const Stopping& stopping);

// The projection for the planned epochs and the learning-curve fit (forecast.cpp).
Forecast ForecastRun(const RunTelemetry& run, const Thresholds& thresholds);

}  // namespace atlas::diagnostics
