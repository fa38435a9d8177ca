#include "store/sqlite/schema.hpp"

#include <array>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "store/sqlite/actions.hpp"
#include "store/sqlite/agent_tables.hpp"
#include "store/sqlite/rollups.hpp"

namespace atlas::store::sqlite {
namespace {

// Appends ", <name> REAL" for every name, the generated part of a CREATE TABLE.
template <typename Names>
std::string RealColumns(const Names& names) {
  std::string out;
  for (std::string_view name : names) out += fmt::format(", {} REAL", name);
  return out;
}

std::vector<std::string_view> StepFieldNames() {
  std::vector<std::string_view> names;
  names.reserve(model::kStepFields.size());
  for (const auto& info : model::kStepFields) names.push_back(info.name);
  return names;
}

// Version 1: the base tables. Telemetry tables are keyed (run key, seq) so that re-ingesting a
// record is an INSERT OR IGNORE that changes nothing, and are WITHOUT ROWID so that key is the
// table's only b-tree.
Status CreateBaseTables(Connection& conn) {
  const std::string sql = fmt::format(
      R"sql(
CREATE TABLE projects (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL);
CREATE TABLE runs (
  key INTEGER PRIMARY KEY,
  public_id TEXT NOT NULL UNIQUE,
  project_id INTEGER NOT NULL REFERENCES projects(id),
  name TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'stopped')),
  status_reason TEXT NOT NULL DEFAULT '',
  started_at REAL NOT NULL,
  created_at REAL NOT NULL,
  finished_at REAL,
  host TEXT NOT NULL DEFAULT '{{}}',
  device TEXT NOT NULL DEFAULT '{{}}',
  framework TEXT NOT NULL DEFAULT '{{}}',
  config TEXT NOT NULL DEFAULT '{{}}',
  hyperparameters TEXT NOT NULL DEFAULT '{{}}',
  client_stats TEXT NOT NULL DEFAULT '{{}}',
  step_records INTEGER NOT NULL DEFAULT 0,
  last_step INTEGER,
  last_loss REAL,
  last_loss_step INTEGER,
  epochs INTEGER NOT NULL DEFAULT 0,
  samples REAL NOT NULL DEFAULT 0,
  tokens REAL NOT NULL DEFAULT 0,
  energy_joules REAL NOT NULL DEFAULT 0,
  layer_samples INTEGER NOT NULL DEFAULT 0,
  events INTEGER NOT NULL DEFAULT 0,
  last_ts REAL);
CREATE TABLE modules (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  parent TEXT,
  params INTEGER NOT NULL,
  trainable_params INTEGER NOT NULL,
  input_shape TEXT NOT NULL,
  output_shape TEXT NOT NULL,
  flops REAL,
  PRIMARY KEY (run_key, idx)) WITHOUT ROWID;
CREATE TABLE applied_records (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  PRIMARY KEY (run_key, seq)) WITHOUT ROWID;
CREATE TABLE steps (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  seq INTEGER NOT NULL,
  step INTEGER NOT NULL,
  epoch INTEGER,
  ts REAL NOT NULL{step_columns},
  PRIMARY KEY (run_key, seq)) WITHOUT ROWID;
CREATE TABLE metrics (
  id INTEGER PRIMARY KEY,
  run_key INTEGER NOT NULL REFERENCES runs(key),
  name TEXT NOT NULL,
  UNIQUE (run_key, name));
CREATE TABLE metric_points (
  metric_id INTEGER NOT NULL REFERENCES metrics(id),
  seq INTEGER NOT NULL,
  step INTEGER NOT NULL,
  ts REAL NOT NULL,
  value REAL,
  PRIMARY KEY (metric_id, seq)) WITHOUT ROWID;
CREATE TABLE epochs (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  seq INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  ts REAL NOT NULL,
  duration_s REAL,
  PRIMARY KEY (run_key, seq)) WITHOUT ROWID;
CREATE TABLE epoch_values (
  run_key INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  split TEXT NOT NULL CHECK (split IN ('train', 'val')),
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (run_key, seq, split, idx),
  FOREIGN KEY (run_key, seq) REFERENCES epochs(run_key, seq)) WITHOUT ROWID;
CREATE TABLE epoch_energy (
  run_key INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  component TEXT NOT NULL,
  device TEXT NOT NULL,
  joules REAL NOT NULL,
  method TEXT NOT NULL,
  PRIMARY KEY (run_key, seq, idx),
  FOREIGN KEY (run_key, seq) REFERENCES epochs(run_key, seq)) WITHOUT ROWID;
CREATE TABLE layer_samples (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  seq INTEGER NOT NULL,
  step INTEGER NOT NULL,
  epoch INTEGER,
  ts REAL NOT NULL,
  PRIMARY KEY (run_key, seq)) WITHOUT ROWID;
CREATE TABLE layer_stats (
  run_key INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  layer TEXT NOT NULL,
  idx INTEGER NOT NULL,
  step INTEGER NOT NULL{stat_columns},
  extra TEXT,
  PRIMARY KEY (run_key, seq, layer),
  FOREIGN KEY (run_key, seq) REFERENCES layer_samples(run_key, seq)) WITHOUT ROWID;
CREATE TABLE profiles (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  seq INTEGER NOT NULL,
  step INTEGER NOT NULL,
  ts REAL NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (run_key, seq)) WITHOUT ROWID;
CREATE TABLE events (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  seq INTEGER NOT NULL,
  ts REAL NOT NULL,
  level TEXT NOT NULL,
  type TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (run_key, seq)) WITHOUT ROWID;
)sql",
      fmt::arg("step_columns", RealColumns(StepFieldNames())),
      fmt::arg("stat_columns", RealColumns(model::kLayerStatNames)));
  return conn.Exec(sql);
}

