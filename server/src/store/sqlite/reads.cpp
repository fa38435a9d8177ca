#include "store/sqlite/reads.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace atlas::store::sqlite {
namespace {

// The columns DecodeRun reads, in order. The list view selects NULL for the last two so the
// (possibly large) config and hyperparameters texts are not read at all.
constexpr std::string_view kRunColumns =
    "r.public_id, r.project_id, p.name, r.name, r.status, r.status_reason, r.started_at, "
    "r.created_at, r.finished_at, r.host, r.device, r.framework, r.client_stats, "
    "r.step_records, r.last_step, r.last_loss, r.epochs, r.samples, r.tokens, r.energy_joules, "
    "r.layer_samples, r.events, r.last_ts, r.key, r.batches_stored";
constexpr std::string_view kRunFullColumns = ", r.config, r.hyperparameters";
constexpr std::string_view kRunListColumns = ", NULL, NULL";
constexpr std::string_view kRunFrom = " FROM runs r JOIN projects p ON p.id = r.project_id";

Result<model::Run> DecodeRun(const Query& row) {
  model::Run run;
  run.id = row.Text(0);
  run.project_id = row.Int(1);
  run.project_name = row.Text(2);
  run.name = row.Text(3);
  std::optional<model::RunStatus> status = model::ParseRunStatus(row.TextView(4));
  if (!status) {
    return Status::Internal(
        fmt::format("run '{}' has an unknown stored status '{}'", run.id, row.TextView(4)));
  }
  run.status = *status;
  run.status_reason = row.Text(5);
  run.started_at = row.Real(6);
  run.created_at = row.Real(7);
  run.finished_at = row.OptReal(8);

  std::pair<model::Json*, int> json_columns[] = {{&run.host, 9},       {&run.device, 10},
                                                 {&run.framework, 11}, {&run.client_stats, 12},
                                                 {&run.config, 25},    {&run.hyperparameters, 26}};
  for (auto [target, column] : json_columns) {
    Result<model::Json> value = row.JsonColumn(column, "run metadata");
    if (!value.ok()) return value.status();
    *target = std::move(value).value();
  }

  model::RunTotals& totals = run.totals;
  totals.step_records = row.Int(13);
  totals.last_step = row.OptInt(14);
  totals.last_loss = row.OptReal(15);
  totals.epochs = row.Int(16);
  totals.samples = row.Real(17);
  totals.tokens = row.Real(18);
  totals.energy_joules = row.Real(19);
  totals.layer_samples = row.Int(20);
  totals.events = row.Int(21);
  totals.last_ts = row.OptReal(22);
  totals.batches_stored = row.Int(24);
  return run;
}

Result<std::vector<model::ModuleInfo>> ReadModules(Connection& conn, std::int64_t run_key) {
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "SELECT name, type, parent, params, trainable_params, input_shape, output_shape, flops "
      "FROM modules WHERE run_key = ?1 ORDER BY idx");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, run_key);
  std::vector<model::ModuleInfo> modules;
  Status status = query.ForEachRow([&]() -> Status {
    model::ModuleInfo& module = modules.emplace_back();
    module.name = query.Text(0);
    module.type = query.Text(1);
    if (!query.IsNull(2)) module.parent = query.Text(2);
    module.params = query.Int(3);
    module.trainable_params = query.Int(4);
    Result<model::Json> input = query.JsonColumn(5, "module input shape", nullptr);
    if (!input.ok()) return input.status();
    module.input_shape = std::move(input).value();
    Result<model::Json> output = query.JsonColumn(6, "module output shape", nullptr);
    if (!output.ok()) return output.status();
    module.output_shape = std::move(output).value();
    module.flops = query.OptReal(7);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return modules;
}

std::string_view SortColumn(model::RunSortKey key) {
  switch (key) {
    case model::RunSortKey::kCreatedAt:
      return "r.created_at";
    case model::RunSortKey::kName:
      return "r.name COLLATE NOCASE";
    case model::RunSortKey::kStatus:
      return "r.status";
    case model::RunSortKey::kLastStep:
      return "r.last_step";
  }
  return "r.created_at";
}

// A parameter of a query whose SQL is assembled from optional filters.
using Param = std::variant<std::int64_t, std::string>;

void BindParams(Query& query, const std::vector<Param>& params) {
  int index = 1;
  for (const Param& param : params) {
    if (const auto* number = std::get_if<std::int64_t>(&param)) {
      query.BindInt(index++, *number);
    } else {
      query.BindText(index++, std::get<std::string>(param));
    }
  }
}

// Bounds of an optional inclusive range; an open end becomes an infinity.
std::pair<double, double> Bounds(const std::optional<double>& from,
                                 const std::optional<double>& to) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  return {from.value_or(-kInf), to.value_or(kInf)};
}

}  // namespace

