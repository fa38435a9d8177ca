#include "live/run_feed.hpp"

#include <algorithm>

namespace atlas::live {
namespace {

using Json = nlohmann::json;

// A metric list ([("loss", 0.3), ...]) as an object.
Json Metrics(const std::vector<std::pair<std::string, double>>& values) {
  Json out = Json::object();
  for (const auto& [name, value] : values) out[name] = value;
  return out;
}

}  // namespace

std::optional<Json> StepThrottle::Offer(const std::string& run, Json step, SteadyTime now) {
  auto [it, added] = runs_.try_emplace(run);
  State& state = it->second;
  if (added || now - state.last_sent >= interval_) {
    state.last_sent = now;
    state.held.reset();
    return step;
  }
  state.held = std::move(step);
  return std::nullopt;
}

std::vector<std::pair<std::string, Json>> StepThrottle::Due(SteadyTime now) {
  std::vector<std::pair<std::string, Json>> due;
  for (auto it = runs_.begin(); it != runs_.end();) {
    State& state = it->second;
    if (state.held && now - state.last_sent >= interval_) {
      due.emplace_back(it->first, std::move(*state.held));
      state.held.reset();
      state.last_sent = now;
    }
    // A run that has been quiet for a while is forgotten, so the map does not grow with the
    // number of runs ever seen; its next step simply goes out at once.
    const bool quiet = !state.held && now - state.last_sent >= 8 * interval_;
    it = quiet ? runs_.erase(it) : std::next(it);
  }
  return due;
}

std::optional<Json> StepThrottle::Forget(const std::string& run) {
  auto it = runs_.find(run);
  if (it == runs_.end()) return std::nullopt;
  std::optional<Json> held = std::move(it->second.held);
  runs_.erase(it);
  return held;
}

std::optional<SteadyTime> StepThrottle::NextDue() const {
  std::optional<SteadyTime> next;
  for (const auto& [run, state] : runs_) {
    const SteadyTime due = state.last_sent + interval_;
    if (state.held && (!next || due < *next)) next = due;
  }
  return next;
}

Json StepEventData(const model::StepRecord& step, std::size_t steps_in_batch) {
  Json fields = Json::object();
  for (const auto& info : model::kStepFields) {
    const std::optional<double>& value = step.at(info.field);
    if (value) fields[std::string(info.name)] = *value;
  }
  Json out = {{"step", step.step},
              {"ts", step.ts},
              {"fields", std::move(fields)},
              {"steps", steps_in_batch}};
  out["epoch"] = step.epoch ? Json(*step.epoch) : Json(nullptr);
  return out;
}

Json EpochEventData(const model::EpochRecord& epoch) {
  double joules = 0;
  Json energy = Json::array();
  for (const auto& entry : epoch.energy) {
    joules += entry.joules;
    energy.push_back({{"component", entry.component},
                      {"device", entry.device},
                      {"joules", entry.joules},
                      {"method", entry.method}});
  }
  Json out = {{"epoch", epoch.epoch},      {"ts", epoch.ts},   {"train", Metrics(epoch.train)},
              {"val", Metrics(epoch.val)}, {"joules", joules}, {"energy", std::move(energy)}};
  out["duration_s"] = epoch.duration_s ? Json(*epoch.duration_s) : Json(nullptr);
  return out;
}

Json LayersEventData(const model::LayerStatsRecord& sample) {
  Json layers = Json::array();
  for (const auto& layer : sample.layers) {
    Json stats = {{"layer", layer.layer}};
    for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
      if (layer.values[i]) stats[std::string(model::kLayerStatNames[i])] = *layer.values[i];
    }
    layers.push_back(std::move(stats));
  }
  Json out = {{"step", sample.step}, {"ts", sample.ts}, {"layers", std::move(layers)}};
  out["epoch"] = sample.epoch ? Json(*sample.epoch) : Json(nullptr);
  return out;
}

Json RunSummary(const model::Run& run) {
  return {
      {"id", run.id},     {"project_id", run.project_id},          {"project", run.project_name},
      {"name", run.name}, {"status", model::ToString(run.status)}, {"started_at", run.started_at}};
}

RunFeed::RunFeed(Hub& hub, Options options)
    : hub_(hub), options_(std::move(options)), throttle_(options_.step_interval) {
  if (!options_.now) options_.now = [] { return std::chrono::steady_clock::now(); };
}

RunFeed::~RunFeed() { Stop(); }

void RunFeed::Start() {
  thread_ = std::thread([this] { FlushLoop(); });
}

void RunFeed::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RunFeed::OnRunCreated(const model::Run& run, bool resumed) {
  Json data = RunSummary(run);
  data["type"] = resumed ? "resumed" : "created";
  hub_.Publish(Hub::kRunsTopic, "run", data);
  hub_.Publish(Hub::RunTopic(run.id), "status",
               {{"status", model::ToString(run.status)}, {"reason", ""}});
}

void RunFeed::OnBatchStored(const std::string& run_id,
                            const std::shared_ptr<const model::RecordBatch>& batch,
                            const model::IngestResult& result) {
  if (result.accepted == 0) return;  // a replay of what was already pushed
  const std::string topic = Hub::RunTopic(run_id);
  if (!batch->steps.empty()) {
    const auto newest = std::max_element(
        batch->steps.begin(), batch->steps.end(),
        [](const model::StepRecord& a, const model::StepRecord& b) { return a.step < b.step; });
    std::optional<Json> now_data;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      now_data =
          throttle_.Offer(run_id, StepEventData(*newest, batch->steps.size()), options_.now());
    }
    if (now_data) {
      hub_.Publish(topic, "steps", *now_data);
    } else {
      wake_.notify_one();
    }
  }
  for (const auto& epoch : batch->epochs) {
    hub_.Publish(topic, "epoch", EpochEventData(epoch));
    hub_.Publish(Hub::kRunsTopic, "run",
                 {{"type", "updated"}, {"id", run_id}, {"epoch", epoch.epoch}});
  }
  for (const auto& sample : batch->layer_stats)
    hub_.Publish(topic, "layers", LayersEventData(sample));
  for (const auto& finish : batch->finishes) {
    std::optional<Json> held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held = throttle_.Forget(run_id);
    }
    // The run's last step goes out before its final status.
    if (held) hub_.Publish(topic, "steps", *held);
    const Json status = {{"status", model::ToString(finish.status)}, {"reason", finish.reason}};
    hub_.Publish(topic, "status", status);
    Json row = status;
    row["type"] = "finished";
    row["id"] = run_id;
    hub_.Publish(Hub::kRunsTopic, "run", row);
  }
}

void RunFeed::FlushLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    std::optional<SteadyTime> next = throttle_.NextDue();
    if (next) {
      wake_.wait_until(lock, *next);
    } else {
      wake_.wait(lock);
    }
    if (stop_) return;
    std::vector<std::pair<std::string, Json>> due = throttle_.Due(options_.now());
    lock.unlock();
    for (auto& [run, data] : due) hub_.Publish(Hub::RunTopic(run), "steps", data);
    lock.lock();
  }
}

}  // namespace atlas::live
