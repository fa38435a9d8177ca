// The agent's chat loop: a question about a run in, a streamed answer out, the model calling the
// typed tools in between.
//
// Providers are tried in order; when one fails (an error status, a timeout, a broken stream)
// the next one takes over the same conversation, tool results included, and the observer is
// told (OnFallback). When every provider has failed, or none is configured, the offline
// analyst answers. Tool calls are capped at `max_tool_iterations` rounds, after which the model
// must answer without tools; each tool result is cut to `tool_result_limit` bytes.
//
// Threading: RunChat blocks its caller for the whole conversation; call it from a worker.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/analyst.hpp"
#include "agent/config.hpp"
#include "agent/providers.hpp"
#include "agent/tools.hpp"

namespace atlas::agent {

// Told what happens as it happens; every call is on RunChat's thread.
class ChatObserver {
 public:
  virtual ~ChatObserver() = default;
  virtual void OnStart(const std::string& provider) = 0;
  virtual void OnText(std::string_view text) = 0;
  virtual void OnToolCall(const std::string& name, const Json& arguments) = 0;
  virtual void OnToolResult(const std::string& name, bool ok, std::size_t bytes,
                            bool truncated) = 0;
  // `provider` failed with `reason` (keys redacted); the text it streamed is void.
  virtual void OnFallback(const std::string& provider, const std::string& reason) = 0;
};

struct ChatRequest {
  std::optional<std::string> run_id;
  std::optional<std::string> other_run_id;
  std::string question;
  std::vector<Message> history;  // earlier turns of this conversation (user and assistant text)
  bool offline_only = false;     // the caller asked for the offline analyst
};

struct ChatResult {
  std::string provider;  // the provider that answered, or "offline"
  std::string answer;
  int tool_rounds = 0;
  std::vector<std::string> tools_used;
  std::vector<std::string> provider_errors;  // each failed provider's reason
  bool offline = false;
};

// The system prompt: what Atlas is, how to use the tools, and the run in question.
std::string SystemPrompt(const ChatRequest& request);

Result<ChatResult> RunChat(const std::vector<Provider*>& providers, const ToolRegistry& tools,
                           const AgentConfig& config, const ChatRequest& request,
                           ChatObserver& observer);

}  // namespace atlas::agent
