// Derived series and statistics shared by the checks and the analyses.
#include "diagnostics/signals.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace atlas::diagnostics {

EpochSeries MetricSeries(const RunTelemetry& run, std::string_view split, std::string_view name) {
  EpochSeries s;
  s.name = std::string(split) + "." + std::string(name);
  for (std::size_t i = 0; i < run.epochs.size(); ++i) {
    const EpochView& e = run.epochs[i];
    const std::optional<double> v = split == "val" ? e.Val(name) : e.Train(name);
    if (!v || !std::isfinite(*v)) continue;
    s.index.push_back(i);
    s.epochs.push_back(e.record.epoch);
    s.values.push_back(*v);
  }
  return s;
}

EpochSeries TrainLossSeries(const RunTelemetry& run) {
  EpochSeries train = MetricSeries(run, "train", "loss");
  if (!train.empty() && train.size() == run.epochs.size()) return train;
  EpochSeries steps;
  steps.name = "step.loss";
  for (std::size_t i = 0; i < run.epochs.size(); ++i) {
    const FieldStats& loss = run.epochs[i].steps.field(model::StepField::kLoss);
    if (loss.empty()) continue;
    steps.index.push_back(i);
    steps.epochs.push_back(run.epochs[i].record.epoch);
    steps.values.push_back(loss.mean());
  }
  return steps.size() > train.size() ? steps : train;
}

EpochSeries StoppingSeries(const RunTelemetry& run) {
  EpochSeries val = MetricSeries(run, "val", "loss");
  if (!val.empty()) return val;
  return TrainLossSeries(run);
}

double Median(std::vector<double> values) {
  if (values.empty()) return std::nan("");
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower =
      *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

namespace {

// The robust deviation of the second differences of values[first..], scaled to the values'.
double SecondDifferenceSigma(const std::vector<double>& values, std::size_t first) {
  if (values.size() < first + 3) return std::nan("");
  std::vector<double> second;
  second.reserve(values.size() - first - 2);
  for (std::size_t i = first + 2; i < values.size(); ++i) {
    second.push_back(std::fabs(values[i] - 2 * values[i - 1] + values[i - 2]));
  }
  // For white noise of deviation s, a second difference has deviation s * sqrt(6); the median
  // absolute value of a normal variable is 0.6745 of its deviation.
  return 1.4826 * Median(std::move(second)) / std::sqrt(6.0);
}

}  // namespace

double NoiseSigma(const std::vector<double>& values) {
  const double all = SecondDifferenceSigma(values, 0);
  if (std::isnan(all)) return 0;
  // Two estimates, each biased upwards in its own way: over the whole series by the early bend
  // of a learning curve (a bend is not noise), over the later half by a single kink weighing
  // more among few values. The smaller is the better estimate of the noise.
  const double later = values.size() >= 6 ? SecondDifferenceSigma(values, values.size() / 2) : all;
  return std::min(all, later);
}

std::optional<double> EpochSeconds(const RunTelemetry& run, std::size_t i) {
  const EpochView& e = run.epochs[i];
  if (e.record.duration_s) return *e.record.duration_s;
  if (i > 0 && e.record.ts > run.epochs[i - 1].record.ts) {
    return e.record.ts - run.epochs[i - 1].record.ts;
  }
  if (e.steps.steps > 1 && e.steps.last_ts > e.steps.first_ts) {
    return e.steps.last_ts - e.steps.first_ts;
  }
  return std::nullopt;
}

double TotalSeconds(const RunTelemetry& run) {
  double total = 0;
  for (std::size_t i = 0; i < run.epochs.size(); ++i) total += EpochSeconds(run, i).value_or(0);
  return total;
}

bool EnergyMeasured(const RunTelemetry& run) {
  bool any = false;
  for (const EpochView& e : run.epochs) {
    if (e.record.energy.empty()) return false;
    for (const model::EnergyEntry& entry : e.record.energy) {
      if (entry.method.rfind("measured:", 0) == 0) any = true;
    }
  }
  return any;
}

double ComponentJoules(const EpochView& e, std::string_view component) {
  double total = 0;
  for (const model::EnergyEntry& entry : e.record.energy) {
    if (entry.component == component && std::isfinite(entry.joules)) total += entry.joules;
  }
  return total;
}

std::string DeviceType(const RunTelemetry& run) {
  if (!run.device.is_object()) return "";
  auto it = run.device.find("type");
  if (it == run.device.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string Pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", fraction * 100);
  return buf;
}

}  // namespace atlas::diagnostics
