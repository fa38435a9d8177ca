// AnalysisService: keeps each run's diagnosis current, stores it and pushes it live.
//
// As an IngestListener it queues every stored batch for its worker thread, which folds the
// records into the run's ViewBuilder (rebuilt from the store when the run is not in memory) and,
// after records that change the diagnosis (epoch end, layer sample, architecture,
// hyperparameters, finish), runs the diagnostics engine once the run has been quiet for
// `debounce` or `debounce` has passed since the first such record (so a busy run is diagnosed
// at that rate, not after every batch). A finish is diagnosed at once. Each diagnosis is saved
// (Store::SaveDiagnosis) and published on the Hub: the document as a `diagnostics` event on the
// run's topic, its figures as a `run` event on the runs topic.
//
// Ingest never waits for analysis: OnBatchStored only queues a shared pointer. When the queue is
// full the batch is not queued; its run's view is dropped and rebuilt from the store instead.
// At most `max_views` runs are kept in memory (least recently used first out).
//
// The engine reads each project's thresholds: the table's defaults with the overrides stored for
// the project (SetProjectThresholds validates them against the table).
//
// Threading: every public member function is thread-safe. Start() starts the worker; Stop() (or
// the destructor) joins it. The store and the hub must outlive the service.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "analysis/view_builder.hpp"
#include "atlas/status.hpp"
#include "diagnostics/engine.hpp"
#include "diagnostics/thresholds.hpp"
#include "live/hub.hpp"
#include "live/ingest_listener.hpp"
#include "store/store.hpp"

namespace atlas::analysis {

struct ServiceOptions {
  std::chrono::milliseconds debounce{1000};
  std::size_t max_views = 64;
  std::size_t max_queue = 4096;  // batches waiting for the worker
  ViewLimits limits;
  std::function<double()> clock;  // Unix seconds for computed_at; the system clock when empty
};

class AnalysisService final : public live::IngestListener {
 public:
  // `hub` may be null (no live push).
  AnalysisService(store::Store& store, live::Hub* hub, ServiceOptions options = {});
  ~AnalysisService() override;
  AnalysisService(const AnalysisService&) = delete;
  AnalysisService& operator=(const AnalysisService&) = delete;

  void Start();
  void Stop();

  void OnRunCreated(const model::Run& run, bool resumed) override;
  void OnBatchStored(const std::string& run_id,
                     const std::shared_ptr<const model::RecordBatch>& batch,
                     const model::IngestResult& result) override;

  // The run's diagnosis document (GET /api/v1/runs/{id}/diagnostics): the stored one when no
  // record arrived since, else computed now on the caller's thread (and stored). kNotFound for
  // an unknown run.
  Result<nlohmann::json> Diagnosis(const std::string& run_id);

  // The project's overrides ({"key": number}); kNotFound for an unknown project.
  Result<nlohmann::json> ProjectOverrides(std::int64_t project_id);
  // Validates `overrides` against the threshold table (kInvalidArgument naming the key), stores
  // them and re-diagnoses the project's runs in memory.
  Status SetProjectOverrides(std::int64_t project_id, const nlohmann::json& overrides);

  // Blocks until every batch queued before the call has been folded in and every diagnosis due
  // has been computed, stored and published (for tests and for a clean shutdown).
  void Flush();

 private:
  using Clock = std::chrono::steady_clock;
  struct Item {
    std::string run_id;
    std::shared_ptr<const model::RecordBatch> batch;  // null: the run was created
    std::int64_t batch_order = 0;                     // IngestResult::batch_order
    bool rebuild = false;  // duplicates were stored, or a batch was not queued: reload the view
  };
  struct Entry {
    std::unique_ptr<ViewBuilder> builder;
    // The batches the view was loaded with from the store (RebuiltView::batches_stored): a
    // queued batch whose batch_order is at most this is in the view already. Not raised as
    // batches are applied: two ingests of a run may queue their batches out of store order.
    std::int64_t batches_loaded = 0;
    std::optional<Clock::time_point> due;  // when the engine should run next
    bool dirty = true;                     // records arrived since the last diagnosis
    std::uint64_t last_used = 0;
    // Bumped whenever the diagnosis goes out of date (records, thresholds). A diagnosis is
    // computed from the view at one version; `document` is served only when it was computed
    // at the current version, so a computation still running with old inputs (or one that
    // finishes after a newer one) never answers a request.
    std::uint64_t version = 0;
    std::uint64_t document_version = 0;
    std::shared_ptr<const nlohmann::json> document;  // the newest diagnosis
  };

  void WorkerLoop();
  void ProcessItem(const Item& item);
  // With views_mu_ held: the run's entry, loading it from the store when needed.
  Result<Entry*> LoadEntry(const std::string& run_id);
  void EvictIfFull();
  // Runs the engine on the run's current view, stores and publishes; returns the document.
  Result<nlohmann::json> DiagnoseNow(const std::string& run_id);
  Result<diagnostics::Thresholds> ThresholdsFor(std::int64_t project_id);
  std::optional<Clock::time_point> NextDue();

  store::Store& store_;
  live::Hub* hub_;
  ServiceOptions options_;

  // The queue and the worker's state.
  std::mutex queue_mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Item> queue_;            // guarded by queue_mu_
  bool stop_ = false;                 // guarded by queue_mu_
  bool busy_ = false;                 // guarded by queue_mu_: the worker is processing
  std::uint64_t flush_requests_ = 0;  // guarded by queue_mu_
  std::uint64_t flushes_done_ = 0;    // guarded by queue_mu_
  std::thread worker_;

  // The views. queue_mu_ may be taken while views_mu_ is held, never the reverse; neither is
  // held while the engine runs.
  std::mutex views_mu_;
  std::unordered_map<std::string, Entry> views_;                // guarded by views_mu_
  std::uint64_t use_counter_ = 0;                               // guarded by views_mu_
  std::map<std::int64_t, diagnostics::Thresholds> thresholds_;  // guarded by views_mu_
  // Runs not in memory whose stored diagnosis predates their project's thresholds; guarded by
  // views_mu_.
  std::set<std::string> stale_;
};

// The figures of a diagnosis for the runs list (document left empty).
store::DiagnosisRecord SummaryOf(const std::string& run_id, const diagnostics::Diagnosis& d,
                                 double computed_at);

}  // namespace atlas::analysis
