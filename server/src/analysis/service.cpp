#include "analysis/service.hpp"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "analysis/rebuild.hpp"
#include "diagnostics/diagnosis_json.hpp"

namespace atlas::analysis {
namespace {

using Json = nlohmann::json;

double SystemClock() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

store::DiagnosisRecord SummaryOf(const std::string& run_id, const diagnostics::Diagnosis& d,
                                 double computed_at) {
  store::DiagnosisRecord record;
  record.run_id = run_id;
  record.computed_at = computed_at;
  record.grade = std::string(1, d.grade);
  record.score = d.score;
  record.wasted_fraction = d.waste.fraction;
  record.kwh = d.spent.kwh;
  record.kg_co2 = d.spent.kg_co2;
  record.eur = d.spent.eur;
  return record;
}

AnalysisService::AnalysisService(store::Store& store, live::Hub* hub, ServiceOptions options)
    : store_(store), hub_(hub), options_(std::move(options)) {
  if (!options_.clock) options_.clock = &SystemClock;
  if (options_.max_views == 0) options_.max_views = 1;
}

AnalysisService::~AnalysisService() { Stop(); }

void AnalysisService::Start() {
  worker_ = std::thread([this] { WorkerLoop(); });
}

void AnalysisService::Stop() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Nobody will process what is left; release anyone waiting in Flush.
  std::lock_guard<std::mutex> lock(queue_mu_);
  flushes_done_ = flush_requests_;
  idle_.notify_all();
}

void AnalysisService::OnRunCreated(const model::Run& run, bool /*resumed*/) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (queue_.size() >= options_.max_queue) return;  // the run is loaded when it first matters
    queue_.push_back({run.id, nullptr, 0, false});
  }
  wake_.notify_one();
}

void AnalysisService::OnBatchStored(const std::string& run_id,
                                    const std::shared_ptr<const model::RecordBatch>& batch,
                                    const model::IngestResult& result) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (queue_.size() >= options_.max_queue) {
      // Too far behind to keep every batch: remember only that the run must be reloaded (the
      // store has the records), so the queue stays bounded.
      if (queue_.back().run_id != run_id || !queue_.back().rebuild) {
        queue_.push_back({run_id, nullptr, 0, true});
      }
    } else {
      // A replay that stored some records again cannot be folded in without counting those
      // twice; the view is rebuilt from the store instead.
      queue_.push_back({run_id, batch, result.batch_order, result.duplicates > 0});
    }
  }
  wake_.notify_one();
}

std::optional<AnalysisService::Clock::time_point> AnalysisService::NextDue() {
  std::lock_guard<std::mutex> lock(views_mu_);
  std::optional<Clock::time_point> next;
  for (const auto& [id, entry] : views_) {
    if (entry.due && (!next || *entry.due < *next)) next = entry.due;
  }
  return next;
}

void AnalysisService::WorkerLoop() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  while (!stop_) {
    const bool flushing = flush_requests_ > flushes_done_;
    if (queue_.empty() && !flushing) {
      lock.unlock();
      const std::optional<Clock::time_point> next = NextDue();
      lock.lock();
      if (queue_.empty() && !stop_ && flush_requests_ == flushes_done_) {
        if (next && *next > Clock::now()) {
          wake_.wait_until(lock, *next);
        } else if (!next) {
          wake_.wait(lock);
        }
      }
      if (stop_) break;
    }
    const std::uint64_t flush_target = flush_requests_;
    std::deque<Item> items;
    items.swap(queue_);
    busy_ = true;
    lock.unlock();

    for (const Item& item : items) ProcessItem(item);
    // The runs whose diagnosis is due (every run with one pending when flushing).
    std::vector<std::string> due;
    {
      std::lock_guard<std::mutex> views_lock(views_mu_);
      const Clock::time_point now = Clock::now();
      for (auto& [id, entry] : views_) {
        if (entry.due && (*entry.due <= now || flush_target > flushes_done_)) {
          entry.due.reset();
          due.push_back(id);
        }
      }
    }
    for (const std::string& run_id : due) {
      Result<Json> document = DiagnoseNow(run_id);
      if (!document.ok()) {
        spdlog::warn("diagnosing run {} failed: {}", run_id, document.status().message());
      }
    }

    lock.lock();
    busy_ = false;
    if (queue_.empty() && flush_target > flushes_done_) {
      flushes_done_ = flush_target;
      idle_.notify_all();
    }
  }
}

