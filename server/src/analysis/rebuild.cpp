#include "analysis/rebuild.hpp"

#include <optional>
#include <utility>

namespace atlas::analysis {
namespace {

// The events a rebuilt view is fed (it keeps the newest warnings and errors up to its limit).
constexpr std::int64_t kMaxReplayedEvents = 100000;

// Feeds a replay of the store into a new ViewBuilder.
class ViewReplay final : public store::RunReplay {
 public:
  explicit ViewReplay(ViewLimits limits) : limits_(limits) {}

  void Run(const model::Run& run) override {
    built_.builder = std::make_unique<ViewBuilder>(run, limits_);
    built_.batches_stored = run.totals.batches_stored;
    status_ = run.status;
    finished_at_ = run.finished_at;
  }
  void Step(const model::StepRecord& step) override { built_.builder->ApplyStep(step); }
  void Epoch(const model::EpochRecord& epoch) override { built_.builder->ApplyEpoch(epoch); }
  void LayerStats(const model::LayerStatsRecord& sample) override {
    built_.builder->ApplyLayerStats(sample);
  }
  void Profile(const model::ProfileRecord& profile) override {
    built_.builder->ApplyProfile(profile);
  }
  void Event(const model::EventRecord& event) override { built_.builder->ApplyEvent(event); }

  // The view, with the run's finish applied after its records.
  RebuiltView Take() {
    if (finished_at_) built_.builder->ApplyFinish(status_, *finished_at_);
    return std::move(built_);
  }

 private:
  ViewLimits limits_;
  RebuiltView built_;
  model::RunStatus status_ = model::RunStatus::kRunning;
  std::optional<double> finished_at_;
};

}  // namespace

Result<RebuiltView> RebuildView(store::Store& store, const std::string& run_id, ViewLimits limits) {
  ViewReplay replay(limits);
  store::EventQuery events;
  events.limit = kMaxReplayedEvents;
  if (Status s = store.ReplayRun(run_id, events, replay); !s.ok()) return s;
  return replay.Take();
}

}  // namespace atlas::analysis
