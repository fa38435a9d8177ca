// Carbon and cost: grid carbon intensity by country and cloud region (an offline table with its
// year and source), the defaults every Atlas footprint uses (PUE, carbon price, car-km), and the
// arithmetic that turns joules into kWh, kg CO2e, euros and car-km.
//
// No network access: the table is compiled in (core/src/carbon/grid_table.cpp, documented in
// docs/energy.md). Pure functions over constant data; safe from any thread. The library target is
// atlas_core_carbon.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace atlas::carbon {

// One row of the grid-intensity table.
struct GridIntensity {
  std::string_view code;    // ISO 3166-1 alpha-3 ("FRA"), "WORLD", or "<provider>:<region>"
  std::string_view name;    // "France", "World", "AWS eu-west-3 (Paris)"
  double g_co2_per_kwh;     // lifecycle gCO2e per kWh of electricity generated
  int year;                 // the data year
  std::string_view source;  // e.g. "Our World in Data (Ember, Energy Institute), 2023"
  // For a cloud region, the ISO alpha-3 code of the national grid whose value it uses; empty
  // for country and world rows.
  std::string_view grid = {};
};

// The country and region rows, in table order: WORLD first, then countries by code, then cloud
// regions by code.
std::span<const GridIntensity> GridTable();

// The row for an ISO alpha-3 code or a cloud region code (case-insensitive), or nullopt.
std::optional<GridIntensity> FindGridIntensity(std::string_view code);

// The world average row (used when no country is given; documented as such).
GridIntensity WorldAverage();

// Defaults (docs/energy.md says why each was chosen).
inline constexpr double kDefaultPue = 1.0;  // device energy only, as measured; users set theirs
inline constexpr double kDefaultCarbonPriceEurPerTonne = 50.0;  // the pitch's EU ETS figure
inline constexpr double kJoulesPerKwh = 3.6e6;
double DefaultCarCo2GramsPerKm();  // with its source in docs/energy.md
std::string_view DefaultCarCo2Source();

// The accepted ranges of the settings; a value outside its range is ignored (the default is
// used and Settings::notes says so). Bounds are inclusive.
inline constexpr double kMinPue = 1.0;
inline constexpr double kMaxPue = 3.0;
inline constexpr double kMaxGridGramsPerKwh = 2000.0;
inline constexpr double kMaxCarbonPriceEurPerTonne = 10000.0;
inline constexpr double kMaxCarGramsPerKm = 1000.0;

// The settings a run's footprint is computed with, resolved from its configuration.
struct Settings {
  double pue = kDefaultPue;
  double g_co2_per_kwh = 0;
  std::string intensity_source;  // "OWID 2023 (FRA)", "user override", "OWID 2023 (WORLD)"
  double eur_per_tonne_co2 = kDefaultCarbonPriceEurPerTonne;
  double g_co2_per_car_km = 0;
  std::optional<double> budget_kg_co2;
  // One sentence per configured value that was ignored, naming the key and the reason.
  std::vector<std::string> notes;
};

// Resolves the settings from a run's config JSON text (the ObserverConfig's energy settings:
// country_iso_code, cloud_region, grid_g_co2_per_kwh override, pue, carbon_price_eur_per_t,
// car_g_co2_per_km, carbon_budget_kg); unknown or invalid values fall back to the defaults and
// the source says so. The keys are read from the root's "energy" object when it has one (the
// run's config as the observer sends it), else from the root itself. Intensity precedence:
// grid_g_co2_per_kwh, then cloud_region, then country_iso_code, then the world average. A null
// value counts as not set. Never fails: text that is not a JSON object gives the defaults.
Settings ResolveSettings(std::string_view config_json);

// Energy in the units a person reads.
struct Footprint {
  double joules = 0;  // device energy, as measured or estimated
  double kwh = 0;     // facility energy: joules / 3.6e6 x PUE
  double kg_co2 = 0;  // kwh x g/kWh / 1000
  double eur = 0;     // kg / 1000 x EUR per tonne
  double car_km = 0;  // kg x 1000 / g per km; 0 when the car figure is not positive
};

Footprint FootprintOf(double joules, const Settings& settings);

}  // namespace atlas::carbon
