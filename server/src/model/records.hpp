// The telemetry records of protocol v1 as the server holds them after validation.
//
// These types are what the protocol parser produces, what the Store persists and what the query
// API reads back. They hold no behaviour. Times are Unix seconds (double, sub-millisecond
// precision); energy is in joules; memory in bytes; durations in milliseconds, as their names say.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "atlas/record.hpp"

namespace atlas::model {

using Json = nlohmann::json;

// The numeric fields a step record may carry, besides seq/step/epoch/ts. They are listed once,
// in libatlas's public atlas/record.hpp (the client side of the protocol); kStepFields is the
// server's view of that list, which protocol parsing, storage and the series query loop over.
using StepField = atlas::StepField;

struct StepFieldInfo {
  StepField field;
  std::string_view name;  // the JSON key, the SQL column and the series metric name
  bool non_negative;      // true when a negative value is invalid input
};

inline constexpr std::array<StepFieldInfo, atlas::kStepFieldCount> kStepFields = [] {
  std::array<StepFieldInfo, atlas::kStepFieldCount> fields{};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto field = static_cast<StepField>(i);
    fields[i] = {field, atlas::kStepFieldNames[i], atlas::StepFieldIsNonNegative(field)};
  }
  return fields;
}();

// The index of a step field named `name`, or nullopt.
std::optional<StepField> FindStepField(std::string_view name);

// One training step. `metrics` holds user-defined numeric values (log_step(**kwargs)) whose
// names are not step fields.
struct StepRecord {
  std::int64_t seq = 0;
  std::int64_t step = 0;
  std::optional<std::int64_t> epoch;
  double ts = 0;
  std::array<std::optional<double>, static_cast<std::size_t>(StepField::kCount)> fields{};
  std::vector<std::pair<std::string, double>> metrics;

  std::optional<double>& at(StepField f) { return fields[static_cast<std::size_t>(f)]; }
  const std::optional<double>& at(StepField f) const { return fields[static_cast<std::size_t>(f)]; }
};

// Energy used by one component during an epoch, with how it was obtained.
struct EnergyEntry {
  std::string component;  // "gpu" | "cpu" | "ram" | "other"
  std::string device;     // e.g. "cuda:0", "package-0"; may be empty
  double joules = 0;
  std::string method;  // e.g. "measured:nvml-counter", "estimated:cpu-model"
};

struct EpochRecord {
  std::int64_t seq = 0;
  std::int64_t epoch = 0;
  double ts = 0;  // when the epoch ended
  std::optional<double> duration_s;
  std::vector<std::pair<std::string, double>> train;  // e.g. loss, accuracy
  std::vector<std::pair<std::string, double>> val;
  std::vector<EnergyEntry> energy;
};

// The numeric statistics of one layer at one sampled step. Names are the JSON keys.
inline constexpr std::array<std::string_view, 14> kLayerStatNames = {
    "activation_mean",    "activation_std",   "activation_abs_mean", "dead_fraction",
    "saturated_fraction", "grad_norm",        "grad_abs_mean",       "weight_norm",
    "weight_abs_mean",    "weight_sparsity",  "update_ratio",        "nonfinite_activations",
    "nonfinite_grads",    "nonfinite_weights"};

struct LayerStat {
  std::string layer;  // module name, e.g. "features.0"
  std::array<std::optional<double>, kLayerStatNames.size()> values{};
  Json extra =
      Json::object();  // per-unit arrays and anything else, e.g. {"unit_active_frac": [...]}
};

struct LayerStatsRecord {
  std::int64_t seq = 0;
  std::int64_t step = 0;
  std::optional<std::int64_t> epoch;
  double ts = 0;
  std::vector<LayerStat> layers;
};

// A profiler window summary; its body is validated to be an object and stored as given.
struct ProfileRecord {
  std::int64_t seq = 0;
  std::int64_t step = 0;
  double ts = 0;
  Json data = Json::object();
};

struct EventRecord {
  std::int64_t seq = 0;
  double ts = 0;
  std::string level;  // "debug" | "info" | "warning" | "error"
  std::string type;   // e.g. "log", "telemetry_error", "checkpoint"
  std::string message;
  Json data = Json::object();
};

struct HyperparametersRecord {
  std::int64_t seq = 0;
  Json values = Json::object();  // merged into the run's hyperparameters
};

struct ModuleInfo {
  std::string name;  // "" for the root module
  std::string type;
  std::optional<std::string> parent;  // nullopt for the root
  std::int64_t params = 0;            // parameters owned directly (not by children)
  std::int64_t trainable_params = 0;
  Json input_shape = nullptr;  // e.g. [64, 1, 8, 8], or null when unknown
  Json output_shape = nullptr;
  std::optional<double> flops;  // per sample, forward
};

struct ArchitectureRecord {
  std::int64_t seq = 0;
  std::vector<ModuleInfo> modules;  // registration order
};

enum class RunStatus { kRunning, kCompleted, kFailed, kStopped };
std::string_view ToString(RunStatus s);
std::optional<RunStatus> ParseRunStatus(std::string_view s);

struct FinishRecord {
  std::int64_t seq = 0;
  double ts = 0;
  RunStatus status = RunStatus::kCompleted;
  std::string reason;
  Json client_stats = Json::object();  // sent / spooled / dropped counts by reason
};

// Everything one ingest request carries; stored in one transaction.
struct RecordBatch {
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
  std::vector<LayerStatsRecord> layer_stats;
  std::vector<ProfileRecord> profiles;
  std::vector<EventRecord> events;
  std::vector<HyperparametersRecord> hyperparameters;
  std::vector<ArchitectureRecord> architectures;
  std::vector<FinishRecord> finishes;

  std::size_t size() const {
    return steps.size() + epochs.size() + layer_stats.size() + profiles.size() + events.size() +
           hyperparameters.size() + architectures.size() + finishes.size();
  }
};

}  // namespace atlas::model
