// atlas_observatory._atlas.StepRecorder: libatlas's StepRecorder for the Python Observer
// (step_binding.cpp).
#pragma once

#include <nanobind/nanobind.h>

namespace atlas_python {

// Adds StepRecorder to the module.
void BindStepRecorder(nanobind::module_& m);

}  // namespace atlas_python
