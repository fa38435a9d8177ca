// ResolveSettings: a run's configuration (the observer's energy settings) to the numbers its
// footprint is computed with. Every rejected value becomes a note; nothing here fails.
#include <charconv>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "atlas/carbon.hpp"

namespace atlas::carbon {
namespace {

using Json = nlohmann::json;

// The shortest text that reads back as `value` ("1.5", "2000").
std::string Text(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::string("?");
}

// The object the energy keys live in: the root's "energy" object, else the root.
const Json& EnergyObject(const Json& root) {
  const auto it = root.find("energy");
  if (it != root.end() && it->is_object()) return *it;
  return root;
}

// A present, non-null value of `key`, or nullptr.
const Json* Present(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// The number at `key` when it is finite and within [min, max]; otherwise nullopt, with a note
// when a value was given but rejected.
std::optional<double> NumberIn(const Json& object, const char* key, double min, double max,
                               std::vector<std::string>& notes) {
  const Json* value = Present(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) {
    notes.push_back(std::string(key) + " ignored: not a number");
    return std::nullopt;
  }
  const double number = value->get<double>();
  if (!std::isfinite(number) || number < min || number > max) {
    notes.push_back(std::string(key) + " ignored: " + Text(number) + " is outside [" + Text(min) +
                    ", " + Text(max) + "]");
    return std::nullopt;
  }
  return number;
}

// The string at `key`, or nullopt with a note when a non-string was given.
std::optional<std::string> StringAt(const Json& object, const char* key,
                                    std::vector<std::string>& notes) {
  const Json* value = Present(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    notes.push_back(std::string(key) + " ignored: not a string");
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::string OwidLabel(const GridIntensity& row) {
  return "OWID " + std::to_string(row.year) + " (" + std::string(row.code) + ")";
}

// Sets the intensity and its source: the override, else the cloud region, else the country,
// else the world average with the reason.
void ResolveIntensity(const Json& energy, Settings& s) {
  if (auto g = NumberIn(energy, "grid_g_co2_per_kwh", 0.0, kMaxGridGramsPerKwh, s.notes)) {
    s.g_co2_per_kwh = *g;
    s.intensity_source = "user override (grid_g_co2_per_kwh)";
    return;
  }
  std::string why_world = "no country_iso_code or cloud_region configured";
  if (auto region = StringAt(energy, "cloud_region", s.notes)) {
    if (auto row = FindGridIntensity(*region); row && !row->grid.empty()) {
      s.g_co2_per_kwh = row->g_co2_per_kwh;
      s.intensity_source = "OWID " + std::to_string(row->year) + " (" + std::string(row->grid) +
                           ") via cloud region " + std::string(row->code);
      return;
    }
    why_world = "cloud_region '" + *region + "' not in the table";
    s.notes.push_back("cloud_region '" + *region + "' ignored: not in the table");
  }
  if (auto country = StringAt(energy, "country_iso_code", s.notes)) {
    if (auto row = FindGridIntensity(*country); row && row->grid.empty()) {
      s.g_co2_per_kwh = row->g_co2_per_kwh;
      s.intensity_source = OwidLabel(*row);
      return;
    }
    why_world = "country_iso_code '" + *country + "' not in the table";
    s.notes.push_back("country_iso_code '" + *country + "' ignored: not in the table");
  }
  const GridIntensity world = WorldAverage();
  s.g_co2_per_kwh = world.g_co2_per_kwh;
  s.intensity_source = OwidLabel(world) + ": " + why_world;
}

}  // namespace

Settings ResolveSettings(std::string_view config_json) {
  Settings s;
  s.g_co2_per_car_km = DefaultCarCo2GramsPerKm();
  Json root = Json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    if (!config_json.empty()) s.notes.emplace_back("config ignored: not a JSON object");
    root = Json::object();
  }
  const Json& energy = EnergyObject(root);
  ResolveIntensity(energy, s);
  if (auto pue = NumberIn(energy, "pue", kMinPue, kMaxPue, s.notes)) s.pue = *pue;
  if (auto price =
          NumberIn(energy, "carbon_price_eur_per_t", 0.0, kMaxCarbonPriceEurPerTonne, s.notes)) {
    s.eur_per_tonne_co2 = *price;
  }
  if (auto car = NumberIn(energy, "car_g_co2_per_km", 0.0, kMaxCarGramsPerKm, s.notes)) {
    if (*car > 0) {
      s.g_co2_per_car_km = *car;
    } else {
      s.notes.emplace_back("car_g_co2_per_km ignored: must be positive");
    }
  }
  if (auto budget = NumberIn(energy, "carbon_budget_kg", 0.0, HUGE_VAL, s.notes)) {
    if (*budget > 0) {
      s.budget_kg_co2 = *budget;
    } else {
      s.notes.emplace_back("carbon_budget_kg ignored: must be positive");
    }
  }
  return s;
}

Footprint FootprintOf(double joules, const Settings& settings) {
  Footprint f;
  f.joules = joules;
  f.kwh = joules / kJoulesPerKwh * settings.pue;
  f.kg_co2 = f.kwh * settings.g_co2_per_kwh / 1000.0;
  f.eur = f.kg_co2 / 1000.0 * settings.eur_per_tonne_co2;
  f.car_km = settings.g_co2_per_car_km > 0 ? f.kg_co2 * 1000.0 / settings.g_co2_per_car_km : 0.0;
  return f;
}

}  // namespace atlas::carbon
