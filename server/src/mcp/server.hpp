// McpServer: the agent's tools over the Model Context Protocol (revision 2025-06-18; 2025-03-26
// and 2024-11-05 clients are answered in their own revision). JSON-RPC 2.0: initialize, ping,
// tools/list, tools/call, resources/list, resources/templates/list and resources/read (each
// run is a resource, atlas://runs/{id}). Transport-free: the Streamable HTTP route (POST /mcp
// on atlasd, AddMcpRoutes) and the stdio bridge of `atlas mcp` both feed it messages.
//
// Read-only unless `allow_actions`: only then does tools/list offer request_run_action, which
// itself only files a proposal a developer confirms in the dashboard.
//
// Threading: Handle is const and thread-safe as far as the registry's tools are. The registry
// must outlive the server.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/tools.hpp"
#include "http/http.hpp"

namespace atlas::mcp {

using Json = nlohmann::json;

inline constexpr std::string_view kLatestProtocolVersion = "2025-06-18";

// JSON-RPC 2.0 error codes, and MCP's resource-not-found.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kResourceNotFound = -32002;

struct McpOptions {
  bool allow_actions = false;
  std::string version;  // the server's version, e.g. "0.1.0"
};

bool IsSupportedProtocolVersion(std::string_view version);

class McpServer {
 public:
  McpServer(const agent::ToolRegistry& tools, McpOptions options);

  // One JSON-RPC message in; the response out, or nullopt for a notification or a response.
  std::optional<Json> Handle(const Json& message) const;
  // As Handle, from text: text that is not JSON gets a parse error.
  std::optional<Json> HandleText(std::string_view text) const;

 private:
  Result<Json> Dispatch(const std::string& method, const Json& params) const;
  Json Initialize(const Json& params) const;
  Json ListTools() const;
  Result<Json> CallTool(const Json& params) const;
  Result<Json> ListResources() const;
  Result<Json> ReadResource(const Json& params) const;

  const agent::ToolRegistry& tools_;
  McpOptions options_;
};

// A JSON-RPC error response.
Json ErrorMessage(const Json& id, int code, const std::string& message);

// POST /mcp (Streamable HTTP: a request gets its response as application/json, a notification
// or response 202), GET and DELETE /mcp 405 (no server-initiated stream, no sessions).
// Requests with an Origin that is not loopback are refused (403), against DNS rebinding.
// `server` must outlive the router.
void AddMcpRoutes(http::Router& router, const McpServer& server);

}  // namespace atlas::mcp
