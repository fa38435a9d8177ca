// The chat loop with scripted providers: multi-step tool use, fallback to the next provider
// on failure (keeping the tool results), the iteration cap, result cutting, and the offline
// analyst when no provider is configured or all fail.
#include <deque>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/chat.hpp"

namespace atlas::agent {
namespace {

// A provider that replays scripted turns and records what it was sent.
class ScriptedProvider final : public Provider {
 public:
  explicit ScriptedProvider(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Result<Turn> Complete(const std::string&, const std::vector<Message>& messages,
                        const std::vector<ToolSpec>& tools, bool allow_tools,
                        const TextSink& on_text) override {
    seen.push_back(messages);
    tool_counts.push_back(tools.size());
    allowed.push_back(allow_tools);
    if (script.empty()) return Status::Unavailable("script exhausted");
    Result<Turn> next = std::move(script.front());
    script.pop_front();
    if (next.ok()) on_text(next->text);
    return next;
  }
  std::deque<Result<Turn>> script;
  std::vector<std::vector<Message>> seen;
  std::vector<std::size_t> tool_counts;
  std::vector<bool> allowed;

 private:
  std::string name_;
};

class Recorder final : public ChatObserver {
 public:
  void OnStart(const std::string& p) override { events.push_back("start:" + p); }
  void OnText(std::string_view t) override { text += t; }
  void OnToolCall(const std::string& n, const Json&) override { events.push_back("call:" + n); }
  void OnToolResult(const std::string& n, bool ok, std::size_t, bool truncated) override {
    events.push_back("result:" + n + (ok ? ":ok" : ":error") + (truncated ? ":cut" : ""));
  }
  void OnFallback(const std::string& p, const std::string&) override {
    events.push_back("fallback:" + p);
  }
  std::vector<std::string> events;
  std::string text;
};

Turn Text(std::string text) {
  Turn t;
  t.text = std::move(text);
  return t;
}

Turn Calls(std::vector<ToolCall> calls) {
  Turn t;
  t.calls = std::move(calls);
  return t;
}

ToolRegistry Tools(int* counter) {
  ToolRegistry tools;
  const Json schema = {{"type", "object"},
                       {"properties", {{"run_id", {{"type", "string"}}}}},
                       {"required", {"run_id"}}};
  tools.Add({"get_findings", "f", schema, false}, [counter](const Json& a) -> Result<Json> {
    ++*counter;
    return Json{{"run_id", a["run_id"]}, {"grade", "D"}};
  });
  tools.Add({"big", "b", {{"type", "object"}}, false}, [](const Json&) -> Result<Json> {
    return Json{{"blob", std::string(5000, 'x')}};
  });
  return tools;
}

TEST(Chat, RunsToolsOverSeveralRoundsAndAnswers) {
  int calls = 0;
  ToolRegistry tools = Tools(&calls);
  ScriptedProvider p("openai");
  p.script.emplace_back(Calls({{"c1", "get_findings", R"({"run_id":"r1"})"}}));
  p.script.emplace_back(Calls(
      {{"c2", "get_findings", R"({"run_id":"r2"})"}, {"c3", "get_findings", R"({"wrong":1})"}}));
  p.script.emplace_back(Text("Grade D because..."));
  Recorder rec;
  ChatRequest req;
  req.question = "why D?";
  Result<ChatResult> out = RunChat({&p}, tools, AgentConfig{}, req, rec);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->answer, "Grade D because...");
  EXPECT_EQ(out->provider, "openai");
  EXPECT_EQ(out->tool_rounds, 2);
  EXPECT_EQ(calls, 2);  // the call with bad arguments never ran
  EXPECT_EQ(rec.events,
            (std::vector<std::string>{"start:openai", "call:get_findings", "result:get_findings:ok",
                                      "call:get_findings", "result:get_findings:ok",
                                      "call:get_findings", "result:get_findings:error"}));
  // The last request carried the whole exchange: question, 2 assistant turns, 3 results.
  ASSERT_EQ(p.seen.size(), 3u);
  const auto& last = p.seen.back();
  ASSERT_EQ(last.size(), 6u);
  EXPECT_EQ(last[5].role, Message::Role::kTool);
  EXPECT_TRUE(last[5].tool_error);
  EXPECT_NE(last[5].text.find("run_id: is required"), std::string::npos);
}

TEST(Chat, FallsBackToTheNextProviderKeepingCompletedToolRounds) {
  int calls = 0;
  ToolRegistry tools = Tools(&calls);
  ScriptedProvider openai("openai");
  openai.script.emplace_back(Calls({{"c1", "get_findings", R"({"run_id":"r1"})"}}));
  openai.script.emplace_back(Status::Unavailable("api.example answered HTTP 500: boom"));
  ScriptedProvider anthropic("anthropic");
  anthropic.script.emplace_back(Text("From Claude."));
  Recorder rec;
  ChatRequest req;
  req.question = "q";
  Result<ChatResult> out = RunChat({&openai, &anthropic}, tools, AgentConfig{}, req, rec);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->provider, "anthropic");
  EXPECT_EQ(out->answer, "From Claude.");
  ASSERT_EQ(out->provider_errors.size(), 1u);
  EXPECT_NE(out->provider_errors[0].find("HTTP 500"), std::string::npos);
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(anthropic.seen.size(), 1u);
  EXPECT_EQ(anthropic.seen[0].size(), 3u);  // question, the tool call, its result
  EXPECT_EQ(rec.events.back(), "start:anthropic");
  EXPECT_EQ(rec.events[rec.events.size() - 2], "fallback:openai");
}

TEST(Chat, StopsOfferingToolsAtTheIterationCap) {
  int calls = 0;
  ToolRegistry tools = Tools(&calls);
  ScriptedProvider p("openai");
  for (int i = 0; i < 3; ++i) {
    p.script.emplace_back(Calls({{"c", "get_findings", R"({"run_id":"r"})"}}));
  }
  p.script.emplace_back(Text("final"));
  AgentConfig config;
  config.max_tool_iterations = 2;
  Recorder rec;
  ChatRequest req;
  req.question = "q";
  Result<ChatResult> out = RunChat({&p}, tools, config, req, rec);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->tool_rounds, 2);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(p.allowed, (std::vector<bool>{true, true, false}));
  // The model asked for a tool anyway on its last turn: the answer says the cap stopped it.
  EXPECT_NE(out->answer.find("limit of 2 tool rounds"), std::string::npos);
}

