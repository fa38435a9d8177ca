// Store: the one interface through which atlasd persists and reads telemetry.
//
// SQLite (store/sqlite) is the embedded default; PostgreSQL will implement the same interface.
// Every method is thread-safe: implementations serialise writers internally. No method throws;
// failures come back as Status (kNotFound for an unknown run, kIoError for the database).
// A batch is stored whole or not at all, and re-ingesting a record whose (run, seq) is already
// stored changes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "atlas/status.hpp"
#include "model/records.hpp"
#include "model/runs.hpp"
#include "store/actions.hpp"
#include "store/agent_records.hpp"

namespace atlas::store {

enum class SeriesAxis { kStep, kTime };

struct SeriesQuery {
  std::string metric;  // a step field name (model::kStepFields) or a user metric name
  SeriesAxis axis = SeriesAxis::kStep;
  std::optional<double> from;  // inclusive, on the chosen axis
  std::optional<double> to;    // inclusive
};

// One stored point of a series, in ascending x order.
struct SeriesPoint {
  double x;
  double y;
};

// One bucket of a downsampled series (store/downsample.hpp says how buckets are formed).
struct SeriesBucket {
  double x = 0;  // x of the last point in the bucket
  double min = 0;
  double max = 0;
  double last = 0;
  std::int64_t count = 0;
};

// A series downsampled into buckets, and how many stored points they summarise.
struct SeriesBuckets {
  std::vector<SeriesBucket> buckets;
  std::int64_t points_in_range = 0;
};

struct LayerStatsQuery {
  std::optional<std::string> layer;
  std::optional<std::int64_t> from_step;
  std::optional<std::int64_t> to_step;
  std::int64_t limit = 10000;
};

struct EventQuery {
  std::optional<std::string> type;
  std::int64_t limit = 1000;
};

// The latest diagnosis of a run (docs/diagnostics.md), as the analysis service stores it: the
// figures the runs list shows, and the whole document.
struct DiagnosisRecord {
  std::string run_id;
  double computed_at = 0;  // server clock, Unix seconds
  std::string grade;       // "A".."F"
  double score = 0;        // 0..100
  double wasted_fraction = 0;
  double kwh = 0;  // the run so far (facility energy)
  double kg_co2 = 0;
  double eur = 0;
  std::string document;  // the JSON document; empty in ListDiagnosisSummaries
};

// What Store::ReplayRun hands over of one run, in this order: the run (metadata, and the
// totals that say which batches the replay holds), its steps in seq order, its epochs, its
// layer-stats samples, its profiles and its events.
class RunReplay {
 public:
  virtual ~RunReplay() = default;
  virtual void Run(const model::Run& run) = 0;
  virtual void Step(const model::StepRecord& step) = 0;
  virtual void Epoch(const model::EpochRecord& epoch) = 0;
  virtual void LayerStats(const model::LayerStatsRecord& sample) = 0;
  virtual void Profile(const model::ProfileRecord& profile) = 0;
  virtual void Event(const model::EventRecord& event) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates the run, or returns the existing one when `req.run_id` names a run that exists
  // (then `resumed` is true and its status goes back to running). A project named by id or
  // name that does not exist is created.
  virtual Result<model::CreateRunResult> CreateOrResumeRun(const model::RunCreate& req) = 0;

  // Stores every record of `batch` in one transaction; kNotFound when the run does not exist.
  virtual Result<model::IngestResult> Ingest(const std::string& run_id,
                                             const model::RecordBatch& batch) = 0;

  virtual Result<std::vector<model::Project>> ListProjects() = 0;
  virtual Result<model::RunPage> ListRuns(const model::RunQuery& query) = 0;
  virtual Result<model::Run> GetRun(const std::string& run_id) = 0;

  // The names of the series a run has: step fields with at least one value, then user metrics.
  virtual Result<std::vector<std::string>> ListSeries(const std::string& run_id) = 0;
  // Calls `visit` for every stored point of the series in ascending x order.
  virtual Status ScanSeries(const std::string& run_id, const SeriesQuery& query,
                            const std::function<void(const SeriesPoint&)>& visit) = 0;
  // The series downsampled into at most `max_points` buckets: exactly what store::Downsample
  // gives for the points ScanSeries visits. This default scans every point (store.cpp); the
  // SQLite store answers step fields on the step axis from pre-aggregated blocks instead, so a
  // wide range costs about as many rows as buckets.
  virtual Result<SeriesBuckets> DownsampleSeries(const std::string& run_id,
                                                 const SeriesQuery& query, std::size_t max_points);

  virtual Result<std::vector<model::EpochRecord>> ListEpochs(const std::string& run_id) = 0;
  virtual Result<std::vector<model::LayerStatsRecord>> ListLayerStats(
      const std::string& run_id, const LayerStatsQuery& query) = 0;
  virtual Result<std::vector<model::EventRecord>> ListEvents(const std::string& run_id,
                                                             const EventQuery& query) = 0;
  virtual Result<std::vector<model::ProfileRecord>> ListProfiles(const std::string& run_id) = 0;