// Fills step_series (added by version 2) from the stored steps, in one pass over them.
Status BackfillStepSeries(Connection& conn) {
  std::string counts;
  for (const auto& info : model::kStepFields) counts += fmt::format(", count({})", info.name);
  Result<sqlite3_stmt*> select =
      conn.Prepare(fmt::format("SELECT run_key{} FROM steps GROUP BY run_key", counts));
  if (!select.ok()) return select.status();
  Result<sqlite3_stmt*> insert =
      conn.Prepare("INSERT OR IGNORE INTO step_series (run_key, field) VALUES (?1, ?2)");
  if (!insert.ok()) return insert.status();

  Query rows(conn, *select);
  while (true) {
    Result<bool> row = rows.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    for (std::size_t i = 0; i < model::kStepFields.size(); ++i) {
      if (rows.Int(static_cast<int>(i) + 1) == 0) continue;
      Query add(conn, *insert);
      add.BindInt(1, rows.Int(0));
      add.BindText(2, model::kStepFields[i].name);
      if (Status s = add.Run(); !s.ok()) return s;
    }
  }
}

// Version 2: the indexes the queries need, and step_series, which records which step fields
// a run has values for so that listing a run's series reads a few rows instead of every step.
Status AddIndexesAndSeries(Connection& conn) {
  Status status = conn.Exec(R"sql(
CREATE INDEX runs_by_project ON runs (project_id, created_at);
CREATE INDEX steps_by_step ON steps (run_key, step);
CREATE INDEX steps_by_time ON steps (run_key, ts);
CREATE INDEX metric_points_by_step ON metric_points (metric_id, step);
CREATE INDEX metric_points_by_time ON metric_points (metric_id, ts);
CREATE INDEX epochs_by_epoch ON epochs (run_key, epoch);
CREATE INDEX layer_stats_by_step ON layer_stats (run_key, step, seq, idx);
CREATE INDEX layer_stats_by_layer ON layer_stats (run_key, layer, step);
CREATE INDEX profiles_by_step ON profiles (run_key, step);
CREATE INDEX events_by_type ON events (run_key, type, seq);
CREATE TABLE step_series (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  field TEXT NOT NULL,
  PRIMARY KEY (run_key, field)) WITHOUT ROWID;
)sql");
  if (!status.ok()) return status;
  return BackfillStepSeries(conn);
}

// Version 3: each run's latest diagnosis (the figures the runs list shows, and the document) and
// each project's threshold overrides (docs/diagnostics.md).
Status AddDiagnoses(Connection& conn) {
  return conn.Exec(R"sql(
CREATE TABLE diagnoses (
  run_key INTEGER PRIMARY KEY REFERENCES runs(key),
  computed_at REAL NOT NULL,
  grade TEXT NOT NULL,
  score REAL NOT NULL,
  wasted_fraction REAL NOT NULL,
  kwh REAL NOT NULL,
  kg_co2 REAL NOT NULL,
  eur REAL NOT NULL,
  document TEXT NOT NULL);
CREATE TABLE project_thresholds (
  project_id INTEGER PRIMARY KEY REFERENCES projects(id),
  overrides TEXT NOT NULL,
  updated_at REAL NOT NULL);
)sql");
}

// Version 7: how many batches each run has stored, counted in the transaction that stores each.
// A view rebuilt from a snapshot of the store reads it there, and so knows which batches the
// snapshot holds whatever their seqs (records may arrive in any order: a spool replay).
Status AddBatchesStored(Connection& conn) {
  return conn.Exec("ALTER TABLE runs ADD COLUMN batches_stored INTEGER NOT NULL DEFAULT 0;");
}

struct Migration {
  int version;
  std::string_view description;
  Status (*apply)(Connection&);
};

constexpr std::array<Migration, 7> kMigrations = {{
    {1, "base tables", &CreateBaseTables},
    {2, "indexes and step_series", &AddIndexesAndSeries},
    {3, "diagnoses and project thresholds", &AddDiagnoses},
    {4, "control actions and registrations", &CreateActionTables},
    {5, "agent beliefs and proposals", &CreateAgentTables},
    {6, "step rollups (filled from the stored steps)", &CreateStepRollups},
    {7, "runs.batches_stored", &AddBatchesStored},
}};
static_assert(kMigrations.back().version == kLatestSchemaVersion);

