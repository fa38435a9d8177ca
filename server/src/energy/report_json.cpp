#include "energy/report_json.hpp"

#include <cmath>

namespace atlas::energy {
namespace {

using Json = model::Json;

Json ComponentsJson(const std::vector<ComponentEnergy>& components) {
  Json list = Json::array();
  for (const ComponentEnergy& c : components) {
    list.push_back({{"component", c.component}, {"joules", c.joules}, {"method", c.method}});
  }
  return list;
}

// The footprint's numbers as the keys of `object`.
void PutFootprint(Json& object, const carbon::Footprint& f) {
  object["joules"] = f.joules;
  object["kwh"] = f.kwh;
  object["kg_co2"] = f.kg_co2;
  object["eur"] = f.eur;
  object["car_km"] = f.car_km;
}

Json EpochJson(const EpochEnergy& e) {
  Json object = {{"epoch", e.epoch}};
  PutFootprint(object, e.footprint);
  object["by_component"] = ComponentsJson(e.by_component);
  object["methods"] = e.methods;
  object["source"] = e.source;
  object["complete"] = e.complete;
  object["loss"] = e.loss && std::isfinite(*e.loss) ? Json(*e.loss) : Json(nullptr);
  return object;
}

}  // namespace

Json SettingsJson(const carbon::Settings& s) {
  return {{"pue", s.pue},
          {"g_co2_per_kwh", s.g_co2_per_kwh},
          {"intensity_source", s.intensity_source},
          {"eur_per_tonne_co2", s.eur_per_tonne_co2},
          {"g_co2_per_car_km", s.g_co2_per_car_km},
          {"budget_kg_co2", s.budget_kg_co2 ? Json(*s.budget_kg_co2) : Json(nullptr)}};
}

Json RunEnergyJson(const RunEnergy& energy) {
  Json totals = Json::object();
  PutFootprint(totals, energy.totals);
  totals["by_component"] = ComponentsJson(energy.by_component);

  Json epochs = Json::array();
  for (const EpochEnergy& e : energy.epochs) epochs.push_back(EpochJson(e));

  const char* basis = ToString(energy.layer_basis);
  Json layers = Json::array();
  for (const LayerEnergy& l : energy.layers) {
    layers.push_back({{"layer", l.layer},
                      {"share", l.share},
                      {"basis", basis},
                      {"joules", l.joules},
                      {"kg_co2", l.kg_co2}});
  }
  return {{"settings", SettingsJson(energy.settings)},
          {"totals", std::move(totals)},
          {"epochs", std::move(epochs)},
          {"layers", std::move(layers)},
          {"layer_basis", basis},
          {"measured", energy.measured},
          {"measured_joules", energy.measured_joules},
          {"methods", energy.methods},
          {"notes", energy.notes}};
}

}  // namespace atlas::energy
