// The agent's HTTP routes (service.hpp, AddAgentRoutes; docs/agent.md).
#include <utility>
#include <variant>

#include "agent/run_tools.hpp"
#include "agent/service.hpp"
#include "http/json_response.hpp"

namespace atlas::agent {
namespace {

using http::Request;
using http::Response;

constexpr std::size_t kQuestionLimit = 8000;

using http::JsonResponse;
using http::StoreError;

constexpr std::size_t kHistoryLimit = 40;

std::variant<Json, Response> JsonBody(const Request& req) {
  if (req.content_type != "application/json") {
    return http::ErrorResponse(415, "unsupported_media_type", "Content-Type",
                               "the body must be application/json");
  }
  Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return http::ErrorResponse(400, "malformed_json", "", "not JSON");
  if (!body.is_object()) return http::ErrorResponse(422, "invalid_field", "", "must be an object");
  return body;
}

Response Invalid(const std::string& field, const std::string& reason) {
  return http::ErrorResponse(422, "invalid_field", field, reason);
}

std::optional<std::string> OptionalString(const Json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  return body[key].get<std::string>();
}

// Validates a chat body (docs/agent.md, "Chat").
std::variant<ChatRequest, Response> ParseChat(const Json& body) {
  ChatRequest chat;
  for (const char* key : {"run_id", "other_run_id", "question"}) {
    if (body.contains(key) && !body[key].is_null() && !body[key].is_string()) {
      return Invalid(key, "must be a string");
    }
  }
  if (!body.value("question", Json()).is_string() || body["question"].get<std::string>().empty()) {
    return Invalid("question", "is required");
  }
  chat.question = body["question"].get<std::string>();
  if (chat.question.size() > kQuestionLimit) return Invalid("question", "is too long");
  chat.run_id = OptionalString(body, "run_id");
  chat.other_run_id = OptionalString(body, "other_run_id");
  if (body.contains("mode")) {
    if (body["mode"] != "auto" && body["mode"] != "offline") {
      return Invalid("mode", "must be \"auto\" or \"offline\"");
    }
    chat.offline_only = body["mode"] == "offline";
  }
  if (body.contains("history")) {
    const Json& history = body["history"];
    if (!history.is_array() || history.size() > kHistoryLimit) {
      return Invalid("history", "must be an array of at most 40 messages");
    }
    for (const auto& m : history) {
      if (!m.is_object() || !m.value("content", Json()).is_string() ||
          (m.value("role", "") != "user" && m.value("role", "") != "assistant")) {
        return Invalid("history", "each message needs role user|assistant and content");
      }
      chat.history.push_back(m["role"] == "user" ? Message::User(m["content"])
                                                 : Message::Assistant(m["content"]));
    }
  }
  return chat;
}

// Collects a chat's events for the non-streaming answer.
class Recorder final : public ChatObserver {
 public:
  void OnStart(const std::string&) override {}
  void OnText(std::string_view) override {}
  void OnToolCall(const std::string& name, const Json& arguments) override {
    calls.push_back({{"name", name}, {"arguments", arguments}});
  }
  void OnToolResult(const std::string&, bool, std::size_t, bool) override {}
  void OnFallback(const std::string&, const std::string&) override {}
  Json calls = Json::array();
};

Response Chat(AgentService& service, const Request& req) {
  auto parsed_body = JsonBody(req);
  if (auto* bad = std::get_if<Response>(&parsed_body)) return std::move(*bad);
  const Json body = std::get<Json>(std::move(parsed_body));
  auto parsed = ParseChat(body);
  if (auto* bad = std::get_if<Response>(&parsed)) return std::move(*bad);
  ChatRequest chat = std::get<ChatRequest>(std::move(parsed));
  if (chat.run_id) {
    if (Result<model::Run> run = service.store().GetRun(*chat.run_id); !run.ok()) {
      return StoreError(run.status());
    }
  }
  if (body.contains("stream") && body["stream"].is_boolean() && !body["stream"].get<bool>()) {
    Recorder recorder;
    Result<ChatResult> result = service.Chat(chat, recorder);
    if (!result.ok()) return StoreError(result.status());
    return JsonResponse(200, {{"provider", result->provider},
                              {"offline", result->offline},
                              {"answer", result->answer},
                              {"tool_rounds", result->tool_rounds},
                              {"tools_used", result->tools_used},
                              {"tool_calls", recorder.calls},
                              {"provider_errors", result->provider_errors}});
  }
  Response response;
  response.content_type = "text/event-stream";
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.heartbeat = ": keep-alive\n\n";
  response.on_stream =
      [&service, chat = std::move(chat)](const std::shared_ptr<http::StreamSink>& sink) mutable {
        if (!service.StartChat(std::move(chat), sink)) {
          sink->Push(std::make_shared<const std::string>(SseFrame(
              "error", {{"message", "too many conversations at once; try again shortly"}})));
          sink->Close();
        }
      };
  return response;
}

Response ToolsList(const AgentService& service) {
  Json tools = Json::array();
  for (const auto& t : service.tools().List(service.config().allow_actions)) {
    tools.push_back({{"name", t.name},
                     {"description", t.description},
                     {"input_schema", t.input_schema},
                     {"action", t.action}});
  }
  return JsonResponse(200, {{"tools", tools}});
}

Response CallTool(const AgentService& service, const Request& req) {
  Json args = Json::object();
  if (!req.body.empty()) {
    auto parsed = JsonBody(req);
    if (auto* bad = std::get_if<Response>(&parsed)) return std::move(*bad);
    args = std::get<Json>(std::move(parsed));
  }
  const std::string& name = req.params.at("name");
  if (service.tools().Find(name) == nullptr) {
    return http::ErrorResponse(404, "not_found", "name", "no tool named " + name);
  }
  Result<Json> out = service.tools().Call(name, args, service.config().allow_actions);
  if (!out.ok()) return StoreError(out.status());
  return JsonResponse(200, *out);
}

Response Beliefs(AgentService& service, const Request& req) {
  Result<BeliefState> state = service.beliefs().Refresh(req.params.at("id"));
  if (!state.ok()) return StoreError(state.status());
  return JsonResponse(200, ToJson(*state));
}

Response Proposals(AgentService& service, const Request& req) {
  Result<std::vector<store::ProposalRecord>> list =
      service.store().ListProposals(req.params.at("id"));
  if (!list.ok()) return StoreError(list.status());
  Json out = Json::array();
  for (const auto& p : *list) out.push_back(ProposalToJson(p));
  return JsonResponse(200, {{"run_id", req.params.at("id")}, {"proposals", out}});
}

Response ResolveProposal(AgentService& service, const Request& req) {
  auto parsed = JsonBody(req);
  if (auto* bad = std::get_if<Response>(&parsed)) return std::move(*bad);
  const Json body = std::get<Json>(std::move(parsed));
  const Json status = body.value("status", Json());
  if (status != "confirmed" && status != "dismissed") {
    return Invalid("status", "must be \"confirmed\" or \"dismissed\"");
  }
  std::int64_t id = 0;
  try {
    id = std::stoll(req.params.at("pid"));
  } catch (const std::exception&) {
    return Invalid("pid", "must be an integer");
  }
  if (Status s = service.store().ResolveProposal(req.params.at("id"), id, status); !s.ok()) {
    return StoreError(s);
  }
  return JsonResponse(200, {{"run_id", req.params.at("id")}, {"id", id}, {"status", status}});
}

}  // namespace

void AddAgentRoutes(http::Router& router, AgentService& service) {
  AgentService* s = &service;
  router.Add("GET", "/api/v1/agent", [s](const Request&) {
    Json info = DescribeConfig(s->config());
    Json names = Json::array();
    for (const auto& t : s->tools().List(s->config().allow_actions)) names.push_back(t.name);
    info["tools"] = names;
    return JsonResponse(200, info);
  });
  router.Add("GET", "/api/v1/agent/tools", [s](const Request&) { return ToolsList(*s); });
  router.Add("POST", "/api/v1/agent/tools/{name}",
             [s](const Request& r) { return CallTool(*s, r); });
  router.Add("POST", "/api/v1/agent/chat", [s](const Request& r) { return Chat(*s, r); });
  router.Add("GET", "/api/v1/agent/insights", [s](const Request&) {
    Response response;
    response.content_type = "text/event-stream";
    response.headers.emplace_back("Cache-Control", "no-cache");
    response.heartbeat = ": keep-alive\n\n";
    response.body = ": insights and proposals as they happen\n\n";
    response.on_stream = [s](const std::shared_ptr<http::StreamSink>& sink) { s->Subscribe(sink); };
    return response;
  });
  router.Add("GET", "/api/v1/runs/{id}/beliefs", [s](const Request& r) { return Beliefs(*s, r); });
  router.Add("GET", "/api/v1/runs/{id}/proposals",
             [s](const Request& r) { return Proposals(*s, r); });
  router.Add("POST", "/api/v1/runs/{id}/proposals/{pid}",
             [s](const Request& r) { return ResolveProposal(*s, r); });
}

}  // namespace atlas::agent
