// Step rollups (schema migration 6, store/sqlite/rollups.hpp): a step series downsampled from
// the rollups equals store::Downsample over the raw rows, whatever order, duplicates and
// resumptions its steps came with; range edges inside blocks are exact; a database of schema
// version 5 gets its rollups by backfill.
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sqlite_backend.hpp"
#include "store/downsample.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store_suite.hpp"

namespace atlas::store::testing {
namespace {

// Runs SQL on the database file behind the store's back.
std::string ExecRaw(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string error;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    error = "cannot open";
  } else {
    sqlite3_busy_timeout(db, 5000);
    char* message = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      error = message != nullptr ? message : "error";
    }
    sqlite3_free(message);
  }
  sqlite3_close(db);
  return error;
}

// The first column of the first row of `sql`, as an integer.
std::int64_t QueryInt(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::int64_t out = -1;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

bool SameValue(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

std::string Describe(const SeriesQuery& query, std::size_t points) {
  return fmt::format("{} axis {} from {} to {} points {}", query.metric,
                     query.axis == SeriesAxis::kStep ? "step" : "time",
                     query.from ? fmt::format("{}", *query.from) : "open",
                     query.to ? fmt::format("{}", *query.to) : "open", points);
}

// Expects DownsampleSeries to give exactly Downsample over every point ScanSeries visits.
void ExpectSameAsRaw(Store& store, const std::string& run_id, const SeriesQuery& query,
                     std::size_t points) {
  SCOPED_TRACE(Describe(query, points));
  std::vector<SeriesPoint> raw;
  ASSERT_TRUE(
      store.ScanSeries(run_id, query, [&](const SeriesPoint& p) { raw.push_back(p); }).ok());
  const std::vector<Bucket> expected = Downsample(raw, points);
  Result<SeriesBuckets> got = store.DownsampleSeries(run_id, query, points);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->points_in_range, static_cast<std::int64_t>(raw.size()));
  ASSERT_EQ(got->buckets.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const Bucket& g = got->buckets[i];
    const Bucket& e = expected[i];
    ASSERT_TRUE(g.x == e.x && g.count == e.count && SameValue(g.min, e.min) &&
                SameValue(g.max, e.max) && SameValue(g.last, e.last))
        << "bucket " << i << ": got x " << g.x << " count " << g.count << " min " << g.min
        << " max " << g.max << " last " << g.last << "; raw gives x " << e.x << " count " << e.count
        << " min " << e.min << " max " << e.max << " last " << e.last;
  }
}

class StepRollups : public StoreSuite {
 protected:
  std::filesystem::path db_path() const { return dir_->path() / "atlas.db"; }

  void Ingest(const std::string& run_id, std::vector<model::StepRecord> steps) {
    model::RecordBatch batch;
    batch.steps = std::move(steps);
    Result<model::IngestResult> result = store_->Ingest(run_id, batch);
    ASSERT_TRUE(result.ok()) << result.status().message();
  }

  // Sends `steps` in batches of random sizes, in a shuffled batch order, records shuffled within
  // each batch, and some batches sent twice.
  void SendShuffled(const std::string& run_id, std::vector<model::StepRecord> steps,
                    std::mt19937_64& random) {
    std::vector<std::vector<model::StepRecord>> batches;
    for (std::size_t start = 0; start < steps.size();) {
      const std::size_t size = 1 + random() % 3000;
      const std::size_t end = std::min(steps.size(), start + size);
      batches.emplace_back(steps.begin() + static_cast<std::ptrdiff_t>(start),
                           steps.begin() + static_cast<std::ptrdiff_t>(end));
      start = end;
    }
    std::shuffle(batches.begin(), batches.end(), random);
    for (auto& batch : batches) {
      std::shuffle(batch.begin(), batch.end(), random);
      Ingest(run_id, batch);
      if (random() % 4 == 0) Ingest(run_id, batch);  // a replay stores nothing
    }
  }

  void Resume(const std::string& run_id) {
    model::RunCreate req;
    req.project.name = "p";
    req.run_id = run_id;
    Result<model::CreateRunResult> resumed = store_->CreateOrResumeRun(req);
    ASSERT_TRUE(resumed.ok()) << resumed.status().message();
    EXPECT_TRUE(resumed->resumed);
  }
};

// Steps 0..count-1 (seq = step = ts) with loss `loss(step)`.
std::vector<model::StepRecord> Steps(int count, double (*loss)(int)) {
  std::vector<model::StepRecord> steps;
  steps.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) steps.push_back(MakeStep(i, i, i, loss(i)));
  return steps;
}