  // ----- control actions (issue 7, docs/control.md; store/actions.hpp) -----
  // The defaults refuse with kUnavailable, so a backend without an actions table still serves
  // telemetry; the SQLite store implements them (schema migration 4).

  // Appends `action` to the run's audit log with the run's next action id; kNotFound for an
  // unknown run.
  virtual Result<StoredAction> AppendAction(const std::string& run_id, const NewAction& action) {
    (void)run_id, (void)action;
    return NoControl();
  }
  // Every action of the run in id order; kNotFound for an unknown run.
  virtual Result<std::vector<StoredAction>> ListActions(const std::string& run_id) {
    (void)run_id;
    return NoControl();
  }
  // Applies `updates` in one transaction; kNotFound names an unknown run or action id.
  virtual Status UpdateActions(const std::string& run_id,
                               const std::vector<ActionUpdate>& updates) {
    (void)run_id, (void)updates;
    return NoControl();
  }
  // The observer's control registration (pause_on, adjustable names; a JSON object), {} when
  // it sent none; kNotFound for an unknown run.
  virtual Status PutControlRegistration(const std::string& run_id,
                                        const model::Json& registration) {
    (void)run_id, (void)registration;
    return NoControl();
  }
  virtual Result<model::Json> GetControlRegistration(const std::string& run_id) {
    (void)run_id;
    return NoControl();
  }

  // Calls `visit` for every stored step of the run in ascending seq order (user metrics left
  // out), streaming: memory does not grow with the run. For rebuilding a run's diagnostics view.
  virtual Status ScanSteps(const std::string& run_id,
                           const std::function<void(const model::StepRecord&)>& visit) = 0;

  // Every stored record of one run as of one committed state, for rebuilding a view of it
  // (analysis/rebuild.hpp): a batch stored meanwhile is wholly in the replay or wholly out of
  // it, and run.totals.batches_stored says which (IngestResult::batch_order). Steps stream, so
  // memory does not grow with the run; events up to `events.limit`, in seq order.
  virtual Status ReplayRun(const std::string& run_id, const EventQuery& events,
                           RunReplay& replay) = 0;

  // Diagnoses (migration 3). SaveDiagnosis replaces the run's previous one; GetDiagnosis gives
  // nullopt when none was stored; ListDiagnosisSummaries gives those of `run_ids` that exist,
  // without their documents.
  virtual Status SaveDiagnosis(const DiagnosisRecord& record) = 0;
  virtual Result<std::optional<DiagnosisRecord>> GetDiagnosis(const std::string& run_id) = 0;
  virtual Result<std::vector<DiagnosisRecord>> ListDiagnosisSummaries(
      const std::vector<std::string>& run_ids) = 0;

  // A project's threshold overrides ({"key": number}); {} when it has none. The store keeps the
  // object as given: validation against the threshold table is the caller's.
  virtual Result<model::Json> GetProjectThresholds(std::int64_t project_id) = 0;
  // kNotFound when the project does not exist.
  virtual Status SetProjectThresholds(std::int64_t project_id, const model::Json& overrides) = 0;

  // ----- the agent's state (issue 8, docs/agent.md; store/agent_records.hpp) -----
  // The defaults refuse with kUnavailable; the SQLite store implements them (migration 5).

  // Replaces the run's belief state; kNotFound for an unknown run.
  virtual Status SaveBeliefs(const BeliefRecord& record) {
    (void)record;
    return NoAgentState();
  }
  // nullopt when none was stored; kNotFound for an unknown run.
  virtual Result<std::optional<BeliefRecord>> GetBeliefs(const std::string& run_id) {
    (void)run_id;
    return NoAgentState();
  }
  // The project memory: the newest `limit` belief states of runs with this architecture
  // fingerprint, newest run first.
  virtual Result<std::vector<BeliefRecord>> ListBeliefsByFingerprint(const std::string& fingerprint,
                                                                     std::int64_t limit) {
    (void)fingerprint, (void)limit;
    return NoAgentState();
  }
  // Stores a pending proposal with the run's next proposal id and returns it.
  virtual Result<ProposalRecord> AppendProposal(const ProposalRecord& proposal) {
    (void)proposal;
    return NoAgentState();
  }
  virtual Result<std::vector<ProposalRecord>> ListProposals(const std::string& run_id) {
    (void)run_id;
    return NoAgentState();
  }
  // Marks a pending proposal "confirmed" or "dismissed"; kConflict when already settled.
  virtual Status ResolveProposal(const std::string& run_id, std::int64_t id,
                                 const std::string& status) {
    (void)run_id, (void)id, (void)status;
    return NoAgentState();
  }

  // Flushes and closes the database; later calls fail with kUnavailable.
  virtual Status Close() = 0;

 protected:
  static Status NoControl() { return Status::Unavailable("this store keeps no control actions"); }
  static Status NoAgentState() { return Status::Unavailable("this store keeps no agent state"); }
};

}  // namespace atlas::store