Status RunNotFound(const std::string& run_id) {
  return Status::NotFound(fmt::format("run '{}' not found", run_id));
}

Result<std::int64_t> FindRunKey(Connection& conn, const std::string& run_id) {
  Result<sqlite3_stmt*> stmt = conn.Prepare("SELECT key FROM runs WHERE public_id = ?1");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindText(1, run_id);
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  if (!*row) return RunNotFound(run_id);
  return query.Int(0);
}

Result<model::Run> ReadRun(Connection& conn, const std::string& run_id, RunView view) {
  const std::string sql =
      fmt::format("SELECT {}{}{} WHERE r.public_id = ?1", kRunColumns,
                  view == RunView::kFull ? kRunFullColumns : kRunListColumns, kRunFrom);
  Result<sqlite3_stmt*> stmt = conn.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  std::int64_t run_key = 0;
  Result<model::Run> run = RunNotFound(run_id);
  {
    Query query(conn, *stmt);
    query.BindText(1, run_id);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (!*row) return RunNotFound(run_id);
    run = DecodeRun(query);
    run_key = query.Int(23);
  }
  if (!run.ok() || view == RunView::kList) return run;
  Result<std::vector<model::ModuleInfo>> modules = ReadModules(conn, run_key);
  if (!modules.ok()) return modules.status();
  run->architecture = std::move(modules).value();
  return run;
}