// A value from a small set with repeats, signed zeros, infinities and (when `nan`) NaN, so ties
// and the NaN rules are exercised.
double RandomValue(std::mt19937_64& random, bool nan) {
  const std::uint64_t pick = random() % 100;
  if (nan && pick == 0) return kNaN;
  if (pick == 1) return kInf;
  if (pick == 2) return -kInf;
  if (pick == 3) return -0.0;
  if (pick == 4) return 0.0;
  return static_cast<double>(static_cast<std::int64_t>(random() % 2001) - 1000) / 8.0;
}

// A run's steps as a training would send them: mostly ascending with gaps, some steps repeated
// under a new seq, loss nearly everywhere, lr sparse, cpu_percent in stretches.
std::vector<model::StepRecord> RandomSteps(std::mt19937_64& random, std::int64_t first_seq,
                                           std::int64_t first_step, int count, bool nan) {
  std::vector<model::StepRecord> steps;
  steps.reserve(static_cast<std::size_t>(count));
  std::int64_t step = first_step;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t move = random() % 20;
    if (move < 2) {
      // a repeated step
    } else if (move < 4) {
      step += static_cast<std::int64_t>(random() % 40);
    } else {
      step += 1;
    }
    model::StepRecord record = MakeStep(first_seq + i, step, 1000.0 + static_cast<double>(i));
    if (random() % 10 != 0) record.at(model::StepField::kLoss) = RandomValue(random, nan);
    if (random() % 10 == 0) record.at(model::StepField::kLearningRate) = RandomValue(random, nan);
    if ((step / 5000) % 2 == 0) record.at(model::StepField::kCpuPercent) = RandomValue(random, nan);
    steps.push_back(std::move(record));
  }
  return steps;
}

TEST_P(StepRollups, RandomSeriesDownsampleExactlyAsTheirRawRows) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937_64 random(seed);
    const std::string run_id = fmt::format("run-{}", seed);
    CreateRun(run_id);
    const bool nan = seed % 2 == 0;
    const int first = seed == 4 ? 60000 : static_cast<int>(200 + random() % 20000);
    std::vector<model::StepRecord> steps = RandomSteps(random, 0, 0, first, nan);
    SendShuffled(run_id, steps, random);
    // A resumed run goes back to an earlier checkpoint and steps again under new seqs.
    Resume(run_id);
    const std::int64_t checkpoint = steps[steps.size() / 2].step;
    SendShuffled(run_id,
                 RandomSteps(random, first, checkpoint, static_cast<int>(random() % 8000), nan),
                 random);

    const std::int64_t last_step = QueryInt(db_path(), "SELECT max(step) FROM steps");
    for (const char* metric : {"loss", "lr", "cpu_percent"}) {
      for (std::size_t points : {1, 2, 7, 100, 999, 4000, 10000}) {
        ExpectSameAsRaw(*store_, run_id, Series(metric), points);
      }
      for (int i = 0; i < 12; ++i) {
        const double a = static_cast<double>(random() % static_cast<std::uint64_t>(last_step + 2));
        const double b =
            a + static_cast<double>(random() % static_cast<std::uint64_t>(last_step + 2));
        // Fractional bounds, open ends and ranges past the data all occur.
        const std::optional<double> from =
            i % 5 == 0 ? std::nullopt : std::optional<double>(a - 0.5 * static_cast<double>(i % 2));
        const std::optional<double> to =
            i % 4 == 0 ? std::nullopt
                       : std::optional<double>(b + 0.25 * static_cast<double>(i % 3));
        ExpectSameAsRaw(*store_, run_id, Series(metric, SeriesAxis::kStep, from, to),
                        1 + random() % 1500);
      }
    }
    ExpectSameAsRaw(*store_, run_id, Series("loss", SeriesAxis::kTime, 1100.0, 9000.5), 300);
  }
}

