// The MCP server's JSON-RPC handling over a registry of test tools: initialize and version
// negotiation, tools/list (read-only unless actions are allowed), tools/call results and
// errors, notifications, malformed messages, resources; and the stdio bridge with a recording
// HTTP client.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mcp/server.hpp"
#include "mcp/stdio_bridge.hpp"

namespace atlas::mcp {
namespace {

agent::ToolRegistry Tools() {
  agent::ToolRegistry tools;
  const Json run_only = {{"type", "object"},
                         {"properties", {{"run_id", {{"type", "string"}, {"minLength", 1}}}}},
                         {"required", {"run_id"}},
                         {"additionalProperties", false}};
  tools.Add({"get_run_summary", "summary", run_only, false}, [](const Json& a) -> Result<Json> {
    if (a["run_id"] != "r1")
      return Status::NotFound("run " + a["run_id"].get<std::string>() + " not found");
    return Json{{"run_id", "r1"}, {"grade", "B"}};
  });
  tools.Add({"list_runs", "runs", {{"type", "object"}}, false}, [](const Json&) -> Result<Json> {
    return Json{{"runs",
                 {{{"run_id", "r1"},
                   {"name", "n"},
                   {"project", "p"},
                   {"status", "running"},
                   {"epochs", 3}}}}};
  });
  tools.Add({"request_run_action", "act", run_only, true}, [](const Json&) -> Result<Json> {
    return Json{{"status", "pending"}};
  });
  return tools;
}

Json Request(const std::string& method, Json params = Json::object(), Json id = 1) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}

class McpServerTest : public ::testing::Test {
 protected:
  agent::ToolRegistry tools_ = Tools();
  McpServer server_{tools_, McpOptions{false, "0.1.0"}};

