// The JSON document of GET /api/v1/runs/{id}/energy (docs/protocol.md, "Energy").
//
// A pure view of a RunEnergy; no I/O. Safe from any thread.
#pragma once

#include "energy/attribution.hpp"
#include "model/records.hpp"

namespace atlas::energy {

model::Json SettingsJson(const carbon::Settings& settings);
model::Json RunEnergyJson(const RunEnergy& energy);

}  // namespace atlas::energy