TEST_P(StepRollups, RangeEdgesInsideBlocksAreExact) {
  CreateRun("r");
  Ingest("r", Steps(100000, [](int i) { return static_cast<double>(i); }));

  // Both edges fall inside blocks of every span.
  Result<SeriesBuckets> got =
      store_->DownsampleSeries("r", Series("loss", SeriesAxis::kStep, 17.5, 70001.0), 10);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->points_in_range, 70001 - 18 + 1);
  ASSERT_EQ(got->buckets.size(), 10u);
  EXPECT_EQ(got->buckets.front().min, 18.0);
  EXPECT_EQ(got->buckets.back().x, 70001.0);
  EXPECT_EQ(got->buckets.back().max, 70001.0);
  EXPECT_EQ(got->buckets.back().last, 70001.0);
  std::int64_t total = 0;
  for (const Bucket& b : got->buckets) total += b.count;
  EXPECT_EQ(total, got->points_in_range);

  for (const auto& [from, to] : std::vector<std::pair<double, double>>{{0, 15},
                                                                       {1, 16},
                                                                       {15, 17},
                                                                       {255, 257},
                                                                       {4095, 65537},
                                                                       {65535, 99999},
                                                                       {3, 3},
                                                                       {99999, 1e18}}) {
    for (std::size_t points : {1, 3, 1000}) {
      ExpectSameAsRaw(*store_, "r", Series("loss", SeriesAxis::kStep, from, to), points);
    }
  }
  EXPECT_EQ(store_->DownsampleSeries("r", Series("loss", SeriesAxis::kStep, 10.0, 9.0), 5)
                ->points_in_range,
            0);
  EXPECT_EQ(store_->DownsampleSeries("r", Series("loss", SeriesAxis::kStep, 1e300, kInf), 5)
                ->points_in_range,
            0);
  EXPECT_EQ(store_->DownsampleSeries("r", Series("loss", SeriesAxis::kStep, -kInf, -1e300), 5)
                ->points_in_range,
            0);
}

TEST_P(StepRollups, AWideQueryIsAnsweredFromTheRollupsNotTheRawRows) {
  CreateRun("r");
  Ingest("r", Steps(100000, [](int i) { return static_cast<double>(i % 977); }));
  // One bucket over whole blocks needs no raw row at all: with the rows gone behind the store's
  // back, the answer is still that of the 100,000 points.
  ASSERT_EQ(ExecRaw(db_path(), "DELETE FROM steps"), "");
  Result<SeriesBuckets> got = store_->DownsampleSeries("r", Series("loss"), 1);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->points_in_range, 100000);
  ASSERT_EQ(got->buckets.size(), 1u);
  EXPECT_EQ(got->buckets[0].min, 0.0);
  EXPECT_EQ(got->buckets[0].max, 976.0);
  EXPECT_EQ(got->buckets[0].x, 99999.0);
  EXPECT_EQ(got->buckets[0].last, static_cast<double>(99999 % 977));
}

TEST_P(StepRollups, NaNShowsInMaxAndLastButNotInMin) {
  CreateRun("r");
  Ingest("r", Steps(65, [](int i) { return i == 0 || i >= 63 ? kNaN : 1.0 * i; }));
  Result<SeriesBuckets> got = store_->DownsampleSeries("r", Series("loss"), 2);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->buckets.size(), 2u);
  EXPECT_EQ(got->buckets[0].min, 1.0);
  EXPECT_TRUE(std::isnan(got->buckets[0].max));
  EXPECT_EQ(got->buckets[0].last, 31.0);
  EXPECT_EQ(got->buckets[1].min, 32.0);
  EXPECT_TRUE(std::isnan(got->buckets[1].max));
  EXPECT_TRUE(std::isnan(got->buckets[1].last));
  for (std::size_t points : {1, 2, 5, 100}) ExpectSameAsRaw(*store_, "r", Series("loss"), points);
}

