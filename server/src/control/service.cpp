#include "control/service.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace atlas::control {
namespace {

double SystemNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string FindingKey(const FindingNote& finding) { return finding.check + "/" + finding.layer; }

// The check/layer keys a stored hold was made for (its params.findings).
void CollectHeldFindings(const store::StoredAction& action, std::set<std::string>* keys) {
  if (action.action != "hold") return;
  const auto findings = action.params.find("findings");
  if (findings == action.params.end() || !findings->is_array()) return;
  for (const auto& f : *findings) {
    if (!f.is_object()) continue;
    keys->insert(f.value("check", std::string()) + "/" + f.value("layer", std::string()));
  }
}

std::optional<RequestError> ParseAcks(const Json& acks, ExchangeRequest* out) {
  if (!acks.is_array()) return RequestError{422, "acks", "must be an array"};
  for (std::size_t i = 0; i < acks.size(); ++i) {
    const Json& a = acks[i];
    const std::string field = "acks[" + std::to_string(i) + "]";
    if (!a.is_object()) return RequestError{422, field, "must be an object"};
    Ack ack;
    const auto id = a.find("id");
    if (id == a.end() || !id->is_number_integer() || id->get<std::int64_t>() < 1) {
      return RequestError{422, field + ".id", "must be an action id >= 1"};
    }
    ack.id = id->get<std::int64_t>();
    const auto outcome = a.find("outcome");
    if (outcome == a.end() || (*outcome != "applied" && *outcome != "rejected")) {
      return RequestError{422, field + ".outcome", "must be \"applied\" or \"rejected\""};
    }
    ack.outcome = outcome->get<std::string>();
    const auto detail = a.find("detail");
    if (detail != a.end() && !detail->is_null()) {
      if (!detail->is_string() || detail->get_ref<const std::string&>().size() > kMaxReasonChars) {
        return RequestError{422, field + ".detail", "must be a string of at most 1000 characters"};
      }
      ack.detail = detail->get<std::string>();
    }
    const auto ts = a.find("ts");
    if (ts != a.end() && !ts->is_null()) {
      if (!ts->is_number()) return RequestError{422, field + ".ts", "must be Unix seconds"};
      ack.ts = ts->get<double>();
    }
    out->acks.push_back(std::move(ack));
  }
  return std::nullopt;
}

std::optional<RequestError> ParseDecisions(const Json& decisions, ExchangeRequest* out) {
  if (!decisions.is_array()) return RequestError{422, "decisions", "must be an array"};
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const std::string where = "decisions[" + std::to_string(i) + "].";
    auto parsed = ValidateAction(decisions[i], "observer", where);
    if (auto* error = std::get_if<RequestError>(&parsed)) return *error;
    auto& request = std::get<ActionRequest>(parsed);
    if (request.kind != ActionKind::kResume && request.kind != ActionKind::kStop) {
      return RequestError{422, where + "action", "a decision is resume or stop"};
    }
    out->decisions.push_back(std::move(request));
  }
  return std::nullopt;
}

}  // namespace

std::variant<ExchangeRequest, RequestError> ParseExchange(std::string_view body) {
  const Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return RequestError{400, "", "the body is not valid JSON"};
  if (!parsed.is_object()) return RequestError{400, "", "the body must be a JSON object"};
  ExchangeRequest request;
  for (const auto& [key, value] : parsed.items()) {
    if (key == "after") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0) {
        return RequestError{422, "after", "must be an integer >= 0"};
      }
      request.after = value.get<std::int64_t>();
    } else if (key == "acks") {
      if (auto error = ParseAcks(value, &request)) return *error;
    } else if (key == "register") {
      auto registration = ParseRegistration(value);
      if (auto* error = std::get_if<RequestError>(&registration)) return *error;
      request.registration = std::get<Registration>(std::move(registration));
    } else if (key == "decisions") {
      if (auto error = ParseDecisions(value, &request)) return *error;
    } else {
      return RequestError{422, key, "unknown field"};
    }
  }
  return request;
}

ControlService::ControlService(store::Store& store, Clock clock)
    : store_(store), clock_(clock ? std::move(clock) : Clock(&SystemNow)) {}

void ControlService::SetPublisher(Publisher publisher) { publisher_ = std::move(publisher); }

void ControlService::SetPauseOnHook(std::function<void(const std::string&)> hook) {
  pause_on_hook_ = std::move(hook);
}

