// The agent's CLI commands: `atlas ask RUN "question"` (a streamed answer from atlasd's agent)
// and `atlas mcp` (the MCP stdio transport, bridged to atlasd's /mcp).
//
// Construct with the app before parsing; Run() after, when selected(). Single-threaded.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace atlas::cli {

struct AskOptions {
  std::string server_url;
  std::string run_id;
  std::string question;
  std::optional<std::string> other_run_id;
  bool offline = false;
  bool json = false;
};

// Streams the answer to stdout; provider failures and tool calls go to stderr. Returns 0, 1
// for a server or network error, 2 for an unknown run.
int AskCommand(const AskOptions& options);

// Bridges stdin/stdout to <server>/mcp until stdin ends.
int McpCommand(const std::string& server_url);

class AgentCommands {
 public:
  explicit AgentCommands(CLI::App& app);
  bool selected() const;
  int Run() const;

 private:
  AskOptions ask_;
  std::string mcp_url_;
  CLI::App* ask_cmd_ = nullptr;
  CLI::App* mcp_cmd_ = nullptr;
};

}  // namespace atlas::cli
