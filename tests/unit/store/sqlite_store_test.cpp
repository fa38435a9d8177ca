// The SQLite store: the conformance suite instantiated for it, plus what only SQLite has
// (migrations, the on-disk NaN encoding, locking against another process).
#include "store/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sqlite_backend.hpp"
#include "store_suite.hpp"

namespace atlas::store::testing {
namespace {

std::filesystem::path DatabasePath(const std::filesystem::path& dir) { return dir / "atlas.db"; }

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite, ::testing::Values(SqliteBackend()), BackendName);

// A plain connection for looking at (and tampering with) the file behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb() { sqlite3_close(db_); }

  // Runs `sql`; returns SQLite's error message, or "" on success.
  std::string Exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK) return "";
    std::string message = error != nullptr ? error : "error";
    sqlite3_free(error);
    return message;
  }

  // Every row of `sql`, columns joined by '|' and rows by '\n' (NULL shows as "NULL").
  std::string Query(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return "";
    }
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      if (!out.empty()) out += "\n";
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        if (i > 0) out += "|";
        const auto* text = sqlite3_column_text(stmt, i);
        out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
      }
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// The tables with their columns, foreign keys and indexes, in a comparable form.
std::string SchemaFingerprint(RawDb& db) {
  std::string out;
  const std::string tables = db.Query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
      "ORDER BY name");
  std::istringstream lines(tables);
  for (std::string table; std::getline(lines, table);) {
    out += fmt::format("table {}\n{}\nfk {}\n", table,
                       db.Query(fmt::format("SELECT name, type, \"notnull\", dflt_value, pk FROM "
                                            "pragma_table_info('{}') ORDER BY name",
                                            table)),
                       db.Query(fmt::format("SELECT \"table\", \"from\", \"to\" FROM "
                                            "pragma_foreign_key_list('{}') ORDER BY 1, 2",
                                            table)));
  }
  out += db.Query(
      "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
      "ORDER BY name");
  return out;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::filesystem::path db_path() const { return DatabasePath(dir_.path()); }

  Result<std::unique_ptr<Store>> Open(int busy_timeout_ms = 5000) {
    SqliteOptions options;
    options.path = db_path().string();
    options.clock = [this] { return now_; };
    options.busy_timeout_ms = busy_timeout_ms;
    return OpenSqliteStore(options);
  }

  std::unique_ptr<Store> OpenOrFail() {
    Result<std::unique_ptr<Store>> store = Open();
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TempDir dir_;
  double now_ = 1'700'000'000.0;
};

model::RunCreate RunInProject(const std::string& run_id) {
  model::RunCreate req;
  req.project.name = "p";
  req.run_id = run_id;
  return req;
}

// The schema_version rows "v|applied_at" of versions `first`..latest, applied at `at`.
std::string AppliedVersions(int first, double at) {
  std::string rows;
  for (int v = first; v <= SqliteSchemaVersion(); ++v) {
    rows += fmt::format("{}{}|{:.1f}", rows.empty() ? "" : "\n", v, at);
  }
  return rows;
}

TEST_F(SqliteStoreTest, NewDatabaseIsMigratedToTheLatestVersionInWalMode) {
  std::unique_ptr<Store> store = OpenOrFail();
  ASSERT_NE(store, nullptr);
  RawDb raw(db_path());
  EXPECT_EQ(raw.Query("SELECT version, applied_at FROM schema_version ORDER BY version"),
            AppliedVersions(1, now_));
  EXPECT_GE(SqliteSchemaVersion(), 3);
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
  ASSERT_TRUE(store->Close().ok());
}

TEST_F(SqliteStoreTest, CreatesTheParentDirectory) {
  SqliteOptions options;
  options.path = (dir_.path() / "a" / "b" / "atlas.db").string();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_TRUE(std::filesystem::exists(options.path));
}