void AnalysisService::Flush() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  if (stop_ || !worker_.joinable()) return;
  const std::uint64_t target = ++flush_requests_;
  wake_.notify_one();
  idle_.wait(lock, [&] { return flushes_done_ >= target; });
}

void AnalysisService::EvictIfFull() {
  while (views_.size() >= options_.max_views) {
    // The least recently used run without a diagnosis pending goes; its stored diagnosis and
    // records stay in the store, and it is rebuilt when needed again.
    auto victim = views_.end();
    for (auto it = views_.begin(); it != views_.end(); ++it) {
      if (it->second.due) continue;
      if (victim == views_.end() || it->second.last_used < victim->second.last_used) victim = it;
    }
    if (victim == views_.end()) return;  // every run has a diagnosis pending: keep them
    views_.erase(victim);
  }
}

Result<AnalysisService::Entry*> AnalysisService::LoadEntry(const std::string& run_id) {
  auto it = views_.find(run_id);
  if (it == views_.end()) {
    Result<RebuiltView> built = RebuildView(store_, run_id, options_.limits);
    if (!built.ok()) return built.status();
    EvictIfFull();
    Entry entry;
    entry.batches_loaded = built->batches_stored;
    entry.builder = std::move(built->builder);
    it = views_.emplace(run_id, std::move(entry)).first;
  }
  it->second.last_used = ++use_counter_;
  return &it->second;
}

void AnalysisService::ProcessItem(const Item& item) {
  std::lock_guard<std::mutex> lock(views_mu_);
  if (item.rebuild) views_.erase(item.run_id);
  const bool loaded = views_.count(item.run_id) != 0;
  Result<Entry*> entry = LoadEntry(item.run_id);
  if (!entry.ok()) {
    spdlog::warn("analysis: cannot load run {}: {}", item.run_id, entry.status().message());
    return;
  }
  Entry& e = **entry;
  bool matters = !loaded;  // a run just (re)loaded gets a diagnosis
  if (item.batch) {
    // A batch stored before the view was loaded is in it already (the load read one committed
    // state of the store, so each batch is wholly in it or wholly out).
    if (item.batch_order > e.batches_loaded) {
      matters = e.builder->Apply(*item.batch) || matters;
      e.dirty = true;
      ++e.version;
    }
    if (!item.batch->finishes.empty()) e.due = Clock::now();  // a finished run: at once
  }
  if (matters && !e.due) e.due = Clock::now() + options_.debounce;
}

Result<diagnostics::Thresholds> AnalysisService::ThresholdsFor(std::int64_t project_id) {
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = thresholds_.find(project_id);
    if (it != thresholds_.end()) return it->second;
  }
  Result<Json> overrides = store_.GetProjectThresholds(project_id);
  if (!overrides.ok()) return overrides.status();
  Result<diagnostics::Thresholds> thresholds = diagnostics::Thresholds::WithOverrides(*overrides);
  if (!thresholds.ok()) {
    // Overrides are validated when set; a table that lost a key since falls back to defaults.
    spdlog::warn("project {}: stored threshold overrides no longer apply ({}); using defaults",
                 project_id, thresholds.status().message());
    thresholds = diagnostics::Thresholds();
  }
  std::lock_guard<std::mutex> lock(views_mu_);
  thresholds_.insert_or_assign(project_id, *thresholds);
  return *thresholds;
}

