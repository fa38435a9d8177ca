#include "agent/providers.hpp"

#include <utility>

#include <fmt/format.h>

#include "agent/sse.hpp"

namespace atlas::agent {
namespace {

Json ParseOrNull(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json() : j;
}

// Arguments as a JSON object, whatever the model wrote ("" means none).
Json ArgumentsObject(const std::string& text) {
  if (text.empty()) return Json::object();
  Json j = ParseOrNull(text);
  return j.is_object() ? j : Json::object();
}

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// Runs one streaming POST through an SSE parser; on a body that is not an event stream (a
// server ignoring "stream": true), `whole` receives the complete body instead.
Status StreamPost(HttpClient& http, const HttpPost& post,
                  const std::function<void(const SseEvent&)>& on_event, std::string* whole) {
  constexpr std::size_t kWholeLimit = 4u << 20;
  bool any_event = false;
  SseParser parser([&](const SseEvent& e) {
    any_event = true;
    on_event(e);
  });
  Status s = http.Post(post, [&](std::string_view chunk) {
    if (whole->size() < kWholeLimit) whole->append(chunk);
    parser.Feed(chunk);
    return true;
  });
  if (!s.ok()) return s;
  parser.Finish();
  if (any_event) whole->clear();
  return Status::Ok();
}

HttpPost BasePost(const ProviderConfig& config, std::string url, const Json& body) {
  HttpPost post;
  post.url = std::move(url);
  post.body = body.dump();
  post.connect_timeout = config.connect_timeout;
  post.idle_timeout = config.idle_timeout;
  post.total_timeout = config.total_timeout;
  post.secrets = {config.api_key};
  post.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
  return post;
}

// ----- OpenAI-compatible -------------------------------------------------------------------------

class OpenAiProvider final : public Provider {
 public:
  OpenAiProvider(ProviderConfig config, HttpClient& http)
      : config_(std::move(config)), http_(http) {}
  std::string name() const override { return fmt::format("openai-compatible ({})", config_.model); }

  Result<Turn> Complete(const std::string& system, const std::vector<Message>& messages,
                        const std::vector<ToolSpec>& tools, bool allow_tools,
                        const TextSink& on_text) override {
    HttpPost post = BasePost(config_, TrimSlash(config_.base_url) + "/chat/completions",
                             OpenAiRequest(config_, system, messages, tools, allow_tools));
    if (!config_.api_key.empty()) {
      post.headers.emplace_back("Authorization", "Bearer " + config_.api_key);
    }
    OpenAiStream stream(on_text);
    std::string whole;
    Status s = StreamPost(
        http_, post, [&](const SseEvent& e) { stream.OnData(e.data); }, &whole);
    if (!s.ok()) return s;
    if (!whole.empty()) return FromWholeBody(whole, on_text);
    return stream.Finish();
  }

 private:
  // A non-streaming chat.completion object.
  static Result<Turn> FromWholeBody(const std::string& body, const TextSink& on_text) {
    const Json j = ParseOrNull(body);
    if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() ||
        j["choices"].empty()) {
      return Status::Unavailable("the provider's response is neither a stream nor a completion");
    }
    const Json message = j["choices"][0].value("message", Json::object());
    Turn turn;
    if (message.value("content", Json()).is_string()) {
      turn.text = message["content"].get<std::string>();
      on_text(turn.text);
    }
    for (const auto& c : message.value("tool_calls", Json::array())) {
      const Json fn = c.value("function", Json::object());
      turn.calls.push_back(
          {c.value("id", ""), fn.value("name", ""), fn.value("arguments", std::string())});
    }
    turn.stop_reason = j["choices"][0].value("finish_reason", Json("stop")).dump();
    return turn;
  }

  ProviderConfig config_;
  HttpClient& http_;
};

// ----- Anthropic -------------------------------------------------------------------------------

class AnthropicProvider final : public Provider {
 public:
  AnthropicProvider(ProviderConfig config, HttpClient& http)
      : config_(std::move(config)), http_(http) {}
  std::string name() const override { return fmt::format("anthropic ({})", config_.model); }

