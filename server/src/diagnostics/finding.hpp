// Finding: one problem the diagnostics engine found in a run, with its evidence and its fix.
//
// Plain values, no behaviour. A finding is identified within a run by (check, layer): the same
// problem seen again in a later epoch extends `epochs` instead of adding a second finding, so a
// long run is not penalised for being long. The JSON form (finding_json.hpp) is the
// `findings[]` element of GET /api/v1/runs/{id}/diagnostics (docs/diagnostics.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace atlas::diagnostics {

using Json = nlohmann::json;

// The pitch's six categories.
enum class Category { kLayer, kGradient, kArchitecture, kConvergence, kDevice, kCarbon };
inline constexpr std::size_t kCategoryCount = 6;

enum class Severity { kInfo, kWarning, kCritical };

std::string_view ToString(Category c);
std::string_view ToString(Severity s);
std::optional<Category> ParseCategory(std::string_view s);
std::optional<Severity> ParseSeverity(std::string_view s);

// What a problem costs: the energy spent on the wasted work so far, and its footprint.
// `joules` is device energy (before PUE); the footprint applies the run's CarbonModel.
struct EnergyAtStake {
  double joules = 0;
  double kwh = 0;     // facility energy: joules / 3.6e6 * PUE
  double kg_co2 = 0;  // kwh * grid intensity
  double eur = 0;     // kg_co2 * carbon price
  std::string basis;  // how it was derived, e.g. "3.1% of compute x 12.4 kJ spent so far"
};

struct Finding {
  std::string check;  // stable id, e.g. "layer.dead" (docs/diagnostics.md lists them all)
  Category category = Category::kLayer;
  Severity severity = Severity::kInfo;
  std::optional<std::string> layer;  // module name, or none for run-wide findings
  std::vector<std::int64_t> epochs;  // the epochs the finding covers, ascending, no repeats
  std::string title;                 // one line, e.g. "conv2: 87% of units are dead"
  Json evidence = Json::object();    // the numbers and the thresholds they crossed
  std::string why;                   // why it matters for energy, cost and results
  std::string fix;                   // a concrete fix with a code-level hint
  std::optional<EnergyAtStake> energy_at_stake;
};

}  // namespace atlas::diagnostics