Result<std::vector<model::Project>> ReadProjects(Connection& conn) {
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "SELECT p.id, p.name, p.created_at, "
      "(SELECT count(*) FROM runs r WHERE r.project_id = p.id) FROM projects p ORDER BY p.id");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  std::vector<model::Project> projects;
  Status status = query.ForEachRow([&]() -> Status {
    projects.push_back({query.Int(0), query.Text(1), query.Real(2), query.Int(3)});
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return projects;
}

Result<model::RunPage> ReadRunPage(Connection& conn, const model::RunQuery& request) {
  if (request.limit < 0 || request.offset < 0) {
    return Status::InvalidArgument("limit and offset must not be negative");
  }
  std::string where = " WHERE 1 = 1";
  std::vector<Param> params;
  if (request.project_id) {
    params.emplace_back(*request.project_id);
    where += fmt::format(" AND r.project_id = ?{}", params.size());
  }
  if (request.project_name) {
    params.emplace_back(*request.project_name);
    where += fmt::format(" AND p.name = ?{}", params.size());
  }
  if (request.name_contains) {
    // Case-insensitive for ASCII letters, which is what SQLite's lower() folds.
    params.emplace_back(*request.name_contains);
    where += fmt::format(" AND instr(lower(r.name), lower(?{})) > 0", params.size());
  }
  if (request.status) {
    params.emplace_back(std::string(model::ToString(*request.status)));
    where += fmt::format(" AND r.status = ?{}", params.size());
  }

  model::RunPage page;
  {
    Result<sqlite3_stmt*> count = conn.Prepare(fmt::format("SELECT count(*){}{}", kRunFrom, where));
    if (!count.ok()) return count.status();
    Query query(conn, *count);
    BindParams(query, params);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    page.total = query.Int(0);
  }

  const std::string_view direction = request.descending ? "DESC" : "ASC";
  const std::string sql =
      fmt::format("SELECT {}{}{}{} ORDER BY {} {}, r.public_id {} LIMIT ?{} OFFSET ?{}",
                  kRunColumns, kRunListColumns, kRunFrom, where, SortColumn(request.sort),
                  direction, direction, params.size() + 1, params.size() + 2);
  Result<sqlite3_stmt*> select = conn.Prepare(sql);
  if (!select.ok()) return select.status();
  Query query(conn, *select);
  BindParams(query, params);
  query.BindInt(static_cast<int>(params.size()) + 1, request.limit);
  query.BindInt(static_cast<int>(params.size()) + 2, request.offset);
  Status status = query.ForEachRow([&]() -> Status {
    Result<model::Run> run = DecodeRun(query);
    if (!run.ok()) return run.status();
    page.runs.push_back(std::move(run).value());
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return page;
}

Result<std::vector<std::string>> ReadSeriesNames(Connection& conn, const std::string& run_id) {
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();

  std::set<std::string, std::less<>> present;
  {
    Result<sqlite3_stmt*> stmt = conn.Prepare("SELECT field FROM step_series WHERE run_key = ?1");
    if (!stmt.ok()) return stmt.status();
    Query query(conn, *stmt);
    query.BindInt(1, *run_key);
    Status status = query.ForEachRow([&]() -> Status {
      present.insert(query.Text(0));
      return Status::Ok();
    });
    if (!status.ok()) return status;
  }
  std::vector<std::string> names;
  for (const auto& info : model::kStepFields) {
    if (present.count(info.name) != 0) names.emplace_back(info.name);
  }

  Result<sqlite3_stmt*> stmt =
      conn.Prepare("SELECT name FROM metrics WHERE run_key = ?1 ORDER BY name");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *run_key);
  Status status = query.ForEachRow([&]() -> Status {
    names.push_back(query.Text(0));
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return names;
}

Status ScanSeriesPoints(Connection& conn, const std::string& run_id, const SeriesQuery& request,
                        const std::function<void(const SeriesPoint&)>& visit) {
  if ((request.from && std::isnan(*request.from)) || (request.to && std::isnan(*request.to))) {
    return Status::InvalidArgument("series range bounds must be numbers");
  }
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  const std::string_view x = request.axis == SeriesAxis::kStep ? "step" : "ts";

  std::string sql;
  std::int64_t owner = *run_key;
  if (std::optional<model::StepField> field = model::FindStepField(request.metric)) {
    // The column name comes from kStepFields, never from the request.
    const std::string_view column = model::kStepFields[static_cast<std::size_t>(*field)].name;
    sql = fmt::format(
        "SELECT {0}, {1} FROM steps WHERE run_key = ?1 AND {0} >= ?2 AND {0} <= ?3 "
        "AND {1} IS NOT NULL ORDER BY {0}, seq",
        x, column);
  } else {
    Result<sqlite3_stmt*> find =
        conn.Prepare("SELECT id FROM metrics WHERE run_key = ?1 AND name = ?2");
    if (!find.ok()) return find.status();
    Query query(conn, *find);
    query.BindInt(1, *run_key);
    query.BindText(2, request.metric);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return Status::NotFound(
          fmt::format("metric '{}' not found in run '{}'", request.metric, run_id));
    }
    owner = query.Int(0);
    sql = fmt::format(
        "SELECT {0}, value FROM metric_points WHERE metric_id = ?1 AND {0} >= ?2 AND {0} <= ?3 "
        "AND value IS NOT NULL ORDER BY {0}, seq",
        x);
  }

  Result<sqlite3_stmt*> stmt = conn.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  const auto [from, to] = Bounds(request.from, request.to);
  query.BindInt(1, owner);
  query.BindBound(2, from);
  query.BindBound(3, to);
  return query.ForEachRow([&]() -> Status {
    visit(SeriesPoint{query.Real(0), query.Real(1)});
    return Status::Ok();
  });
}

Result<std::vector<model::EpochRecord>> ReadEpochs(Connection& conn, const std::string& run_id) {
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();

  std::vector<model::EpochRecord> epochs;
  std::unordered_map<std::int64_t, std::size_t> by_seq;
  {
    Result<sqlite3_stmt*> stmt = conn.Prepare(
        "SELECT seq, epoch, ts, duration_s FROM epochs WHERE run_key = ?1 ORDER BY epoch, seq");
    if (!stmt.ok()) return stmt.status();
    Query query(conn, *stmt);
    query.BindInt(1, *run_key);
    Status status = query.ForEachRow([&]() -> Status {
      model::EpochRecord& epoch = epochs.emplace_back();
      epoch.seq = query.Int(0);
      epoch.epoch = query.Int(1);
      epoch.ts = query.Real(2);
      epoch.duration_s = query.OptReal(3);
      by_seq.emplace(epoch.seq, epochs.size() - 1);
      return Status::Ok();
    });
    if (!status.ok()) return status;
  }
  auto owner = [&](std::int64_t seq) -> Result<model::EpochRecord*> {
    auto it = by_seq.find(seq);
    if (it == by_seq.end()) {
      return Status::Internal(fmt::format("epoch values without an epoch (seq {})", seq));
    }
    return &epochs[it->second];
  };
  {
    Result<sqlite3_stmt*> stmt = conn.Prepare(
        "SELECT seq, split, name, value FROM epoch_values WHERE run_key = ?1 "
        "ORDER BY seq, split, idx");
    if (!stmt.ok()) return stmt.status();
    Query query(conn, *stmt);
    query.BindInt(1, *run_key);
    Status status = query.ForEachRow([&]() -> Status {
      Result<model::EpochRecord*> epoch = owner(query.Int(0));
      if (!epoch.ok()) return epoch.status();
      auto& values = query.TextView(1) == "train" ? (*epoch)->train : (*epoch)->val;
      values.emplace_back(query.Text(2), query.Real(3));
      return Status::Ok();
    });
    if (!status.ok()) return status;
  }
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "SELECT seq, component, device, joules, method FROM epoch_energy WHERE run_key = ?1 "
      "ORDER BY seq, idx");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *run_key);
  Status status = query.ForEachRow([&]() -> Status {
    Result<model::EpochRecord*> epoch = owner(query.Int(0));
    if (!epoch.ok()) return epoch.status();
    (*epoch)->energy.push_back({query.Text(1), query.Text(2), query.Real(3), query.Text(4)});
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return epochs;
}

Result<std::vector<model::LayerStatsRecord>> ReadLayerStats(Connection& conn,
                                                            const std::string& run_id,
                                                            const LayerStatsQuery& request) {
  if (request.limit < 0) return Status::InvalidArgument("limit must not be negative");
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();

  std::string stats;
  for (std::string_view name : model::kLayerStatNames) stats += fmt::format(", l.{}", name);
  const std::string sql = fmt::format(
      "SELECT l.seq, l.step, s.epoch, s.ts, l.layer{}, l.extra FROM layer_stats l "
      "JOIN layer_samples s ON s.run_key = l.run_key AND s.seq = l.seq "
      "WHERE l.run_key = ?1 AND l.step >= ?2 AND l.step <= ?3{} "
      "ORDER BY l.step, l.seq, l.idx LIMIT ?4",
      stats, request.layer ? " AND l.layer = ?5" : "");
  Result<sqlite3_stmt*> stmt = conn.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *run_key);
  query.BindInt(2, request.from_step.value_or(std::numeric_limits<std::int64_t>::min()));
  query.BindInt(3, request.to_step.value_or(std::numeric_limits<std::int64_t>::max()));
  // One row more than asked shows whether the limit cut the last sample in two.
  query.BindInt(4, request.limit < std::numeric_limits<std::int64_t>::max() ? request.limit + 1
                                                                            : request.limit);
  if (request.layer) query.BindText(5, *request.layer);

  constexpr int kFirstStat = 5;
  const int extra_column = kFirstStat + static_cast<int>(model::kLayerStatNames.size());
  std::vector<model::LayerStatsRecord> records;
  std::int64_t rows = 0;
  bool cut = false;
  Status status = query.ForEachRow([&]() -> Status {
    const std::int64_t seq = query.Int(0);
    if (++rows > request.limit) {
      cut = !records.empty() && records.back().seq == seq;
      return Status::Ok();
    }
    if (records.empty() || records.back().seq != seq) {
      model::LayerStatsRecord& record = records.emplace_back();
      record.seq = seq;
      record.step = query.Int(1);
      record.epoch = query.OptInt(2);
      record.ts = query.Real(3);
    }
    model::LayerStat& stat = records.back().layers.emplace_back();
    stat.layer = query.Text(4);
    for (std::size_t i = 0; i < stat.values.size(); ++i) {
      stat.values[i] = query.OptReal(kFirstStat + static_cast<int>(i));
    }
    Result<model::Json> extra = query.JsonColumn(extra_column, "layer extra");
    if (!extra.ok()) return extra.status();
    stat.extra = std::move(extra).value();
    return Status::Ok();
  });
  if (!status.ok()) return status;
  if (cut && records.size() > 1) records.pop_back();
  return records;
}

Result<std::vector<model::EventRecord>> ReadEvents(Connection& conn, const std::string& run_id,
                                                   const EventQuery& request) {
  if (request.limit < 0) return Status::InvalidArgument("limit must not be negative");
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  const std::string sql = fmt::format(
      "SELECT seq, ts, level, type, message, data FROM events WHERE run_key = ?1{} "
      "ORDER BY seq LIMIT ?2",
      request.type ? " AND type = ?3" : "");
  Result<sqlite3_stmt*> stmt = conn.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *run_key);
  query.BindInt(2, request.limit);
  if (request.type) query.BindText(3, *request.type);
  std::vector<model::EventRecord> events;
  Status status = query.ForEachRow([&]() -> Status {
    model::EventRecord& event = events.emplace_back();
    event.seq = query.Int(0);
    event.ts = query.Real(1);
    event.level = query.Text(2);
    event.type = query.Text(3);
    event.message = query.Text(4);
    Result<model::Json> data = query.JsonColumn(5, "event data");
    if (!data.ok()) return data.status();
    event.data = std::move(data).value();
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return events;
}

Result<std::vector<model::ProfileRecord>> ReadProfiles(Connection& conn,
                                                       const std::string& run_id) {
  Result<std::int64_t> run_key = FindRunKey(conn, run_id);
  if (!run_key.ok()) return run_key.status();
  Result<sqlite3_stmt*> stmt = conn.Prepare(
      "SELECT seq, step, ts, data FROM profiles WHERE run_key = ?1 ORDER BY step, seq");
  if (!stmt.ok()) return stmt.status();
  Query query(conn, *stmt);
  query.BindInt(1, *run_key);
  std::vector<model::ProfileRecord> profiles;
  Status status = query.ForEachRow([&]() -> Status {
    model::ProfileRecord& profile = profiles.emplace_back();
    profile.seq = query.Int(0);
    profile.step = query.Int(1);
    profile.ts = query.Real(2);
    Result<model::Json> data = query.JsonColumn(3, "profile data");
    if (!data.ok()) return data.status();
    profile.data = std::move(data).value();
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return profiles;
}

}  // namespace atlas::store::sqlite
