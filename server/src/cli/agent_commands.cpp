#include "cli/agent_commands.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

#include "agent/http_client.hpp"
#include "agent/sse.hpp"
#include "cli/api_client.hpp"
#include "mcp/stdio_bridge.hpp"

namespace atlas::cli {
namespace {

using Json = nlohmann::json;

agent::HttpPost ChatPost(const AskOptions& o) {
  Json body = {{"run_id", o.run_id},
               {"question", o.question},
               {"mode", o.offline ? "offline" : "auto"},
               {"stream", !o.json}};
  if (o.other_run_id) body["other_run_id"] = *o.other_run_id;
  std::string base = o.server_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  agent::HttpPost post;
  post.url = base + "/api/v1/agent/chat";
  post.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
  post.body = body.dump();
  post.idle_timeout = std::chrono::milliseconds(180000);
  post.total_timeout = std::chrono::milliseconds(600000);
  return post;
}

// Prints one chat event; returns the exit code once the stream is over, else -1.
int PrintEvent(const agent::SseEvent& e) {
  const Json data = Json::parse(e.data, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded()) return -1;
  if (e.event == "token") {
    std::cout << data.value("text", "") << std::flush;
  } else if (e.event == "start") {
    std::cerr << "[" << data.value("provider", "") << "]\n";
  } else if (e.event == "tool_call") {
    std::cerr << "[tool " << data.value("name", "") << " " << data.value("arguments", Json()).dump()
              << "]\n";
  } else if (e.event == "provider_error") {
    std::cerr << "\n[" << data.value("provider", "") << " failed: " << data.value("message", "")
              << "; falling back]\n";
  } else if (e.event == "done") {
    std::cout << "\n";
    return 0;
  } else if (e.event == "error") {
    std::cerr << "error: " << data.value("message", "") << "\n";
    return 1;
  }
  return -1;
}

}  // namespace

int AskCommand(const AskOptions& options) {
  auto http = agent::MakeCurlHttpClient();
  std::string body;
  int code = -1;
  agent::SseParser parser([&](const agent::SseEvent& e) {
    const int c = PrintEvent(e);
    if (c >= 0) code = c;
  });
  Status s = http->Post(ChatPost(options), [&](std::string_view chunk) {
    if (options.json) {
      body.append(chunk);
    } else {
      parser.Feed(chunk);
    }
    return true;
  });
  if (!s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return s.message().find("HTTP 404") != std::string::npos ? 2 : 1;
  }
  if (options.json) {
    std::cout << body << "\n";
    return 0;
  }
  parser.Finish();
  if (code < 0) {
    std::cerr << "error: the answer ended early\n";
    return 1;
  }
  return code;
}

int McpCommand(const std::string& server_url) {
  auto http = agent::MakeCurlHttpClient();
  return mcp::RunStdioBridge(server_url, *http, std::cin, std::cout, std::cerr);
}

AgentCommands::AgentCommands(CLI::App& app) {
  ask_.server_url = DefaultServerUrl();
  ask_cmd_ = app.add_subcommand("ask", "Ask the agent about a run (offline analyst if no LLM)");
  ask_cmd_->add_option("RUN", ask_.run_id, "Run id")->required();
  ask_cmd_->add_option("QUESTION", ask_.question, "The question, in quotes")->required();
  ask_cmd_->add_option("--compare", ask_.other_run_id, "Another run to compare with");
  ask_cmd_->add_option("--url", ask_.server_url, "atlasd URL (default $ATLAS_URL or local)");
  ask_cmd_->add_flag("--offline", ask_.offline, "Use the offline analyst even if an LLM is set");
  ask_cmd_->add_flag("--json", ask_.json, "Print the whole answer as JSON when it is done");

  mcp_url_ = DefaultServerUrl();
  mcp_cmd_ = app.add_subcommand(
      "mcp", "Serve Atlas's tools over MCP on stdin/stdout (for Claude Desktop, IDEs)");
  mcp_cmd_->add_option("--url", mcp_url_, "The atlasd to serve (default $ATLAS_URL or local)");
}

bool AgentCommands::selected() const { return ask_cmd_->parsed() || mcp_cmd_->parsed(); }

int AgentCommands::Run() const {
  if (ask_cmd_->parsed()) return AskCommand(ask_);
  return McpCommand(mcp_url_);
}

}  // namespace atlas::cli
