#include "agent/config.hpp"

#include <charconv>
#include <string_view>

namespace atlas::agent {
namespace {

std::string Get(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* v = getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

template <typename T>
T Number(const std::string& text, T fallback, T min) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min) return fallback;
  return value;
}

}  // namespace

AgentConfig ConfigFromEnv(const std::function<const char*(const char*)>& getenv) {
  AgentConfig config;
  const int timeout_s = Number(Get(getenv, "ATLAS_LLM_TIMEOUT_S"), 120, 1);
  const auto apply_timeouts = [timeout_s](ProviderConfig& p) {
    p.total_timeout = std::chrono::seconds(timeout_s);
    p.idle_timeout = std::chrono::seconds(std::min(timeout_s, 30));
    p.connect_timeout = std::chrono::seconds(std::min(timeout_s, 10));
  };

  std::string key = Get(getenv, "ATLAS_LLM_API_KEY");
  if (key.empty()) key = Get(getenv, "OPENAI_API_KEY");
  std::string base = Get(getenv, "ATLAS_LLM_BASE_URL");
  std::string model = Get(getenv, "ATLAS_LLM_MODEL");
  if (base.empty() && !Get(getenv, "OPENAI_API_KEY").empty()) {
    base = "https://api.openai.com/v1";
    if (model.empty()) model = "gpt-4o-mini";
  }
  if (!base.empty() && !model.empty()) {
    ProviderConfig p;
    p.kind = "openai";
    p.base_url = base;
    p.model = model;
    p.api_key = key;
    apply_timeouts(p);
    config.providers.push_back(std::move(p));
  }

  const std::string anthropic_key = Get(getenv, "ANTHROPIC_API_KEY");
  if (!anthropic_key.empty()) {
    std::string abase = Get(getenv, "ATLAS_ANTHROPIC_BASE_URL");
    std::string amodel = Get(getenv, "ATLAS_ANTHROPIC_MODEL");
    ProviderConfig p;
    p.kind = "anthropic";
    p.base_url = abase.empty() ? "https://api.anthropic.com" : abase;
    p.model = amodel.empty() ? "claude-sonnet-4-5" : amodel;
    p.api_key = anthropic_key;
    apply_timeouts(p);
    config.providers.push_back(std::move(p));
  }

  config.max_tool_iterations =
      Number(Get(getenv, "ATLAS_AGENT_MAX_TOOL_ITERATIONS"), config.max_tool_iterations, 1);
  config.tool_result_limit = Number<std::size_t>(Get(getenv, "ATLAS_AGENT_TOOL_RESULT_LIMIT"),
                                                 config.tool_result_limit, 256);
  const std::string actions = Get(getenv, "ATLAS_AGENT_ALLOW_ACTIONS");
  config.allow_actions = actions == "1" || actions == "true" || actions == "yes";
  return config;
}

Json DescribeConfig(const AgentConfig& config) {
  Json providers = Json::array();
  for (const auto& p : config.providers) {
    const std::size_t scheme = p.base_url.find("://");
    const std::size_t end = p.base_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    providers.push_back({{"kind", p.kind},
                         {"model", p.model},
                         {"host", p.base_url.substr(0, end)},
                         {"has_key", !p.api_key.empty()}});
  }
  return {{"providers", providers},
          {"offline", config.providers.empty()},
          {"max_tool_iterations", config.max_tool_iterations},
          {"tool_result_limit", config.tool_result_limit},
          {"allow_actions", config.allow_actions}};
}

}  // namespace atlas::agent
