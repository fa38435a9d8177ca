#include "agent/chat.hpp"

#include <utility>

#include <fmt/format.h>

namespace atlas::agent {
namespace {

struct Conversation {
  std::vector<Message> messages;
  ChatResult result;
};

// Runs one tool call and appends its (cut) result to the conversation.
void RunTool(const ToolRegistry& tools, const AgentConfig& config, const ToolCall& call,
             ChatObserver& observer, Conversation& conv) {
  Json args = Json::parse(call.arguments.empty() ? "{}" : call.arguments, nullptr, false);
  Message reply = Message::Tool(call.id, call.name);
  if (args.is_discarded()) {
    reply.text = "error: the arguments are not valid JSON";
    reply.tool_error = true;
    observer.OnToolCall(call.name, Json());
  } else {
    observer.OnToolCall(call.name, args);
    Result<Json> out = tools.Call(call.name, args, config.allow_actions);
    reply.tool_error = !out.ok();
    reply.text = out.ok() ? out->dump() : "error: " + out.status().message();
  }
  const std::size_t bytes = reply.text.size();
  reply.text = CutToLimit(reply.text, config.tool_result_limit);
  observer.OnToolResult(call.name, !reply.tool_error, bytes, bytes > config.tool_result_limit);
  conv.result.tools_used.push_back(call.name);
  conv.messages.push_back(std::move(reply));
}

// Drives one provider until it answers without calling tools. A failure leaves `conv` as it
// was before the failed turn, so the next provider continues from there.
Status Drive(Provider& provider, const ToolRegistry& tools, const AgentConfig& config,
             const std::string& system, ChatObserver& observer, Conversation& conv) {
  const std::vector<ToolSpec> specs = tools.List(config.allow_actions);
  while (true) {
    const bool allow_tools = conv.result.tool_rounds < config.max_tool_iterations;
    Result<Turn> turn = provider.Complete(system, conv.messages, specs, allow_tools,
                                          [&](std::string_view t) { observer.OnText(t); });
    if (!turn.ok()) return turn.status();
    if (turn->calls.empty() || !allow_tools) {
      conv.result.answer = turn->text;
      if (!turn->calls.empty()) {
        conv.result.answer += fmt::format("\n\n[stopped: the limit of {} tool rounds was reached]",
                                          config.max_tool_iterations);
      }
      return Status::Ok();
    }
    ++conv.result.tool_rounds;
    conv.messages.push_back(Message::Assistant(turn->text, turn->calls));
    for (const auto& call : turn->calls) RunTool(tools, config, call, observer, conv);
  }
}

Result<ChatResult> Offline(const ToolRegistry& tools, const ChatRequest& request,
                           ChatObserver& observer, ChatResult result) {
  observer.OnStart("offline");
  if (!request.run_id) {
    result.answer = std::string(kOfflineLabel) +
                    "\n\nName a run (run_id) and I can explain its grade, what to change first, "
                    "what it wasted, or compare it with another run.";
  } else {
    Result<AnalystAnswer> answer =
        AnswerOffline(tools, *request.run_id, request.question, request.other_run_id);
    if (!answer.ok()) return answer.status();
    result.answer = answer->text;
    result.tools_used = answer->tools_used;
  }
  observer.OnText(result.answer);
  result.provider = "offline";
  result.offline = true;
  return result;
}

}  // namespace

std::string SystemPrompt(const ChatRequest& request) {
  std::string prompt =
      "You are Atlas's analyst for PyTorch training runs. Atlas measures energy, CO2, cost and "
      "wasted compute beside loss and accuracy, and its diagnostics find problems (dead layers, "
      "vanishing gradients, training past the optimal stop, idle devices...) with evidence and "
      "a fix. Answer from the tools only: quote exact numbers from them (grades, epochs, kWh, "
      "kg CO2, EUR) and name the check ids and layers. Say why a problem matters for energy and "
      "results, then the concrete fix, most important first. Be brief. Never invent data; if a "
      "tool has none, say so. Use get_project_history to recall earlier runs of the same "
      "architecture. request_run_action only proposes an action for the developer to confirm.";
  if (request.run_id) prompt += fmt::format("\nThe run in question: {}.", *request.run_id);
  if (request.other_run_id) {
    prompt += fmt::format("\nThe run to compare it with: {}.", *request.other_run_id);
  }
  return prompt;
}

Result<ChatResult> RunChat(const std::vector<Provider*>& providers, const ToolRegistry& tools,
                           const AgentConfig& config, const ChatRequest& request,
                           ChatObserver& observer) {
  Conversation conv;
  conv.messages = request.history;
  conv.messages.push_back(Message::User(request.question));
  if (request.offline_only || providers.empty()) {
    return Offline(tools, request, observer, std::move(conv.result));
  }
  const std::string system = SystemPrompt(request);
  for (Provider* provider : providers) {
    observer.OnStart(provider->name());
    const std::size_t kept = conv.messages.size();
    Status s = Drive(*provider, tools, config, system, observer, conv);
    if (s.ok()) {
      conv.result.provider = provider->name();
      return std::move(conv.result);
    }
    // The failed turn's partial text is void; completed tool rounds stay in the conversation.
    conv.messages.resize(std::max(kept, conv.messages.size()));
    conv.result.provider_errors.push_back(fmt::format("{}: {}", provider->name(), s.message()));
    observer.OnFallback(provider->name(), s.message());
  }
  return Offline(tools, request, observer, std::move(conv.result));
}

}  // namespace atlas::agent
