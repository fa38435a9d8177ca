#include "store/sqlite/replay.hpp"

#include <cstdint>
#include <vector>

#include "store/sqlite/diagnoses.hpp"
#include "store/sqlite/reads.hpp"

namespace atlas::store::sqlite {
namespace {

// Layer rows read per query: a page holds whole samples (ReadLayerStats leaves out a sample
// the limit would cut), so paging continues from the step after the last sample read.
constexpr std::int64_t kLayerRowsPerPage = 20000;

Status ReplayLayerStats(Connection& conn, const std::string& run_id, RunReplay& replay) {
  LayerStatsQuery query;
  query.limit = kLayerRowsPerPage;
  while (true) {
    Result<std::vector<model::LayerStatsRecord>> page = ReadLayerStats(conn, run_id, query);
    if (!page.ok()) return page.status();
    if (page->empty()) return Status::Ok();
    for (const auto& sample : *page) replay.LayerStats(sample);
    query.from_step = page->back().step + 1;
  }
}

}  // namespace

Status ReplayRunRecords(Connection& conn, const std::string& run_id, const EventQuery& events,
                        RunReplay& replay) {
  Result<model::Run> run = ReadRun(conn, run_id, RunView::kFull);
  if (!run.ok()) return run.status();
  replay.Run(*run);

  Status steps =
      ScanStepRecords(conn, run_id, [&](const model::StepRecord& step) { replay.Step(step); });
  if (!steps.ok()) return steps;

  Result<std::vector<model::EpochRecord>> epochs = ReadEpochs(conn, run_id);
  if (!epochs.ok()) return epochs.status();
  for (const auto& epoch : *epochs) replay.Epoch(epoch);

  if (Status s = ReplayLayerStats(conn, run_id, replay); !s.ok()) return s;

  Result<std::vector<model::ProfileRecord>> profiles = ReadProfiles(conn, run_id);
  if (!profiles.ok()) return profiles.status();
  for (const auto& profile : *profiles) replay.Profile(profile);

  Result<std::vector<model::EventRecord>> stored_events = ReadEvents(conn, run_id, events);
  if (!stored_events.ok()) return stored_events.status();
  for (const auto& event : *stored_events) replay.Event(event);
  return Status::Ok();
}

}  // namespace atlas::store::sqlite
