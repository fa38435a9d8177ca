// Rebuilding a run's diagnostics view from the store, when the analysis service first needs a run
// after a restart (or after dropping its view): the same ViewBuilder fed with the stored records,
// streamed, so memory stays bounded by the view's limits rather than by the run's length.
#pragma once

#include <memory>
#include <string>

#include "analysis/view_builder.hpp"
#include "atlas/status.hpp"
#include "store/store.hpp"

namespace atlas::analysis {

// kNotFound for an unknown run; other store failures as they come.
Result<std::unique_ptr<ViewBuilder>> RebuildView(store::Store& store, const std::string& run_id,
                                                 ViewLimits limits = {});

}  // namespace atlas::analysis