  Json Ask(const Json& message) {
    auto reply = server_.Handle(message);
    EXPECT_TRUE(reply.has_value());
    return reply.value_or(Json());
  }
};

TEST_F(McpServerTest, InitializeNegotiatesTheProtocolVersion) {
  Json r = Ask(Request("initialize", {{"protocolVersion", "2025-06-18"},
                                      {"capabilities", Json::object()},
                                      {"clientInfo", {{"name", "t"}, {"version", "1"}}}}));
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(r["result"]["serverInfo"]["name"], "atlas");
  EXPECT_TRUE(r["result"]["capabilities"].contains("tools"));
  EXPECT_EQ(
      Ask(Request("initialize", {{"protocolVersion", "2024-11-05"}}))["result"]["protocolVersion"],
      "2024-11-05");
  EXPECT_EQ(
      Ask(Request("initialize", {{"protocolVersion", "1999-01-01"}}))["result"]["protocolVersion"],
      std::string(kLatestProtocolVersion));
}

TEST_F(McpServerTest, NotificationsAndResponsesGetNoReply) {
  EXPECT_FALSE(server_.Handle({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}));
  EXPECT_FALSE(server_.Handle({{"jsonrpc", "2.0"}, {"id", 5}, {"result", Json::object()}}));
}

TEST_F(McpServerTest, ToolsListIsReadOnlyUnlessActionsAreAllowed) {
  Json r = Ask(Request("tools/list"));
  ASSERT_EQ(r["result"]["tools"].size(), 2u);
  EXPECT_EQ(r["result"]["tools"][0]["name"], "get_run_summary");
  EXPECT_EQ(r["result"]["tools"][0]["inputSchema"]["required"][0], "run_id");
  EXPECT_EQ(r["result"]["tools"][0]["annotations"]["readOnlyHint"], true);

  McpServer with_actions(tools_, McpOptions{true, "0.1.0"});
  EXPECT_EQ((*with_actions.Handle(Request("tools/list")))["result"]["tools"].size(), 3u);
  Json call = *with_actions.Handle(
      Request("tools/call", {{"name", "request_run_action"}, {"arguments", {{"run_id", "r1"}}}}));
  EXPECT_EQ(call["result"]["isError"], false);
  Json refused = Ask(
      Request("tools/call", {{"name", "request_run_action"}, {"arguments", {{"run_id", "r1"}}}}));
  EXPECT_EQ(refused["error"]["code"], kInvalidParams);
}

TEST_F(McpServerTest, ToolsCallReturnsTextAndStructuredContent) {
  Json r = Ask(Request("tools/call",
                       {{"name", "get_run_summary"}, {"arguments", {{"run_id", "r1"}}}}, "abc"));
  EXPECT_EQ(r["id"], "abc");
  EXPECT_EQ(r["result"]["isError"], false);
  EXPECT_EQ(r["result"]["structuredContent"]["grade"], "B");
  EXPECT_EQ(Json::parse(r["result"]["content"][0]["text"].get<std::string>())["grade"], "B");
}

TEST_F(McpServerTest, BadCallsAreErrors) {
  Json unknown =
      Ask(Request("tools/call", {{"name", "drop_tables"}, {"arguments", Json::object()}}));
  EXPECT_EQ(unknown["error"]["code"], kInvalidParams);
  Json missing =
      Ask(Request("tools/call", {{"name", "get_run_summary"}, {"arguments", Json::object()}}));
  EXPECT_EQ(missing["error"]["code"], kInvalidParams);
  EXPECT_NE(missing["error"]["message"].get<std::string>().find("run_id: is required"),
            std::string::npos);
  Json extra = Ask(Request("tools/call", {{"name", "get_run_summary"},
                                          {"arguments", {{"run_id", "r1"}, {"sql", "x"}}}}));
  EXPECT_EQ(extra["error"]["code"], kInvalidParams);
  // A tool that fails on valid arguments reports it in the result, for the model to read.
  Json failed =
      Ask(Request("tools/call", {{"name", "get_run_summary"}, {"arguments", {{"run_id", "zz"}}}}));
  EXPECT_EQ(failed["result"]["isError"], true);
  EXPECT_NE(failed["result"]["content"][0]["text"].get<std::string>().find("not found"),
            std::string::npos);
  EXPECT_EQ(Ask(Request("no/such"))["error"]["code"], kMethodNotFound);
  EXPECT_EQ(Ask(Request("tools/call", Json::array()))["error"]["code"], kInvalidParams);
}

TEST_F(McpServerTest, MalformedMessagesAreInvalidRequests) {
  EXPECT_EQ((*server_.HandleText("{nope"))["error"]["code"], kParseError);
  EXPECT_EQ((*server_.HandleText("[]"))["error"]["code"], kInvalidRequest);
  EXPECT_EQ(Ask({{"jsonrpc", "1.0"}, {"id", 1}, {"method", "ping"}})["error"]["code"],
            kInvalidRequest);
  EXPECT_EQ(Ask({{"jsonrpc", "2.0"}, {"id", Json::object()}, {"method", "ping"}})["error"]["code"],
            kInvalidRequest);
  EXPECT_EQ(Ask(Request("ping"))["result"], Json::object());
}

TEST_F(McpServerTest, RunsAreResources) {
  Json list = Ask(Request("resources/list"));
  ASSERT_EQ(list["result"]["resources"].size(), 1u);
  EXPECT_EQ(list["result"]["resources"][0]["uri"], "atlas://runs/r1");
  Json read = Ask(Request("resources/read", {{"uri", "atlas://runs/r1"}}));
  EXPECT_EQ(Json::parse(read["result"]["contents"][0]["text"].get<std::string>())["grade"], "B");
  EXPECT_EQ(Ask(Request("resources/read", {{"uri", "atlas://runs/zz"}}))["error"]["code"],
            kResourceNotFound);
  EXPECT_EQ(Ask(Request("resources/read", {{"uri", "file:///etc/passwd"}}))["error"]["code"],
            kResourceNotFound);
}

// An HttpClient that answers from a McpServer in-process, or fails like an unreachable atlasd.
class LoopbackHttp final : public agent::HttpClient {
 public:
  explicit LoopbackHttp(const McpServer* server) : server_(server) {}
  Status Post(const agent::HttpPost& request,
              const std::function<bool(std::string_view)>& on_body) override {
    urls.push_back(request.url);
    if (server_ == nullptr) return Status::Unavailable("http://127.0.0.1:1 failed: refused");
    auto reply = server_->HandleText(request.body);
    if (reply) on_body(reply->dump());
    return Status::Ok();
  }
  std::vector<std::string> urls;

 private:
  const McpServer* server_;
};

TEST_F(McpServerTest, StdioBridgeRelaysOneLinePerMessage) {
  LoopbackHttp http(&server_);
  std::istringstream in(Request("initialize", {{"protocolVersion", "2025-06-18"}}).dump() + "\n" +
                        R"({"jsonrpc":"2.0","method":"notifications/initialized"})" + "\r\n\n" +
                        Request("tools/list", Json::object(), 2).dump() + "\n");
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunStdioBridge("http://127.0.0.1:7878/", http, in, out, err), 0);
  EXPECT_EQ(http.urls, std::vector<std::string>(3, "http://127.0.0.1:7878/mcp"));
  std::istringstream lines(out.str());
  std::string line;
  std::vector<Json> replies;
  while (std::getline(lines, line)) replies.push_back(Json::parse(line));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0]["id"], 1);
  EXPECT_EQ(replies[1]["id"], 2);
}

TEST_F(McpServerTest, StdioBridgeAnswersRequestsWhenAtlasdIsDown) {
  LoopbackHttp down(nullptr);
  std::istringstream in(Request("tools/list", Json::object(), 7).dump() + "\n" +
                        R"({"jsonrpc":"2.0","method":"notifications/initialized"})" + "\n");
  std::ostringstream out;
  std::ostringstream err;
  RunStdioBridge("http://127.0.0.1:1", down, in, out, err);
  const Json reply = Json::parse(out.str());
  EXPECT_EQ(reply["id"], 7);
  EXPECT_EQ(reply["error"]["code"], kInternalError);
  EXPECT_NE(err.str().find("refused"), std::string::npos);
}

}  // namespace
}  // namespace atlas::mcp
