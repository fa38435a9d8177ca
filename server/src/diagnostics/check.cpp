// FindingSink's merge rule and the registry of every check.
#include "diagnostics/check.hpp"

#include <algorithm>
#include <utility>

namespace atlas::diagnostics {

void FindingSink::Add(Finding finding) {
  std::sort(finding.epochs.begin(), finding.epochs.end());
  finding.epochs.erase(std::unique(finding.epochs.begin(), finding.epochs.end()),
                       finding.epochs.end());
  auto same = [&](const Finding& f) {
    return f.check == finding.check && f.layer == finding.layer;
  };
  auto it = std::find_if(findings_.begin(), findings_.end(), same);
  if (it == findings_.end()) {
    findings_.push_back(std::move(finding));
    return;
  }
  // The same problem seen again: one finding covering both sets of epochs, at the worse
  // severity, described by the later (newer) evidence.
  std::vector<std::int64_t> epochs;
  std::set_union(it->epochs.begin(), it->epochs.end(), finding.epochs.begin(), finding.epochs.end(),
                 std::back_inserter(epochs));
  const Severity severity = std::max(it->severity, finding.severity);
  *it = std::move(finding);
  it->epochs = std::move(epochs);
  it->severity = severity;
}

EnergyAtStake StakeOf(double joules, const CarbonModel& carbon, std::string basis) {
  const Footprint f = FootprintOf(joules, carbon);
  return EnergyAtStake{f.joules, f.kwh, f.kg_co2, f.eur, std::move(basis)};
}

std::vector<CheckInfo> AllChecks() {
  std::vector<CheckInfo> all;
  for (auto list : {LayerChecks(), GradientChecks(), ArchitectureChecks(), ConvergenceChecks(),
                    DeviceChecks(), CarbonChecks()}) {
    all.insert(all.end(), list.begin(), list.end());
  }
  return all;
}

Finding MakeFinding(std::string_view check, Category category, Severity severity, std::string title,
                    Json evidence, std::string why, std::string fix) {
  Finding f;
  f.check = std::string(check);
  f.category = category;
  f.severity = severity;
  f.title = std::move(title);
  f.evidence = std::move(evidence);
  f.why = std::move(why);
  f.fix = std::move(fix);
  return f;
}

}  // namespace atlas::diagnostics
