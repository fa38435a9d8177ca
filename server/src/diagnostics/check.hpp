// Check: a pure function from a run's telemetry to findings, and the registry of all checks.
//
// A check reads the RunTelemetry and the Thresholds and adds findings to a FindingSink; it does
// no I/O, reads no clock and keeps no state between calls, so running every check again over the
// grown view after each epoch is the incremental evaluation (the view itself grows
// incrementally). Each category's checks live in checks/<category>_checks.cpp and are listed by
// that file's <Category>Checks() function; AllChecks() concatenates them.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostics/finding.hpp"
#include "diagnostics/telemetry.hpp"
#include "diagnostics/thresholds.hpp"

namespace atlas::diagnostics {

// Collects findings; merges a finding whose (check, layer) was already added (epochs united,
// the more severe severity and the later evidence kept).
class FindingSink {
 public:
  void Add(Finding finding);
  const std::vector<Finding>& findings() const { return findings_; }
  std::vector<Finding> Take() { return std::move(findings_); }

 private:
  std::vector<Finding> findings_;
};

// The energy at stake of `joules` of device energy under the run's carbon model; `basis` says
// how the joules were derived (e.g. "12% of 40 kJ spent so far").
EnergyAtStake StakeOf(double joules, const CarbonModel& carbon, std::string basis);

// A finding of `check` with the fields every check fills; layer, epochs and energy at stake
// are left for the check to set.
Finding MakeFinding(std::string_view check, Category category, Severity severity, std::string title,
                    Json evidence, std::string why, std::string fix);

using CheckFn = void (*)(const RunTelemetry&, const Thresholds&, FindingSink&);

struct CheckInfo {
  std::string_view id;  // e.g. "layer.dead"
  Category category;
  CheckFn run;
  std::string_view summary;  // one line for `atlas report --checks` and the docs
};

std::span<const CheckInfo> LayerChecks();
std::span<const CheckInfo> GradientChecks();
std::span<const CheckInfo> ArchitectureChecks();
std::span<const CheckInfo> ConvergenceChecks();
std::span<const CheckInfo> DeviceChecks();
std::span<const CheckInfo> CarbonChecks();

// Every check, by category in the order above.
std::vector<CheckInfo> AllChecks();

}  // namespace atlas::diagnostics
