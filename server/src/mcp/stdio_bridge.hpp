// The stdio transport of `atlas mcp`: newline-delimited JSON-RPC messages on stdin and stdout,
// each forwarded to a running atlasd's Streamable HTTP endpoint (POST <server>/mcp), so the MCP
// client (Claude Desktop, an IDE) sees exactly the tools atlasd serves, with its settings.
//
// Nothing but JSON-RPC messages is written to `out`; diagnostics go to `err`. A request atlasd
// cannot answer (it is down) gets a JSON-RPC error naming the server, so the client never
// hangs. Threading: runs on the calling thread until `in` ends.
#pragma once

#include <iosfwd>
#include <string>

#include "agent/http_client.hpp"

namespace atlas::mcp {

// Returns the process exit code (0 when `in` ended).
int RunStdioBridge(const std::string& server_url, agent::HttpClient& http, std::istream& in,
                   std::ostream& out, std::ostream& err);

}  // namespace atlas::mcp
