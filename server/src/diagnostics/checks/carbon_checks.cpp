// The carbon checks (docs/diagnostics.md, "Carbon checks"): read the epochs' energy entries, the
// run's CarbonModel and the forecast.
#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "diagnostics/check.hpp"
#include "diagnostics/engine.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

using model::StepField;

Finding CarbonFinding(std::string_view check, Severity severity, std::string title, Json evidence,
                      std::string why, std::string fix) {
  return MakeFinding(check, Category::kCarbon, severity, std::move(title), std::move(evidence),
                     std::move(why), std::move(fix));
}

double KgCo2(double joules, const CarbonModel& m) { return FootprintOf(joules, m).kg_co2; }

// ----- carbon.spike -----

void Spike(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const std::size_t n = run.epochs.size();
  // Two epochs after the first at least: one to judge, one to judge it against.
  if (n < 3 || static_cast<double>(n) < t.Get("carbon.spike.min_epochs")) return;
  // The first epoch is left out, as a candidate and from the baseline: it carries the run's
  // warm-up (start-up, first-step allocation, cuDNN autotuning, compilation), which in a short
  // run can be dozens of times a later epoch's energy and is not a spike of the training.
  const double total = run.total_joules() - run.epochs.front().joules;
  if (total <= 0) return;
  // An epoch at or below the mean is no spike, whatever an override says.
  const double factor = std::max(1.0, t.Get("carbon.spike.factor"));
  for (std::size_t i = 1; i < n; ++i) {
    const EpochView& e = run.epochs[i];
    // Against the mean of the other epochs: with the spike in the mean, a 10x spike needs
    // more than ten epochs to be visible at all.
    const double others = (total - e.joules) / static_cast<double>(n - 2);
    if (others <= 0 || e.joules <= factor * others) continue;
    Finding f =
        CarbonFinding("carbon.spike", Severity::kWarning,
                      "epoch " + std::to_string(e.record.epoch) + " emitted " +
                          Fmt(e.joules / others) + "x the CO2 of an average epoch",
                      {{"epoch_joules", e.joules},
                       {"mean_other_epoch_joules", others},
                       {"ratio", e.joules / others},
                       {"threshold", factor},
                       {"epoch_kg_co2", KgCo2(e.joules, run.carbon)}},
                      "One epoch used far more energy than the others for the same work: "
                      "something else ran, or the device was throttled or shared.",
                      "Look at that epoch's events and step timings (evaluation, checkpointing, "
                      "another process on the GPU: `nvidia-smi`); keep such work out of the "
                      "training epochs.");
    f.epochs = {e.record.epoch};
    f.energy_at_stake =
        StakeOf(e.joules - others, run.carbon, "energy of the epoch above the mean epoch");
    sink.Add(std::move(f));
  }
}

// ----- carbon.inefficient_epoch -----

void InefficientEpoch(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  if (static_cast<double>(run.epochs.size()) < t.Get("carbon.inefficient_epoch.min_epochs")) {
    return;
  }
  const EpochSeries s = StoppingSeries(run);
  if (s.size() < 3) return;
  const double sigma = NoiseSigma(s.values);
  std::vector<double> ratios;
  std::vector<std::size_t> at;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const double gain = s.values[i - 1] - s.values[i];
    const double joules = run.epochs[s.index[i]].joules;
    // A gain within the noise is not a measured gain; epochs without one are the business of
    // past_optimal_stop and plateau.
    if (gain <= 0 || gain <= sigma || joules <= 0) continue;
    ratios.push_back(joules / gain);
    at.push_back(i);
  }
  if (ratios.size() < 3) return;
  const double median = Median(ratios);
  const double factor = t.Get("carbon.inefficient_epoch.factor");
  std::vector<std::int64_t> epochs;
  double worst = 0;
  for (std::size_t k = 0; k < ratios.size(); ++k) {
    if (ratios[k] <= factor * median) continue;
    epochs.push_back(s.epochs[at[k]]);
    worst = std::max(worst, ratios[k] / median);
  }
  if (epochs.empty()) return;
  Finding f =
      CarbonFinding("carbon.inefficient_epoch", Severity::kInfo,
                    std::to_string(epochs.size()) + " epoch(s) cost up to " + Fmt(worst) +
                        "x the median CO2 per unit of " + s.name + " gained",
                    {{"metric", s.name},
                     {"median_joules_per_unit_gain", median},
                     {"worst_ratio", worst},
                     {"threshold", factor},
                     {"noise_sigma", sigma}},
                    "These epochs bought little improvement for their energy: the run is deep in "
                    "diminishing returns.",
                    "Stop earlier (see the optimal stopping point) or raise the learning rate "
                    "schedule's decay so late epochs still make progress.");
  f.epochs = epochs;
  sink.Add(std::move(f));
}

