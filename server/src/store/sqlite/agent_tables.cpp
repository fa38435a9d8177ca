#include "store/sqlite/agent_tables.hpp"

#include <utility>

#include <fmt/format.h>

#include "store/sqlite/reads.hpp"

namespace atlas::store::sqlite {
namespace {

constexpr std::string_view kBeliefColumns =
    "r.public_id, b.fingerprint, b.revision, b.updated_at, b.document";
constexpr std::string_view kProposalColumns =
    "r.public_id, p.id, p.action, p.params, p.reason, p.actor, p.created_at, p.status, "
    "p.resolved_at";

BeliefRecord DecodeBelief(const Query& row) {
  BeliefRecord record;
  record.run_id = row.Text(0);
  record.fingerprint = row.Text(1);
  record.revision = row.Int(2);
  record.updated_at = row.Real(3);
  record.document = row.Text(4);
  return record;
}

Result<ProposalRecord> DecodeProposal(const Query& row) {
  ProposalRecord record;
  record.run_id = row.Text(0);
  record.id = row.Int(1);
  record.action = row.Text(2);
  Result<model::Json> params = row.JsonColumn(3, "proposal params");
  if (!params.ok()) return params.status();
  record.params = std::move(params).value();
  record.reason = row.Text(4);
  record.actor = row.Text(5);
  record.created_at = row.Real(6);
  record.status = row.Text(7);
  record.resolved_at = row.OptReal(8);
  return record;
}

// Whether the agent's tables exist yet (they are created by the first write; see the header).
Result<bool> HaveAgentTables(Connection& conn) {
  Result<sqlite3_stmt*> stmt =
      conn.Prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'beliefs'");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  return *row && query.Int(0) > 0;
}

}  // namespace

Status CreateAgentTables(Connection& conn) {
  return conn.Exec(R"sql(
CREATE TABLE IF NOT EXISTS beliefs (
  run_key INTEGER PRIMARY KEY REFERENCES runs(key),
  fingerprint TEXT NOT NULL,
  revision INTEGER NOT NULL,
  updated_at REAL NOT NULL,
  document TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS beliefs_by_fingerprint ON beliefs (fingerprint, updated_at);
CREATE TABLE IF NOT EXISTS agent_proposals (
  run_key INTEGER NOT NULL REFERENCES runs(key),
  id INTEGER NOT NULL,
  action TEXT NOT NULL,
  params TEXT NOT NULL,
  reason TEXT NOT NULL,
  actor TEXT NOT NULL,
  created_at REAL NOT NULL,
  status TEXT NOT NULL,
  resolved_at REAL,
  PRIMARY KEY (run_key, id));
)sql");
}

Status WriteBeliefs(Connection& conn, const BeliefRecord& record) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  if (Status s = CreateAgentTables(conn); !s.ok()) return s;
  Result<std::int64_t> key = FindRunKey(conn, record.run_id);
  if (!key.ok()) return key.status();
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "INSERT OR REPLACE INTO beliefs (run_key, fingerprint, revision, updated_at, document) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!stmt.ok()) return stmt.status();
  {
    Query query(conn, *stmt);
    query.BindInt(1, *key);
    query.BindText(2, record.fingerprint);
    query.BindInt(3, record.revision);
    query.BindReal(4, record.updated_at);
    query.BindText(5, record.document);
    if (Status s = query.Run(); !s.ok()) return s;
  }
  return txn.Commit();
}

Result<std::optional<BeliefRecord>> ReadBeliefs(Connection& conn, const std::string& run_id) {
  Result<std::int64_t> key = FindRunKey(conn, run_id);
  if (!key.ok()) return key.status();
  Result<bool> tables = HaveAgentTables(conn);
  if (!tables.ok()) return tables.status();
  if (!*tables) return std::optional<BeliefRecord>();
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      fmt::format("SELECT {} FROM beliefs b JOIN runs r ON r.key = b.run_key WHERE b.run_key = ?1",
                  kBeliefColumns));
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *key);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<BeliefRecord>();
  return std::optional<BeliefRecord>(DecodeBelief(query));
}

