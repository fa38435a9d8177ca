#include "analysis/rebuild.hpp"

#include <utility>

namespace atlas::analysis {
namespace {

// Layer rows read per query: a page holds whole samples (the store leaves out a sample the
// limit would cut), so paging continues from the step after the last sample read.
constexpr std::int64_t kLayerRowsPerPage = 20000;

Status ReplayLayerStats(store::Store& store, const std::string& run_id, ViewBuilder& builder) {
  store::LayerStatsQuery query;
  query.limit = kLayerRowsPerPage;
  while (true) {
    Result<std::vector<model::LayerStatsRecord>> page = store.ListLayerStats(run_id, query);
    if (!page.ok()) return page.status();
    if (page->empty()) return Status::Ok();
    for (const auto& sample : *page) builder.ApplyLayerStats(sample);
    query.from_step = page->back().step + 1;
  }
}

}  // namespace

Result<std::unique_ptr<ViewBuilder>> RebuildView(store::Store& store, const std::string& run_id,
                                                 ViewLimits limits) {
  Result<model::Run> run = store.GetRun(run_id);
  if (!run.ok()) return run.status();
  auto builder = std::make_unique<ViewBuilder>(*run, limits);

  Status steps =
      store.ScanSteps(run_id, [&](const model::StepRecord& step) { builder->ApplyStep(step); });
  if (!steps.ok()) return steps;

  Result<std::vector<model::EpochRecord>> epochs = store.ListEpochs(run_id);
  if (!epochs.ok()) return epochs.status();
  for (const auto& epoch : *epochs) builder->ApplyEpoch(epoch);

  if (Status s = ReplayLayerStats(store, run_id, *builder); !s.ok()) return s;

  Result<std::vector<model::ProfileRecord>> profiles = store.ListProfiles(run_id);
  if (!profiles.ok()) return profiles.status();
  for (const auto& profile : *profiles) builder->ApplyProfile(profile);

  store::EventQuery events_query;
  events_query.limit = 100000;
  Result<std::vector<model::EventRecord>> events = store.ListEvents(run_id, events_query);
  if (!events.ok()) return events.status();
  for (const auto& event : *events) builder->ApplyEvent(event);

  if (run->finished_at) builder->ApplyFinish(run->status, *run->finished_at);
  return builder;
}

}  // namespace atlas::analysis
