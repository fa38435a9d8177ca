// The Streamable HTTP transport of the MCP server (server.hpp, AddMcpRoutes).
#include "mcp/server.hpp"

#include "http/json_response.hpp"

namespace atlas::mcp {
namespace {

// Browsers send Origin; a page on another host must not reach a local atlasd through a DNS
// rebinding, as the MCP specification warns. Tools (no Origin) and loopback pages pass.
bool OriginAllowed(const http::Request& req) {
  const auto origin = req.Header("origin");
  if (!origin || origin->empty() || *origin == "null") return !origin || origin->empty();
  for (const char* allowed : {"http://localhost", "http://127.0.0.1", "http://[::1]",
                              "https://localhost", "https://127.0.0.1"}) {
    const std::string prefix(allowed);
    if (origin->rfind(prefix, 0) == 0 &&
        (origin->size() == prefix.size() || (*origin)[prefix.size()] == ':')) {
      return true;
    }
  }
  return false;
}

http::Response Post(const McpServer& server, const http::Request& req) {
  if (!OriginAllowed(req)) {
    return http::JsonResponse(403, ErrorMessage(nullptr, kInvalidRequest, "origin not allowed"));
  }
  if (const auto version = req.Header("mcp-protocol-version");
      version && !IsSupportedProtocolVersion(*version)) {
    return http::JsonResponse(400, ErrorMessage(nullptr, kInvalidRequest,
                                                "unsupported MCP-Protocol-Version: " + *version));
  }
  std::optional<Json> reply = server.HandleText(req.body);
  if (!reply) {
    http::Response accepted;
    accepted.status = 202;
    accepted.content_type = "application/json";
    return accepted;
  }
  // A message that failed to parse or validate as a request is a 400, per the transport.
  const bool bad = reply->contains("error") && (*reply)["id"].is_null();
  return http::JsonResponse(bad ? 400 : 200, *reply);
}

http::Response NoStream(const http::Request&) {
  http::Response r = http::JsonResponse(
      405,
      ErrorMessage(nullptr, kInvalidRequest, "this server opens no stream and keeps no session"));
  r.headers.emplace_back("Allow", "POST");
  return r;
}

}  // namespace

void AddMcpRoutes(http::Router& router, const McpServer& server) {
  const McpServer* s = &server;
  router.Add("POST", "/mcp", [s](const http::Request& r) { return Post(*s, r); });
  router.Add("GET", "/mcp", NoStream);
  router.Add("DELETE", "/mcp", NoStream);
}

}  // namespace atlas::mcp
