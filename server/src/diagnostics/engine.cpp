// Diagnose: every check over the view, then the grade, the stopping analysis, the waste and the
// forecast.
#include "diagnostics/engine.hpp"

#include <algorithm>

#include "diagnostics/check.hpp"

namespace atlas::diagnostics {
namespace {

// Most severe first; within a severity, by category then check id then layer, so the order is
// stable from one evaluation to the next.
bool MoreSevere(const Finding& a, const Finding& b) {
  if (a.severity != b.severity) return a.severity > b.severity;
  if (a.category != b.category) return a.category < b.category;
  if (a.check != b.check) return a.check < b.check;
  return a.layer.value_or("") < b.layer.value_or("");
}

}  // namespace

Diagnosis Diagnose(const RunTelemetry& run, const Thresholds& thresholds) {
  Diagnosis d;
  FindingSink sink;
  for (const CheckInfo& check : AllChecks()) check.run(run, thresholds, sink);
  d.findings = sink.Take();
  std::stable_sort(d.findings.begin(), d.findings.end(), MoreSevere);
  Grade(run, d);
  d.stopping = AnalyseStopping(run, thresholds);
  d.waste = WasteAfter(run, d.stopping);
  d.forecast = ForecastRun(run, thresholds);
  d.spent = FootprintOf(run.total_joules(), run.carbon);
  return d;
}

}  // namespace atlas::diagnostics
