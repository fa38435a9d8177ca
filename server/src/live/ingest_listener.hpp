// IngestListener: how ingest tells the rest of atlasd that records were stored.
//
// The API's ingest handlers call every registered listener (api::Services::ingest_listeners)
// after the store has committed: the analysis service keeps each run's diagnostics view current,
// the live feed pushes what arrived to dashboards, and the control service may add itself the
// same way (one line in cli/serve.cpp). Listeners are not called for rejected requests.
//
// Threading: listeners are called on the ingest request's thread, one after another in
// registration order, concurrently for different requests. They must be thread-safe and return
// quickly: queue the work, never block on I/O. They must not throw.
#pragma once

#include <memory>
#include <string>

#include "model/records.hpp"
#include "model/runs.hpp"

namespace atlas::live {

class IngestListener {
 public:
  virtual ~IngestListener() = default;

  // A run was created, or resumed (`resumed`, its status back to running).
  virtual void OnRunCreated(const model::Run& run, bool resumed) = 0;

  // `batch` was stored for `run_id`: `result.accepted` records were new and
  // `result.duplicates` were already stored. The batch is shared and immutable, so a listener
  // may keep it for its worker instead of copying it.
  virtual void OnBatchStored(const std::string& run_id,
                             const std::shared_ptr<const model::RecordBatch>& batch,
                             const model::IngestResult& result) = 0;
};

}  // namespace atlas::live
