// LLM providers: an OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, a
// llama.cpp server, any hosted compatible endpoint) and an Anthropic Messages API client, both
// streaming with tool calls, over a neutral conversation the chat loop keeps.
//
// The stream assemblers (OpenAiStream, AnthropicStream) are separate from the HTTP so that the
// wire formats can be tested byte by byte. Threading: a Provider is immutable after creation
// and may serve several conversations at once; an assembler serves one response.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/http_client.hpp"
#include "agent/tools.hpp"
#include "atlas/status.hpp"

namespace atlas::agent {

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text as the model wrote it
};

struct Message {
  enum class Role { kUser, kAssistant, kTool };
  Role role = Role::kUser;
  std::string text;
  std::vector<ToolCall> calls;  // kAssistant: the tools it asked for
  std::string tool_call_id;     // kTool: the call this answers
  std::string tool_name;
  bool tool_error = false;

  static Message User(std::string text) {
    Message m;
    m.text = std::move(text);
    return m;
  }
  static Message Assistant(std::string text, std::vector<ToolCall> calls = {}) {
    Message m;
    m.role = Role::kAssistant;
    m.text = std::move(text);
    m.calls = std::move(calls);
    return m;
  }
  static Message Tool(std::string call_id, std::string name) {
    Message m;
    m.role = Role::kTool;
    m.tool_call_id = std::move(call_id);
    m.tool_name = std::move(name);
    return m;
  }
};

struct Turn {
  std::string text;
  std::vector<ToolCall> calls;
  std::string stop_reason;
};

using TextSink = std::function<void(std::string_view)>;

struct ProviderConfig {
  std::string kind;      // "openai" or "anthropic"
  std::string base_url;  // openai: ".../v1"; anthropic: "https://api.anthropic.com"
  std::string model;
  std::string api_key;  // never logged, never sent anywhere but the provider
  int max_tokens = 2048;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds total_timeout{120000};
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;  // "openai-compatible (model)" or "anthropic (model)"
  // One model turn. Text deltas go to `on_text` as they arrive. With `allow_tools` false the
  // model is told not to call tools (the iteration cap was reached).
  virtual Result<Turn> Complete(const std::string& system, const std::vector<Message>& messages,
                                const std::vector<ToolSpec>& tools, bool allow_tools,
                                const TextSink& on_text) = 0;
};

// `http` must outlive the provider.
std::unique_ptr<Provider> MakeProvider(const ProviderConfig& config, HttpClient& http);

// The request bodies, exposed for the tests.
Json OpenAiRequest(const ProviderConfig& config, const std::string& system,
                   const std::vector<Message>& messages, const std::vector<ToolSpec>& tools,
                   bool allow_tools);
Json AnthropicRequest(const ProviderConfig& config, const std::string& system,
                      const std::vector<Message>& messages, const std::vector<ToolSpec>& tools,
                      bool allow_tools);

// Assembles an OpenAI chat-completions stream: each `data:` payload in order, "[DONE]" last.
class OpenAiStream {
 public:
  explicit OpenAiStream(TextSink on_text) : on_text_(std::move(on_text)) {}
  void OnData(const std::string& data);
  // The turn, or the error the stream carried; a stream that never finished is an error.
  Result<Turn> Finish();

 private:
  TextSink on_text_;
  Turn turn_;
  std::map<int, ToolCall> calls_;  // by the delta's index
  Status error_;
  bool done_ = false;
  bool any_ = false;
};

// Assembles an Anthropic Messages stream: each event's name and data in order.
class AnthropicStream {
 public:
  explicit AnthropicStream(TextSink on_text) : on_text_(std::move(on_text)) {}
  void OnEvent(const std::string& event, const std::string& data);
  Result<Turn> Finish();

 private:
  struct Block {
    std::string type;  // "text" or "tool_use"
    ToolCall call;
  };
  TextSink on_text_;
  Turn turn_;
  std::map<int, Block> blocks_;
  Status error_;
  bool stopped_ = false;
};

}  // namespace atlas::agent