TEST_F(SqliteStoreTest, RejectsUnusableOptions) {
  SqliteOptions options;
  EXPECT_EQ(OpenSqliteStore(options).status().code(), StatusCode::kInvalidArgument);
  options.path = ":memory:";
  EXPECT_EQ(OpenSqliteStore(options).status().code(), StatusCode::kInvalidArgument);
  options.path = db_path().string();
  options.reader_connections = 0;
  EXPECT_EQ(OpenSqliteStore(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, MigratesAVersion1DatabaseKeepingItsData) {
  {
    RawDb raw(db_path());
    ASSERT_EQ(raw.Exec(ReadFile(std::filesystem::path(ATLAS_STORE_FIXTURES) / "sqlite_v1.sql")),
              "");
  }
  std::unique_ptr<Store> store = OpenOrFail();
  ASSERT_NE(store, nullptr);
  {
    RawDb raw(db_path());
    EXPECT_EQ(raw.Query("SELECT version, applied_at FROM schema_version ORDER BY version"),
              "1|1600000000.0\n" + AppliedVersions(2, now_));
  }

  model::Run run = store->GetRun("old-run").value();
  EXPECT_EQ(run.project_name, "legacy");
  EXPECT_EQ(run.status, model::RunStatus::kCompleted);
  EXPECT_EQ(run.finished_at, 1600000100.0);
  EXPECT_EQ(run.config, (model::Json{{"epochs", 2}}));
  EXPECT_EQ(run.hyperparameters, (model::Json{{"lr", 0.01}}));
  EXPECT_EQ(run.totals.step_records, 3);
  EXPECT_EQ(run.totals.last_loss, 0.5);
  ASSERT_EQ(run.architecture.size(), 2u);
  EXPECT_EQ(run.architecture[1].name, "fc");
  EXPECT_EQ(run.architecture[1].parent, "");
  EXPECT_EQ(run.architecture[1].input_shape, (model::Json{1, 64}));

  // step_series was filled from the old steps by migration 2.
  EXPECT_EQ(store->ListSeries("old-run").value(),
            (std::vector<std::string>{"loss", "samples", "lr", "acc"}));
  std::vector<SeriesPoint> loss;
  ASSERT_TRUE(
      store->ScanSeries("old-run", Series("loss"), [&](const SeriesPoint& p) { loss.push_back(p); })
          .ok());
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_TRUE(std::isnan(loss[1].y));
  ASSERT_EQ(store->ListEpochs("old-run").value().size(), 1u);
  EXPECT_EQ(store->ListEpochs("old-run").value()[0].energy[0].method, "measured:nvml-counter");
  std::vector<model::LayerStatsRecord> layers = store->ListLayerStats("old-run", {}).value();
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].layers[0].values[0], 0.125);
  EXPECT_EQ(layers[0].layers[0].extra, (model::Json{{"unit_active_frac", {1.0}}}));
  EXPECT_EQ(store->ListProfiles("old-run").value().size(), 1u);
  EXPECT_EQ(store->ListEvents("old-run", {}).value().size(), 1u);

  // Old records are recognised as duplicates; new ones add to the old totals.
  model::RecordBatch batch;
  model::StepRecord step;
  step.seq = 1;
  batch.steps.push_back(step);
  batch.finishes.push_back({10, 1.0, model::RunStatus::kFailed, "", model::Json::object()});
  step.seq = 11;
  step.step = 3;
  step.ts = 1600000200.0;
  step.at(model::StepField::kLoss) = 0.25;
  batch.steps.push_back(step);
  model::IngestResult result = store->Ingest("old-run", batch).value();
  EXPECT_EQ(result.accepted, 1);
  EXPECT_EQ(result.duplicates, 2);
  run = store->GetRun("old-run").value();
  EXPECT_EQ(run.status, model::RunStatus::kCompleted);
  EXPECT_EQ(run.totals.step_records, 4);
  EXPECT_EQ(run.totals.last_step, 3);
  EXPECT_EQ(run.totals.last_loss, 0.25);
  ASSERT_TRUE(store->Close().ok());

  // The migrated schema is the one a new database gets.
  TempDir fresh_dir;
  SqliteOptions options;
  options.path = DatabasePath(fresh_dir.path()).string();
  ASSERT_TRUE(OpenSqliteStore(options).ok());
  RawDb migrated(db_path());
  RawDb fresh(options.path);
  EXPECT_EQ(SchemaFingerprint(migrated), SchemaFingerprint(fresh));
}

