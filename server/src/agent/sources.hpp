// RunSources: where the agent's tools read a run from. The same services the API uses: the
// Store for telemetry, and the diagnosis and energy views the API serves.
//
// The diagnosis view defaults to the document the analysis service stores with each run
// (Store::GetDiagnosis, the body of GET /api/v1/runs/{id}/diagnostics); the energy view
// defaults to the per-epoch energy records in the Store. atlasd may replace either with the
// owning service's own function. Threading: the functions must be thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "atlas/status.hpp"
#include "store/store.hpp"

namespace atlas::agent {

using Json = nlohmann::json;

struct RunSources {
  store::Store* store = nullptr;
  // The run's latest diagnosis document, nullopt when none was computed yet.
  std::function<Result<std::optional<Json>>(const std::string& run_id)> diagnosis;
  // The run's energy timeline (see EnergyFromEpochs for the shape).
  std::function<Result<Json>(const std::string& run_id)> energy;
  // Unix seconds.
  std::function<double()> clock;
};

// Sources over `store` alone, with the defaults above and the system clock.
RunSources DefaultSources(store::Store& store);

// The energy timeline from the run's epoch records: {"run_id", "epochs": [{"epoch", "ts",
// "duration_s", "joules", "components": {name: joules}, "methods": [..]}], "total_joules",
// "measured": bool, "methods": [..]}.
Result<Json> EnergyFromEpochs(store::Store& store, const std::string& run_id);

}  // namespace atlas::agent
