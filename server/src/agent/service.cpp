#include "agent/service.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "agent/run_tools.hpp"

namespace atlas::agent {
namespace {

// Writes chat events to a stream as Server-Sent Events.
class SseObserver final : public ChatObserver {
 public:
  explicit SseObserver(std::shared_ptr<http::StreamSink> sink) : sink_(std::move(sink)) {}
  void OnStart(const std::string& provider) override { Send("start", {{"provider", provider}}); }
  void OnText(std::string_view text) override { Send("token", {{"text", text}}); }
  void OnToolCall(const std::string& name, const Json& arguments) override {
    Send("tool_call", {{"name", name}, {"arguments", arguments}});
  }
  void OnToolResult(const std::string& name, bool ok, std::size_t bytes, bool truncated) override {
    Send("tool_result", {{"name", name}, {"ok", ok}, {"bytes", bytes}, {"truncated", truncated}});
  }
  void OnFallback(const std::string& provider, const std::string& reason) override {
    Send("provider_error", {{"provider", provider}, {"message", reason}});
  }
  void Send(const std::string& event, const Json& data) {
    sink_->Push(std::make_shared<const std::string>(SseFrame(event, data)));
  }

 private:
  std::shared_ptr<http::StreamSink> sink_;
};

}  // namespace

std::string SseFrame(const std::string& event, const Json& data) {
  return "event: " + event +
         "\ndata: " + data.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
}

AgentService::AgentService(RunSources sources, AgentConfig config)
    : sources_(std::move(sources)),
      config_(std::move(config)),
      http_(MakeCurlHttpClient(&cancel_)),
      tracker_(sources_) {
  for (const auto& p : config_.providers) providers_.push_back(MakeProvider(p, *http_));
  tracker_.SetPublisher(
      [this](const std::string&, const Json& insight) { Publish("insight", insight); });
  AddRunTools(tools_, sources_, tracker_,
              [this](const std::string&, const Json& proposal) { Publish("proposal", proposal); });
}

AgentService::~AgentService() {
  cancel_ = true;
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    stopping_ = true;
  }
  background_cv_.notify_all();
  if (background_.joinable()) background_.join();
  std::list<Worker> workers;
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
}

void AgentService::AddListener(Listener listener) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  listeners_.push_back(std::move(listener));
}

void AgentService::Publish(const std::string& event, const Json& data) {
  std::vector<Listener> listeners;
  std::vector<std::shared_ptr<http::StreamSink>> sinks;
  {
    std::lock_guard<std::mutex> lock(listeners_mu_);
    listeners = listeners_;
    std::erase_if(subscribers_, [&](const std::weak_ptr<http::StreamSink>& weak) {
      auto sink = weak.lock();
      if (!sink || sink->closed()) return true;
      sinks.push_back(std::move(sink));
      return false;
    });
  }
  for (const auto& l : listeners) l(event, data);
  if (sinks.empty()) return;
  auto frame = std::make_shared<const std::string>(SseFrame(event, data));
  for (const auto& sink : sinks) sink->Push(frame);
}

void AgentService::Subscribe(const std::shared_ptr<http::StreamSink>& sink) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  subscribers_.push_back(sink);
}

void AgentService::StartBackground(std::chrono::milliseconds period) {
  background_ = std::thread([this, period] {
    std::unique_lock<std::mutex> lock(background_mu_);
    while (!stopping_) {
      lock.unlock();
      tracker_.RefreshRecent(50);
      lock.lock();
      background_cv_.wait_for(lock, period, [this] { return stopping_; });
    }
  });
}

Result<ChatResult> AgentService::Chat(const ChatRequest& request, ChatObserver& observer) {
  std::vector<Provider*> providers;
  for (const auto& p : providers_) providers.push_back(p.get());
  return RunChat(providers, tools_, config_, request, observer);
}

void AgentService::ReapFinishedWorkers() {
  std::lock_guard<std::mutex> lock(workers_mu_);
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

bool AgentService::StartChat(ChatRequest request, std::shared_ptr<http::StreamSink> sink) {
  ReapFinishedWorkers();
  if (active_chats_.fetch_add(1) >= config_.max_concurrent_chats) {
    --active_chats_;
    return false;
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::lock_guard<std::mutex> lock(workers_mu_);
  workers_.push_back(
      Worker{std::thread([this, request = std::move(request), sink = std::move(sink), done]() {
               SseObserver observer(sink);
               Result<ChatResult> result = Chat(request, observer);
               if (result.ok()) {
                 observer.Send("done", {{"provider", result->provider},
                                        {"offline", result->offline},
                                        {"answer", result->answer},
                                        {"tool_rounds", result->tool_rounds},
                                        {"tools_used", result->tools_used},
                                        {"provider_errors", result->provider_errors}});
               } else {
                 observer.Send("error", {{"message", result.status().message()}});
               }
               sink->Close();
               --active_chats_;
               done->store(true);
             }),
             done});
  return true;
}

}  // namespace atlas::agent