  Result<Turn> Complete(const std::string& system, const std::vector<Message>& messages,
                        const std::vector<ToolSpec>& tools, bool allow_tools,
                        const TextSink& on_text) override {
    HttpPost post = BasePost(config_, TrimSlash(config_.base_url) + "/v1/messages",
                             AnthropicRequest(config_, system, messages, tools, allow_tools));
    post.headers.emplace_back("x-api-key", config_.api_key);
    post.headers.emplace_back("anthropic-version", "2023-06-01");
    AnthropicStream stream(on_text);
    std::string whole;
    Status s = StreamPost(
        http_, post, [&](const SseEvent& e) { stream.OnEvent(e.event, e.data); }, &whole);
    if (!s.ok()) return s;
    if (!whole.empty()) return Status::Unavailable("the Anthropic response was not a stream");
    return stream.Finish();
  }

 private:
  ProviderConfig config_;
  HttpClient& http_;
};

}  // namespace

Json OpenAiRequest(const ProviderConfig& config, const std::string& system,
                   const std::vector<Message>& messages, const std::vector<ToolSpec>& tools,
                   bool allow_tools) {
  Json out = Json::array();
  out.push_back({{"role", "system"}, {"content", system}});
  for (const auto& m : messages) {
    switch (m.role) {
      case Message::Role::kUser:
        out.push_back({{"role", "user"}, {"content", m.text}});
        break;
      case Message::Role::kAssistant: {
        Json msg = {{"role", "assistant"}, {"content", m.text.empty() ? Json() : Json(m.text)}};
        if (!m.calls.empty()) {
          msg["tool_calls"] = Json::array();
          for (const auto& c : m.calls) {
            msg["tool_calls"].push_back(
                {{"id", c.id},
                 {"type", "function"},
                 {"function",
                  {{"name", c.name}, {"arguments", c.arguments.empty() ? "{}" : c.arguments}}}});
          }
        }
        out.push_back(std::move(msg));
        break;
      }
      case Message::Role::kTool:
        out.push_back({{"role", "tool"}, {"tool_call_id", m.tool_call_id}, {"content", m.text}});
        break;
    }
  }
  Json body = {{"model", config.model}, {"messages", out}, {"stream", true}};
  if (!tools.empty()) {
    body["tools"] = Json::array();
    for (const auto& t : tools) {
      body["tools"].push_back(
          {{"type", "function"},
           {"function",
            {{"name", t.name}, {"description", t.description}, {"parameters", t.input_schema}}}});
    }
    body["tool_choice"] = allow_tools ? "auto" : "none";
  }
  return body;
}

Json AnthropicRequest(const ProviderConfig& config, const std::string& system,
                      const std::vector<Message>& messages, const std::vector<ToolSpec>& tools,
                      bool allow_tools) {
  Json out = Json::array();
  for (const auto& m : messages) {
    switch (m.role) {
      case Message::Role::kUser:
        out.push_back({{"role", "user"}, {"content", m.text}});
        break;
      case Message::Role::kAssistant: {
        Json content = Json::array();
        if (!m.text.empty()) content.push_back({{"type", "text"}, {"text", m.text}});
        for (const auto& c : m.calls) {
          content.push_back({{"type", "tool_use"},
                             {"id", c.id},
                             {"name", c.name},
                             {"input", ArgumentsObject(c.arguments)}});
        }
        out.push_back({{"role", "assistant"}, {"content", content}});
        break;
      }
      case Message::Role::kTool: {
        // Consecutive tool results travel in one user message, as the API requires.
        Json block = {{"type", "tool_result"},
                      {"tool_use_id", m.tool_call_id},
                      {"content", m.text},
                      {"is_error", m.tool_error}};
        if (!out.empty() && out.back()["role"] == "user" && out.back()["content"].is_array()) {
          out.back()["content"].push_back(std::move(block));
        } else {
          out.push_back({{"role", "user"}, {"content", Json::array({std::move(block)})}});
        }
        break;
      }
    }
  }
  Json body = {{"model", config.model},
               {"max_tokens", config.max_tokens},
               {"system", system},
               {"messages", out},
               {"stream", true}};
  if (!tools.empty()) {
    body["tools"] = Json::array();
    for (const auto& t : tools) {
      body["tools"].push_back(
          {{"name", t.name}, {"description", t.description}, {"input_schema", t.input_schema}});
    }
    body["tool_choice"] = {{"type", allow_tools ? "auto" : "none"}};
  }
  return body;
}

