// BeliefTracker: keeps each run's belief state (beliefs.hpp) current, persisted in the Store,
// and announces a proactive insight when a run's primary belief changes.
//
// Refresh(run) revises the run's beliefs from its latest diagnosis; atlasd calls RefreshRecent
// from a background thread (agent/service.hpp) so that beliefs follow each epoch's findings
// whether or not anyone is looking, and the tools call Refresh before they read beliefs.
//
// Threading: thread-safe. One mutex serialises revisions (read, revise, store), so two callers
// never revise the same state twice; the publisher is called with it released.
// Ownership: borrows the sources' Store, which must outlive the tracker.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "agent/beliefs.hpp"
#include "agent/sources.hpp"
#include "atlas/status.hpp"

namespace atlas::agent {

class BeliefTracker {
 public:
  // Told of each primary change: the run and the insight (beliefs.hpp, InsightFor).
  using Publisher = std::function<void(const std::string& run_id, const Json& insight)>;

  explicit BeliefTracker(RunSources sources);

  // Set before the tracker is shared between threads.
  void SetPublisher(Publisher publisher);

  // Revises and stores the run's beliefs when its diagnosis changed; returns the current state
  // (revision 0 when the run has no diagnosis yet). kNotFound for an unknown run.
  Result<BeliefState> Refresh(const std::string& run_id);

  // Refreshes the `limit` most recently created runs; failures are logged, not returned.
  void RefreshRecent(std::int64_t limit);

 private:
  RunSources sources_;
  Publisher publisher_;
  std::mutex mu_;  // serialises revisions
};

}  // namespace atlas::agent
