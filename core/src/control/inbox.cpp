#include "control/inbox.hpp"

#include <utility>

#include <nlohmann/json.hpp>

namespace atlas::core {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxText = 1000;  // the server's limit on detail and reason
constexpr std::size_t kMaxActor = 128;

std::string Text(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::size_t ControlInbox::DeliverReply(std::string_view reply_body) {
  const Json reply = Json::parse(reply_body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return 0;
  const auto actions = reply.find("actions");
  if (actions == reply.end() || !actions->is_array() || actions->empty()) return 0;
  MutexLock lock(&mu_);
  std::size_t added = 0;
  for (const Json& a : *actions) {
    if (!a.is_object()) continue;
    const auto id = a.find("id");
    if (id == a.end() || !id->is_number_integer()) continue;
    const auto value = id->get<std::int64_t>();
    if (value <= last_seen_) continue;
    ControlAction action;
    action.id = value;
    action.action = Text(a, "action");
    action.mode = Text(a, "mode");
    const auto params = a.find("params");
    action.params_json = params != a.end() && params->is_object() ? Dump(*params) : "{}";
    action.reason = Text(a, "reason");
    action.actor = Text(a, "actor");
    last_seen_ = value;
    pending_.push_back(std::move(action));
    ++added;
  }
  Recount();
  return added;
}

std::vector<ControlAction> ControlInbox::Take() {
  if (!has_actions()) return {};
  MutexLock lock(&mu_);
  std::vector<ControlAction> taken = std::exchange(pending_, {});
  Recount();
  return taken;
}

void ControlInbox::Ack(std::int64_t id, bool applied, std::string detail) {
  if (detail.size() > kMaxText) detail.resize(kMaxText);
  Json ack = {
      {"id", id}, {"outcome", applied ? "applied" : "rejected"}, {"detail", std::move(detail)}};
  MutexLock lock(&mu_);
  outgoing_.acks.push_back(Dump(ack));
  Recount();
}

void ControlInbox::Decide(std::string action, std::string mode, std::string actor,
                          std::string reason) {
  if (actor.size() > kMaxActor) actor.resize(kMaxActor);
  if (reason.size() > kMaxText) reason.resize(kMaxText);
  Json decision = {
      {"action", std::move(action)}, {"actor", std::move(actor)}, {"reason", std::move(reason)}};
  if (!mode.empty()) decision["mode"] = std::move(mode);
  MutexLock lock(&mu_);
  outgoing_.decisions.push_back(Dump(decision));
  Recount();
}

void ControlInbox::Register(std::string json) {
  MutexLock lock(&mu_);
  outgoing_.registration = std::move(json);
  Recount();
}

ControlInbox::Outgoing ControlInbox::TakeOutgoing() {
  MutexLock lock(&mu_);
  Outgoing taken = std::exchange(outgoing_, {});
  Recount();
  return taken;
}

void ControlInbox::Restore(Outgoing outgoing) {
  MutexLock lock(&mu_);
  outgoing.acks.insert(outgoing.acks.end(), outgoing_.acks.begin(), outgoing_.acks.end());
  outgoing.decisions.insert(outgoing.decisions.end(), outgoing_.decisions.begin(),
                            outgoing_.decisions.end());
  if (outgoing_.registration) outgoing.registration = std::move(outgoing_.registration);
  outgoing_ = std::move(outgoing);
  Recount();
}

std::string ControlInbox::RequestBody(const Outgoing& outgoing) const {
  std::string body = "{\"after\":" + std::to_string(last_seen());
  auto append_array = [&body](const char* name, const std::vector<std::string>& items) {
    if (items.empty()) return;
    body += ",\"";
    body += name;
    body += "\":[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) body += ',';
      body += items[i];
    }
    body += ']';
  };
  append_array("acks", outgoing.acks);
  append_array("decisions", outgoing.decisions);
  if (outgoing.registration) body += ",\"register\":" + *outgoing.registration;
  body += '}';
  return body;
}

std::int64_t ControlInbox::last_seen() const {
  MutexLock lock(&mu_);
  return last_seen_;
}

void ControlInbox::Recount() {
  pending_count_.store(pending_.size(), std::memory_order_release);
  outgoing_count_.store(
      outgoing_.acks.size() + outgoing_.decisions.size() + (outgoing_.registration ? 1 : 0),
      std::memory_order_release);
}

}  // namespace atlas::core
