// Projects and runs: identity, metadata and totals, as stored and as listed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/records.hpp"

namespace atlas::model {

struct Project {
  std::int64_t id = 0;
  std::string name;
  double created_at = 0;
  std::int64_t run_count = 0;
};

// A project named by id or by name (exactly one is set).
struct ProjectRef {
  std::optional<std::int64_t> id;
  std::optional<std::string> name;
};

struct RunCreate {
  ProjectRef project;
  std::string name;
  std::optional<std::string> run_id;  // client-chosen; creation is idempotent on it
  double started_at = 0;              // client clock; the server's when absent
  Json host = Json::object();
  Json device = Json::object();
  Json framework = Json::object();
  Json config = Json::object();
};

// Aggregates kept up to date as records are ingested.
struct RunTotals {
  std::int64_t step_records = 0;
  std::optional<std::int64_t> last_step;
  std::optional<double> last_loss;
  std::int64_t epochs = 0;
  double samples = 0;
  double tokens = 0;
  double energy_joules = 0;  // sum over epochs and components
  std::int64_t layer_samples = 0;
  std::int64_t events = 0;
  std::optional<double> last_ts;  // newest record time
  // Batches that stored at least one new record, counted in the transaction storing each: a
  // snapshot of the run holds exactly the batches whose batch_order is at most this.
  std::int64_t batches_stored = 0;
};

struct Run {
  std::string id;
  std::int64_t project_id = 0;
  std::string project_name;
  std::string name;
  RunStatus status = RunStatus::kRunning;
  std::string status_reason;
  double started_at = 0;
  double created_at = 0;  // server clock
  std::optional<double> finished_at;
  Json host = Json::object();
  Json device = Json::object();
  Json framework = Json::object();
  Json config = Json::object();
  Json hyperparameters = Json::object();
  std::vector<ModuleInfo> architecture;
  Json client_stats = Json::object();
  RunTotals totals;
};

struct CreateRunResult {
  Run run;
  bool resumed = false;  // true when the run already existed
};

enum class RunSortKey { kCreatedAt, kName, kStatus, kLastStep };

struct RunQuery {
  std::optional<std::int64_t> project_id;
  std::optional<std::string> project_name;
  std::optional<std::string> name_contains;
  std::optional<RunStatus> status;
  RunSortKey sort = RunSortKey::kCreatedAt;
  bool descending = true;
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};

struct RunPage {
  std::vector<Run> runs;  // without architecture, hyperparameters and config (list view)
  std::int64_t total = 0;
};

struct IngestResult {
  std::int64_t accepted = 0;    // records newly stored
  std::int64_t duplicates = 0;  // records whose (run, seq) was already stored
  // The batch's place in the run's store order (RunTotals::batches_stored once it is stored);
  // 0 when it stored nothing new.
  std::int64_t batch_order = 0;
};

}  // namespace atlas::model
