#include "energy/attribution.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace atlas::energy {
namespace {

using Json = model::Json;
using ComponentKey = std::pair<std::string, std::string>;  // (component, method)

// Orders components the way a person reads them: accelerators first, then the host.
int ComponentRank(std::string_view component) {
  static constexpr std::array<std::string_view, 5> kOrder = {"gpu", "cpu", "ram", "other", "all"};
  const auto* it = std::find(kOrder.begin(), kOrder.end(), component);
  return static_cast<int>(it - kOrder.begin());
}

struct ComponentLess {
  bool operator()(const ComponentKey& a, const ComponentKey& b) const {
    const int ra = ComponentRank(a.first);
    const int rb = ComponentRank(b.first);
    if (ra != rb) return ra < rb;
    return a < b;
  }
};

using ComponentSums = std::map<ComponentKey, double, ComponentLess>;

bool IsMeasured(std::string_view method) { return method.rfind("measured:", 0) == 0; }

// The shortest text that reads back as `value`, with the protocol's spelling of non-finite ones.
std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  std::array<char, 32> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return ec == std::errc() ? std::string(buffer.data(), end) : std::string("?");
}

// What one epoch number has: its records' usable entries, its steps' energy, its loss.
struct EpochAccumulator {
  bool has_record = false;
  ComponentSums entries;
  bool has_steps = false;
  double step_joules = 0;
  std::optional<double> loss;
};

std::optional<double> TrainLoss(const model::EpochRecord& record) {
  for (const auto& [name, value] : record.train) {
    if (name == "loss") return value;
  }
  return std::nullopt;
}

void AddEpochRecords(const AttributionInput& input, std::map<std::int64_t, EpochAccumulator>& acc,
                     std::vector<std::string>& notes) {
  for (const model::EpochRecord& record : input.epochs) {
    EpochAccumulator& a = acc[record.epoch];
    a.has_record = true;
    if (auto loss = TrainLoss(record)) a.loss = loss;
    for (const model::EnergyEntry& entry : record.energy) {
      if (!std::isfinite(entry.joules) || entry.joules < 0) {
        notes.push_back("epoch " + std::to_string(record.epoch) + ": the " + entry.component +
                        (entry.device.empty() ? "" : " " + entry.device) + " entry's joules are " +
                        Number(entry.joules) + "; left out of the sums");
        continue;
      }
      a.entries[{entry.component, entry.method}] += entry.joules;
    }
  }
}

// Adds the steps' energy to their epochs; returns the joules of steps that name no epoch.
double AddSteps(const AttributionInput& input, std::map<std::int64_t, EpochAccumulator>& acc,
                std::vector<std::string>& notes) {
  double unassigned = 0;
  std::int64_t unusable = 0;
  for (const StepEnergy& step : input.steps) {
    if (!std::isfinite(step.joules) || step.joules < 0) {
      ++unusable;
      continue;
    }
    if (step.epoch) {
      EpochAccumulator& a = acc[*step.epoch];
      a.has_steps = true;
      a.step_joules += step.joules;
    } else {
      unassigned += step.joules;
    }
  }
  if (unusable > 0) {
    notes.push_back(std::to_string(unusable) +
                    " step(s) with a non-finite energy_j were left out of the sums");
  }
  return unassigned;
}

// Accumulates the run-wide views of one set of component sums.
struct RunSums {
  ComponentSums components;
  std::set<std::string> methods;
  double joules = 0;
  double measured_joules = 0;
  double unmeasured_joules = 0;

  void Add(const ComponentKey& key, double joules_in) {
    components[key] += joules_in;
    methods.insert(key.second);
    joules += joules_in;
    (IsMeasured(key.second) ? measured_joules : unmeasured_joules) += joules_in;
  }
};

std::vector<ComponentEnergy> ToComponents(const ComponentSums& sums) {
  std::vector<ComponentEnergy> out;
  out.reserve(sums.size());
  for (const auto& [key, joules] : sums) out.push_back({key.first, key.second, joules});
  return out;
}

EpochEnergy MakeEpoch(std::int64_t number, const EpochAccumulator& a,
                      const carbon::Settings& settings, RunSums& run) {
  EpochEnergy e;
  e.epoch = number;
  e.loss = a.loss;
  e.complete = a.has_record;
  ComponentSums used;
  if (!a.entries.empty()) {
    e.source = "epoch";
    used = a.entries;
  } else if (a.has_steps) {
    e.source = "steps";
    used[{"all", kStepSumMethod}] = a.step_joules;
  } else {
    e.source = "none";
  }
  double joules = 0;
  std::set<std::string> methods;
  for (const auto& [key, j] : used) {
    joules += j;
    methods.insert(key.second);
    run.Add(key, j);
  }
  e.footprint = carbon::FootprintOf(joules, settings);
  e.by_component = ToComponents(used);
  e.methods.assign(methods.begin(), methods.end());
  return e;
}

// ----- layer shares -----

double NumberAt(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return 0;
  const double value = it->get<double>();
  return std::isfinite(value) && value > 0 ? value : 0;
}

struct ModuleTimes {
  std::map<std::string, std::pair<double, double>> modules;  // name -> (cpu_ms, device_ms)
  double forward_cpu_ms = 0;
  double forward_device_ms = 0;
};

