// Golden case files: a run's telemetry in a compact JSON form, threshold overrides, and the
// findings expected (the format is documented in cases/README.md).
//
// Test-only code. ParseTelemetry builds the RunTelemetry the diagnostics service would build
// from the store; layer samples, modules, profiles, events and epoch records go through the
// protocol parser, so a case file uses exactly the record shapes of docs/protocol.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "atlas/status.hpp"
#include "diagnostics/finding.hpp"
#include "diagnostics/telemetry.hpp"

namespace atlas::diagnostics::testing {

struct ExpectedFinding {
  std::string check;
  std::optional<std::string> layer;  // when given, the finding must be on this layer
  std::optional<Severity> severity;  // when given, exactly this severity
  std::vector<std::int64_t> epochs;  // when given, the finding must cover these epochs
};

struct Expectation {
  std::vector<ExpectedFinding> fires;
  // Check ids that must not fire: "convergence.plateau", "device.*" (a category), "*" (all).
  std::vector<std::string> silent;
  std::optional<Severity> max_severity;  // no finding above this
  std::string grades;                    // allowed grade letters, e.g. "AB"; empty: any
  // Expected stopping analysis values: "best_epoch", "optimal_epoch", "online_stop_epoch",
  // "pitch_rule_epoch" -> integer, or null for "absent".
  nlohmann::json stopping = nlohmann::json::object();
};

struct Case {
  std::string name;
  std::string description;
  RunTelemetry telemetry;
  nlohmann::json thresholds = nlohmann::json::object();
  Expectation expect;
};

// The telemetry object of a case file -> RunTelemetry; kInvalidArgument naming the field.
Result<RunTelemetry> ParseTelemetry(const nlohmann::json& telemetry);
// A whole case file.
Result<Case> ParseCase(std::string_view text, std::string name);
Result<Case> LoadCase(const std::filesystem::path& path);
// The *.json files under `dir`, sorted by name.
std::vector<std::filesystem::path> CaseFiles(const std::filesystem::path& dir);

// Whether check id `id` matches a silent pattern ("*", "category.*" or an exact id).
bool MatchesPattern(std::string_view pattern, std::string_view id);

}  // namespace atlas::diagnostics::testing