void OpenAiStream::OnData(const std::string& data) {
  if (data == "[DONE]") {
    done_ = true;
    return;
  }
  const Json j = ParseOrNull(data);
  if (!j.is_object()) return;  // tolerate keep-alive noise some servers send
  any_ = true;
  if (j.contains("error")) {
    const Json& e = j["error"];
    error_ = Status::Unavailable("the provider reported an error: " +
                                 (e.is_object() ? e.value("message", e.dump()) : e.dump()));
    return;
  }
  for (const auto& choice : j.value("choices", Json::array())) {
    const Json delta = choice.value("delta", Json::object());
    if (delta.value("content", Json()).is_string()) {
      const std::string text = delta["content"].get<std::string>();
      turn_.text += text;
      if (!text.empty()) on_text_(text);
    }
    for (const auto& tc : delta.value("tool_calls", Json::array())) {
      const int index = tc.value("index", static_cast<int>(calls_.size()));
      ToolCall& call = calls_[index];
      if (tc.value("id", Json()).is_string()) call.id = tc["id"].get<std::string>();
      const Json fn = tc.value("function", Json::object());
      if (fn.value("name", Json()).is_string()) call.name += fn["name"].get<std::string>();
      if (fn.value("arguments", Json()).is_string()) {
        call.arguments += fn["arguments"].get<std::string>();
      }
    }
    if (choice.value("finish_reason", Json()).is_string()) {
      turn_.stop_reason = choice["finish_reason"].get<std::string>();
    }
  }
}

Result<Turn> OpenAiStream::Finish() {
  if (!error_.ok()) return error_;
  if (!any_) return Status::Unavailable("the provider's stream carried no completion");
  if (!done_ && turn_.stop_reason.empty()) {
    return Status::Unavailable("the provider's stream ended before the completion did");
  }
  int n = 0;
  for (auto& [index, call] : calls_) {
    if (call.id.empty()) call.id = fmt::format("call_{}", n);
    ++n;
    turn_.calls.push_back(std::move(call));
  }
  return std::move(turn_);
}

void AnthropicStream::OnEvent(const std::string& event, const std::string& data) {
  const Json j = ParseOrNull(data);
  const std::string type = !event.empty() ? event : j.value("type", "");
  if (type == "error") {
    const Json e = j.value("error", Json::object());
    error_ = Status::Unavailable(fmt::format("Anthropic reported {}: {}",
                                             e.value("type", "an error"), e.value("message", "")));
  } else if (type == "content_block_start") {
    const int index = j.value("index", 0);
    const Json block = j.value("content_block", Json::object());
    Block& b = blocks_[index];
    b.type = block.value("type", "");
    if (b.type == "tool_use") {
      b.call.id = block.value("id", "");
      b.call.name = block.value("name", "");
    } else if (b.type == "text" && block.value("text", Json()).is_string() &&
               !block["text"].get<std::string>().empty()) {
      turn_.text += block["text"].get<std::string>();
      on_text_(block["text"].get<std::string>());
    }
  } else if (type == "content_block_delta") {
    Block& b = blocks_[j.value("index", 0)];
    const Json delta = j.value("delta", Json::object());
    const std::string kind = delta.value("type", "");
    if (kind == "text_delta") {
      const std::string text = delta.value("text", "");
      turn_.text += text;
      if (!text.empty()) on_text_(text);
    } else if (kind == "input_json_delta") {
      b.call.arguments += delta.value("partial_json", "");
    }
  } else if (type == "message_delta") {
    const Json delta = j.value("delta", Json::object());
    if (delta.value("stop_reason", Json()).is_string()) {
      turn_.stop_reason = delta["stop_reason"].get<std::string>();
    }
  } else if (type == "message_stop") {
    stopped_ = true;
  }
}

Result<Turn> AnthropicStream::Finish() {
  if (!error_.ok()) return error_;
  if (!stopped_) return Status::Unavailable("the Anthropic stream ended before message_stop");
  for (auto& [index, block] : blocks_) {
    if (block.type == "tool_use") turn_.calls.push_back(std::move(block.call));
  }
  return std::move(turn_);
}

std::unique_ptr<Provider> MakeProvider(const ProviderConfig& config, HttpClient& http) {
  if (config.kind == "anthropic") return std::make_unique<AnthropicProvider>(config, http);
  return std::make_unique<OpenAiProvider>(config, http);
}

}  // namespace atlas::agent