Result<ControlService::RunEntry*> ControlService::Entry(const std::string& run_id) {
  if (auto it = runs_.find(run_id); it != runs_.end()) return &it->second;
  auto actions = store_.ListActions(run_id);
  if (!actions.ok()) return actions.status();
  auto registration = store_.GetControlRegistration(run_id);
  if (!registration.ok()) return registration.status();
  RunEntry entry;
  entry.actions = std::move(actions).value();
  entry.registration = RegistrationFromJson(*registration);
  for (const auto& action : entry.actions) CollectHeldFindings(action, &entry.held_findings);
  // A run that registered before a restart is followed again from its first request.
  if (entry.registration.pause_on && pause_on_hook_) pause_on_hook_(run_id);
  return &runs_.emplace(run_id, std::move(entry)).first->second;
}

void ControlService::NoteStateChange(ControlState before, const RunEntry& entry,
                                     std::vector<Event>* events) {
  const ControlState after = DeriveState(entry.actions, model::RunStatus::kRunning);
  if (after != before) events->push_back({"status", Json{{"state", ToString(after)}}});
}

Result<store::StoredAction> ControlService::Append(const std::string& run_id, RunEntry& entry,
                                                   const store::NewAction& action,
                                                   std::vector<Event>* events) {
  const ControlState before = DeriveState(entry.actions, model::RunStatus::kRunning);
  auto stored = store_.AppendAction(run_id, action);
  if (!stored.ok()) return stored.status();
  entry.actions.push_back(*stored);
  CollectHeldFindings(*stored, &entry.held_findings);
  events->push_back({"action", ToJson(*stored)});
  NoteStateChange(before, entry, events);
  return stored;
}

Result<Json> ControlService::Submit(const std::string& run_id, const ActionRequest& request) {
  auto run = store_.GetRun(run_id);
  if (!run.ok()) return run.status();
  std::vector<Event> events;
  Json reply;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (run->status != model::RunStatus::kRunning) {
      return Status::Conflict("run '" + run_id + "' is " + std::string(ToString(run->status)) +
                              "; control actions apply only to running runs");
    }
    auto entry = Entry(run_id);
    if (!entry.ok()) return entry.status();
    RunEntry& e = **entry;
    const ControlState state = DeriveState(e.actions, model::RunStatus::kRunning);
    if (auto conflict = Conflict(request, state, e.actions, e.registration, run_id)) {
      return Status::Conflict(*conflict);
    }
    auto stored = Append(run_id, e, ToNewAction(request, clock_()), &events);
    if (!stored.ok()) return stored.status();
    reply = ToJson(*stored);
    reply["state"] = ToString(DeriveState(e.actions, model::RunStatus::kRunning));
  }
  Publish(run_id, events);
  return reply;
}

Result<Json> ControlService::Describe(const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run.ok()) return run.status();
  std::vector<Event> events;
  Json view;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto entry = Entry(run_id);
    if (!entry.ok()) return entry.status();
    RunEntry& e = **entry;
    if (run->status != model::RunStatus::kRunning) {
      // What the observer never applied will not be applied now: say so in the log.
      std::vector<store::ActionUpdate> updates;
      const std::string detail = "the run ended (" + std::string(ToString(run->status)) +
                                 ") before the observer applied it";
      for (const auto& action : e.actions) {
        if (!IsPending(action)) continue;
        updates.push_back({action.id, std::nullopt, std::nullopt, "expired", detail});
      }
      if (!updates.empty()) {
        if (Status s = store_.UpdateActions(run_id, updates); !s.ok()) return s;
        for (auto& action : e.actions) {
          if (!IsPending(action)) continue;
          action.outcome = "expired";
          action.detail = detail;
        }
      }
    }
    Json actions = Json::array();
    for (const auto& action : e.actions) actions.push_back(ToJson(action));
    view = {{"run_id", run_id},
            {"run_status", model::ToString(run->status)},
            {"state", ToString(DeriveState(e.actions, run->status))},
            {"registration", ToJson(e.registration)},
            {"actions", std::move(actions)}};
  }
  Publish(run_id, events);
  return view;
}

Status ControlService::Settle(const std::string& run_id, RunEntry& entry,
                              const std::vector<Ack>& acks, std::vector<Event>* events) {
  std::vector<store::ActionUpdate> updates;
  for (const Ack& ack : acks) {
    auto it = std::find_if(entry.actions.begin(), entry.actions.end(),
                           [&](const auto& a) { return a.id == ack.id; });
    if (it == entry.actions.end()) {
      return Status::NotFound("run '" + run_id + "' has no action " + std::to_string(ack.id));
    }
    if (!IsPending(*it)) continue;  // a repeated acknowledgement changes nothing
    updates.push_back(
        {ack.id, std::nullopt, ack.ts ? ack.ts : std::optional(clock_()), ack.outcome, ack.detail});
  }
  if (updates.empty()) return Status::Ok();
  const ControlState before = DeriveState(entry.actions, model::RunStatus::kRunning);
  if (Status s = store_.UpdateActions(run_id, updates); !s.ok()) return s;
  for (const auto& update : updates) {
    auto it = std::find_if(entry.actions.begin(), entry.actions.end(),
                           [&](const auto& a) { return a.id == update.id; });
    it->applied_at = update.applied_at;
    it->outcome = *update.outcome;
    it->detail = *update.detail;
    events->push_back({"action", ToJson(*it)});
  }
  NoteStateChange(before, entry, events);
  return Status::Ok();
}