TEST_F(SqliteStoreTest, RefusesADatabaseFromANewerVersion) {
  ASSERT_NE(OpenOrFail(), nullptr);
  {
    RawDb raw(db_path());
    ASSERT_EQ(raw.Exec("INSERT INTO schema_version VALUES (99, 0)"), "");
  }
  Result<std::unique_ptr<Store>> store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kConflict);
  EXPECT_NE(store.status().message().find("99"), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("newer"), std::string::npos) << store.status().message();
  RawDb raw(db_path());
  EXPECT_EQ(raw.Query("SELECT max(version) FROM schema_version"), "99");
}

TEST_F(SqliteStoreTest, AddsFieldColumnsAnOlderDatabaseLacks) {
  ASSERT_NE(OpenOrFail(), nullptr);
  {
    RawDb raw(db_path());
    ASSERT_EQ(raw.Exec("ALTER TABLE steps DROP COLUMN lr"), "");
    ASSERT_EQ(raw.Exec("ALTER TABLE layer_stats DROP COLUMN grad_norm"), "");
  }
  std::unique_ptr<Store> store = OpenOrFail();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateOrResumeRun(RunInProject("r")).ok());
  model::RecordBatch batch;
  batch.steps.push_back(MakeStep(1, 1, 1.0));
  batch.steps[0].at(model::StepField::kLearningRate) = 0.5;
  batch.layer_stats.push_back(MakeLayerStats(2, 1, 1.0, {"fc"}));
  ASSERT_TRUE(store->Ingest("r", batch).ok());
  std::vector<SeriesPoint> lr;
  ASSERT_TRUE(
      store->ScanSeries("r", Series("lr"), [&](const SeriesPoint& p) { lr.push_back(p); }).ok());
  ASSERT_EQ(lr.size(), 1u);
  EXPECT_EQ(lr[0].y, 0.5);
  EXPECT_EQ(store->ListLayerStats("r", {}).value()[0].layers[0].values[5],
            batch.layer_stats[0].layers[0].values[5]);
}

TEST_F(SqliteStoreTest, StoresNaNAsTextAndAbsentValuesAsNull) {
  std::unique_ptr<Store> store = OpenOrFail();
  ASSERT_TRUE(store->CreateOrResumeRun(RunInProject("r")).ok());
  model::RecordBatch batch;
  batch.steps.push_back(MakeStep(1, 1, 1.0, kNaN));
  batch.steps[0].at(model::StepField::kTokens) = std::numeric_limits<double>::infinity();
  ASSERT_TRUE(store->Ingest("r", batch).ok());
  RawDb raw(db_path());
  EXPECT_EQ(raw.Query("SELECT typeof(loss), loss, typeof(tokens), typeof(samples) FROM steps"),
            "text|NaN|real|null");
}

// Another process holding the write lock: reads still answer (WAL), and a write gives up after
// the busy timeout with kUnavailable, storing nothing.
TEST_F(SqliteStoreTest, ReadsDoNotWaitForAForeignWriteLock) {
  Result<std::unique_ptr<Store>> opened = Open(/*busy_timeout_ms=*/50);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  std::unique_ptr<Store> store = std::move(opened).value();
  ASSERT_TRUE(store->CreateOrResumeRun(RunInProject("r")).ok());

  RawDb other(db_path());
  ASSERT_EQ(other.Exec("BEGIN IMMEDIATE"), "");
  EXPECT_TRUE(store->GetRun("r").ok());
  EXPECT_TRUE(store->ListRuns({}).ok());
  model::RecordBatch batch;
  batch.steps.push_back(MakeStep(1, 1, 1.0, 1.0));
  EXPECT_EQ(store->Ingest("r", batch).status().code(), StatusCode::kUnavailable);
  ASSERT_EQ(other.Exec("ROLLBACK"), "");

  EXPECT_EQ(store->GetRun("r").value().totals.step_records, 0);
  EXPECT_EQ(store->Ingest("r", batch).value().accepted, 1);
}

