// Layer health's statistics kernels and its layer_stats JSON writer for Python (kernels.cpp).
#pragma once

#include <nanobind/nanobind.h>

namespace atlas_python {

// Adds accumulate_units, tensor_stats, squared_distances, noise_accumulate, layer_stats_json
// and host_layer_stats_json to the module.
void BindLayerStats(nanobind::module_& m);

}  // namespace atlas_python
