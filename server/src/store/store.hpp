// Store: the one interface through which atlasd persists and reads telemetry.
//
// SQLite (store/sqlite) is the embedded default; PostgreSQL will implement the same interface.
// Every method is thread-safe: implementations serialise writers internally. No method throws;
// failures come back as Status (kNotFound for an unknown run, kIoError for the database).
// A batch is stored whole or not at all, and re-ingesting a record whose (run, seq) is already
// stored changes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "atlas/status.hpp"
#include "model/records.hpp"
#include "model/runs.hpp"

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

  virtual Result<std::vector<model::EpochRecord>> ListEpochs(const std::string& run_id) = 0;
  virtual Result<std::vector<model::LayerStatsRecord>> ListLayerStats(
      const std::string& run_id, const LayerStatsQuery& query) = 0;
  virtual Result<std::vector<model::EventRecord>> ListEvents(const std::string& run_id,
                                                             const EventQuery& query) = 0;
  virtual Result<std::vector<model::ProfileRecord>> ListProfiles(const std::string& run_id) = 0;

  // Flushes and closes the database; later calls fail with kUnavailable.
  virtual Status Close() = 0;
};

}  // namespace atlas::store