// Not a test: prints how many step records per second Ingest stores in batches of 1000, next
// to the bare rate of the same rows inserted with one prepared statement into the same schema.
// Run with --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'.
TEST_F(SqliteStoreTest, DISABLED_IngestThroughput) {
  constexpr int kBatches = 200;
  constexpr int kBatchSize = 1000;
  std::vector<model::RecordBatch> batches(kBatches);
  std::int64_t seq = 0;
  for (auto& batch : batches) {
    for (int i = 0; i < kBatchSize; ++i, ++seq) {
      model::StepRecord step =
          MakeStep(seq, seq, 1e9 + static_cast<double>(seq), 1.0 / static_cast<double>(seq + 1));
      step.epoch = seq / 10000;
      step.at(model::StepField::kSamples) = 64;
      step.at(model::StepField::kStepMs) = 12.5;
      step.at(model::StepField::kDataMs) = 1.5;
      step.at(model::StepField::kLearningRate) = 1e-3;
      step.at(model::StepField::kRssBytes) = 1e9;
      batch.steps.push_back(step);
    }
  }
  auto rate = [](std::int64_t records, std::chrono::steady_clock::duration elapsed) {
    return static_cast<double>(records) / std::chrono::duration<double>(elapsed).count();
  };

  {
    std::unique_ptr<Store> store = OpenOrFail();
    ASSERT_TRUE(store->CreateOrResumeRun(RunInProject("r")).ok());
    const auto start = std::chrono::steady_clock::now();
    for (const auto& batch : batches) ASSERT_TRUE(store->Ingest("r", batch).ok());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    std::printf("Store::Ingest: %.0f step records/s (%d batches of %d)\n", rate(seq, elapsed),
                kBatches, kBatchSize);
  }

  // The bare rate: a second database with the same schema, one prepared INSERT, one
  // transaction per 1000 rows, same pragmas.
  TempDir bare_dir;
  SqliteOptions options;
  options.path = DatabasePath(bare_dir.path()).string();
  {
    std::unique_ptr<Store> store = OpenSqliteStore(options).value();
    ASSERT_TRUE(store->CreateOrResumeRun(RunInProject("r")).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db,
               "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
               "PRAGMA cache_size = -32768",
               nullptr, nullptr, nullptr);
  std::string columns;
  std::string params;
  for (std::size_t i = 0; i < model::kStepFields.size(); ++i) {
    columns += fmt::format(", {}", model::kStepFields[i].name);
    params += fmt::format(", ?{}", i + 6);
  }
  const std::string sql = fmt::format(
      "INSERT OR IGNORE INTO steps (run_key, seq, step, epoch, ts{}) VALUES (?1, ?2, "
      "?3, ?4, ?5{})",
      columns, params);
  sqlite3_stmt* insert = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &insert, nullptr), SQLITE_OK);
  const auto start = std::chrono::steady_clock::now();
  for (const auto& batch : batches) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (const auto& step : batch.steps) {
      sqlite3_bind_int64(insert, 1, 1);
      sqlite3_bind_int64(insert, 2, step.seq);
      sqlite3_bind_int64(insert, 3, step.step);
      sqlite3_bind_int64(insert, 4, *step.epoch);
      sqlite3_bind_double(insert, 5, step.ts);
      for (std::size_t i = 0; i < step.fields.size(); ++i) {
        const int index = static_cast<int>(i) + 6;
        if (step.fields[i]) {
          sqlite3_bind_double(insert, index, *step.fields[i]);
        } else {
          sqlite3_bind_null(insert, index);
        }
      }
      ASSERT_EQ(sqlite3_step(insert), SQLITE_DONE);
      sqlite3_reset(insert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  sqlite3_finalize(insert);
  sqlite3_close(db);
  std::printf("bare SQLite:   %.0f step records/s\n", rate(seq, elapsed));
}

}  // namespace
}  // namespace atlas::store::testing
