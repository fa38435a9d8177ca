#include "mcp/server.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>

namespace atlas::mcp {
namespace {

constexpr std::array<std::string_view, 3> kSupportedVersions = {"2025-06-18", "2025-03-26",
                                                                "2024-11-05"};
constexpr std::string_view kRunUriPrefix = "atlas://runs/";

// A failed call's JSON-RPC error code, carried through Result as a Status.
struct RpcError {
  int code;
  std::string message;
};

Status InvalidParams(std::string message) { return Status::InvalidArgument(std::move(message)); }

int CodeOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return kInvalidParams;
    case StatusCode::kNotFound:
      return kMethodNotFound;
    default:
      return kInternalError;
  }
}

Json ToolAnnotations(const agent::ToolSpec& spec) {
  return {{"readOnlyHint", !spec.action},
          {"destructiveHint", false},
          {"idempotentHint", !spec.action},
          {"openWorldHint", false}};
}

}  // namespace

bool IsSupportedProtocolVersion(std::string_view version) {
  for (auto v : kSupportedVersions) {
    if (v == version) return true;
  }
  return false;
}

Json ErrorMessage(const Json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

McpServer::McpServer(const agent::ToolRegistry& tools, McpOptions options)
    : tools_(tools), options_(std::move(options)) {}

std::optional<Json> McpServer::HandleText(std::string_view text) const {
  Json message = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) return ErrorMessage(nullptr, kParseError, "parse error: not JSON");
  return Handle(message);
}

std::optional<Json> McpServer::Handle(const Json& message) const {
  if (!message.is_object()) {
    return ErrorMessage(nullptr, kInvalidRequest,
                        message.is_array() ? "batches are not supported (MCP 2025-06-18)"
                                           : "a JSON-RPC message must be an object");
  }
  const bool has_id = message.contains("id");
  const Json id = has_id ? message["id"] : Json();
  if (message.value("jsonrpc", Json()) != "2.0") {
    return ErrorMessage(id, kInvalidRequest, "jsonrpc must be \"2.0\"");
  }
  if (!message.contains("method")) {
    // A response to a request of ours; we send none, so there is nothing to match.
    if (message.contains("result") || message.contains("error")) return std::nullopt;
    return ErrorMessage(id, kInvalidRequest, "method is required");
  }
  if (!message["method"].is_string()) return ErrorMessage(id, kInvalidRequest, "bad method");
  if (has_id && !id.is_string() && !id.is_number_integer()) {
    return ErrorMessage(nullptr, kInvalidRequest, "id must be a string or an integer");
  }
  const std::string method = message["method"].get<std::string>();
  const Json params = message.value("params", Json::object());
  if (!has_id) return std::nullopt;  // notifications (initialized, cancelled) need no answer
  if (!params.is_object()) return ErrorMessage(id, kInvalidParams, "params must be an object");
  Result<Json> result = Dispatch(method, params);
  if (!result.ok()) {
    const int code = result.status().code() == StatusCode::kNotFound && method == "resources/read"
                         ? kResourceNotFound
                         : CodeOf(result.status());
    return ErrorMessage(id, code, result.status().message());
  }
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result).value()}};
}

Result<Json> McpServer::Dispatch(const std::string& method, const Json& params) const {
  if (method == "initialize") return Initialize(params);
  if (method == "ping") return Json::object();
  if (method == "tools/list") return ListTools();
  if (method == "tools/call") return CallTool(params);
  if (method == "resources/list") return ListResources();
  if (method == "resources/templates/list") {
    return Json{{"resourceTemplates",
                 {{{"uriTemplate", "atlas://runs/{run_id}"},
                   {"name", "run"},
                   {"description", "A run's summary: grade, findings, waste, primary belief."},
                   {"mimeType", "application/json"}}}}};
  }
  if (method == "resources/read") return ReadResource(params);
  return Status::NotFound(fmt::format("method not found: {}", method));
}

