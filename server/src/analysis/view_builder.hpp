// ViewBuilder: keeps one run's diagnostics::RunTelemetry current as its records arrive.
//
// Steps are folded into per-epoch StepAggregates and a downsampled loss trace (min/max buckets,
// so spikes survive), never kept one by one; layer samples, events and profiles are kept up to
// fixed limits. The memory of a run's view is therefore bounded whatever its length.
//
// Applying the same records in the same order gives the same view, whether they come batch by
// batch from ingest or all at once from the store (rebuild.hpp): each kind of record is folded in
// its own order (seq), independently of the others.
//
// Not thread-safe: the analysis service guards each builder with its own lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "diagnostics/telemetry.hpp"
#include "model/records.hpp"
#include "model/runs.hpp"

namespace atlas::analysis {

struct ViewLimits {
  std::size_t loss_points = 4096;   // the loss trace keeps at most this many points
  std::size_t layer_samples = 512;  // older samples are thinned out beyond this
  std::size_t events = 256;         // the newest warnings and errors
  std::size_t profiles = 64;        // the newest profiler windows
};

class ViewBuilder {
 public:
  // Starts the view of `run` from its metadata: config (and so its carbon model),
  // hyperparameters, architecture and status as stored.
  explicit ViewBuilder(const model::Run& run, ViewLimits limits = {});

  // Folds in the records of `batch`. Returns true when a record that changes the diagnosis
  // arrived: an epoch end, a layer sample, the architecture, hyperparameters or the finish.
  bool Apply(const model::RecordBatch& batch);

  void ApplyStep(const model::StepRecord& step);
  void ApplyEpoch(const model::EpochRecord& epoch);
  void ApplyLayerStats(const model::LayerStatsRecord& sample);
  void ApplyProfile(const model::ProfileRecord& profile);
  void ApplyEvent(const model::EventRecord& event);
  void ApplyHyperparameters(const model::Json& values);
  void ApplyArchitecture(const std::vector<model::ModuleInfo>& modules);
  void ApplyFinish(model::RunStatus status, double ts);

  // The view the engine reads: a copy, with each epoch's step aggregate, the open epoch, the
  // loss trace's partial bucket, planned_epochs and batch_size filled in.
  diagnostics::RunTelemetry Snapshot() const;

  std::int64_t project_id() const { return project_id_; }

 private:
  void Seen(double ts);
  void AddLossPoint(diagnostics::LossPoint point);
  void CompactLossTrace();

  ViewLimits limits_;
  std::int64_t project_id_ = 0;
  diagnostics::RunTelemetry view_;  // epochs[].steps and open_epoch are filled by Snapshot
  std::map<std::int64_t, diagnostics::StepAggregate> by_epoch_;  // steps by their epoch field
  // The loss trace: finished buckets are in view_.loss_trace; `bucket_` collects the next
  // `stride_` points, of which the smallest and the largest loss are kept.
  std::size_t stride_ = 1;
  std::vector<diagnostics::LossPoint> bucket_;
};

// The run's carbon model from its config (atlas::carbon::ResolveSettings).
diagnostics::CarbonModel CarbonModelFor(const model::Json& config);

}  // namespace atlas::analysis
