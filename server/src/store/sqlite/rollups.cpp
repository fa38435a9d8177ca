#include "store/sqlite/rollups.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "store/downsample.hpp"
#include "store/sqlite/reads.hpp"

namespace atlas::store::sqlite {
namespace {

// The columns step_rollups keeps per step field, in the order the statements use them.
struct StatColumn {
  std::string_view suffix;
  std::string_view type;
};
constexpr std::array<StatColumn, 7> kStatColumns = {{
    {"_n", "INTEGER"},
    {"_first", "INTEGER"},
    {"_last_step", "INTEGER"},
    {"_last_seq", "INTEGER"},
    {"_min", "REAL"},
    {"_max", "REAL"},
    {"_last", "REAL"},
}};
constexpr int kStats = static_cast<int>(kStatColumns.size());

// The first bind index of the field columns in the replace statement: ?1 run key, ?2 span,
// ?3 block come first.
constexpr int kFirstFieldParam = 4;

// Every field column, "loss_n, loss_first, ...", names taken from kStepFields, never input.
std::string FieldColumns() {
  std::string out;
  for (const auto& info : model::kStepFields) {
    for (const StatColumn& column : kStatColumns) {
      if (!out.empty()) out += ", ";
      out += fmt::format("{}{}", info.name, column.suffix);
    }
  }
  return out;
}

std::string CreateTableSql() {
  std::string columns;
  for (const auto& info : model::kStepFields) {
    for (const StatColumn& column : kStatColumns) {
      columns += fmt::format(",\n  {}{} {}", info.name, column.suffix, column.type);
    }
  }
  return fmt::format(
      "CREATE TABLE step_rollups (\n"
      "  run_key INTEGER NOT NULL REFERENCES runs(key),\n"
      "  span INTEGER NOT NULL,\n"
      "  block INTEGER NOT NULL{},\n"
      "  PRIMARY KEY (run_key, span, block)) WITHOUT ROWID",
      columns);
}

std::string SelectBlockSql() {
  return fmt::format("SELECT {} FROM step_rollups WHERE run_key = ?1 AND span = ?2 AND block = ?3",
                     FieldColumns());
}

std::string ReplaceBlockSql() {
  std::string params;
  const int count = static_cast<int>(model::kStepFields.size()) * kStats;
  for (int i = 0; i < count; ++i) params += fmt::format(", ?{}", kFirstFieldParam + i);
  return fmt::format(
      "INSERT OR REPLACE INTO step_rollups (run_key, span, block, {}) VALUES (?1, ?2, ?3{})",
      FieldColumns(), params);
}

// Reads one field's stats, kStatColumns in order from `column`; a field without values (NULL
// columns) reads as an empty rollup.
FieldRollup ReadFieldRollup(const Query& query, int column) {
  FieldRollup out;
  if (query.IsNull(column)) return out;
  out.count = query.Int(column);
  out.first_step = query.Int(column + 1);
  out.last_step = query.Int(column + 2);
  out.last_seq = query.Int(column + 3);
  out.min = query.Real(column + 4);
  out.max = query.Real(column + 5);
  out.last = query.Real(column + 6);
  return out;
}

void BindFieldRollup(Query& query, int param, const FieldRollup& rollup) {
  query.BindInt(param, rollup.count);
  query.BindInt(param + 1, rollup.first_step);
  query.BindInt(param + 2, rollup.last_step);
  query.BindInt(param + 3, rollup.last_seq);
  query.BindReal(param + 4, rollup.min);
  query.BindReal(param + 5, rollup.max);
  query.BindReal(param + 6, rollup.last);
}

bool After(std::int64_t step, std::int64_t seq, std::int64_t than_step, std::int64_t than_seq) {
  return step != than_step ? step > than_step : seq > than_seq;
}

// --- the backfill of migration 6 ------------------------------------------------------------

// Blocks held in memory before the backfill writes them out; rows arrive in step order, so a
// block cut by a flush is merged with its other part on the next one.
constexpr std::size_t kBackfillFlushBlocks = 4096;

Result<std::vector<std::int64_t>> RunKeys(Connection& conn) {
  Result<sqlite3_stmt*> stmt = conn.Prepare("SELECT key FROM runs ORDER BY key");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  std::vector<std::int64_t> keys;
  Status status = query.ForEachRow([&]() -> Status {
    keys.push_back(query.Int(0));
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return keys;
}

Status BackfillRun(Connection& conn, RollupWriter& writer, std::int64_t run_key) {
  std::string columns;
  for (const auto& info : model::kStepFields) columns += fmt::format(", {}", info.name);
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      fmt::format("SELECT step, seq{} FROM steps WHERE run_key = ?1 ORDER BY step, seq", columns));
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, run_key);
  RollupDelta delta;
  StepValues values;
  Status status = query.ForEachRow([&]() -> Status {
    for (std::size_t i = 0; i < values.size(); ++i) {
      values[i] = query.OptReal(2 + static_cast<int>(i));
    }
    delta.Add(query.Int(0), query.Int(1), values);
    if (delta.size() < kBackfillFlushBlocks) return Status::Ok();
    Status written = writer.Write(run_key, delta);
    delta.clear();
    return written;
  });
  if (!status.ok()) return status;
  return writer.Write(run_key, delta);
}

// --- the read side ----------------------------------------------------------------------------

// A piece of a series in step order: one block's rollup, or one stored point (level -1).
struct Piece {
  int level = -1;  // index into kRollupShifts
  std::int64_t block = 0;
  SeriesSummary summary;
};

constexpr std::int64_t Mask(int shift) { return (std::int64_t{1} << shift) - 1; }

// Reads the pieces of one step field of one run: blocks from step_rollups, points from steps.
class StepFieldReader {
 public:
  StepFieldReader(Connection& conn, std::int64_t run_key, std::string_view field)
      : conn_(conn),
        run_key_(run_key),
        blocks_sql_(fmt::format(
            "SELECT block, {0}_n, {0}_first, {0}_last_step, {0}_min, {0}_max, {0}_last "
            "FROM step_rollups WHERE run_key = ?1 AND span = ?2 AND block >= ?3 AND block <= ?4 "
            "AND {0}_n > 0 ORDER BY block",
            field)),
        points_sql_(fmt::format(
            "SELECT step, {0} FROM steps WHERE run_key = ?1 AND step >= ?2 AND step <= ?3 "
            "AND {0} IS NOT NULL ORDER BY step, seq",
            field)) {}

