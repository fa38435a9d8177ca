// AgentService: the agent as atlasd runs it. It owns the tools, the belief tracker, the
// provider clients and the chat workers, revises every recent run's beliefs in the background,
// and fans proactive insights out to whoever listens.
//
// Ownership: borrows the Store (through RunSources), which must outlive the service. The
// destructor cancels provider requests in flight, stops the background thread and joins every
// chat worker, so no worker touches the Store after the service is gone.
//
// Threading: every public member is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/belief_tracker.hpp"
#include "agent/chat.hpp"
#include "agent/config.hpp"
#include "agent/http_client.hpp"
#include "agent/providers.hpp"
#include "agent/sources.hpp"
#include "agent/tools.hpp"
#include "http/http.hpp"

namespace atlas::agent {

class AgentService {
 public:
  using Listener = std::function<void(const std::string& event, const Json& data)>;

  AgentService(RunSources sources, AgentConfig config);
  ~AgentService();
  AgentService(const AgentService&) = delete;
  AgentService& operator=(const AgentService&) = delete;

  const ToolRegistry& tools() const { return tools_; }
  BeliefTracker& beliefs() { return tracker_; }
  const AgentConfig& config() const { return config_; }
  store::Store& store() { return *sources_.store; }

  // Also tell `listener` of each insight ("insight") and proposal ("proposal"), e.g. the live
  // hub. Call before the service is shared.
  void AddListener(Listener listener);

  // Revises the beliefs of the 50 newest runs every `period` until destruction.
  void StartBackground(std::chrono::milliseconds period);

  // Answers on the calling thread.
  Result<ChatResult> Chat(const ChatRequest& request, ChatObserver& observer);

  // Answers on a worker thread, writing Server-Sent Events to `sink` (docs/agent.md, "Chat").
  // False when max_concurrent_chats are already running.
  bool StartChat(ChatRequest request, std::shared_ptr<http::StreamSink> sink);

  // A stream of every insight and proposal as Server-Sent Events, until it closes.
  void Subscribe(const std::shared_ptr<http::StreamSink>& sink);

 private:
  void Publish(const std::string& event, const Json& data);
  void ReapFinishedWorkers();

  RunSources sources_;
  const AgentConfig config_;
  std::atomic<bool> cancel_{false};
  std::unique_ptr<HttpClient> http_;
  std::vector<std::unique_ptr<Provider>> providers_;
  ToolRegistry tools_;
  BeliefTracker tracker_;

  std::mutex listeners_mu_;
  std::vector<Listener> listeners_;                           // guarded by listeners_mu_
  std::vector<std::weak_ptr<http::StreamSink>> subscribers_;  // guarded by listeners_mu_

  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex workers_mu_;
  std::list<Worker> workers_;  // guarded by workers_mu_
  std::atomic<int> active_chats_{0};

  std::mutex background_mu_;
  std::condition_variable background_cv_;
  bool stopping_ = false;  // guarded by background_mu_
  std::thread background_;
};

// Registers the agent's routes (docs/agent.md): GET /api/v1/agent, GET /api/v1/agent/tools,
// POST /api/v1/agent/tools/{name}, POST /api/v1/agent/chat, GET /api/v1/agent/insights,
// GET /api/v1/runs/{id}/beliefs, GET /api/v1/runs/{id}/proposals and
// POST /api/v1/runs/{id}/proposals/{pid}. `service` must outlive the router.
void AddAgentRoutes(http::Router& router, AgentService& service);

// One Server-Sent Event: "event: <name>\ndata: <json>\n\n".
std::string SseFrame(const std::string& event, const Json& data);

}  // namespace atlas::agent
