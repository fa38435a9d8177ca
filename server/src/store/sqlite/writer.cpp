#include "store/sqlite/writer.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "store/sqlite/reads.hpp"
#include "store/sqlite/schema.hpp"

namespace atlas::store::sqlite {

// The statements of the write path, prepared once on the writer connection (which owns them).
struct Writer::Statements {
  sqlite3_stmt* insert_step = nullptr;
  sqlite3_stmt* find_metric = nullptr;
  sqlite3_stmt* insert_metric = nullptr;
  sqlite3_stmt* insert_metric_point = nullptr;
  sqlite3_stmt* insert_step_series = nullptr;
  sqlite3_stmt* insert_epoch = nullptr;
  sqlite3_stmt* insert_epoch_value = nullptr;
  sqlite3_stmt* insert_epoch_energy = nullptr;
  sqlite3_stmt* insert_layer_sample = nullptr;
  sqlite3_stmt* insert_layer_stat = nullptr;
  sqlite3_stmt* insert_profile = nullptr;
  sqlite3_stmt* insert_event = nullptr;
  sqlite3_stmt* claim_record = nullptr;
  sqlite3_stmt* select_hyperparameters = nullptr;
  sqlite3_stmt* update_hyperparameters = nullptr;
  sqlite3_stmt* delete_modules = nullptr;
  sqlite3_stmt* insert_module = nullptr;
  sqlite3_stmt* finish_run = nullptr;
  sqlite3_stmt* update_totals = nullptr;
  sqlite3_stmt* find_run_project = nullptr;
  sqlite3_stmt* resume_run = nullptr;
  sqlite3_stmt* find_project_by_id = nullptr;
  sqlite3_stmt* find_project_by_name = nullptr;
  sqlite3_stmt* insert_project_with_id = nullptr;
  sqlite3_stmt* insert_project = nullptr;
  sqlite3_stmt* insert_run = nullptr;
};

// What one Ingest call has stored so far, and the totals it adds to the run.
struct Writer::BatchState {
  std::int64_t run_key = 0;
  model::IngestResult result;
  std::int64_t step_records = 0;
  std::optional<std::int64_t> max_step;
  std::optional<std::int64_t> loss_step;  // the step of last_loss
  std::optional<double> last_loss;
  std::int64_t epochs = 0;
  double samples = 0;
  double tokens = 0;
  double energy_joules = 0;
  std::int64_t layer_samples = 0;
  std::int64_t events = 0;
  std::optional<double> last_ts;
  StepFieldSet fields;
  RollupDelta rollups;  // what the newly stored step records add to step_rollups

  // After an INSERT OR IGNORE of one record: counts it as a duplicate when the insert changed
  // nothing (its (run, seq) was stored already), else as accepted. True when newly stored.
  bool Count(std::int64_t changes, std::optional<double> ts) {
    if (changes == 0) {
      ++result.duplicates;
      return false;
    }
    Accept(ts);
    return true;
  }
  // Counts a newly stored record; `ts` is its time, when it has one.
  void Accept(std::optional<double> ts) {
    ++result.accepted;
    Touch(ts);
  }
  void Touch(std::optional<double> ts) {
    if (ts && (!last_ts || *ts > *last_ts)) last_ts = ts;
  }
};

namespace {

// Sums skip what is not finite, so one bad value cannot poison a run's totals.
void AddFinite(double& sum, const std::optional<double>& value) {
  if (value && std::isfinite(*value)) sum += *value;
}

bool IsValidRunId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// The records of `records` in ascending seq order, so replayed metadata applies the same way
// whatever order a client put them in.
template <typename Record>
std::vector<const Record*> BySeq(const std::vector<Record>& records) {
  std::vector<const Record*> sorted;
  sorted.reserve(records.size());
  for (const Record& record : records) sorted.push_back(&record);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Record* a, const Record* b) { return a->seq < b->seq; });
  return sorted;
}

