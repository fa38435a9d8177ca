#include "store/sqlite/actions.hpp"

#include <fmt/format.h>

#include "store/sqlite/reads.hpp"

namespace atlas::store::sqlite {
namespace {

constexpr std::string_view kActionColumns =
    "id, action, mode, params, reason, actor, created_at, delivered_at, applied_at, outcome, "
    "detail";

Result<StoredAction> DecodeAction(const Query& query) {
  StoredAction action;
  action.id = query.Int(0);
  action.action = query.Text(1);
  action.mode = query.Text(2);
  Result<model::Json> params = query.JsonColumn(3, "actions.params");
  if (!params.ok()) return params.status();
  action.params = std::move(params).value();
  action.reason = query.Text(4);
  action.actor = query.Text(5);
  action.created_at = query.Real(6);
  action.delivered_at = query.OptReal(7);
  action.applied_at = query.OptReal(8);
  action.outcome = query.IsNull(9) ? std::string() : query.Text(9);
  action.detail = query.Text(10);
  return action;
}

Result<std::int64_t> NextActionId(Connection& conn, std::int64_t run_key) {
  Result<sqlite3_stmt*> stmt =
      conn.Prepare("SELECT coalesce(max(id), 0) + 1 FROM actions WHERE run_key = ?1");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, run_key);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  return query.Int(0);
}

Status UpdateOne(Connection& conn, std::int64_t run_key, const ActionUpdate& update) {
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "UPDATE actions SET delivered_at = coalesce(delivered_at, ?3), "
      "applied_at = coalesce(?4, applied_at), outcome = coalesce(?5, outcome), "
      "detail = coalesce(?6, detail) WHERE run_key = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, run_key);
  query.BindInt(2, update.id);
  query.BindReal(3, update.delivered_at);
  query.BindReal(4, update.applied_at);
  if (update.outcome) {
    query.BindText(5, *update.outcome);
  } else {
    query.BindNull(5);
  }
  if (update.detail) {
    query.BindText(6, *update.detail);
  } else {
    query.BindNull(6);
  }
  if (Status s = query.Run(); !s.ok()) return s;
  if (conn.Changes() == 0) {
    return Status::NotFound(fmt::format("run has no action {}", update.id));
  }
  return Status::Ok();
}

}  // namespace

Status CreateActionTables(Connection& conn) {
  return conn.Exec(R"sql(
CREATE TABLE actions (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  id INTEGER NOT NULL,
  action TEXT NOT NULL,
  mode TEXT NOT NULL DEFAULT '',
  params TEXT NOT NULL DEFAULT '{}',
  reason TEXT NOT NULL DEFAULT '',
  actor TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  delivered_at REAL,
  applied_at REAL,
  outcome TEXT CHECK (outcome IN ('applied', 'rejected', 'expired')),
  detail TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_key, id)) WITHOUT ROWID;
CREATE TABLE control_registrations (
  run_key INTEGER PRIMARY KEY REFERENCES runs(key),
  registration TEXT NOT NULL);
)sql");
}

Result<StoredAction> InsertAction(Connection& conn, const std::string& run_id,
                                  const NewAction& action) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  Result<std::int64_t> id = NextActionId(conn, *run_key);
  if (!id.ok()) return id.status();
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "INSERT INTO actions (run_key, id, action, mode, params, reason, actor, created_at, "
      "applied_at, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  if (!stmt.ok()) return stmt.status();
  {
    Query query(conn, *stmt);
    query.BindInt(1, *run_key);
    query.BindInt(2, *id);
    query.BindText(3, action.action);
    query.BindText(4, action.mode);
    query.BindText(5, action.params.dump());
    query.BindText(6, action.reason);
    query.BindText(7, action.actor);
    query.BindReal(8, action.created_at);
    query.BindReal(9, action.applied_at);
    if (action.outcome.empty()) {
      query.BindNull(10);
    } else {
      query.BindText(10, action.outcome);
    }
    query.BindText(11, action.detail);
    if (Status s = query.Run(); !s.ok()) return s;
  }
  if (Status s = txn.Commit(); !s.ok()) return s;
  StoredAction stored;
  stored.id = *id;
  stored.action = action.action;
  stored.mode = action.mode;
  stored.params = action.params;
  stored.reason = action.reason;
  stored.actor = action.actor;
  stored.created_at = action.created_at;
  stored.applied_at = action.applied_at;
  stored.outcome = action.outcome;
  stored.detail = action.detail;
  return stored;
}

Result<std::vector<StoredAction>> ReadActions(Connection& conn, const std::string& run_id) {
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      fmt::format("SELECT {} FROM actions WHERE run_key = ?1 ORDER BY id", kActionColumns));
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *run_key);
  std::vector<StoredAction> actions;
  Status status = query.ForEachRow([&]() -> Status {
    Result<StoredAction> action = DecodeAction(query);
    if (!action.ok()) return action.status();
    actions.push_back(std::move(action).value());
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return actions;
}

Status ApplyActionUpdates(Connection& conn, const std::string& run_id,
                          const std::vector<ActionUpdate>& updates) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  for (const ActionUpdate& update : updates) {
    if (Status s = UpdateOne(conn, *run_key, update); !s.ok()) return s;
  }
  return txn.Commit();
}

Status WriteControlRegistration(Connection& conn, const std::string& run_id,
                                const model::Json& registration) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "INSERT INTO control_registrations (run_key, registration) VALUES (?1, ?2) "
      "ON CONFLICT (run_key) DO UPDATE SET registration = excluded.registration");
  if (!stmt.ok()) return stmt.status();
  {
    Query query(conn, *stmt);
    query.BindInt(1, *run_key);
    query.BindText(2, registration.dump());
    if (Status s = query.Run(); !s.ok()) return s;
  }
  return txn.Commit();
}

Result<model::Json> ReadControlRegistration(Connection& conn, const std::string& run_id) {
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  Result<sqlite3_stmt*> stmt =
      conn.Prepare("SELECT registration FROM control_registrations WHERE run_key = ?1");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *run_key);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  if (!*row) return model::Json::object();
  return query.JsonColumn(0, "control_registrations.registration");
}

}  // namespace atlas::store::sqlite