ModuleTimes CollectProfilerTimes(const std::vector<model::ProfileRecord>& profiles) {
  ModuleTimes t;
  for (const model::ProfileRecord& profile : profiles) {
    if (!profile.data.is_object()) continue;
    const auto modules = profile.data.find("modules");
    if (modules != profile.data.end() && modules->is_array()) {
      for (const Json& m : *modules) {
        if (!m.is_object()) continue;
        const auto name = m.find("name");
        if (name == m.end() || !name->is_string()) continue;
        auto& [cpu, device] = t.modules[name->get<std::string>()];
        cpu += NumberAt(m, "cpu_ms");
        device += NumberAt(m, "device_ms");
      }
    }
    const auto phases = profile.data.find("phases");
    if (phases != profile.data.end() && phases->is_object()) {
      const auto forward = phases->find("forward");
      if (forward != phases->end()) {
        t.forward_cpu_ms += NumberAt(*forward, "cpu_ms");
        t.forward_device_ms += NumberAt(*forward, "device_ms");
      }
    }
  }
  return t;
}

// Shares of `amounts` over max(sum, whole); what the amounts leave of the whole goes to
// kOtherLayer. Empty when the amounts sum to zero.
std::vector<LayerEnergy> Shares(const std::vector<std::pair<std::string, double>>& amounts,
                                double whole) {
  double sum = 0;
  for (const auto& [name, amount] : amounts) sum += amount;
  if (!(sum > 0)) return {};
  const double denominator = std::max(sum, whole);
  std::vector<LayerEnergy> layers;
  for (const auto& [name, amount] : amounts) {
    if (amount > 0) layers.push_back({name, amount / denominator, 0, 0});
  }
  std::sort(layers.begin(), layers.end(), [](const LayerEnergy& a, const LayerEnergy& b) {
    return a.share != b.share ? a.share > b.share : a.layer < b.layer;
  });
  if (denominator > sum) layers.push_back({kOtherLayer, (denominator - sum) / denominator, 0, 0});
  return layers;
}

std::vector<LayerEnergy> ProfilerShares(const AttributionInput& input, LayerBasis& basis) {
  const ModuleTimes t = CollectProfilerTimes(input.profiles);
  std::vector<std::pair<std::string, double>> device;
  std::vector<std::pair<std::string, double>> cpu;
  for (const auto& [name, times] : t.modules) {
    cpu.emplace_back(name, times.first);
    device.emplace_back(name, times.second);
  }
  if (auto layers = Shares(device, t.forward_device_ms); !layers.empty()) {
    basis = LayerBasis::kProfilerDeviceTime;
    return layers;
  }
  if (auto layers = Shares(cpu, t.forward_cpu_ms); !layers.empty()) {
    basis = LayerBasis::kProfilerCpuTime;
    return layers;
  }
  return {};
}

// FLOPs include a module's children, so the leaves partition the model's counted work; the
// root's FLOPs (when larger) include work done in parents' own forward code, which goes to
// kOtherLayer rather than being spread over the leaves.
std::vector<LayerEnergy> FlopShares(const AttributionInput& input, LayerBasis& basis) {
  std::unordered_set<std::string> parents;
  double root_flops = 0;
  for (const model::ModuleInfo& m : input.architecture) {
    if (m.parent) {
      parents.insert(*m.parent);
    } else if (m.flops && std::isfinite(*m.flops)) {
      root_flops = *m.flops;
    }
  }
  std::vector<std::pair<std::string, double>> leaves;
  for (const model::ModuleInfo& m : input.architecture) {
    if (!m.parent || parents.count(m.name) != 0) continue;
    if (m.flops && std::isfinite(*m.flops) && *m.flops > 0) leaves.emplace_back(m.name, *m.flops);
  }
  auto layers = Shares(leaves, root_flops);
  if (!layers.empty()) basis = LayerBasis::kFlops;
  return layers;
}

}  // namespace

const char* ToString(LayerBasis basis) {
  switch (basis) {
    case LayerBasis::kProfilerDeviceTime:
      return "profiler:device_ms";
    case LayerBasis::kProfilerCpuTime:
      return "profiler:cpu_ms";
    case LayerBasis::kFlops:
      return "flops";
    case LayerBasis::kNone:
      break;
  }
  return "none";
}

std::vector<LayerEnergy> LayerShares(const AttributionInput& input, LayerBasis& basis) {
  basis = LayerBasis::kNone;
  if (auto layers = ProfilerShares(input, basis); !layers.empty()) return layers;
  return FlopShares(input, basis);
}

RunEnergy Attribute(const AttributionInput& input, const carbon::Settings& settings) {
  RunEnergy out;
  out.settings = settings;
  out.notes = settings.notes;

  std::map<std::int64_t, EpochAccumulator> acc;
  AddEpochRecords(input, acc, out.notes);
  const double unassigned = AddSteps(input, acc, out.notes);

  RunSums run;
  bool any_epoch_entries = false;
  for (const auto& [number, a] : acc) {
    out.epochs.push_back(MakeEpoch(number, a, settings, run));
    any_epoch_entries = any_epoch_entries || out.epochs.back().source == "epoch";
  }
  if (unassigned > 0) {
    if (any_epoch_entries) {
      out.notes.push_back("steps without an epoch carried " + Number(unassigned) +
                          " J; left out because epoch records carry the run's energy");
    } else {
      run.Add({"all", kStepSumMethod}, unassigned);
    }
  }

  out.totals = carbon::FootprintOf(run.joules, settings);
  out.by_component = ToComponents(run.components);
  out.methods.assign(run.methods.begin(), run.methods.end());
  out.measured_joules = run.measured_joules;
  out.measured = run.joules > 0 && run.unmeasured_joules == 0;

  out.layers = LayerShares(input, out.layer_basis);
  for (LayerEnergy& layer : out.layers) {
    layer.joules = layer.share * out.totals.joules;
    layer.kg_co2 = layer.share * out.totals.kg_co2;
  }
  return out;
}

}  // namespace atlas::energy