Status PrepareAll(Connection& conn,
                  const std::vector<std::pair<sqlite3_stmt**, std::string>>& all) {
  for (const auto& [target, sql] : all) {
    Result<sqlite3_stmt*> stmt = conn.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    *target = *stmt;
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Writer>> Writer::Create(std::unique_ptr<Connection> conn,
                                               std::function<double()> clock) {
  auto s = std::make_unique<Statements>();
  Status status = PrepareAll(
      *conn,
      {
          {&s->insert_step, InsertStepSql()},
          {&s->find_metric, "SELECT id FROM metrics WHERE run_key = ?1 AND name = ?2"},
          {&s->insert_metric, "INSERT INTO metrics (run_key, name) VALUES (?1, ?2)"},
          {&s->insert_metric_point,
           "INSERT INTO metric_points (metric_id, seq, step, ts, value) "
           "VALUES (?1, ?2, ?3, ?4, ?5)"},
          {&s->insert_step_series,
           "INSERT OR IGNORE INTO step_series (run_key, field) VALUES (?1, ?2)"},
          {&s->insert_epoch,
           "INSERT OR IGNORE INTO epochs (run_key, seq, epoch, ts, duration_s) "
           "VALUES (?1, ?2, ?3, ?4, ?5)"},
          {&s->insert_epoch_value,
           "INSERT INTO epoch_values (run_key, seq, split, idx, name, value) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
          {&s->insert_epoch_energy,
           "INSERT INTO epoch_energy (run_key, seq, idx, component, device, joules, method) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
          {&s->insert_layer_sample,
           "INSERT OR IGNORE INTO layer_samples (run_key, seq, step, epoch, ts) "
           "VALUES (?1, ?2, ?3, ?4, ?5)"},
          {&s->insert_layer_stat, InsertLayerStatSql()},
          {&s->insert_profile,
           "INSERT OR IGNORE INTO profiles (run_key, seq, step, ts, data) "
           "VALUES (?1, ?2, ?3, ?4, ?5)"},
          {&s->insert_event,
           "INSERT OR IGNORE INTO events (run_key, seq, ts, level, type, message, data) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
          {&s->claim_record,
           "INSERT OR IGNORE INTO applied_records (run_key, seq, kind) VALUES (?1, ?2, ?3)"},
          {&s->select_hyperparameters, "SELECT hyperparameters FROM runs WHERE key = ?1"},
          {&s->update_hyperparameters, "UPDATE runs SET hyperparameters = ?2 WHERE key = ?1"},
          {&s->delete_modules, "DELETE FROM modules WHERE run_key = ?1"},
          {&s->insert_module,
           "INSERT INTO modules (run_key, idx, name, type, parent, params, trainable_params, "
           "input_shape, output_shape, flops) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
          {&s->finish_run,
           "UPDATE runs SET status = ?2, status_reason = ?3, finished_at = ?4, client_stats = ?5 "
           "WHERE key = ?1"},
          // Counts grow by what this batch newly stored; "last" values move only forward.
          {&s->update_totals,
           "UPDATE runs SET step_records = step_records + ?2, "
           "last_step = CASE WHEN ?3 IS NOT NULL AND (last_step IS NULL OR ?3 > last_step) "
           "THEN ?3 ELSE last_step END, "
           "last_loss = CASE WHEN ?4 IS NOT NULL AND (last_loss_step IS NULL OR "
           "?4 >= last_loss_step) THEN ?5 ELSE last_loss END, "
           "last_loss_step = CASE WHEN ?4 IS NOT NULL AND (last_loss_step IS NULL OR "
           "?4 >= last_loss_step) THEN ?4 ELSE last_loss_step END, "
           "epochs = epochs + ?6, samples = samples + ?7, tokens = tokens + ?8, "
           "energy_joules = energy_joules + ?9, layer_samples = layer_samples + ?10, "
           "events = events + ?11, "
           "last_ts = CASE WHEN ?12 IS NOT NULL AND (last_ts IS NULL OR ?12 > last_ts) "
           "THEN ?12 ELSE last_ts END, batches_stored = batches_stored + 1 WHERE key = ?1 "
           "RETURNING batches_stored"},
          {&s->find_run_project,
           "SELECT r.project_id, p.name FROM runs r JOIN projects p ON p.id = r.project_id "
           "WHERE r.public_id = ?1"},
          {&s->resume_run,
           "UPDATE runs SET status = 'running', status_reason = '', finished_at = NULL "
           "WHERE public_id = ?1"},
          {&s->find_project_by_id, "SELECT id FROM projects WHERE id = ?1"},
          {&s->find_project_by_name, "SELECT id FROM projects WHERE name = ?1"},
          {&s->insert_project_with_id,
           "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)"},
          {&s->insert_project, "INSERT INTO projects (name, created_at) VALUES (?1, ?2)"},
          {&s->insert_run,
           "INSERT INTO runs (public_id, project_id, name, status, started_at, created_at, host, "
           "device, framework, config) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9)"},
      });
  if (!status.ok()) return status;
  Result<RollupWriter> rollups = RollupWriter::Create(*conn);
  if (!rollups.ok()) return rollups.status();
  return std::unique_ptr<Writer>(
      new Writer(std::move(conn), std::move(clock), std::move(s), *rollups));
}

Writer::Writer(std::unique_ptr<Connection> conn, std::function<double()> clock,
               std::unique_ptr<Statements> statements, RollupWriter rollups)
    : conn_(std::move(conn)),
      clock_(std::move(clock)),
      statements_(std::move(statements)),
      rollups_(rollups),
      random_(std::random_device{}()) {}

Writer::~Writer() = default;

Status Writer::Close() {
  // Refreshes the planner statistics the queries' index choices rely on; cheap when nothing
  // changed much, so it is done on every close as SQLite recommends.
  (void)conn_->Exec("PRAGMA optimize");
  Status checkpoint = conn_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  Status close = conn_->Close();
  return checkpoint.ok() ? close : checkpoint;
}

// --- runs and projects ------------------------------------------------------------------------

Result<model::CreateRunResult> Writer::CreateOrResumeRun(const model::RunCreate& req) {
  if (req.project.id.has_value() == req.project.name.has_value()) {
    return Status::InvalidArgument("project: give exactly one of a project id or a name");
  }
  if (req.project.id && *req.project.id < 1) {
    return Status::InvalidArgument("project: an id must be a positive integer");
  }
  if (req.project.name && req.project.name->empty()) {
    return Status::InvalidArgument("project: a name must not be empty");
  }
  if (req.run_id && !IsValidRunId(*req.run_id)) {
    return Status::InvalidArgument("run_id: must be 1-64 characters of [A-Za-z0-9._-]");
  }

  Transaction txn(*conn_);
  if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;

  if (req.run_id) {
    Query find(*conn_, statements_->find_run_project);
    find.BindText(1, *req.run_id);
    Result<bool> found = find.Step();
    if (!found.ok()) return found.status();
    if (*found) {
      const std::int64_t project_id = find.Int(0);
      const std::string project_name = find.Text(1);
      const bool same =
          req.project.id ? *req.project.id == project_id : *req.project.name == project_name;
      if (!same) {
        const std::string asked = req.project.id ? fmt::format("id {}", *req.project.id)
                                                 : fmt::format("'{}'", *req.project.name);
        return Status::Conflict(fmt::format("run '{}' belongs to project '{}' (id {}), not {}",
                                            *req.run_id, project_name, project_id, asked));
      }
      Query resume(*conn_, statements_->resume_run);
      resume.BindText(1, *req.run_id);
      if (Status s = resume.Run(); !s.ok()) return s;
      Result<model::Run> run = ReadRun(*conn_, *req.run_id, RunView::kFull);
      if (!run.ok()) return run.status();
      if (Status s = txn.Commit(); !s.ok()) return s;
      return model::CreateRunResult{std::move(run).value(), true};
    }
  }

  Result<std::int64_t> project_id = ResolveProject(req.project);
  if (!project_id.ok()) return project_id.status();
  Result<std::string> run_id = req.run_id ? Result<std::string>(*req.run_id) : UnusedRunId();
  if (!run_id.ok()) return run_id.status();

  const double now = clock_();
  {
    Query insert(*conn_, statements_->insert_run);
    insert.BindText(1, *run_id);
    insert.BindInt(2, *project_id);
    insert.BindText(3, req.name);
    insert.BindReal(4, req.started_at > 0 ? req.started_at : now);
    insert.BindReal(5, now);
    insert.BindText(6, DumpJson(req.host));
    insert.BindText(7, DumpJson(req.device));
    insert.BindText(8, DumpJson(req.framework));
    insert.BindText(9, DumpJson(req.config));
    if (Status s = insert.Run(); !s.ok()) return WithContext(s, "create run");
  }
  Result<model::Run> run = ReadRun(*conn_, *run_id, RunView::kFull);
  if (!run.ok()) return run.status();
  if (Status s = txn.Commit(); !s.ok()) return s;
  return model::CreateRunResult{std::move(run).value(), false};
}

Result<std::int64_t> Writer::ResolveProject(const model::ProjectRef& ref) {
  if (ref.id) {
    Query find(*conn_, statements_->find_project_by_id);
    find.BindInt(1, *ref.id);
    Result<bool> found = find.Step();
    if (!found.ok()) return found.status();
    if (*found) return *ref.id;
    return CreateProjectWithId(*ref.id);
  }
  {
    Query find(*conn_, statements_->find_project_by_name);
    find.BindText(1, *ref.name);
    Result<bool> found = find.Step();
    if (!found.ok()) return found.status();
    if (*found) return find.Int(0);
  }
  Query insert(*conn_, statements_->insert_project);
  insert.BindText(1, *ref.name);
  insert.BindReal(2, clock_());
  if (Status s = insert.Run(); !s.ok()) return WithContext(s, "create project");
  return sqlite3_last_insert_rowid(conn_->handle());
}

// A project referred to by an id nobody created yet is created as "project-<id>"; when another
// project already has that name, a numbered variant keeps names unique.
Result<std::int64_t> Writer::CreateProjectWithId(std::int64_t id) {
  std::string name = fmt::format("project-{}", id);
  for (int variant = 2;; ++variant) {
    Query find(*conn_, statements_->find_project_by_name);
    find.BindText(1, name);
    Result<bool> taken = find.Step();
    if (!taken.ok()) return taken.status();
    if (!*taken) break;
    name = fmt::format("project-{}-{}", id, variant);
  }
  Query insert(*conn_, statements_->insert_project_with_id);
  insert.BindInt(1, id);
  insert.BindText(2, name);
  insert.BindReal(3, clock_());
  if (Status s = insert.Run(); !s.ok()) return WithContext(s, "create project");
  return id;
}

// A fresh random 128-bit id in hex; drawn again in the (astronomically unlikely) case that it
// is taken.
Result<std::string> Writer::UnusedRunId() {
  while (true) {
    std::string id = fmt::format("{:016x}{:016x}", random_(), random_());
    Result<std::int64_t> existing = FindRunKey(*conn_, id);
    if (existing.status().code() == StatusCode::kNotFound) return id;
    if (!existing.ok()) return existing.status();
  }
}

// --- ingest -----------------------------------------------------------------------------------

Result<model::IngestResult> Writer::Ingest(const std::string& run_id,
                                           const model::RecordBatch& batch) {
  BatchState state;
  Status status = [&]() -> Status {
    Transaction txn(*conn_);
    if (Status s = txn.Begin(Transaction::Kind::kImmediate); !s.ok()) return s;
    Result<std::int64_t> run_key = FindRunKey(*conn_, run_id);
    if (!run_key.ok()) return run_key.status();
    state.run_key = *run_key;

    if (Status s = InsertSteps(state, batch); !s.ok()) return s;
    for (const auto& record : batch.epochs) {
      if (Status s = InsertEpoch(state, record); !s.ok()) return s;
    }
    for (const auto& record : batch.layer_stats) {
      if (Status s = InsertLayerStats(state, record); !s.ok()) return s;
    }
    for (const auto& record : batch.profiles) {
      if (Status s = InsertProfile(state, record); !s.ok()) return s;
    }
    for (const auto& record : batch.events) {
      if (Status s = InsertEvent(state, record); !s.ok()) return s;
    }
    if (Status s = ApplyHyperparameters(state, batch); !s.ok()) return s;
    if (Status s = ApplyArchitecture(state, batch); !s.ok()) return s;
    if (Status s = ApplyFinishes(state, batch); !s.ok()) return s;
    if (Status s = RecordStepSeries(state); !s.ok()) return s;
    if (Status s = rollups_.Write(state.run_key, state.rollups); !s.ok()) return s;
    if (Status s = UpdateTotals(state); !s.ok()) return s;
    return txn.Commit();
  }();
  if (!status.ok()) {
    // The transaction rolled back, so metric ids created in it no longer exist.
    metric_ids_.clear();
    return status;
  }
  known_series_[state.run_key] |= state.fields;
  return state.result;
}

Status Writer::InsertSteps(BatchState& state, const model::RecordBatch& batch) {
  for (const model::StepRecord& record : batch.steps) {
    {
      Query insert(*conn_, statements_->insert_step);
      insert.BindInt(1, state.run_key);
      insert.BindInt(2, record.seq);
      insert.BindInt(3, record.step);
      insert.BindInt(4, record.epoch);
      insert.BindReal(5, record.ts);
      for (std::size_t i = 0; i < record.fields.size(); ++i) {
        insert.BindReal(kFirstStepFieldParam + static_cast<int>(i), record.fields[i]);
      }
      if (Status s = insert.Run(); !s.ok()) {
        return WithContext(s, fmt::format("step record seq {}", record.seq));
      }
    }
    if (!state.Count(conn_->Changes(), record.ts)) continue;
    ++state.step_records;
    if (!state.max_step || record.step > *state.max_step) state.max_step = record.step;
    const auto& loss = record.at(model::StepField::kLoss);
    if (loss && (!state.loss_step || record.step >= *state.loss_step)) {
      state.loss_step = record.step;
      state.last_loss = loss;
    }
    AddFinite(state.samples, record.at(model::StepField::kSamples));
    AddFinite(state.tokens, record.at(model::StepField::kTokens));
    for (std::size_t i = 0; i < record.fields.size(); ++i) {
      if (record.fields[i]) state.fields.set(i);
    }
    state.rollups.Add(record.step, record.seq, record.fields);
    if (Status s = InsertMetrics(state, record); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Writer::InsertMetrics(BatchState& state, const model::StepRecord& record) {
  for (const auto& [name, value] : record.metrics) {
    Result<std::int64_t> metric_id = MetricId(state.run_key, name);
    if (!metric_id.ok()) return metric_id.status();
    Query insert(*conn_, statements_->insert_metric_point);
    insert.BindInt(1, *metric_id);
    insert.BindInt(2, record.seq);
    insert.BindInt(3, record.step);
    insert.BindReal(4, record.ts);
    insert.BindReal(5, value);
    if (Status s = insert.Run(); !s.ok()) {
      return WithContext(s, fmt::format("step record seq {}: metric '{}'", record.seq, name));
    }
  }
  return Status::Ok();
}

Result<std::int64_t> Writer::MetricId(std::int64_t run_key, const std::string& name) {
  auto& ids = metric_ids_[run_key];
  if (auto it = ids.find(name); it != ids.end()) return it->second;

  std::int64_t id = 0;
  Query find(*conn_, statements_->find_metric);
  find.BindInt(1, run_key);
  find.BindText(2, name);
  Result<bool> found = find.Step();
  if (!found.ok()) return found.status();
  if (*found) {
    id = find.Int(0);
  } else {
    // A user metric named like a step field would be shadowed by it in every series query.
    if (model::FindStepField(name)) {
      return Status::InvalidArgument(
          fmt::format("metric '{}' has the name of a step field; send it as that field", name));
    }
    Query insert(*conn_, statements_->insert_metric);
    insert.BindInt(1, run_key);
    insert.BindText(2, name);
    if (Status s = insert.Run(); !s.ok()) return WithContext(s, "create metric");
    id = sqlite3_last_insert_rowid(conn_->handle());
  }
  ids.emplace(name, id);
  return id;
}

Status Writer::InsertEpoch(BatchState& state, const model::EpochRecord& record) {
  const std::string context = fmt::format("epoch record seq {}", record.seq);
  {
    Query insert(*conn_, statements_->insert_epoch);
    insert.BindInt(1, state.run_key);
    insert.BindInt(2, record.seq);
    insert.BindInt(3, record.epoch);
    insert.BindReal(4, record.ts);
    insert.BindReal(5, record.duration_s);
    if (Status s = insert.Run(); !s.ok()) return WithContext(s, context);
  }
  if (!state.Count(conn_->Changes(), record.ts)) return Status::Ok();
  ++state.epochs;

  const std::pair<std::string_view, const std::vector<std::pair<std::string, double>>*> splits[] = {
      {"train", &record.train}, {"val", &record.val}};
  for (const auto& [split, values] : splits) {
    std::int64_t idx = 0;
    for (const auto& [name, value] : *values) {
      Query insert(*conn_, statements_->insert_epoch_value);
      insert.BindInt(1, state.run_key);
      insert.BindInt(2, record.seq);
      insert.BindText(3, split);
      insert.BindInt(4, idx++);
      insert.BindText(5, name);
      insert.BindReal(6, value);
      if (Status s = insert.Run(); !s.ok()) return WithContext(s, context);
    }
  }
  std::int64_t idx = 0;
  for (const model::EnergyEntry& entry : record.energy) {
    Query insert(*conn_, statements_->insert_epoch_energy);
    insert.BindInt(1, state.run_key);
    insert.BindInt(2, record.seq);
    insert.BindInt(3, idx++);
    insert.BindText(4, entry.component);
    insert.BindText(5, entry.device);
    insert.BindReal(6, entry.joules);
    insert.BindText(7, entry.method);
    if (Status s = insert.Run(); !s.ok()) return WithContext(s, context);
    AddFinite(state.energy_joules, entry.joules);
  }
  return Status::Ok();
}

Status Writer::InsertLayerStats(BatchState& state, const model::LayerStatsRecord& record) {
  {
    Query insert(*conn_, statements_->insert_layer_sample);
    insert.BindInt(1, state.run_key);
    insert.BindInt(2, record.seq);
    insert.BindInt(3, record.step);
    insert.BindInt(4, record.epoch);
    insert.BindReal(5, record.ts);
    if (Status s = insert.Run(); !s.ok()) {
      return WithContext(s, fmt::format("layer_stats record seq {}", record.seq));
    }
  }
  if (!state.Count(conn_->Changes(), record.ts)) return Status::Ok();
  ++state.layer_samples;

  constexpr int kExtraParam =
      kFirstLayerStatParam + static_cast<int>(model::kLayerStatNames.size());
  std::int64_t idx = 0;
  for (const model::LayerStat& layer : record.layers) {
    Query insert(*conn_, statements_->insert_layer_stat);
    insert.BindInt(1, state.run_key);
    insert.BindInt(2, record.seq);
    insert.BindText(3, layer.layer);
    insert.BindInt(4, idx++);
    insert.BindInt(5, record.step);
    for (std::size_t i = 0; i < layer.values.size(); ++i) {
      insert.BindReal(kFirstLayerStatParam + static_cast<int>(i), layer.values[i]);
    }
    // An empty extra object, the common case, is stored as NULL and read back as {}.
    if (layer.extra.is_object() && layer.extra.empty()) {
      insert.BindNull(kExtraParam);
    } else {
      insert.BindText(kExtraParam, DumpJson(layer.extra));
    }
    if (Status s = insert.Run(); !s.ok()) {
      return WithContext(s, fmt::format("layer_stats record seq {}: layer '{}' (each layer may "
                                        "appear once per sample)",
                                        record.seq, layer.layer));
    }
  }
  return Status::Ok();
}

Status Writer::InsertProfile(BatchState& state, const model::ProfileRecord& record) {
  {
    Query insert(*conn_, statements_->insert_profile);
    insert.BindInt(1, state.run_key);
    insert.BindInt(2, record.seq);
    insert.BindInt(3, record.step);
    insert.BindReal(4, record.ts);
    insert.BindText(5, DumpJson(record.data));
    if (Status s = insert.Run(); !s.ok()) {
      return WithContext(s, fmt::format("profile record seq {}", record.seq));
    }
  }
  state.Count(conn_->Changes(), record.ts);
  return Status::Ok();
}

Status Writer::InsertEvent(BatchState& state, const model::EventRecord& record) {
  {
    Query insert(*conn_, statements_->insert_event);
    insert.BindInt(1, state.run_key);
    insert.BindInt(2, record.seq);
    insert.BindReal(3, record.ts);
    insert.BindText(4, record.level);
    insert.BindText(5, record.type);
    insert.BindText(6, record.message);
    insert.BindText(7, DumpJson(record.data));
    if (Status s = insert.Run(); !s.ok()) {
      return WithContext(s, fmt::format("event record seq {}", record.seq));
    }
  }
  if (state.Count(conn_->Changes(), record.ts)) ++state.events;
  return Status::Ok();
}

// Hyperparameters, architecture and finish records change the run row instead of adding rows,
// so applied_records remembers which (run, seq) were applied; a replay is then a duplicate.
Result<bool> Writer::ClaimRecord(BatchState& state, std::int64_t seq, std::string_view kind) {
  Query insert(*conn_, statements_->claim_record);
  insert.BindInt(1, state.run_key);
  insert.BindInt(2, seq);
  insert.BindText(3, kind);
  if (Status s = insert.Run(); !s.ok()) {
    return WithContext(s, fmt::format("{} record seq {}", kind, seq));
  }
  const bool claimed = conn_->Changes() != 0;
  if (claimed) {
    state.Accept(std::nullopt);
  } else {
    ++state.result.duplicates;
  }
  return claimed;
}

Status Writer::ApplyHyperparameters(BatchState& state, const model::RecordBatch& batch) {
  if (batch.hyperparameters.empty()) return Status::Ok();
  std::vector<const model::HyperparametersRecord*> fresh;
  for (const auto* record : BySeq(batch.hyperparameters)) {
    if (!record->values.is_object()) {
      return Status::InvalidArgument(
          fmt::format("hyperparameters record seq {}: values must be an object", record->seq));
    }
    Result<bool> claimed = ClaimRecord(state, record->seq, "hyperparameters");
    if (!claimed.ok()) return claimed.status();
    if (*claimed) fresh.push_back(record);
  }
  if (fresh.empty()) return Status::Ok();

  model::Json merged;
  {
    Query select(*conn_, statements_->select_hyperparameters);
    select.BindInt(1, state.run_key);
    Result<bool> row = select.Step();
    if (!row.ok()) return row.status();
    Result<model::Json> current = select.JsonColumn(0, "hyperparameters");
    if (!current.ok()) return current.status();
    merged = std::move(current).value();
  }
  if (!merged.is_object()) merged = model::Json::object();
  for (const auto* record : fresh) {
    for (const auto& [key, value] : record->values.items()) merged[key] = value;
  }
  Query update(*conn_, statements_->update_hyperparameters);
  update.BindInt(1, state.run_key);
  update.BindText(2, DumpJson(merged));
  return update.Run();
}

Status Writer::ApplyArchitecture(BatchState& state, const model::RecordBatch& batch) {
  const model::ArchitectureRecord* latest = nullptr;
  for (const auto* record : BySeq(batch.architectures)) {
    Result<bool> claimed = ClaimRecord(state, record->seq, "architecture");
    if (!claimed.ok()) return claimed.status();
    if (*claimed) latest = record;
  }
  if (latest == nullptr) return Status::Ok();

  {
    Query remove(*conn_, statements_->delete_modules);
    remove.BindInt(1, state.run_key);
    if (Status s = remove.Run(); !s.ok()) return s;
  }
  std::int64_t idx = 0;
  for (const model::ModuleInfo& module : latest->modules) {
    Query insert(*conn_, statements_->insert_module);
    insert.BindInt(1, state.run_key);
    insert.BindInt(2, idx++);
    insert.BindText(3, module.name);
    insert.BindText(4, module.type);
    if (module.parent) {
      insert.BindText(5, *module.parent);
    } else {
      insert.BindNull(5);
    }
    insert.BindInt(6, module.params);
    insert.BindInt(7, module.trainable_params);
    insert.BindText(8, DumpJson(module.input_shape));
    insert.BindText(9, DumpJson(module.output_shape));
    insert.BindReal(10, module.flops);
    if (Status s = insert.Run(); !s.ok()) {
      return WithContext(
          s, fmt::format("architecture record seq {}: module '{}'", latest->seq, module.name));
    }
  }
  return Status::Ok();
}

Status Writer::ApplyFinishes(BatchState& state, const model::RecordBatch& batch) {
  for (const auto* record : BySeq(batch.finishes)) {
    Result<bool> claimed = ClaimRecord(state, record->seq, "finish");
    if (!claimed.ok()) return claimed.status();
    if (!*claimed) continue;
    state.Touch(record->ts);
    Query update(*conn_, statements_->finish_run);
    update.BindInt(1, state.run_key);
    update.BindText(2, model::ToString(record->status));
    update.BindText(3, record->reason);
    update.BindReal(4, record->ts);
    update.BindText(5, DumpJson(record->client_stats));
    if (Status s = update.Run(); !s.ok()) return s;
  }
  return Status::Ok();
}

// step_series lists, per run, the step fields that have at least one value; only fields new to
// the run since the last committed batch cost a statement.
Status Writer::RecordStepSeries(const BatchState& state) {
  StepFieldSet fresh = state.fields;
  if (auto it = known_series_.find(state.run_key); it != known_series_.end()) {
    fresh &= ~it->second;
  }
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    if (!fresh.test(i)) continue;
    Query insert(*conn_, statements_->insert_step_series);
    insert.BindInt(1, state.run_key);
    insert.BindText(2, model::kStepFields[i].name);
    if (Status s = insert.Run(); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Writer::UpdateTotals(BatchState& state) {
  if (state.result.accepted == 0) return Status::Ok();
  Query update(*conn_, statements_->update_totals);
  update.BindInt(1, state.run_key);
  update.BindInt(2, state.step_records);
  update.BindInt(3, state.max_step);
  update.BindInt(4, state.loss_step);
  update.BindReal(5, state.last_loss);
  update.BindInt(6, state.epochs);
  update.BindReal(7, state.samples);
  update.BindReal(8, state.tokens);
  update.BindReal(9, state.energy_joules);
  update.BindInt(10, state.layer_samples);
  update.BindInt(11, state.events);
  update.BindReal(12, state.last_ts);
  Result<bool> row = update.Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal("updating a run's totals returned no row");
  state.result.batch_order = update.Int(0);
  return Status::Ok();
}

}  // namespace atlas::store::sqlite
