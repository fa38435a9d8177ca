// The read queries of the SQLite store, as functions over one Connection.
//
// The store runs them on a pooled read-only connection inside a deferred transaction, so a
// call that issues several statements sees one snapshot; CreateOrResumeRun runs ReadRun on the
// writer connection inside its own transaction. The caller owns the connection for the call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "atlas/status.hpp"
#include "model/records.hpp"
#include "model/runs.hpp"
#include "store/sqlite/db.hpp"
#include "store/store.hpp"

namespace atlas::store::sqlite {

// The message every method gives for a run that does not exist.
Status RunNotFound(const std::string& run_id);

// The surrogate key of the run with public id `run_id`; kNotFound when there is none.
Result<std::int64_t> FindRunKey(Connection& conn, const std::string& run_id);

// kFull reads everything; kList leaves architecture, hyperparameters and config empty.
enum class RunView { kList, kFull };
Result<model::Run> ReadRun(Connection& conn, const std::string& run_id, RunView view);

Result<std::vector<model::Project>> ReadProjects(Connection& conn);
Result<model::RunPage> ReadRunPage(Connection& conn, const model::RunQuery& request);

Result<std::vector<std::string>> ReadSeriesNames(Connection& conn, const std::string& run_id);
Status ScanSeriesPoints(Connection& conn, const std::string& run_id, const SeriesQuery& request,
                        const std::function<void(const SeriesPoint&)>& visit);

Result<std::vector<model::EpochRecord>> ReadEpochs(Connection& conn, const std::string& run_id);
// At most `query.limit` layer rows, grouped into records by sample. A sample the limit cuts in
// two is left out (unless it is the only one), so every record returned but such a lone one
// is whole.
Result<std::vector<model::LayerStatsRecord>> ReadLayerStats(Connection& conn,
                                                            const std::string& run_id,
                                                            const LayerStatsQuery& request);
Result<std::vector<model::EventRecord>> ReadEvents(Connection& conn, const std::string& run_id,
                                                   const EventQuery& request);
Result<std::vector<model::ProfileRecord>> ReadProfiles(Connection& conn, const std::string& run_id);

}  // namespace atlas::store::sqlite