TEST_P(StepRollups, UnknownRunsAndBadBoundsAreRefused) {
  EXPECT_EQ(store_->DownsampleSeries("nope", Series("loss"), 10).status().code(),
            StatusCode::kNotFound);
  CreateRun("r");
  EXPECT_EQ(
      store_->DownsampleSeries("r", Series("loss", SeriesAxis::kStep, kNaN), 10).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->DownsampleSeries("r", Series("no_such_metric"), 10).status().code(),
            StatusCode::kNotFound);
  Result<SeriesBuckets> empty = store_->DownsampleSeries("r", Series("loss"), 10);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->points_in_range, 0);
  EXPECT_TRUE(empty->buckets.empty());
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StepRollups, ::testing::Values(SqliteBackend()), BackendName);

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(ATLAS_STORE_FIXTURES) / name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(StepRollupsMigration, AVersion5DatabaseIsBackfilled) {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "atlas.db";
  ASSERT_EQ(ExecRaw(path, ReadFixture("sqlite_v5.sql")), "");
  // More steps for the fixture's run, written as atlasd 5 wrote them (NaN as text): repeated
  // steps, a sparse field, a second run whose seqs run against its steps.
  ASSERT_EQ(ExecRaw(path, R"sql(
WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 80002)
INSERT INTO steps (run_key, seq, step, ts, loss, lr)
SELECT 1, i, i - 3 * (i % 7 = 0), 1600000000 + i,
       CASE WHEN i % 1000 = 0 THEN 'NaN' ELSE (i * 7919 % 1000) / 10.0 END,
       CASE WHEN i % 50 = 0 THEN i / 100.0 END FROM n;
INSERT INTO runs (key, public_id, project_id, name, status, started_at, created_at)
VALUES (2, 'v5-other', 1, 'other', 'completed', 1600000000, 1600000000);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO steps (run_key, seq, step, ts, loss)
SELECT 2, 20000 - i, i, 1600000000 + i, (i * 31 % 97) - 40.0 FROM n;
)sql"),
            "");

  SqliteOptions options;
  options.path = path.string();
  options.clock = [] { return 1'700'000'000.0; };
  Result<std::unique_ptr<Store>> opened = OpenSqliteStore(options);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Store& store = **opened;
  EXPECT_EQ(QueryInt(path, "SELECT max(version) FROM schema_version"), SqliteSchemaVersion());
  EXPECT_GT(QueryInt(path, "SELECT count(*) FROM step_rollups"), 0);

  for (std::size_t points : {1, 3, 640, 5000}) {
    ExpectSameAsRaw(store, "v5-run", Series("loss"), points);
    ExpectSameAsRaw(store, "v5-run", Series("lr"), points);
    ExpectSameAsRaw(store, "v5-run", Series("samples"), points);
    ExpectSameAsRaw(store, "v5-other", Series("loss"), points);
    ExpectSameAsRaw(store, "v5-run", Series("loss", SeriesAxis::kStep, 999.5, 70000.0), points);
  }
  // New steps after the migration fold into the backfilled blocks.
  model::RecordBatch batch;
  batch.steps.reserve(300);
  for (int i = 0; i < 300; ++i) {
    batch.steps.push_back(MakeStep(100000 + i, 79000 + i, 1.7e9 + i, -1.0 * i));
  }
  ASSERT_TRUE(store.Ingest("v5-run", batch).ok());
  for (std::size_t points : {1, 3, 640}) ExpectSameAsRaw(store, "v5-run", Series("loss"), points);

  // The one-bucket answer of the backfilled run comes from the rollups alone.
  Result<SeriesBuckets> before = store.DownsampleSeries("v5-other", Series("loss"), 1);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(ExecRaw(path, "DELETE FROM steps WHERE run_key = 2"), "");
  Result<SeriesBuckets> after = store.DownsampleSeries("v5-other", Series("loss"), 1);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->points_in_range, 20001);
  ASSERT_EQ(after->buckets.size(), 1u);
  EXPECT_EQ(after->buckets[0].min, before->buckets[0].min);
  EXPECT_EQ(after->buckets[0].max, before->buckets[0].max);
  EXPECT_EQ(after->buckets[0].last, before->buckets[0].last);
  ASSERT_TRUE(store.Close().ok());
}

}  // namespace
}  // namespace atlas::store::testing
