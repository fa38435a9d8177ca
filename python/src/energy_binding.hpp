// The energy monitor of libatlas for Python (energy_binding.cpp).
#pragma once

#include <nanobind/nanobind.h>

namespace atlas_python {

// Adds EnergyMonitor to the module.
void BindEnergy(nanobind::module_& m);

}  // namespace atlas_python