// ----- carbon.idle_power -----

void IdlePower(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double limit = t.Get("carbon.idle_power.idle_share");
  std::vector<std::int64_t> epochs;
  double idle_joules = 0, worst = 0;
  for (std::size_t i = 0; i < run.epochs.size(); ++i) {
    const EpochView& e = run.epochs[i];
    const StepAggregate& st = e.steps;
    const FieldStats& ms = st.field(StepField::kStepMs);
    const auto seconds = EpochSeconds(run, i);
    // Only epochs whose every step is present and timed: sampled steps would look idle.
    if (!seconds || *seconds <= 0 || e.joules <= 0 || ms.count != st.steps || !st.first_step ||
        !st.last_step || *st.last_step - *st.first_step + 1 != st.steps) {
      continue;
    }
    const double idle = 1 - ms.sum / 1000 / *seconds;
    if (idle < limit) continue;
    epochs.push_back(e.record.epoch);
    idle_joules += e.joules * idle;
    worst = std::max(worst, idle);
  }
  if (epochs.empty()) return;
  Finding f = CarbonFinding(
      "carbon.idle_power", Severity::kWarning,
      "up to " + Pct(worst) + " of an epoch's time ran no training step",
      {{"worst_idle_share", worst}, {"threshold", limit}, {"idle_joules", idle_joules}},
      "The machine draws power between training steps too (evaluation, "
      "checkpointing, sleeps, waiting on I/O); that energy trains nothing.",
      "Evaluate less often or on a subset, checkpoint asynchronously, and remove "
      "sleeps or blocking uploads from the loop.");
  f.epochs = epochs;
  f.energy_at_stake = StakeOf(idle_joules, run.carbon, "epoch energy x idle share of its time");
  sink.Add(std::move(f));
}

// ----- carbon.cpu_dominates -----

void CpuDominates(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  if (DeviceType(run) != "cuda") return;
  double gpu = 0, host = 0;
  std::vector<std::string> methods;
  for (const EpochView& e : run.epochs) {
    gpu += ComponentJoules(e, "gpu");
    host += ComponentJoules(e, "cpu") + ComponentJoules(e, "ram");
    for (const model::EnergyEntry& entry : e.record.energy) {
      if (std::find(methods.begin(), methods.end(), entry.method) == methods.end()) {
        methods.push_back(entry.method);
      }
    }
  }
  if (gpu <= 0 || host <= 0) return;
  const double share = host / (host + gpu);
  if (share < t.Get("carbon.cpu_dominates.cpu_share")) return;
  Finding f =
      CarbonFinding("carbon.cpu_dominates", Severity::kWarning,
                    "CPU and RAM used " + Pct(share) + " of the energy of a GPU run",
                    {{"cpu_ram_joules", host},
                     {"gpu_joules", gpu},
                     {"cpu_share", share},
                     {"threshold", t.Get("carbon.cpu_dominates.cpu_share")},
                     {"methods", methods}},
                    "On a GPU run the host should be a small part of the energy; when it "
                    "dominates, the host does work the GPU waits for (data preparation, Python "
                    "overhead).",
                    "Move preprocessing to the GPU or to DataLoader workers, batch more work per "
                    "step, and check `device.dataloader_bound` and `device.low_utilization`.");
  for (const EpochView& e : run.epochs) f.epochs.push_back(e.record.epoch);
  sink.Add(std::move(f));
}

// ----- carbon.forecast_over_budget -----

