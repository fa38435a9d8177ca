// The JSON document of a Diagnosis: the body of GET /api/v1/runs/{id}/diagnostics and what the
// diagnostics service stores (docs/diagnostics.md, "The JSON document").
//
// Pure functions; thread-safe. Non-finite numbers never appear in a Diagnosis the engine makes;
// absent optional values are written as null.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "atlas/status.hpp"
#include "diagnostics/carbon_model.hpp"
#include "diagnostics/engine.hpp"
#include "diagnostics/finding.hpp"

namespace atlas::diagnostics {

// {"check", "category", "severity", "layer", "epochs", "title", "evidence", "why", "fix",
//  "energy_at_stake": {"joules", "kwh", "kg_co2", "eur", "basis"} | null}
nlohmann::json ToJson(const Finding& finding);
// {"joules", "kwh", "kg_co2", "eur", "car_km"}
nlohmann::json ToJson(const Footprint& footprint);
// The whole document: {"grade", "score", "category_scores", "findings", "optimal_stop_epoch",
// "pitch_rule_epoch", "waste", "forecast", "layer_scores", "stopping", "spent"}.
nlohmann::json ToJson(const Diagnosis& diagnosis);

// The inverse of ToJson(Finding); kInvalidArgument naming the first bad key.
Result<Finding> FindingFromJson(const nlohmann::json& json);
// The "findings" array of a document (or any array of findings).
Result<std::vector<Finding>> FindingsFromJson(const nlohmann::json& json);
// The inverse of ToJson(Diagnosis), for a stored document.
Result<Diagnosis> DiagnosisFromJson(const nlohmann::json& json);

}  // namespace atlas::diagnostics
