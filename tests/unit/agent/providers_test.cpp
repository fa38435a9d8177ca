// The provider wire formats: OpenAI chat-completions and Anthropic Messages streams assembled
// into turns (text and tool calls split across deltas), their errors, and the request bodies.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/providers.hpp"

namespace atlas::agent {
namespace {

TEST(OpenAiStream, AssemblesTextAndToolCallsFromDeltas) {
  std::string streamed;
  OpenAiStream stream([&](std::string_view t) { streamed += t; });
  stream.OnData(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"Let me "}}]})");
  stream.OnData(R"({"choices":[{"index":0,"delta":{"content":"look."}}]})");
  stream.OnData(
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_findings","arguments":""}}]}}]})");
  stream.OnData(
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"run_id\":"}}]}}]})");
  stream.OnData(
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"get_forecast","arguments":"{\"run_id\":\"r\"}"}}]}}]})");
  stream.OnData(
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"r\"}"}}]}}]})");
  stream.OnData(R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})");
  stream.OnData("[DONE]");
  Result<Turn> turn = stream.Finish();
  ASSERT_TRUE(turn.ok()) << turn.status().message();
  EXPECT_EQ(turn->text, "Let me look.");
  EXPECT_EQ(streamed, "Let me look.");
  EXPECT_EQ(turn->stop_reason, "tool_calls");
  ASSERT_EQ(turn->calls.size(), 2u);
  EXPECT_EQ(turn->calls[0].id, "call_a");
  EXPECT_EQ(turn->calls[0].name, "get_findings");
  EXPECT_EQ(turn->calls[0].arguments, R"({"run_id":"r"})");
  EXPECT_EQ(turn->calls[1].id, "call_b");
  EXPECT_EQ(turn->calls[1].name, "get_forecast");
}

TEST(OpenAiStream, AnErrorChunkOrATruncatedStreamFails) {
  OpenAiStream errored([](std::string_view) {});
  errored.OnData(R"({"error":{"message":"model overloaded","type":"server_error"}})");
  Result<Turn> e = errored.Finish();
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("model overloaded"), std::string::npos);

  OpenAiStream truncated([](std::string_view) {});
  truncated.OnData(R"({"choices":[{"index":0,"delta":{"content":"half"}}]})");
  EXPECT_FALSE(truncated.Finish().ok());

  OpenAiStream empty([](std::string_view) {});
  EXPECT_FALSE(empty.Finish().ok());
}

TEST(AnthropicStream, AssemblesTextAndToolUseFromEvents) {
  std::string streamed;
  AnthropicStream stream([&](std::string_view t) { streamed += t; });
  stream.OnEvent("message_start", R"({"type":"message_start","message":{"id":"m","content":[]}})");
  stream.OnEvent(
      "content_block_start",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  stream.OnEvent("ping", R"({"type":"ping"})");
  stream.OnEvent(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}})");
  stream.OnEvent("content_block_stop", R"({"type":"content_block_stop","index":0})");
  stream.OnEvent(
      "content_block_start",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_waste_report","input":{}}})");
  stream.OnEvent(
      "content_block_delta",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"run_"}})");
  stream.OnEvent(
      "content_block_delta",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"id\": \"r1\"}"}})");
  stream.OnEvent("content_block_stop", R"({"type":"content_block_stop","index":1})");
  stream.OnEvent("message_delta",
                 R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{}})");
  stream.OnEvent("message_stop", R"({"type":"message_stop"})");
  Result<Turn> turn = stream.Finish();
  ASSERT_TRUE(turn.ok()) << turn.status().message();
  EXPECT_EQ(turn->text, "Checking");
  EXPECT_EQ(streamed, "Checking");
  EXPECT_EQ(turn->stop_reason, "tool_use");
  ASSERT_EQ(turn->calls.size(), 1u);
  EXPECT_EQ(turn->calls[0].id, "toolu_1");
  EXPECT_EQ(turn->calls[0].name, "get_waste_report");
  EXPECT_EQ(Json::parse(turn->calls[0].arguments), Json({{"run_id", "r1"}}));
}

TEST(AnthropicStream, ErrorEventsAndMissingStopFail) {
  AnthropicStream errored([](std::string_view) {});
  errored.OnEvent("error",
                  R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  Result<Turn> e = errored.Finish();
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("overloaded_error"), std::string::npos);

  AnthropicStream cut([](std::string_view) {});
  cut.OnEvent("message_start", R"({"type":"message_start","message":{}})");
  EXPECT_FALSE(cut.Finish().ok());
}

std::vector<Message> ToolConversation() {
  std::vector<Message> messages = {Message::User("why?")};
  messages.push_back(Message::Assistant(
      "", {{"c1", "get_findings", R"({"run_id":"r"})"}, {"c2", "get_forecast", ""}}));
  Message r1 = Message::Tool("c1", "get_findings");
  r1.text = "{\"findings\":[]}";
  Message r2 = Message::Tool("c2", "get_forecast");
  r2.text = "error: no such run";
  r2.tool_error = true;
  messages.push_back(r1);
  messages.push_back(r2);
  return messages;
}

TEST(ProviderRequests, OpenAiCarriesToolCallsAndToolMessages) {
  ProviderConfig config;
  config.model = "m";
  const std::vector<ToolSpec> tools = {{"get_findings", "d", {{"type", "object"}}, false}};
  const Json body = OpenAiRequest(config, "sys", ToolConversation(), tools, true);
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["messages"][0], Json({{"role", "system"}, {"content", "sys"}}));
  const Json& assistant = body["messages"][2];
  EXPECT_EQ(assistant["role"], "assistant");
  EXPECT_TRUE(assistant["content"].is_null());
  EXPECT_EQ(assistant["tool_calls"][0]["function"]["name"], "get_findings");
  EXPECT_EQ(assistant["tool_calls"][1]["function"]["arguments"], "{}");
  EXPECT_EQ(body["messages"][3]["role"], "tool");
  EXPECT_EQ(body["messages"][3]["tool_call_id"], "c1");
  EXPECT_EQ(body["tools"][0]["function"]["parameters"], Json({{"type", "object"}}));
  EXPECT_EQ(body["tool_choice"], "auto");
  EXPECT_EQ(OpenAiRequest(config, "sys", ToolConversation(), tools, false)["tool_choice"], "none");
}

TEST(ProviderRequests, AnthropicGroupsToolResultsInOneUserMessage) {
  ProviderConfig config;
  config.model = "claude";
  const std::vector<ToolSpec> tools = {{"get_findings", "d", {{"type", "object"}}, false}};
  const Json body = AnthropicRequest(config, "sys", ToolConversation(), tools, true);
  EXPECT_EQ(body["system"], "sys");
  ASSERT_EQ(body["messages"].size(), 3u);
  const Json& assistant = body["messages"][1];
  EXPECT_EQ(assistant["content"][0]["type"], "tool_use");
  EXPECT_EQ(assistant["content"][0]["input"], Json({{"run_id", "r"}}));
  EXPECT_EQ(assistant["content"][1]["input"], Json::object());
  const Json& results = body["messages"][2];
  EXPECT_EQ(results["role"], "user");
  ASSERT_EQ(results["content"].size(), 2u);
  EXPECT_EQ(results["content"][0]["tool_use_id"], "c1");
  EXPECT_EQ(results["content"][1]["is_error"], true);
  EXPECT_EQ(body["tools"][0]["input_schema"], Json({{"type", "object"}}));
  EXPECT_EQ(AnthropicRequest(config, "s", ToolConversation(), tools, false)["tool_choice"]["type"],
            "none");
}

}  // namespace
}  // namespace atlas::agent
