// AgentConfig: which LLM providers the agent uses and its limits, read from the environment
// (docs/agent.md, "Configuration"). Keys come only from here; they are never logged, never
// returned by an endpoint and never sent anywhere but their provider.
//
// Pure: a function of the variables it is given.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "agent/providers.hpp"

namespace atlas::agent {

struct AgentConfig {
  // Tried in order: the OpenAI-compatible endpoint first, Anthropic as its fallback. Empty:
  // the offline analyst answers everything.
  std::vector<ProviderConfig> providers;
  int max_tool_iterations = 8;
  std::size_t tool_result_limit = 12000;  // bytes of one tool result shown to a model
  bool allow_actions = false;             // offer request_run_action (chat and MCP)
  int max_concurrent_chats = 4;
};

// Reads ATLAS_LLM_BASE_URL, ATLAS_LLM_MODEL, ATLAS_LLM_API_KEY (else OPENAI_API_KEY),
// ANTHROPIC_API_KEY, ATLAS_ANTHROPIC_BASE_URL, ATLAS_ANTHROPIC_MODEL, ATLAS_LLM_TIMEOUT_S,
// ATLAS_AGENT_MAX_TOOL_ITERATIONS, ATLAS_AGENT_TOOL_RESULT_LIMIT and ATLAS_AGENT_ALLOW_ACTIONS
// through `getenv` (nullptr for unset). Unparsable numbers keep their defaults.
AgentConfig ConfigFromEnv(const std::function<const char*(const char*)>& getenv);

// What may be shown about the configuration (GET /api/v1/agent): provider kinds, models and
// hosts, never keys.
Json DescribeConfig(const AgentConfig& config);

}  // namespace atlas::agent