Json McpServer::Initialize(const Json& params) const {
  const Json requested = params.value("protocolVersion", Json());
  const std::string version =
      requested.is_string() && IsSupportedProtocolVersion(requested.get<std::string>())
          ? requested.get<std::string>()
          : std::string(kLatestProtocolVersion);
  return {{"protocolVersion", version},
          {"capabilities",
           {{"tools", {{"listChanged", false}}},
            {"resources", {{"subscribe", false}, {"listChanged", false}}}}},
          {"serverInfo", {{"name", "atlas"}, {"title", "Atlas"}, {"version", options_.version}}},
          {"instructions",
           "Atlas observes PyTorch training runs: energy, CO2, cost and wasted compute beside "
           "loss and accuracy, with diagnostics (findings, grades, optimal stop, waste). Start "
           "with list_runs, then get_run_summary, get_findings and get_waste_report."}};
}

Json McpServer::ListTools() const {
  Json tools = Json::array();
  for (const auto& spec : tools_.List(options_.allow_actions)) {
    tools.push_back({{"name", spec.name},
                     {"description", spec.description},
                     {"inputSchema", spec.input_schema},
                     {"annotations", ToolAnnotations(spec)}});
  }
  return {{"tools", tools}};
}

Result<Json> McpServer::CallTool(const Json& params) const {
  const Json name = params.value("name", Json());
  if (!name.is_string()) return InvalidParams("params.name: must be a string");
  const agent::ToolSpec* spec = tools_.Find(name.get<std::string>());
  if (spec == nullptr || (spec->action && !options_.allow_actions)) {
    return InvalidParams(fmt::format("unknown tool: {}", name.get<std::string>()));
  }
  const Json arguments = params.value("arguments", Json::object());
  if (!arguments.is_object()) return InvalidParams("params.arguments: must be an object");
  if (Status s = agent::ValidateArguments(spec->input_schema, arguments); !s.ok()) {
    return InvalidParams("invalid arguments: " + s.message());
  }
  Result<Json> out = tools_.Call(spec->name, arguments, options_.allow_actions);
  if (!out.ok()) {
    // A failure of the tool itself (an unknown run, a finished run) is a result the model can
    // read and act on, not a protocol error.
    return Json{{"content", {{{"type", "text"}, {"text", out.status().message()}}}},
                {"isError", true}};
  }
  return Json{{"content", {{{"type", "text"}, {"text", out->dump()}}}},
              {"structuredContent", out->is_object() ? *out : Json{{"result", *out}}},
              {"isError", false}};
}

Result<Json> McpServer::ListResources() const {
  Result<Json> runs = tools_.Call("list_runs", {{"limit", 200}}, false);
  if (!runs.ok()) return runs.status();
  Json resources = Json::array();
  for (const auto& run : runs->value("runs", Json::array())) {
    const std::string id = run.value("run_id", "");
    resources.push_back(
        {{"uri", std::string(kRunUriPrefix) + id},
         {"name", id},
         {"title", fmt::format("{} / {}", run.value("project", ""), run.value("name", ""))},
         {"description",
          fmt::format("{} run, {} epochs", run.value("status", ""), run.value("epochs", 0))},
         {"mimeType", "application/json"}});
  }
  return Json{{"resources", resources}};
}

Result<Json> McpServer::ReadResource(const Json& params) const {
  const Json uri = params.value("uri", Json());
  if (!uri.is_string()) return InvalidParams("params.uri: must be a string");
  const std::string u = uri.get<std::string>();
  if (u.rfind(kRunUriPrefix, 0) != 0 || u.size() == kRunUriPrefix.size()) {
    return Status::NotFound("resource not found: " + u);
  }
  Result<Json> summary =
      tools_.Call("get_run_summary", {{"run_id", u.substr(kRunUriPrefix.size())}}, false);
  if (!summary.ok()) return Status::NotFound(summary.status().message());
  return Json{
      {"contents", {{{"uri", u}, {"mimeType", "application/json"}, {"text", summary->dump()}}}}};
}

}  // namespace atlas::mcp
