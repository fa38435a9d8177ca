// RunFeed: turns stored record batches into live events on the Hub (docs/protocol.md, "Live
// updates"): `steps` (the newest step, throttled), `epoch`, `layers` and `status` on the run's
// topic, and `run` (created, updated, finished) on the runs topic.
//
// Steps arrive far faster than a person reads, so each run's newest step is published at most
// once per `step_interval`; a step held back is published by the feed's own thread when its
// interval has passed, so the last step of a burst always goes out.
//
// Threading: OnRunCreated and OnBatchStored are called on ingest threads (IngestListener) and
// only format and queue; the flush thread publishes held-back steps. Start() once, Stop() (or
// the destructor) joins the thread. The Hub must outlive the feed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "live/hub.hpp"
#include "live/ingest_listener.hpp"

namespace atlas::live {

using SteadyTime = std::chrono::steady_clock::time_point;

// Per-run throttling of step events; pure, the caller supplies the time. Not thread-safe.
class StepThrottle {
 public:
  explicit StepThrottle(std::chrono::milliseconds interval) : interval_(interval) {}

  // Offers the newest step of `run`: returns it when it may go out now, else keeps it (replacing
  // an older held-back step) and returns nullopt.
  std::optional<nlohmann::json> Offer(const std::string& run, nlohmann::json step, SteadyTime now);
  // The held-back steps whose interval has passed at `now`, marked as sent.
  std::vector<std::pair<std::string, nlohmann::json>> Due(SteadyTime now);
  // When the next held-back step falls due; nullopt when none is held back.
  std::optional<SteadyTime> NextDue() const;
  // Forgets `run` (it finished), returning its held-back step if there is one.
  std::optional<nlohmann::json> Forget(const std::string& run);
  std::size_t tracked() const { return runs_.size(); }

 private:
  struct State {
    SteadyTime last_sent;
    std::optional<nlohmann::json> held;
  };
  std::chrono::milliseconds interval_;
  std::map<std::string, State> runs_;
};

// The events' data, one function each (what docs/protocol.md documents).
nlohmann::json StepEventData(const model::StepRecord& step, std::size_t steps_in_batch);
nlohmann::json EpochEventData(const model::EpochRecord& epoch);
nlohmann::json LayersEventData(const model::LayerStatsRecord& sample);
nlohmann::json RunSummary(const model::Run& run);

class RunFeed final : public IngestListener {
 public:
  struct Options {
    std::chrono::milliseconds step_interval{250};
    std::function<SteadyTime()> now;  // steady_clock::now when empty
  };

  RunFeed(Hub& hub, Options options);
  ~RunFeed() override;
  RunFeed(const RunFeed&) = delete;
  RunFeed& operator=(const RunFeed&) = delete;

  void Start();
  void Stop();

  void OnRunCreated(const model::Run& run, bool resumed) override;
  void OnBatchStored(const std::string& run_id,
                     const std::shared_ptr<const model::RecordBatch>& batch,
                     const model::IngestResult& result) override;

 private:
  void FlushLoop();

  Hub& hub_;
  Options options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  StepThrottle throttle_;  // guarded by mutex_
  bool stop_ = false;      // guarded by mutex_
  std::thread thread_;
};

}  // namespace atlas::live
