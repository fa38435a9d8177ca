// RunTelemetry: the read-only view of one run that every check reads.
//
// Built by the diagnostics service (server/src/diagnostics/service*) from the store and kept up
// to date as records arrive: each epoch holds the aggregates of its steps, so a check never
// scans raw steps and the view of a run of a million steps stays small. Checks receive it by
// const reference; it holds no behaviour and no pointers into the store.
//
// Where a check needs a field the observer does not send yet, the check stays silent (it never
// guesses): every optional field below may be absent.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagnostics/carbon_model.hpp"
#include "model/records.hpp"
#include "model/runs.hpp"

namespace atlas::diagnostics {

using Json = nlohmann::json;

// Streaming statistics of one numeric step field over a set of steps. Non-finite values are
// counted in `nonfinite` and left out of every other figure.
struct FieldStats {
  std::int64_t count = 0;      // finite values
  std::int64_t nonfinite = 0;  // NaN and infinities
  double sum = 0;
  double sum_sq = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double first = std::nan("");
  double last = std::nan("");

  void Add(double v) {
    if (!std::isfinite(v)) {
      ++nonfinite;
      return;
    }
    if (count == 0) first = v;
    last = v;
    ++count;
    sum += v;
    sum_sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  // Folds `other` (statistics of later values) into this one.
  void Merge(const FieldStats& other) {
    nonfinite += other.nonfinite;
    if (other.count == 0) return;
    if (count == 0) first = other.first;
    last = other.last;
    count += other.count;
    sum += other.sum;
    sum_sq += other.sum_sq;
    if (other.min < min) min = other.min;
    if (other.max > max) max = other.max;
  }
  bool empty() const { return count == 0; }
  double mean() const { return count ? sum / static_cast<double>(count) : std::nan(""); }
  // Population standard deviation.
  double stddev() const {
    if (count < 2) return std::nan("");
    const double m = mean();
    const double var = sum_sq / static_cast<double>(count) - m * m;
    return var > 0 ? std::sqrt(var) : 0.0;
  }
};

using StepFieldStats = std::array<FieldStats, atlas::kStepFieldCount>;

inline const FieldStats& Stat(const StepFieldStats& s, model::StepField f) {
  return s[static_cast<std::size_t>(f)];
}

// The steps of one epoch, aggregated.
struct StepAggregate {
  std::int64_t steps = 0;  // step records
  std::optional<std::int64_t> first_step;
  std::optional<std::int64_t> last_step;
  double first_ts = 0;
  double last_ts = 0;
  StepFieldStats fields{};

  const FieldStats& field(model::StepField f) const { return Stat(fields, f); }
  // Folds `later` (the aggregate of later steps) into this one.
  void Merge(const StepAggregate& later);
};

// One ended epoch: the epoch record as sent, its steps, and its energy summed over components.
struct EpochView {
  model::EpochRecord record;  // train/val metrics, duration, energy entries with their method
  StepAggregate steps;
  double joules = 0;  // sum of record.energy; 0 when the run reports no energy
  // The value of a train or val metric ("loss", "accuracy", ...), if the epoch reported it.
  std::optional<double> Train(std::string_view name) const;
  std::optional<double> Val(std::string_view name) const;
};

// One point of the run's step-loss trace (downsampled by the service to a few thousand points).
struct LossPoint {
  std::int64_t step = 0;
  double loss = 0;
};

// The module tree of the registered model, with child links resolved.
struct ModuleNode {
  model::ModuleInfo info;
  std::vector<std::size_t> children;    // indices into RunTelemetry::modules, registration order
  std::int64_t subtree_params = 0;      // params of this module and every descendant
  std::optional<double> subtree_flops;  // forward FLOPs per sample of the subtree, if known
};

struct RunTelemetry {
  std::string run_id;
  std::string run_name;
  std::string project_name;
  model::RunStatus status = model::RunStatus::kRunning;
  bool finished = false;  // a finish record arrived
  double started_at = 0;
  std::optional<double> last_ts;  // newest record time

  Json host = Json::object();    // as the run was created (cpu model, cpu_count, ...)
  Json device = Json::object();  // {"type": "cpu" | "cuda" | "mps", ...}
  Json config = Json::object();  // the ObserverConfig the run reported
  Json hyperparameters = Json::object();

  // The registered model; empty when none was registered. modules[0] is the root when present.
  std::vector<ModuleNode> modules;

  std::vector<EpochView> epochs;  // ended epochs, ascending
  StepAggregate open_epoch;       // steps after the last ended epoch
  StepAggregate all_steps;        // every step of the run
  std::vector<LossPoint> loss_trace;

  std::vector<model::LayerStatsRecord> layer_samples;  // ascending step
  std::vector<model::ProfileRecord> profiles;
  std::vector<model::EventRecord> events;  // warnings and errors the observer reported

  std::optional<std::int64_t> planned_epochs;  // hyperparameters num_epochs / epochs, or config
  std::optional<double> batch_size;            // hyperparameters batch_size, or mean samples/step
  CarbonModel carbon;

  double total_joules() const;  // sum over ended epochs
  // The module named `name`, or nullptr.
  const ModuleNode* FindModule(std::string_view name) const;
};

// Builds ModuleNode links and subtree totals from an architecture record's module list.
std::vector<ModuleNode> BuildModuleTree(const std::vector<model::ModuleInfo>& modules);

}  // namespace atlas::diagnostics