Result<Json> AnalysisService::DiagnoseNow(const std::string& run_id) {
  diagnostics::RunTelemetry view;
  std::int64_t project_id = 0;
  std::uint64_t version = 0;
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    Result<Entry*> entry = LoadEntry(run_id);
    if (!entry.ok()) return entry.status();
    view = (*entry)->builder->Snapshot();
    project_id = (*entry)->builder->project_id();
    version = (*entry)->version;
    (*entry)->dirty = false;
    stale_.erase(run_id);
  }
  Result<diagnostics::Thresholds> thresholds = ThresholdsFor(project_id);
  if (!thresholds.ok()) return thresholds.status();

  const diagnostics::Diagnosis diagnosis = diagnostics::Diagnose(view, *thresholds);
  const double computed_at = options_.clock();
  Json document = diagnostics::ToJson(diagnosis);
  document["run_id"] = run_id;
  document["computed_at"] = computed_at;
  // What the diagnosis saw, so a client can tell whether it covers the records it sent.
  document["run_status"] = model::ToString(view.status);
  document["epochs_analysed"] = view.epochs.size();

  store::DiagnosisRecord record = SummaryOf(run_id, diagnosis, computed_at);
  record.document = document.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (Status saved = store_.SaveDiagnosis(record); !saved.ok()) {
    spdlog::warn("analysis: cannot store the diagnosis of run {}: {}", run_id, saved.message());
  }
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = views_.find(run_id);
    if (it != views_.end() && version >= it->second.document_version) {
      it->second.document = std::make_shared<const Json>(document);
      it->second.document_version = version;
    }
  }
  if (hub_ != nullptr) {
    hub_->Publish(live::Hub::RunTopic(run_id), "diagnostics", document);
    hub_->Publish(live::Hub::kRunsTopic, "run",
                  {{"type", "updated"},
                   {"id", run_id},
                   {"grade", record.grade},
                   {"score", record.score},
                   {"wasted_fraction", record.wasted_fraction},
                   {"kwh", record.kwh},
                   {"kg_co2", record.kg_co2},
                   {"eur", record.eur}});
  }
  return document;
}

Result<Json> AnalysisService::Diagnosis(const std::string& run_id) {
  {
    std::lock_guard<std::mutex> lock(views_mu_);
    auto it = views_.find(run_id);
    if (it != views_.end() && !it->second.dirty && it->second.document &&
        it->second.document_version == it->second.version) {
      return *it->second.document;
    }
    if (it == views_.end() && stale_.count(run_id) == 0) {
      // Not in memory: the stored diagnosis is current unless batches for the run are queued
      // or being folded in, in which case computing now includes them (the store holds them).
      Result<std::optional<store::DiagnosisRecord>> stored = store_.GetDiagnosis(run_id);
      if (!stored.ok()) return stored.status();
      if (*stored) {
        bool queued = false;
        {
          std::lock_guard<std::mutex> queue_lock(queue_mu_);
          queued = busy_ || std::any_of(queue_.begin(), queue_.end(),
                                        [&](const Item& item) { return item.run_id == run_id; });
        }
        if (!queued) {
          Json document = Json::parse((*stored)->document, nullptr, false);
          if (!document.is_discarded()) return document;
        }
      }
    }
  }
  return DiagnoseNow(run_id);
}

Result<Json> AnalysisService::ProjectOverrides(std::int64_t project_id) {
  Result<std::vector<model::Project>> projects = store_.ListProjects();
  if (!projects.ok()) return projects.status();
  const bool exists = std::any_of(projects->begin(), projects->end(),
                                  [&](const model::Project& p) { return p.id == project_id; });
  if (!exists) return Status::NotFound(fmt::format("project {} does not exist", project_id));
  return store_.GetProjectThresholds(project_id);
}

Status AnalysisService::SetProjectOverrides(std::int64_t project_id, const Json& overrides) {
  Result<diagnostics::Thresholds> thresholds = diagnostics::Thresholds::WithOverrides(overrides);
  if (!thresholds.ok()) return thresholds.status();
  // Only the entries that differ from the table are stored.
  if (Status s = store_.SetProjectThresholds(project_id, thresholds->Overrides()); !s.ok()) {
    return s;
  }
  // The project's runs not in memory have stored diagnoses made with the old thresholds.
  model::RunQuery query;
  query.project_id = project_id;
  query.limit = std::numeric_limits<std::int32_t>::max();
  Result<model::RunPage> runs = store_.ListRuns(query);
  std::lock_guard<std::mutex> lock(views_mu_);
  thresholds_.insert_or_assign(project_id, *thresholds);
  if (runs.ok()) {
    for (const model::Run& run : runs->runs) {
      if (views_.count(run.id) == 0) stale_.insert(run.id);
    }
  }
  for (auto& [id, entry] : views_) {
    if (entry.builder->project_id() != project_id) continue;
    entry.dirty = true;
    ++entry.version;
    entry.due = Clock::now();
  }
  wake_.notify_one();
  return Status::Ok();
}

}  // namespace atlas::analysis
