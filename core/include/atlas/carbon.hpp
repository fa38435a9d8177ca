// Carbon and cost: grid carbon intensity by country and cloud region (an offline table with its
// year and source), and the defaults every Atlas footprint uses (PUE, carbon price, car-km).
//
// No network access: the table is compiled in (core/src/carbon/grid_table.cpp, documented in
// docs/energy.md). Pure functions over constant data; safe from any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace atlas::carbon {

// One row of the grid-intensity table.
struct GridIntensity {
  std::string_view code;  // ISO 3166-1 alpha-3 ("FRA"), "WORLD", or "<provider>:<region>"
  std::string_view name;  // "France", "World", "AWS eu-west-3 (Paris)"
  double g_co2_per_kwh;   // lifecycle gCO2e per kWh of electricity generated
  int year;               // the data year
  std::string_view source;  // e.g. "Our World in Data (Ember, Energy Institute), 2023"
};

// The country and region rows, in table order.
std::span<const GridIntensity> GridTable();

// The row for an ISO alpha-3 code or a cloud region code (case-insensitive), or nullopt.
std::optional<GridIntensity> FindGridIntensity(std::string_view code);

// The world average row (used when no country is given; documented as such).
GridIntensity WorldAverage();

// Defaults (docs/energy.md says why each was chosen).
inline constexpr double kDefaultPue = 1.0;  // see docs/energy.md; users set their data centre's
inline constexpr double kDefaultCarbonPriceEurPerTonne = 50.0;  // the pitch's EU ETS figure
double DefaultCarCo2GramsPerKm();  // with its source in docs/energy.md

// The settings a run's footprint is computed with, resolved from its configuration.
struct Settings {
  double pue = kDefaultPue;
  double g_co2_per_kwh = 0;
  std::string intensity_source;  // "OWID 2023 (FRA)", "user override", "OWID 2023 (WORLD)"
  double eur_per_tonne_co2 = kDefaultCarbonPriceEurPerTonne;
  double g_co2_per_car_km = 0;
  std::optional<double> budget_kg_co2;
};

// Resolves the settings from a run's config JSON text (the ObserverConfig's energy settings:
// country_iso_code, cloud_region, grid_g_co2_per_kwh override, pue, carbon_price_eur_per_t,
// car_g_co2_per_km, carbon_budget_kg); unknown or invalid values fall back to the defaults and
// the source says so.
Settings ResolveSettings(std::string_view config_json);

}  // namespace atlas::carbon
