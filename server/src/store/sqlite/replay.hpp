// Store::ReplayRun for SQLite: a run's metadata and every record of it, read on one connection.
//
// The caller (SqliteStore) holds these reads in one read transaction, so they see one committed
// state: a view rebuilt from them never has a batch's epoch without its steps, or the run's
// totals of one moment beside the records of another.
#pragma once

#include <string>

#include "atlas/status.hpp"
#include "store/sqlite/db.hpp"
#include "store/store.hpp"

namespace atlas::store::sqlite {

Status ReplayRunRecords(Connection& conn, const std::string& run_id, const EventQuery& events,
                        RunReplay& replay);

}  // namespace atlas::store::sqlite