Json ControlService::TakePending(const std::string& run_id, RunEntry& entry, std::int64_t after) {
  Json pending = Json::array();
  std::vector<store::ActionUpdate> delivered;
  const double now = clock_();
  for (auto& action : entry.actions) {
    if (!IsPending(action) || action.id <= after) continue;
    if (!action.delivered_at) {
      delivered.push_back({action.id, now, std::nullopt, std::nullopt, std::nullopt});
    }
    pending.push_back(ToJson(action));
  }
  // delivered_at is bookkeeping for the audit log: a failure to store it must not hold the
  // action back, so it is only noted in the cache when it was stored.
  if (!delivered.empty() && store_.UpdateActions(run_id, delivered).ok()) {
    for (auto& action : entry.actions) {
      if (IsPending(action) && action.id > after && !action.delivered_at) {
        action.delivered_at = now;
      }
    }
  }
  return pending;
}

Result<Json> ControlService::Exchange(const std::string& run_id, const ExchangeRequest& request) {
  std::vector<Event> events;
  Json reply;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto entry = Entry(run_id);
    if (!entry.ok()) return entry.status();
    RunEntry& e = **entry;
    if (request.registration) {
      const Json json = ToJson(*request.registration);
      if (Status s = store_.PutControlRegistration(run_id, json); !s.ok()) return s;
      e.registration = *request.registration;
      if (e.registration.pause_on && pause_on_hook_) pause_on_hook_(run_id);
    }
    if (Status s = Settle(run_id, e, request.acks, &events); !s.ok()) return s;
    for (const ActionRequest& decision : request.decisions) {
      store::NewAction action = ToNewAction(decision, clock_());
      action.applied_at = action.created_at;
      action.outcome = "applied";
      auto stored = Append(run_id, e, action, &events);
      if (!stored.ok()) return stored.status();
    }
    reply = {{"actions", TakePending(run_id, e, request.after)},
             {"state", ToString(DeriveState(e.actions, model::RunStatus::kRunning))}};
  }
  Publish(run_id, events);
  return reply;
}

Json ControlService::PendingForIngest(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto entry = Entry(run_id);
  if (!entry.ok()) return Json::array();
  RunEntry& e = **entry;
  if (std::none_of(e.actions.begin(), e.actions.end(), IsPending)) return Json::array();
  return TakePending(run_id, e, 0);
}

void ControlService::OnFindings(const std::string& run_id,
                                const std::vector<FindingNote>& findings) {
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto entry = Entry(run_id);
    if (!entry.ok()) return;
    RunEntry& e = **entry;
    if (!e.registration.pause_on) return;
    const ControlState state = DeriveState(e.actions, model::RunStatus::kRunning);
    if (state != ControlState::kRunning && state != ControlState::kResuming) return;
    Json held = Json::array();
    std::string reason;
    for (const FindingNote& finding : findings) {
      if (!SeverityReaches(finding.severity, *e.registration.pause_on)) continue;
      if (e.held_findings.count(FindingKey(finding)) != 0) continue;
      held.push_back({{"check", finding.check},
                      {"layer", finding.layer},
                      {"severity", finding.severity},
                      {"title", finding.title}});
      if (reason.size() < kMaxReasonChars / 2) {
        reason += (reason.empty() ? "" : "; ") + finding.severity + ": " + finding.title;
      }
    }
    if (held.empty()) return;
    store::NewAction hold;
    hold.action = "hold";
    hold.params = {{"findings", std::move(held)}};
    hold.reason = reason.substr(0, kMaxReasonChars);
    hold.actor = "atlas";
    hold.created_at = clock_();
    if (!Append(run_id, e, hold, &events).ok()) return;
  }
  Publish(run_id, events);
}

void ControlService::Publish(const std::string& run_id, const std::vector<Event>& events) {
  if (!publisher_) return;
  for (const Event& event : events) publisher_(run_id, event.event, event.data);
}

}  // namespace atlas::control
