// The energy monitor of libatlas for Python (energy_binding.cpp).
#pragma once

#include <nanobind/nanobind.h>

#include <atomic>
#include <functional>

namespace atlas_python {

// Adds EnergyMonitor to the module.
void BindEnergy(nanobind::module_& m);

// A reader of `monitor`'s total joules for a StepRecorder: straight into libatlas for an
// EnergyMonitor of this module, otherwise a call of the object's total_joules() (test doubles).
// The reader keeps `monitor` alive and must be called and destroyed with the GIL held.
std::function<double()> TotalJoulesReader(nanobind::handle monitor);

// The lock-free counter of an EnergyMonitor of this module (valid while `monitor` lives), or
// null for any other object.
const std::atomic<double>* TotalJoulesCounter(nanobind::handle monitor);

}  // namespace atlas_python
