#include "api/json_views.hpp"

#include <cmath>

namespace atlas::api {
namespace {

Json NamedNumbers(const std::vector<std::pair<std::string, double>>& values) {
  Json out = Json::object();
  for (const auto& [name, value] : values) out[name] = NumberJson(value);
  return out;
}

template <typename T>
Json OptionalJson(const std::optional<T>& value) {
  if (!value) return nullptr;
  return *value;
}

}  // namespace

Json NumberJson(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

Json NumberJson(const std::optional<double>& value) {
  return value ? NumberJson(*value) : Json(nullptr);
}

Json ProjectJson(const model::Project& project) {
  return {{"id", project.id},
          {"name", project.name},
          {"created_at", project.created_at},
          {"run_count", project.run_count}};
}

Json RunSummaryJson(const model::Run& run) {
  const auto& t = run.totals;
  return {
      {"id", run.id},
      {"project_id", run.project_id},
      {"project", run.project_name},
      {"name", run.name},
      {"status", model::ToString(run.status)},
      {"status_reason", run.status_reason},
      {"started_at", run.started_at},
      {"created_at", run.created_at},
      {"finished_at", OptionalJson(run.finished_at)},
      {"totals",
       {{"step_records", t.step_records},
        {"last_step", OptionalJson(t.last_step)},
        {"last_loss", NumberJson(t.last_loss)},
        {"epochs", t.epochs},
        {"samples", t.samples},
        {"tokens", t.tokens},
        {"energy_joules", t.energy_joules},
        {"layer_samples", t.layer_samples},
        {"events", t.events},
        {"last_ts", OptionalJson(t.last_ts)}}},
  };
}

Json RunDetailJson(const model::Run& run) {
  Json out = RunSummaryJson(run);
  out["host"] = run.host;
  out["device"] = run.device;
  out["framework"] = run.framework;
  out["config"] = run.config;
  out["hyperparameters"] = run.hyperparameters;
  Json modules = Json::array();
  for (const auto& m : run.architecture) modules.push_back(ModuleJson(m));
  out["architecture"] = std::move(modules);
  out["client_stats"] = run.client_stats;
  return out;
}

Json ModuleJson(const model::ModuleInfo& module) {
  return {{"name", module.name},
          {"type", module.type},
          {"parent", OptionalJson(module.parent)},
          {"params", module.params},
          {"trainable_params", module.trainable_params},
          {"input_shape", module.input_shape},
          {"output_shape", module.output_shape},
          {"flops", NumberJson(module.flops)}};
}

Json EpochJson(const model::EpochRecord& epoch) {
  Json energy = Json::array();
  for (const auto& e : epoch.energy) {
    energy.push_back({{"component", e.component},
                      {"device", e.device},
                      {"joules", NumberJson(e.joules)},
                      {"method", e.method}});
  }
  return {{"seq", epoch.seq},
          {"epoch", epoch.epoch},
          {"ts", epoch.ts},
          {"duration_s", NumberJson(epoch.duration_s)},
          {"train", NamedNumbers(epoch.train)},
          {"val", NamedNumbers(epoch.val)},
          {"energy", std::move(energy)}};
}

Json LayerStatsJson(const model::LayerStatsRecord& sample) {
  Json layers = Json::array();
  for (const auto& layer : sample.layers) {
    Json entry = {{"layer", layer.layer}};
    for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
      if (layer.values[i])
        entry[std::string(model::kLayerStatNames[i])] = NumberJson(*layer.values[i]);
    }
    entry["extra"] = layer.extra;
    layers.push_back(std::move(entry));
  }
  return {{"seq", sample.seq},
          {"step", sample.step},
          {"epoch", OptionalJson(sample.epoch)},
          {"ts", sample.ts},
          {"layers", std::move(layers)}};
}

Json EventJson(const model::EventRecord& event) {
  return {{"seq", event.seq},   {"ts", event.ts},           {"level", event.level},
          {"type", event.type}, {"message", event.message}, {"data", event.data}};
}

Json ProfileJson(const model::ProfileRecord& profile) {
  return {{"seq", profile.seq}, {"step", profile.step}, {"ts", profile.ts}, {"data", profile.data}};
}

}  // namespace atlas::api
