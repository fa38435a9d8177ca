// CarbonModel: how the diagnostics turn joules into kWh, kg CO2, euros and car-km for one run.
//
// Resolved by the caller from the run's configuration and the grid-intensity table (the energy
// component owns that table); the engine only multiplies. Plain values, no behaviour beyond the
// arithmetic below.
#pragma once

#include <optional>
#include <string>

namespace atlas::diagnostics {

struct CarbonModel {
  double pue = 1.0;                     // facility energy / device energy
  double grid_g_co2_per_kwh = 0;        // grid carbon intensity
  std::string grid_source;              // e.g. "OWID 2023, FRA", "user override"
  double eur_per_tonne_co2 = 50.0;      // carbon price (the pitch's EU ETS figure)
  double g_co2_per_car_km = 0;          // car-km equivalent
  std::optional<double> budget_kg_co2;  // the user's budget for the run, if any
};

// Energy in the units a person reads.
struct Footprint {
  double joules = 0;  // device energy
  double kwh = 0;     // facility energy (x PUE)
  double kg_co2 = 0;
  double eur = 0;
  double car_km = 0;
};

inline Footprint FootprintOf(double joules, const CarbonModel& m) {
  Footprint f;
  f.joules = joules;
  f.kwh = joules / 3.6e6 * m.pue;
  f.kg_co2 = f.kwh * m.grid_g_co2_per_kwh / 1000.0;
  f.eur = f.kg_co2 / 1000.0 * m.eur_per_tonne_co2;
  f.car_km = m.g_co2_per_car_km > 0 ? f.kg_co2 * 1000.0 / m.g_co2_per_car_km : 0.0;
  return f;
}

}  // namespace atlas::diagnostics
