// Energy attribution: a run's telemetry to its energy per epoch, per component and per layer,
// with carbon and cost beside each figure (docs/energy.md, "Attribution").
//
// Pure functions: the caller reads the run from the Store and passes its records in; nothing
// here does I/O or reads a clock. Safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "atlas/carbon.hpp"
#include "model/records.hpp"

namespace atlas::energy {

// The energy of one step, from its `energy_j` step field.
struct StepEnergy {
  std::int64_t step = 0;
  std::optional<std::int64_t> epoch;
  double joules = 0;
};

// Everything attribution reads about a run.
struct AttributionInput {
  std::vector<model::EpochRecord> epochs;       // in epoch order or not; duplicates are summed
  std::vector<StepEnergy> steps;                // only steps that carried energy_j
  std::vector<model::ModuleInfo> architecture;  // the stored module tree (may be empty)
  std::vector<model::ProfileRecord> profiles;   // profiler windows (may be empty)
};

// Joules of one component obtained by one method; several devices of a component measured the
// same way are summed into one entry.
struct ComponentEnergy {
  std::string component;  // "gpu" | "cpu" | "ram" | "other" | "all" (step sums)
  std::string method;     // "measured:nvml-counter", ..., or kStepSumMethod
  double joules = 0;
};

// The method label of energy taken from the steps' energy_j field rather than epoch records.
inline constexpr const char* kStepSumMethod = "steps:energy_j";

struct EpochEnergy {
  std::int64_t epoch = 0;
  carbon::Footprint footprint;                // joules, kWh, kg CO2e, EUR, car-km
  std::vector<ComponentEnergy> by_component;  // component order gpu, cpu, ram, other, all
  std::vector<std::string> methods;           // distinct, sorted
  std::string source;                         // "epoch" (energy entries) or "steps" (energy_j)
  bool complete = true;  // false for an epoch seen only in steps (still running, or not ended)
  std::optional<double> loss;  // the epoch's train loss, so CO2 sits beside it
};

// One layer's share of the run's compute and so of its energy.
struct LayerEnergy {
  std::string layer;  // module name; kOtherLayer for what no listed layer accounts for
  double share = 0;   // 0..1; the shares of a run sum to 1
  double joules = 0;  // share x the run's joules
  double kg_co2 = 0;  // share x the run's kg CO2e
};

inline constexpr const char* kOtherLayer = "(other)";

// What the layer shares were computed from.
enum class LayerBasis { kNone, kProfilerDeviceTime, kProfilerCpuTime, kFlops };
const char* ToString(LayerBasis basis);

struct RunEnergy {
  carbon::Settings settings;
  carbon::Footprint totals;
  std::vector<ComponentEnergy> by_component;
  std::vector<EpochEnergy> epochs;  // ascending epoch
  LayerBasis layer_basis = LayerBasis::kNone;
  std::vector<LayerEnergy> layers;  // descending share, kOtherLayer last
  bool measured = false;            // true when there is energy and every joule of it was measured
  double measured_joules = 0;
  std::vector<std::string> methods;  // distinct, sorted
  std::vector<std::string> notes;    // the settings' notes and entries left out, one sentence each
};

// The layer shares from the profiler windows (module times) when they have any, else from the
// architecture's FLOPs; empty with kNone when neither is available. Exposed for tests.
std::vector<LayerEnergy> LayerShares(const AttributionInput& input, LayerBasis& basis);

// Attributes the run's energy. Epochs with energy entries use them; an epoch without entries
// (or without a record yet) uses the sum of its steps' energy_j. Steps without an epoch count
// only when no epoch has energy, so nothing is counted twice.
RunEnergy Attribute(const AttributionInput& input, const carbon::Settings& settings);

}  // namespace atlas::energy