  // Appends the pieces covering steps [a, b] in step order: the whole blocks of `level` inside
  // the range, and the parts of the range outside them covered by finer levels, down to points.
  Status Cover(std::int64_t a, std::int64_t b, int level, std::vector<Piece>& out) {
    if (a > b) return Status::Ok();
    if (level < 0) return ReadPoints(a, b, out);
    const int shift = kRollupShifts[static_cast<std::size_t>(level)];
    const std::int64_t mask = Mask(shift);
    // The blocks lying wholly inside [a, b]; shifts and masks floor negative steps correctly and
    // keep every intermediate inside int64 for any a and b.
    std::int64_t first = a >> shift;
    if ((a & mask) != 0) ++first;
    std::int64_t last = b >> shift;
    if ((b & mask) != mask) --last;
    if (first > last) return Cover(a, b, level - 1, out);
    const std::int64_t start = first << shift;
    const std::int64_t end = (last << shift) | mask;
    if (start > a) {
      if (Status s = Cover(a, start - 1, level - 1, out); !s.ok()) return s;
    }
    if (Status s = ReadBlocks(level, first, last, out); !s.ok()) return s;
    if (end < b) return Cover(end + 1, b, level - 1, out);
    return Status::Ok();
  }

  // Adds `piece` to `builder`: whole when it fits into one bucket, else as its finer pieces.
  Status Emit(const Piece& piece, BucketBuilder& builder) {
    if (piece.level < 0 || builder.Fits(piece.summary)) {
      builder.AddSummary(piece.summary);
      return Status::Ok();
    }
    std::vector<Piece> parts;
    const int shift = kRollupShifts[static_cast<std::size_t>(piece.level)];
    if (piece.level == 0) {
      const std::int64_t start = piece.block << shift;
      if (Status s = ReadPoints(start, start | Mask(shift), parts); !s.ok()) return s;
    } else {
      const int finer = kRollupShifts[static_cast<std::size_t>(piece.level) - 1];
      const std::int64_t first = piece.block << (shift - finer);
      if (Status s = ReadBlocks(piece.level - 1, first, first | Mask(shift - finer), parts);
          !s.ok()) {
        return s;
      }
    }
    // The parts were read in full before recursing, so no statement is stepped twice at once.
    for (const Piece& part : parts) {
      if (Status s = Emit(part, builder); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  Status ReadBlocks(int level, std::int64_t first, std::int64_t last, std::vector<Piece>& out) {
    Result<sqlite3_stmt*> stmt = conn_.Prepare(blocks_sql_);
    if (!stmt.ok()) return stmt.status();
    Query query(conn_, *stmt);
    query.BindInt(1, run_key_);
    query.BindInt(2, std::int64_t{1} << kRollupShifts[static_cast<std::size_t>(level)]);
    query.BindInt(3, first);
    query.BindInt(4, last);
    return query.ForEachRow([&]() -> Status {
      Piece& piece = out.emplace_back();
      piece.level = level;
      piece.block = query.Int(0);
      piece.summary.count = query.Int(1);
      piece.summary.first_x = static_cast<double>(query.Int(2));
      piece.summary.last_x = static_cast<double>(query.Int(3));
      piece.summary.min = query.Real(4);
      piece.summary.max = query.Real(5);
      piece.summary.last = query.Real(6);
      return Status::Ok();
    });
  }

  Status ReadPoints(std::int64_t a, std::int64_t b, std::vector<Piece>& out) {
    Result<sqlite3_stmt*> stmt = conn_.Prepare(points_sql_);
    if (!stmt.ok()) return stmt.status();
    Query query(conn_, *stmt);
    query.BindInt(1, run_key_);
    query.BindInt(2, a);
    query.BindInt(3, b);
    return query.ForEachRow([&]() -> Status {
      // Read as the raw scan reads them (ScanSeriesPoints), so x and y are the same doubles.
      const double x = query.Real(0);
      const double y = query.Real(1);
      out.push_back({-1, 0, {x, x, y, y, y, 1}});
      return Status::Ok();
    });
  }

  Connection& conn_;
  std::int64_t run_key_;
  std::string blocks_sql_;
  std::string points_sql_;
};

// 2^63 as a double: the first value beyond every int64.
constexpr double kTwo63 = 9223372036854775808.0;

// The steps [a, b] an inclusive range of doubles holds; nullopt when it holds none.
std::optional<std::pair<std::int64_t, std::int64_t>> StepRange(const std::optional<double>& from,
                                                               const std::optional<double>& to) {
  std::int64_t a = std::numeric_limits<std::int64_t>::min();
  std::int64_t b = std::numeric_limits<std::int64_t>::max();
  if (from) {
    const double lo = std::ceil(*from);
    if (lo >= kTwo63) return std::nullopt;
    if (lo > -kTwo63) a = static_cast<std::int64_t>(lo);
  }
  if (to) {
    const double hi = std::floor(*to);
    if (hi < -kTwo63) return std::nullopt;
    if (hi < kTwo63) b = static_cast<std::int64_t>(hi);
  }
  if (a > b) return std::nullopt;
  return std::make_pair(a, b);
}

}  // namespace

void FieldRollup::Add(std::int64_t step, std::int64_t seq, double value) {
  // Merge with a one-value rollup, spelled out: this runs once per stored value.
  if (count == 0) {
    *this = {1, step, step, seq, value, value, value};
    return;
  }
  ++count;
  first_step = std::min(first_step, step);
  if (After(step, seq, last_step, last_seq)) {
    last_step = step;
    last_seq = seq;
    last = value;
  }
  min = SeriesMin(min, value);
  max = SeriesMax(max, value);
}

void FieldRollup::Merge(const FieldRollup& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  count += other.count;
  first_step = std::min(first_step, other.first_step);
  if (After(other.last_step, other.last_seq, last_step, last_seq)) {
    last_step = other.last_step;
    last_seq = other.last_seq;
    last = other.last;
  }
  min = SeriesMin(min, other.min);
  max = SeriesMax(max, other.max);
}

void RollupDelta::Add(std::int64_t step, std::int64_t seq, const StepValues& values) {
  bool any = false;
  for (const auto& value : values) any = any || value.has_value();
  if (!any) return;
  // Only the finest level per record; AllLevels() folds the coarser ones from it, a merge per
  // block instead of one per record and level.
  const std::int64_t block = step >> kRollupShifts[0];
  if (last_block_ == nullptr || last_key_ != block) {
    last_block_ = &finest_[block];
    last_key_ = block;
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i]) (*last_block_)[i].Add(step, seq, *values[i]);
  }
}

std::map<RollupDelta::Key, BlockRollup> RollupDelta::AllLevels() const {
  std::map<Key, BlockRollup> out;
  for (const auto& [block, rollup] : finest_) {
    out.emplace(Key{0, block}, rollup);
    for (std::size_t level = 1; level < kRollupShifts.size(); ++level) {
      BlockRollup& coarse = out[Key{level, block >> (kRollupShifts[level] - kRollupShifts[0])}];
      for (std::size_t i = 0; i < rollup.size(); ++i) coarse[i].Merge(rollup[i]);
    }
  }
  return out;
}

void RollupDelta::clear() {
  finest_.clear();
  last_block_ = nullptr;
}

Result<RollupWriter> RollupWriter::Create(Connection& conn) {
  Result<sqlite3_stmt*> select = conn.Prepare(SelectBlockSql());
  if (!select.ok()) return select.status();
  Result<sqlite3_stmt*> replace = conn.Prepare(ReplaceBlockSql());
  if (!replace.ok()) return replace.status();
  return RollupWriter(conn, *select, *replace);
}

Status RollupWriter::Write(std::int64_t run_key, const RollupDelta& delta) {
  for (const auto& [key, added] : delta.AllLevels()) {
    const std::int64_t span = std::int64_t{1} << kRollupShifts[key.first];
    BlockRollup merged = added;
    {
      Query select(*conn_, select_);
      select.BindInt(1, run_key);
      select.BindInt(2, span);
      select.BindInt(3, key.second);
      Result<bool> row = select.Step();
      if (!row.ok()) return row.status();
      if (*row) {
        for (std::size_t i = 0; i < merged.size(); ++i) {
          merged[i].Merge(ReadFieldRollup(select, static_cast<int>(i) * kStats));
        }
      }
    }
    Query replace(*conn_, replace_);
    replace.BindInt(1, run_key);
    replace.BindInt(2, span);
    replace.BindInt(3, key.second);
    // Fields without values stay unbound, which is NULL.
    for (std::size_t i = 0; i < merged.size(); ++i) {
      if (merged[i].count == 0) continue;
      BindFieldRollup(replace, kFirstFieldParam + static_cast<int>(i) * kStats, merged[i]);
    }
    if (Status s = replace.Run(); !s.ok()) return WithContext(s, "step rollups");
  }
  return Status::Ok();
}

Status CreateStepRollups(Connection& conn) {
  if (Status s = conn.Exec(CreateTableSql()); !s.ok()) return s;
  Result<RollupWriter> writer = RollupWriter::Create(conn);
  if (!writer.ok()) return writer.status();
  Result<std::vector<std::int64_t>> runs = RunKeys(conn);
  if (!runs.ok()) return runs.status();
  for (std::int64_t run_key : *runs) {
    if (Status s = BackfillRun(conn, *writer, run_key); !s.ok()) {
      return WithContext(s, fmt::format("backfilling the rollups of run key {}", run_key));
    }
  }
  return Status::Ok();
}

Status EnsureRollupColumns(Connection& conn) {
  Result<sqlite3_stmt*> stmt = conn.Prepare("SELECT name FROM pragma_table_info('step_rollups')");
  if (!stmt.ok()) return stmt.status();
  std::set<std::string, std::less<>> existing;
  {
    Query query(conn, *stmt);
    Status status = query.ForEachRow([&]() -> Status {
      existing.insert(query.Text(0));
      return Status::Ok();
    });
    if (!status.ok()) return status;
  }
  if (existing.empty()) return Status::Ok();  // no table yet: migration 6 creates every column
  for (const auto& info : model::kStepFields) {
    for (const StatColumn& column : kStatColumns) {
      const std::string name = fmt::format("{}{}", info.name, column.suffix);
      if (existing.count(name) != 0) continue;
      Status status =
          conn.Exec(fmt::format("ALTER TABLE step_rollups ADD COLUMN {} {}", name, column.type));
      if (!status.ok()) return status;
    }
  }
  return Status::Ok();
}

Result<SeriesBuckets> DownsampleStepField(Connection& conn, const std::string& run_id,
                                          const SeriesQuery& request, std::size_t max_points) {
  if ((request.from && std::isnan(*request.from)) || (request.to && std::isnan(*request.to))) {
    return Status::InvalidArgument("series range bounds must be numbers");
  }
  const std::optional<model::StepField> field = model::FindStepField(request.metric);
  if (!field)
    return Status::InvalidArgument(fmt::format("'{}' is not a step field", request.metric));
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  const auto range = StepRange(request.from, request.to);
  if (!range) return SeriesBuckets{};

  // The column names come from kStepFields, never from the request.
  StepFieldReader reader(conn, *run_key, model::kStepFields[static_cast<std::size_t>(*field)].name);
  std::vector<Piece> cover;
  const int top = static_cast<int>(kRollupShifts.size()) - 1;
  if (Status s = reader.Cover(range->first, range->second, top, cover); !s.ok()) return s;
  SeriesBuckets out;
  for (const Piece& piece : cover) out.points_in_range += piece.summary.count;
  if (out.points_in_range == 0) return out;

  BucketBuilder builder(cover.front().summary.first_x, cover.back().summary.last_x,
                        out.points_in_range, max_points);
  for (const Piece& piece : cover) {
    if (Status s = reader.Emit(piece, builder); !s.ok()) return s;
  }
  out.buckets = std::move(builder).Take();
  return out;
}

}  // namespace atlas::store::sqlite