Result<std::vector<BeliefRecord>> ReadBeliefsByFingerprint(Connection& conn,
                                                           const std::string& fingerprint,
                                                           std::int64_t limit) {
  Result<bool> tables = HaveAgentTables(conn);
  if (!tables.ok()) return tables.status();
  if (!*tables) return std::vector<BeliefRecord>();
  Result<sqlite3_stmt*> stmt = conn.Prepare(fmt::format(
      "SELECT {} FROM beliefs b JOIN runs r ON r.key = b.run_key WHERE b.fingerprint = ?1 "
      "ORDER BY r.created_at DESC LIMIT ?2",
      kBeliefColumns));
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindText(1, fingerprint);
  query.BindInt(2, limit);
  std::vector<BeliefRecord> out;
  Status status = query.ForEachRow([&]() -> Status {
    out.push_back(DecodeBelief(query));
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return out;
}

Result<ProposalRecord> InsertProposal(Connection& conn, const ProposalRecord& proposal) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  if (Status s = CreateAgentTables(conn); !s.ok()) return s;
  Result<std::int64_t> key = FindRunKey(conn, proposal.run_id);
  if (!key.ok()) return key.status();
  std::int64_t next_id = 1;
  {
    Result<sqlite3_stmt*> stmt =
        conn.Prepare("SELECT COALESCE(MAX(id), 0) + 1 FROM agent_proposals WHERE run_key = ?1");
    if (!stmt.ok()) return stmt.status();
    Query query(conn, *stmt);
    query.BindInt(1, *key);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (*row) next_id = query.Int(0);
  }
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "INSERT INTO agent_proposals (run_key, id, action, params, reason, actor, created_at, "
      "status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')");
  if (!stmt.ok()) return stmt.status();
  {
    Query query(conn, *stmt);
    query.BindInt(1, *key);
    query.BindInt(2, next_id);
    query.BindText(3, proposal.action);
    query.BindText(4, proposal.params.dump());
    query.BindText(5, proposal.reason);
    query.BindText(6, proposal.actor);
    query.BindReal(7, proposal.created_at);
    if (Status s = query.Run(); !s.ok()) return s;
  }
  if (Status s = txn.Commit(); !s.ok()) return s;
  ProposalRecord stored = proposal;
  stored.id = next_id;
  stored.status = "pending";
  stored.resolved_at.reset();
  return stored;
}

Result<std::vector<ProposalRecord>> ReadProposals(Connection& conn, const std::string& run_id) {
  Result<std::int64_t> key = FindRunKey(conn, run_id);
  if (!key.ok()) return key.status();
  Result<bool> tables = HaveAgentTables(conn);
  if (!tables.ok()) return tables.status();
  if (!*tables) return std::vector<ProposalRecord>();
  Result<sqlite3_stmt*> stmt = conn.Prepare(fmt::format(
      "SELECT {} FROM agent_proposals p JOIN runs r ON r.key = p.run_key WHERE p.run_key = ?1 "
      "ORDER BY p.id",
      kProposalColumns));
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *key);
  std::vector<ProposalRecord> out;
  Status status = query.ForEachRow([&]() -> Status {
    Result<ProposalRecord> record = DecodeProposal(query);
    if (!record.ok()) return record.status();
    out.push_back(std::move(record).value());
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return out;
}

Status ResolveProposal(Connection& conn, const std::string& run_id, std::int64_t id,
                       const std::string& status, double now) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  if (Status s = CreateAgentTables(conn); !s.ok()) return s;
  Result<std::int64_t> key = FindRunKey(conn, run_id);
  if (!key.ok()) return key.status();
  {
    Result<sqlite3_stmt*> stmt =
        conn.Prepare("SELECT status FROM agent_proposals WHERE run_key = ?1 AND id = ?2");
    if (!stmt.ok()) return stmt.status();
    Query query(conn, *stmt);
    query.BindInt(1, *key);
    query.BindInt(2, id);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound(fmt::format("run {} has no proposal {}", run_id, id));
    if (query.Text(0) != "pending") {
      return Status::Conflict(fmt::format("proposal {} is already {}", id, query.Text(0)));
    }
  }
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "UPDATE agent_proposals SET status = ?3, resolved_at = ?4 WHERE run_key = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.status();
  {
    Query query(conn, *stmt);
    query.BindInt(1, *key);
    query.BindInt(2, id);
    query.BindText(3, status);
    query.BindReal(4, now);
    if (Status s = query.Run(); !s.ok()) return s;
  }
  return txn.Commit();
}

}  // namespace atlas::store::sqlite
