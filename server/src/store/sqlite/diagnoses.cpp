#include "store/sqlite/diagnoses.hpp"

#include <utility>

#include <fmt/format.h>

#include "store/sqlite/reads.hpp"

namespace atlas::store::sqlite {
namespace {

std::string StepScanSql() {
  std::string columns;
  for (const auto& info : model::kStepFields) columns += fmt::format(", {}", info.name);
  return fmt::format("SELECT seq, step, epoch, ts{} FROM steps WHERE run_key = ?1 ORDER BY seq",
                     columns);
}

constexpr std::string_view kSummaryColumns =
    "r.public_id, d.computed_at, d.grade, d.score, d.wasted_fraction, d.kwh, d.kg_co2, d.eur";

DiagnosisRecord DecodeSummary(const Query& row) {
  DiagnosisRecord record;
  record.run_id = row.Text(0);
  record.computed_at = row.Real(1);
  record.grade = row.Text(2);
  record.score = row.Real(3);
  record.wasted_fraction = row.Real(4);
  record.kwh = row.Real(5);
  record.kg_co2 = row.Real(6);
  record.eur = row.Real(7);
  return record;
}

// Runs `write` in one IMMEDIATE transaction on the writer connection.
template <typename Fn>
Status InTransaction(Connection& conn, Fn&& write) {
  Transaction txn(conn);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
  if (Status s = write(); !s.ok()) return s;
  return txn.Commit();
}

}  // namespace

Status ScanStepRecords(Connection& conn, const std::string& run_id,
                       const std::function<void(const model::StepRecord&)>& visit) {
  Result<std::int64_t> key = FindRunKey(conn, run_id);
  if (!key.ok()) return key.status();
  Result<sqlite3_stmt*> stmt = conn.Prepare(StepScanSql());
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *key);
  model::StepRecord record;
  return query.ForEachRow([&]() -> Status {
    record.seq = query.Int(0);
    record.step = query.Int(1);
    record.epoch = query.OptInt(2);
    record.ts = query.Real(3);
    for (std::size_t i = 0; i < model::kStepFields.size(); ++i) {
      record.fields[i] = query.OptReal(static_cast<int>(i) + 4);
    }
    visit(record);
    return Status::Ok();
  });
}

Status WriteDiagnosis(Connection& conn, const DiagnosisRecord& record) {
  return InTransaction(conn, [&]() -> Status {
    Result<std::int64_t> key = FindRunKey(conn, record.run_id);
    if (!key.ok()) return key.status();
    Result<sqlite3_stmt*> stmt = conn.Prepare(
        "INSERT OR REPLACE INTO diagnoses (run_key, computed_at, grade, score, wasted_fraction, "
        "kwh, kg_co2, eur, document) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!stmt.ok()) return stmt.status();
    Query query(conn, *stmt);
    query.BindInt(1, *key);
    query.BindReal(2, record.computed_at);
    query.BindText(3, record.grade);
    query.BindReal(4, record.score);
    query.BindReal(5, record.wasted_fraction);
    query.BindReal(6, record.kwh);
    query.BindReal(7, record.kg_co2);
    query.BindReal(8, record.eur);
    query.BindText(9, record.document);
    return query.Run();
  });
}

Result<std::optional<DiagnosisRecord>> ReadDiagnosis(Connection& conn, const std::string& run_id) {
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      fmt::format("SELECT {}, d.document FROM diagnoses d JOIN runs r ON r.key = d.run_key "
                  "WHERE r.public_id = ?1",
                  kSummaryColumns));
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindText(1, run_id);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    // Tell an unknown run apart from a run that has no diagnosis yet.
    Result<std::int64_t> key = FindRunKey(conn, run_id);
    if (!key.ok()) return key.status();
    return std::optional<DiagnosisRecord>();
  }
  DiagnosisRecord record = DecodeSummary(query);
  record.document = query.Text(8);
  return std::optional<DiagnosisRecord>(std::move(record));
}

Result<std::vector<DiagnosisRecord>> ReadDiagnosisSummaries(
    Connection& conn, const std::vector<std::string>& run_ids) {
  Result<sqlite3_stmt*> stmt = conn.Prepare(fmt::format(
      "SELECT {} FROM diagnoses d JOIN runs r ON r.key = d.run_key WHERE r.public_id = ?1",
      kSummaryColumns));
  if (!stmt.ok()) return stmt.status();
  std::vector<DiagnosisRecord> out;
  // One indexed lookup per run: a page of the runs list is at most a few hundred runs.
  for (const std::string& run_id : run_ids) {
    Query query(conn, *stmt);
    query.BindText(1, run_id);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (*row) out.push_back(DecodeSummary(query));
  }
  return out;
}

Result<model::Json> ReadProjectThresholds(Connection& conn, std::int64_t project_id) {
  Result<sqlite3_stmt*> stmt =
      conn.Prepare("SELECT overrides FROM project_thresholds WHERE project_id = ?1");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, project_id);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  if (!*row) return model::Json::object();
  return query.JsonColumn(0, "project thresholds");
}

Status WriteProjectThresholds(Connection& conn, std::int64_t project_id,
                              const model::Json& overrides, double now) {
  return InTransaction(conn, [&]() -> Status {
    Result<sqlite3_stmt*> exists = conn.Prepare("SELECT 1 FROM projects WHERE id = ?1");
    if (!exists.ok()) return exists.status();
    {
      Query query(conn, *exists);
      query.BindInt(1, project_id);
      Result<bool> row = query.Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::NotFound(fmt::format("project {} does not exist", project_id));
    }
    Result<sqlite3_stmt*> stmt = conn.Prepare(
        "INSERT OR REPLACE INTO project_thresholds (project_id, overrides, updated_at) "
        "VALUES (?1, ?2, ?3)");
    if (!stmt.ok()) return stmt.status();
    Query query(conn, *stmt);
    query.BindInt(1, project_id);
    query.BindText(2, DumpJson(overrides));
    query.BindReal(3, now);
    return query.Run();
  });
}

}  // namespace atlas::store::sqlite
