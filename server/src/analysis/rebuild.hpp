// Rebuilding a run's diagnostics view from the store, when the analysis service first needs a run
// (at its creation, after a restart, or after dropping its view): the same ViewBuilder fed with
// the stored records, streamed, so memory stays bounded by the view's limits rather than by the
// run's length.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "analysis/view_builder.hpp"
#include "atlas/status.hpp"
#include "store/store.hpp"

namespace atlas::analysis {

struct RebuiltView {
  std::unique_ptr<ViewBuilder> builder;
  // The view holds exactly the batches whose IngestResult::batch_order is at most this: the
  // records were read from one committed state of the store, which held that many batches.
  std::int64_t batches_stored = 0;
};

// kNotFound for an unknown run; other store failures as they come.
Result<RebuiltView> RebuildView(store::Store& store, const std::string& run_id,
                                ViewLimits limits = {});

}  // namespace atlas::analysis
