// The write side of the SQLite store: the one read-write connection, the statements prepared
// on it once at start-up, and the caches that spare the ingest path lookups.
//
// Every write happens in one IMMEDIATE transaction per call, rolled back on any failure, so a
// batch is stored whole or not at all. Not thread-safe: SqliteStore calls it only with its
// writer mutex held. The Writer owns its connection.
#pragma once

#include <bitset>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "atlas/status.hpp"
#include "model/records.hpp"
#include "model/runs.hpp"
#include "store/sqlite/db.hpp"
#include "store/sqlite/rollups.hpp"

namespace atlas::store::sqlite {

// Which step fields a batch or a run has values for, indexed like model::kStepFields.
using StepFieldSet = std::bitset<model::kStepFields.size()>;

class Writer {
 public:
  // Takes a connection whose schema is migrated and prepares every write statement.
  static Result<std::unique_ptr<Writer>> Create(std::unique_ptr<Connection> conn,
                                                std::function<double()> clock);

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  Result<model::CreateRunResult> CreateOrResumeRun(const model::RunCreate& req);
  Result<model::IngestResult> Ingest(const std::string& run_id, const model::RecordBatch& batch);

  // The server clock, for writes kept in other files (diagnoses.hpp).
  double now() const { return clock_(); }

  // Checkpoints the WAL into the database file (truncating it) and closes the connection.
  // The store closes its readers first so the checkpoint is not held back by them.
  Status Close();

  // The writer connection, for writes kept in other files (actions.hpp, diagnoses.hpp).
  Connection& connection() { return *conn_; }

 private:
  struct Statements;
  struct BatchState;

  Writer(std::unique_ptr<Connection> conn, std::function<double()> clock,
         std::unique_ptr<Statements> statements, RollupWriter rollups);

  // CreateOrResumeRun, inside its transaction.
  Result<std::int64_t> ResolveProject(const model::ProjectRef& ref);
  Result<std::int64_t> CreateProjectWithId(std::int64_t id);
  Result<std::string> UnusedRunId();

  // Ingest, inside its transaction; each adds to `state`.
  Status InsertSteps(BatchState& state, const model::RecordBatch& batch);
  Status InsertMetrics(BatchState& state, const model::StepRecord& record);
  Result<std::int64_t> MetricId(std::int64_t run_key, const std::string& name);
  Status InsertEpoch(BatchState& state, const model::EpochRecord& record);
  Status InsertLayerStats(BatchState& state, const model::LayerStatsRecord& record);
  Status InsertProfile(BatchState& state, const model::ProfileRecord& record);
  Status InsertEvent(BatchState& state, const model::EventRecord& record);
  Result<bool> ClaimRecord(BatchState& state, std::int64_t seq, std::string_view kind);
  Status ApplyHyperparameters(BatchState& state, const model::RecordBatch& batch);
  Status ApplyArchitecture(BatchState& state, const model::RecordBatch& batch);
  Status ApplyFinishes(BatchState& state, const model::RecordBatch& batch);
  Status RecordStepSeries(const BatchState& state);
  Status UpdateTotals(BatchState& state);

  std::unique_ptr<Connection> conn_;
  std::function<double()> clock_;
  std::unique_ptr<Statements> statements_;
  // Folds each batch's new step records into step_rollups (rollups.hpp), in its transaction.
  RollupWriter rollups_;
  std::mt19937_64 random_;
  // run key -> metric name -> metric id. Entries may come from an uncommitted transaction, so
  // the cache is dropped whenever a transaction rolls back.
  std::unordered_map<std::int64_t, std::unordered_map<std::string, std::int64_t>> metric_ids_;
  // run key -> the step fields step_series is known to list for it (committed data only).
  std::unordered_map<std::int64_t, StepFieldSet> known_series_;
};

}  // namespace atlas::store::sqlite
