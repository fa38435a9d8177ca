#include "agent/sources.hpp"

#include <chrono>
#include <set>

namespace atlas::agent {

Result<Json> EnergyFromEpochs(store::Store& store, const std::string& run_id) {
  Result<std::vector<model::EpochRecord>> epochs = store.ListEpochs(run_id);
  if (!epochs.ok()) return epochs.status();
  Json out = {{"run_id", run_id}, {"epochs", Json::array()}};
  double total = 0;
  bool measured = false;
  std::set<std::string> all_methods;
  for (const auto& e : *epochs) {
    Json components = Json::object();
    std::set<std::string> methods;
    double joules = 0;
    for (const auto& entry : e.energy) {
      components[entry.component] = components.value(entry.component, 0.0) + entry.joules;
      joules += entry.joules;
      methods.insert(entry.method);
      all_methods.insert(entry.method);
      measured = measured || entry.method.rfind("measured", 0) == 0;
    }
    total += joules;
    out["epochs"].push_back({{"epoch", e.epoch},
                             {"ts", e.ts},
                             {"duration_s", e.duration_s ? Json(*e.duration_s) : Json()},
                             {"joules", joules},
                             {"components", components},
                             {"methods", methods}});
  }
  out["total_joules"] = total;
  out["measured"] = measured;
  out["methods"] = all_methods;
  return out;
}

RunSources DefaultSources(store::Store& store) {
  RunSources sources;
  sources.store = &store;
  store::Store* s = &store;
  sources.diagnosis = [s](const std::string& run_id) -> Result<std::optional<Json>> {
    Result<std::optional<store::DiagnosisRecord>> record = s->GetDiagnosis(run_id);
    if (!record.ok()) return record.status();
    if (!record->has_value()) return std::optional<Json>();
    Json document = Json::parse((*record)->document, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) {
      return Status::Internal("the stored diagnosis of run " + run_id + " is not valid JSON");
    }
    return std::optional<Json>(std::move(document));
  };
  sources.energy = [s](const std::string& run_id) { return EnergyFromEpochs(*s, run_id); };
  sources.clock = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  return sources;
}

}  // namespace atlas::agent