void ForecastOverBudget(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const CarbonModel& m = run.carbon;
  if (!m.budget_kg_co2 || *m.budget_kg_co2 <= 0 || m.grid_g_co2_per_kwh <= 0) return;
  const double spent = KgCo2(run.total_joules(), m);
  const Forecast fc = ForecastRun(run, t);
  const double projected = fc.total ? fc.total->kg_co2 : spent;
  const double limit = *m.budget_kg_co2 * t.Get("carbon.forecast_over_budget.fraction");
  if (projected <= limit && spent <= *m.budget_kg_co2) return;
  const bool over = spent > *m.budget_kg_co2;
  Finding f =
      CarbonFinding("carbon.forecast_over_budget", over ? Severity::kCritical : Severity::kWarning,
                    over ? "the run has emitted " + Fmt(spent) + " kg CO2, over its budget of " +
                               Fmt(*m.budget_kg_co2) + " kg"
                         : "the planned epochs will emit " + Fmt(projected) +
                               " kg CO2, over the budget of " + Fmt(*m.budget_kg_co2) + " kg",
                    {{"budget_kg_co2", *m.budget_kg_co2},
                     {"spent_kg_co2", spent},
                     {"projected_kg_co2", projected},
                     {"planned_epochs", fc.planned_epochs ? Json(*fc.planned_epochs) : Json()},
                     {"threshold_fraction", t.Get("carbon.forecast_over_budget.fraction")}},
                    "The budget is the emission the team agreed to spend on this run.",
                    "Stop at the optimal stopping point, reduce the planned epochs, or run where "
                    "the grid is cleaner; raise the budget only deliberately.");
  for (const EpochView& e : run.epochs) f.epochs.push_back(e.record.epoch);
  const double kg_per_joule = KgCo2(1.0, m);
  if (kg_per_joule > 0) {
    f.energy_at_stake = StakeOf((projected - *m.budget_kg_co2) / kg_per_joule, m,
                                "energy beyond the budget in the projection");
  }
  sink.Add(std::move(f));
}

// ----- carbon.high_intensity_grid -----

void HighIntensityGrid(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double grid = run.carbon.grid_g_co2_per_kwh;
  const double limit = t.Get("carbon.high_intensity_grid.g_co2_per_kwh");
  if (grid <= limit) return;
  // A run that did not say where it ran is costed at the world average (atlas/carbon.hpp): that
  // is an assumption, not evidence of a dirty grid, so it earns no finding.
  if (run.carbon.grid_source.find("WORLD") != std::string::npos) return;
  Finding f = CarbonFinding(
      "carbon.high_intensity_grid", Severity::kInfo,
      "the grid emits " + Fmt(grid) + " g CO2/kWh, above the world average",
      {{"grid_g_co2_per_kwh", grid},
       {"threshold_g_co2_per_kwh", limit},
       {"grid_source", run.carbon.grid_source}},
      "The same training emits in proportion to the grid's carbon intensity; a "
      "cleaner region or hour cuts its CO2 without touching the model.",
      "Run in a low-carbon region or when the grid is cleaner (e.g. a cloud region "
      "on hydro or nuclear power), or set `carbon_intensity` if the figure is wrong.");
  for (const EpochView& e : run.epochs) f.epochs.push_back(e.record.epoch);
  if (const double j = run.total_joules(); j > 0) {
    f.energy_at_stake = StakeOf(j * (1 - limit / grid), run.carbon,
                                "share of the run's emissions above a grid at the threshold");
  }
  sink.Add(std::move(f));
}

constexpr CheckInfo kCarbonChecks[] = {
    {"carbon.spike", Category::kCarbon, Spike,
     "an epoch emitted far more than the run's other epochs"},
    {"carbon.inefficient_epoch", Category::kCarbon, InefficientEpoch,
     "an epoch's CO2 per unit of loss gained is far above the run's median"},
    {"carbon.idle_power", Category::kCarbon, IdlePower,
     "a large share of an epoch's time (and energy) ran no training step"},
    {"carbon.cpu_dominates", Category::kCarbon, CpuDominates,
     "CPU and RAM use most of the energy of a GPU run"},
    {"carbon.forecast_over_budget", Category::kCarbon, ForecastOverBudget,
     "the planned epochs will emit more than the run's CO2 budget"},
    {"carbon.high_intensity_grid", Category::kCarbon, HighIntensityGrid,
     "the run's grid is more carbon-intensive than the world average"},
};

}  // namespace

std::span<const CheckInfo> CarbonChecks() { return kCarbonChecks; }

}  // namespace atlas::diagnostics
