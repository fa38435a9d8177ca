// The SQLite side of the control audit log (store/actions.hpp): schema migration 4 and the
// statements over it, as functions over one Connection.
//
// Writes run on the store's writer connection (the caller holds the writer mutex) and open
// their own IMMEDIATE transaction; reads run on a pooled reader inside the store's read
// transaction. Not thread-safe by themselves: the caller owns the connection for the call.
#pragma once

#include <string>
#include <vector>

#include "atlas/status.hpp"
#include "model/records.hpp"
#include "store/actions.hpp"
#include "store/sqlite/db.hpp"

namespace atlas::store::sqlite {

// Migration 4: the `actions` table (one row per action, keyed (run, id)) and
// `control_registrations` (one row per run that registered pause_on or adjustable values).
Status CreateActionTables(Connection& conn);

Result<StoredAction> InsertAction(Connection& conn, const std::string& run_id,
                                  const NewAction& action);
Result<std::vector<StoredAction>> ReadActions(Connection& conn, const std::string& run_id);
Status ApplyActionUpdates(Connection& conn, const std::string& run_id,
                          const std::vector<ActionUpdate>& updates);
Status WriteControlRegistration(Connection& conn, const std::string& run_id,
                                const model::Json& registration);
Result<model::Json> ReadControlRegistration(Connection& conn, const std::string& run_id);

}  // namespace atlas::store::sqlite
