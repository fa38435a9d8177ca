// Signals: the small derived series and statistics that several checks and the stopping,
// waste and forecast analyses read from a RunTelemetry (an epoch metric series, its noise, an
// epoch's seconds). Pure functions over the view; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostics/telemetry.hpp"

namespace atlas::diagnostics {

// One metric over the ended epochs that report it (finite values only).
struct EpochSeries {
  std::string name;                  // e.g. "val.loss", "train.loss", "step.loss"
  std::vector<std::size_t> index;    // into RunTelemetry::epochs
  std::vector<std::int64_t> epochs;  // the epoch numbers
  std::vector<double> values;

  std::size_t size() const { return values.size(); }
  bool empty() const { return values.empty(); }
};

// The train (`split` "train") or val metric `name` of every epoch reporting it.
EpochSeries MetricSeries(const RunTelemetry& run, std::string_view split, std::string_view name);
// The training loss: the epochs' train.loss when every epoch reports it, else the mean step
// loss of each epoch ("step.loss").
EpochSeries TrainLossSeries(const RunTelemetry& run);
// The metric the stopping analysis uses: val.loss when the run reports it, else the training
// loss.
EpochSeries StoppingSeries(const RunTelemetry& run);

// The epoch-to-epoch noise (standard deviation) of a series around its smooth trend: the
// median absolute second difference, scaled to a standard deviation (1.4826 / sqrt(6)), so a
// steady trend does not count as noise; from six values on, the smaller of that estimate and
// the same over the later half (the early bend of a learning curve is not noise). 0 with
// fewer than three values.
double NoiseSigma(const std::vector<double>& values);

// The median of `values` (NaN when empty).
double Median(std::vector<double> values);

// Wall-clock seconds of epoch `i`: its duration_s, else the span since the previous epoch
// ended, else the span of its steps.
std::optional<double> EpochSeconds(const RunTelemetry& run, std::size_t i);
// The seconds of every ended epoch, summed (epochs without a figure count 0).
double TotalSeconds(const RunTelemetry& run);

// Whether every energy figure of the run is present and at least one is measured.
bool EnergyMeasured(const RunTelemetry& run);
// The joules of `component` ("gpu", "cpu", "ram", "other") in epoch `e`.
double ComponentJoules(const EpochView& e, std::string_view component);

// run.device["type"], or "" when unknown.
std::string DeviceType(const RunTelemetry& run);

// A number formatted for a title: 3 significant digits.
std::string Fmt(double v);
// A fraction as a percentage for a title, e.g. "42%".
std::string Pct(double fraction);

}  // namespace atlas::diagnostics
