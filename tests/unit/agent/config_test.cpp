// Provider configuration from the environment, and that keys never appear in what is shown.
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "agent/config.hpp"
#include "agent/http_client.hpp"

namespace atlas::agent {
namespace {

AgentConfig From(const std::map<std::string, std::string>& env) {
  return ConfigFromEnv([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(AgentConfig, NoVariablesMeansOfflineOnly) {
  const AgentConfig c = From({});
  EXPECT_TRUE(c.providers.empty());
  EXPECT_FALSE(c.allow_actions);
  EXPECT_EQ(DescribeConfig(c)["offline"], true);
}

TEST(AgentConfig, OpenAiCompatibleFirstAnthropicAsFallback) {
  const AgentConfig c = From({{"ATLAS_LLM_BASE_URL", "http://127.0.0.1:11434/v1"},
                              {"ATLAS_LLM_MODEL", "llama3.1"},
                              {"ANTHROPIC_API_KEY", "sk-ant-secret"},
                              {"ATLAS_LLM_TIMEOUT_S", "7"},
                              {"ATLAS_AGENT_MAX_TOOL_ITERATIONS", "3"},
                              {"ATLAS_AGENT_TOOL_RESULT_LIMIT", "bogus"},
                              {"ATLAS_AGENT_ALLOW_ACTIONS", "1"}});
  ASSERT_EQ(c.providers.size(), 2u);
  EXPECT_EQ(c.providers[0].kind, "openai");
  EXPECT_EQ(c.providers[0].model, "llama3.1");
  EXPECT_EQ(c.providers[0].api_key, "");
  EXPECT_EQ(c.providers[0].total_timeout, std::chrono::seconds(7));
  EXPECT_EQ(c.providers[1].kind, "anthropic");
  EXPECT_EQ(c.providers[1].base_url, "https://api.anthropic.com");
  EXPECT_EQ(c.max_tool_iterations, 3);
  EXPECT_EQ(c.tool_result_limit, AgentConfig{}.tool_result_limit);
  EXPECT_TRUE(c.allow_actions);
  const std::string shown = DescribeConfig(c).dump();
  EXPECT_EQ(shown.find("sk-ant-secret"), std::string::npos);
  EXPECT_NE(shown.find("127.0.0.1:11434"), std::string::npos);
}

TEST(AgentConfig, OpenAiKeyAloneMeansOpenAi) {
  const AgentConfig c = From({{"OPENAI_API_KEY", "sk-x"}});
  ASSERT_EQ(c.providers.size(), 1u);
  EXPECT_EQ(c.providers[0].base_url, "https://api.openai.com/v1");
  EXPECT_EQ(c.providers[0].api_key, "sk-x");
  EXPECT_FALSE(c.providers[0].model.empty());
  // A base URL without a model is not enough to call anyone.
  EXPECT_TRUE(From({{"ATLAS_LLM_BASE_URL", "http://x/v1"}}).providers.empty());
}

TEST(Redact, BlanksEverySecret) {
  EXPECT_EQ(Redact("key sk-1 and sk-1 again", {"sk-1", ""}), "key [redacted] and [redacted] again");
}

}  // namespace
}  // namespace atlas::agent
