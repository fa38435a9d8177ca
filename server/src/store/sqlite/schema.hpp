// The SQLite schema: numbered migrations and the SQL derived from the model's field tables.
//
// Migration N is applied in its own transaction and recorded in `schema_version`
// (version, applied_at). The step and layer-stat columns are generated from model::kStepFields
// and model::kLayerStatNames, so a field added there gets a column here: migration 1 creates
// the columns the code knows, and opening an older database adds any that are missing
// (EnsureFieldColumns) before later migrations run. Pure functions over a Connection; the
// caller serialises access to it.
#pragma once

#include <functional>
#include <string>

#include "atlas/status.hpp"
#include "store/sqlite/db.hpp"

namespace atlas::store::sqlite {

// The newest schema version this code knows.
inline constexpr int kLatestSchemaVersion = 7;

// The version recorded in the database; 0 when it has no schema yet.
Result<int> ReadSchemaVersion(Connection& conn);

// Brings the database to kLatestSchemaVersion. A database newer than that is refused with
// kConflict, and nothing is changed. `clock` stamps applied_at.
Status Migrate(Connection& conn, const std::function<double()>& clock);

// The SQL of the hot statements, built once from the field tables.
// INSERT OR IGNORE INTO steps: ?1 run key, ?2 seq, ?3 step, ?4 epoch, ?5 ts, then one
// parameter per kStepFields entry in order (?6...).
std::string InsertStepSql();
// INSERT INTO layer_stats: ?1 run key, ?2 seq, ?3 layer, ?4 idx, ?5 step, then one parameter
// per kLayerStatNames entry, then extra (JSON text or NULL).
std::string InsertLayerStatSql();
// The first bind index of the per-field parameters of the two statements above.
inline constexpr int kFirstStepFieldParam = 6;
inline constexpr int kFirstLayerStatParam = 6;

}  // namespace atlas::store::sqlite