Result<bool> TableExists(Connection& conn, std::string_view table) {
  Result<sqlite3_stmt*> stmt =
      conn.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindText(1, table);
  return query.Step();
}

// Adds a REAL column for every name `table` lacks. Column names come from the model's
// constant tables, never from input.
template <typename Names>
Status EnsureRealColumns(Connection& conn, std::string_view table, const Names& names) {
  Result<sqlite3_stmt*> stmt = conn.Prepare("SELECT name FROM pragma_table_info(?1)");
  if (!stmt.ok()) return stmt.status();
  std::set<std::string, std::less<>> existing;
  {
    Query query(conn, *stmt);
    query.BindText(1, table);
    while (true) {
      Result<bool> row = query.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      existing.insert(query.Text(0));
    }
  }
  for (std::string_view name : names) {
    if (existing.count(name) != 0) continue;
    Status status = conn.Exec(fmt::format("ALTER TABLE {} ADD COLUMN {} REAL", table, name));
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

Status EnsureFieldColumns(Connection& conn) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  if (Status s = EnsureRealColumns(conn, "steps", StepFieldNames()); !s.ok()) return s;
  if (Status s = EnsureRealColumns(conn, "layer_stats", model::kLayerStatNames); !s.ok()) {
    return s;
  }
  if (Status s = EnsureRollupColumns(conn); !s.ok()) return s;
  return txn.Commit();
}

Status ApplyMigration(Connection& conn, const Migration& migration,
                      const std::function<double()>& clock) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  // Read again under the write lock: another process may have migrated in the meantime.
  Result<int> version = ReadSchemaVersion(conn);
  if (!version.ok()) return version.status();
  if (*version >= migration.version) return Status::Ok();
  if (*version != migration.version - 1) {
    return Status::Internal(
        fmt::format("schema version {} cannot be migrated to {}", *version, migration.version));
  }
  if (*version == 0) {
    Status s = conn.Exec(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)");
    if (!s.ok()) return s;
  }
  if (Status s = migration.apply(conn); !s.ok()) return s;
  Result<sqlite3_stmt*> insert =
      conn.Prepare("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)");
  if (!insert.ok()) return insert.status();
  {
    Query query(conn, *insert);
    query.BindInt(1, migration.version);
    query.BindReal(2, clock());
    if (Status s = query.Run(); !s.ok()) return s;
  }
  return txn.Commit();
}

}  // namespace

Result<int> ReadSchemaVersion(Connection& conn) {
  Result<bool> exists = TableExists(conn, "schema_version");
  if (!exists.ok()) return exists.status();
  if (!*exists) return 0;
  Result<sqlite3_stmt*> stmt = conn.Prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  return static_cast<int>(query.Int(0));
}

Status Migrate(Connection& conn, const std::function<double()>& clock) {
  Result<int> version = ReadSchemaVersion(conn);
  if (!version.ok()) return version.status();
  if (*version > kLatestSchemaVersion) {
    return Status::Conflict(
        fmt::format("database schema version {} is newer than this atlasd supports (version {}); "
                    "upgrade atlasd or open another database",
                    *version, kLatestSchemaVersion));
  }
  if (*version >= 1) {
    if (Status s = EnsureFieldColumns(conn); !s.ok()) return s;
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version <= *version) continue;
    Status status = ApplyMigration(conn, migration, clock);
    if (!status.ok()) {
      return WithContext(
          status, fmt::format("migration {} ({})", migration.version, migration.description));
    }
    spdlog::info("SQLite store: applied schema migration {} ({})", migration.version,
                 migration.description);
  }
  return Status::Ok();
}

std::string InsertStepSql() {
  std::string columns;
  std::string params;
  int index = kFirstStepFieldParam;
  for (const auto& info : model::kStepFields) {
    columns += fmt::format(", {}", info.name);
    params += fmt::format(", ?{}", index++);
  }
  return fmt::format(
      "INSERT OR IGNORE INTO steps (run_key, seq, step, epoch, ts{}) VALUES (?1, ?2, ?3, ?4, "
      "?5{})",
      columns, params);
}

std::string InsertLayerStatSql() {
  std::string columns;
  std::string params;
  int index = kFirstLayerStatParam;
  for (std::string_view name : model::kLayerStatNames) {
    columns += fmt::format(", {}", name);
    params += fmt::format(", ?{}", index++);
  }
  return fmt::format(
      "INSERT INTO layer_stats (run_key, seq, layer, idx, step{}, extra) VALUES (?1, ?2, ?3, ?4, "
      "?5{}, ?{})",
      columns, params, index);
}

}  // namespace atlas::store::sqlite
