// JSON views of the model for API responses (docs/protocol.md, "Responses").
//
// Non-finite numbers become the strings "NaN", "Infinity" and "-Infinity", the same spelling
// clients use when sending them, since JSON itself has no such values.
#pragma once

#include <optional>
#include <vector>

#include "model/records.hpp"
#include "model/runs.hpp"

namespace atlas::api {

using model::Json;

Json NumberJson(double value);
Json NumberJson(const std::optional<double>& value);  // null when absent

Json ProjectJson(const model::Project& project);
Json RunSummaryJson(const model::Run& run);  // identity, status and totals
Json RunDetailJson(const model::Run& run);   // the summary plus metadata and architecture
Json ModuleJson(const model::ModuleInfo& module);
Json EpochJson(const model::EpochRecord& epoch);
Json LayerStatsJson(const model::LayerStatsRecord& sample);
Json EventJson(const model::EventRecord& event);
Json ProfileJson(const model::ProfileRecord& profile);

}  // namespace atlas::api
