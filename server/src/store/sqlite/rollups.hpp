// Step rollups (schema migration 6): the step-field series pre-aggregated over fixed blocks of
// steps, so that a wide-range series query reads about as many rows as it returns buckets
// instead of every stored step (issue 6).
//
// For blocks of 64, 512, 4096 and 32768 consecutive steps (block k of span S holds steps
// k*S .. k*S+S-1), step_rollups keeps one row per (run, span, block) with, for every step field,
// how many values the block stores, the first and the last step holding one, the seq of the
// last, and the min and max (store::SeriesMin, SeriesMax) and the last value, "last" ordered by
// (step, seq) as the series query orders points. The writer adds every newly stored step record
// to its blocks inside the ingest transaction (RollupDelta, RollupWriter), so rollups and steps
// always agree. Records arriving out of order, steps repeated under new seqs (a resumed run)
// and replays (which store nothing, so add nothing) fold in exactly as the raw rows are read.
//
// DownsampleStepField answers a step-axis query from them: it covers the range with the coarsest
// blocks lying inside it (finer blocks, then raw rows, at its edges), takes a block whole when
// its first and last value fall into one bucket, and splits it into its finer blocks (down to
// raw rows) when a bucket edge crosses it. The result equals store::Downsample over the raw rows
// exactly; a query reads the blocks in its range plus about 90 rows per bucket edge.
//
// Functions and small value types over one Connection, which the caller owns together with its
// transaction; nothing here is thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "atlas/status.hpp"
#include "model/records.hpp"
#include "store/sqlite/db.hpp"
#include "store/store.hpp"

namespace atlas::store::sqlite {

// log2 of the block spans, finest first (64, 512, 4096, 32768 steps). The finest span trades
// ingest cost (a batch of 1,000 steps writes about 20 block rows; with 32-step blocks it was 37
// and ingest through HTTP lost about a fifth of its rate, bench/RESULTS.md) against the raw rows
// a query reads where a bucket edge cuts a finest block (at most 64 per edge).
inline constexpr std::array<int, 4> kRollupShifts = {6, 9, 12, 15};

// The values of one step field within one block.
struct FieldRollup {
  std::int64_t count = 0;
  std::int64_t first_step = 0;
  std::int64_t last_step = 0;
  std::int64_t last_seq = 0;  // with last_step, orders "last" as the series query does
  double min = 0;
  double max = 0;
  double last = 0;

  void Add(std::int64_t step, std::int64_t seq, double value);
  // Folds in the values of `other` (of the same block); commutative and associative.
  void Merge(const FieldRollup& other);
};

using BlockRollup = std::array<FieldRollup, model::kStepFields.size()>;
using StepValues = decltype(model::StepRecord::fields);

// What a batch of newly stored step records adds to the rollups.
class RollupDelta {
 public:
  // (level, block), level indexing kRollupShifts.
  using Key = std::pair<std::size_t, std::int64_t>;

  void Add(std::int64_t step, std::int64_t seq, const StepValues& values);
  bool empty() const { return finest_.empty(); }
  // How many blocks of the finest level it touches.
  std::size_t size() const { return finest_.size(); }
  void clear();
  // The blocks of every level it touches, with what it adds to each.
  std::map<Key, BlockRollup> AllLevels() const;

 private:
  std::map<std::int64_t, BlockRollup> finest_;  // by block of the finest level
  // The block the last record went to: consecutive steps mostly share it, sparing a lookup.
  std::int64_t last_key_ = 0;
  BlockRollup* last_block_ = nullptr;
};

// Merges a RollupDelta into step_rollups with two statements prepared once on `conn`, which
// must outlive the writer.
class RollupWriter {
 public:
  static Result<RollupWriter> Create(Connection& conn);
  Status Write(std::int64_t run_key, const RollupDelta& delta);

 private:
  RollupWriter(Connection& conn, sqlite3_stmt* select, sqlite3_stmt* replace)
      : conn_(&conn), select_(select), replace_(replace) {}

  Connection* conn_;
  sqlite3_stmt* select_;
  sqlite3_stmt* replace_;
};

// Migration 6: creates step_rollups and fills it from every stored step, run by run.
Status CreateStepRollups(Connection& conn);
// Adds the columns of step fields the table lacks (kStepFields grew since it was created);
// nothing when the table does not exist yet.
Status EnsureRollupColumns(Connection& conn);

// The step field `request.metric` of the run on the step axis, downsampled into at most
// `max_points` buckets from the rollups (see the top of this file). The caller has checked that
// the metric is a step field and the axis is step.
Result<SeriesBuckets> DownsampleStepField(Connection& conn, const std::string& run_id,
                                          const SeriesQuery& request, std::size_t max_points);

}  // namespace atlas::store::sqlite