TEST(Chat, CutsLargeToolResults) {
  int calls = 0;
  ToolRegistry tools = Tools(&calls);
  ScriptedProvider p("openai");
  p.script.emplace_back(Calls({{"c", "big", "{}"}}));
  p.script.emplace_back(Text("ok"));
  AgentConfig config;
  config.tool_result_limit = 1000;
  Recorder rec;
  ChatRequest req;
  req.question = "q";
  ASSERT_TRUE(RunChat({&p}, tools, config, req, rec).ok());
  EXPECT_LE(p.seen[1].back().text.size(), 1000u);
  EXPECT_NE(p.seen[1].back().text.find("[cut:"), std::string::npos);
  EXPECT_EQ(rec.events[2], "result:big:ok:cut");
}

TEST(Chat, AnswersOfflineWhenNoProviderIsConfiguredOrAllFail) {
  int calls = 0;
  ToolRegistry tools = Tools(&calls);
  Recorder rec;
  ChatRequest req;
  req.question = "hello";
  Result<ChatResult> none = RunChat({}, tools, AgentConfig{}, req, rec);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->offline);
  EXPECT_EQ(none->answer.rfind(kOfflineLabel, 0), 0u);

  ScriptedProvider broken("openai");
  broken.script.emplace_back(Status::Unavailable("timeout"));
  Recorder rec2;
  Result<ChatResult> failed = RunChat({&broken}, tools, AgentConfig{}, req, rec2);
  ASSERT_TRUE(failed.ok());
  EXPECT_TRUE(failed->offline);
  EXPECT_EQ(failed->provider_errors.size(), 1u);
  EXPECT_EQ(rec2.events,
            (std::vector<std::string>{"start:openai", "fallback:openai", "start:offline"}));
}

}  // namespace
}  // namespace atlas::agent
