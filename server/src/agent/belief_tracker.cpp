#include "agent/belief_tracker.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "agent/fingerprint.hpp"

namespace atlas::agent {
namespace {

Result<BeliefState> LoadStored(store::Store& store, const std::string& run_id) {
  Result<std::optional<store::BeliefRecord>> stored = store.GetBeliefs(run_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return BeliefState{};
  Json document = Json::parse((*stored)->document, nullptr, /*allow_exceptions=*/false);
  // A damaged document starts the beliefs over rather than failing every read of the run.
  if (document.is_discarded()) return BeliefState{};
  return BeliefStateFromJson(document);
}

}  // namespace

BeliefTracker::BeliefTracker(RunSources sources) : sources_(std::move(sources)) {}

void BeliefTracker::SetPublisher(Publisher publisher) { publisher_ = std::move(publisher); }

Result<BeliefState> BeliefTracker::Refresh(const std::string& run_id) {
  std::optional<Json> insight;
  BeliefState current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Result<model::Run> run = sources_.store->GetRun(run_id);
    if (!run.ok()) return run.status();
    Result<BeliefState> previous = LoadStored(*sources_.store, run_id);
    if (!previous.ok()) return previous.status();
    current = std::move(previous).value();
    current.run_id = run_id;
    current.fingerprint = ArchitectureFingerprint(run->architecture);
    Result<std::optional<Json>> diagnosis = sources_.diagnosis(run_id);
    if (!diagnosis.ok()) return diagnosis.status();
    if (!diagnosis->has_value()) return current;
    std::optional<BeliefState> next = Revise(current, **diagnosis);
    if (!next) return current;
    store::BeliefRecord record{run_id, next->fingerprint, next->revision, sources_.clock(),
                               ToJson(*next).dump()};
    if (Status s = sources_.store->SaveBeliefs(record); !s.ok()) return s;
    if (next->primary != current.primary) insight = InsightFor(*next, current.primary);
    current = std::move(*next);
  }
  if (insight && publisher_) publisher_(run_id, *insight);
  return current;
}

void BeliefTracker::RefreshRecent(std::int64_t limit) {
  model::RunQuery query;
  query.limit = limit;
  Result<model::RunPage> page = sources_.store->ListRuns(query);
  if (!page.ok()) {
    spdlog::warn("beliefs: cannot list runs: {}", page.status().message());
    return;
  }
  for (const auto& run : page->runs) {
    Result<BeliefState> state = Refresh(run.id);
    if (!state.ok() && state.status().code() != StatusCode::kNotFound) {
      spdlog::warn("beliefs: cannot revise run {}: {}", run.id, state.status().message());
    }
  }
}

}  // namespace atlas::agent
