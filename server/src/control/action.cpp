#include "control/action.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace atlas::control {
namespace {

constexpr std::array<std::pair<ActionKind, std::string_view>, 5> kKinds = {{
    {ActionKind::kStop, "stop"},
    {ActionKind::kPause, "pause"},
    {ActionKind::kResume, "resume"},
    {ActionKind::kAdjust, "adjust"},
    {ActionKind::kHold, "hold"},
}};

RequestError Invalid(std::string field, std::string reason) {
  return RequestError{422, std::move(field), std::move(reason)};
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

std::optional<double> ParseNumber(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<Json> Multiply(double factor, std::string* error) {
  if (!(factor > 0) || !std::isfinite(factor)) {
    *error = "a factor must be a finite number > 0";
    return std::nullopt;
  }
  return Json{{"multiply", factor}};
}

// A string of at most `max` characters, or an error naming `field`.
std::optional<RequestError> CheckText(const Json& body, const char* key, std::size_t max,
                                      std::string_view where, std::string* out) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  const std::string field = std::string(where) + key;
  if (!it->is_string()) return Invalid(field, "must be a string");
  const auto& text = it->get_ref<const std::string&>();
  if (text.size() > max) {
    return Invalid(field, "must be at most " + std::to_string(max) + " characters");
  }
  *out = text;
  return std::nullopt;
}

std::optional<RequestError> ValidateAdjust(const Json& params, std::string_view where,
                                           Json* normalised) {
  const std::string field = std::string(where) + "params";
  if (!params.is_object() || params.empty()) {
    return Invalid(field, "adjust needs params naming at least one value, e.g. {\"lr\": \"0.5x\"}");
  }
  if (params.size() > kMaxAdjustValues) {
    return Invalid(field, "at most " + std::to_string(kMaxAdjustValues) + " values at once");
  }
  *normalised = Json::object();
  for (const auto& [name, value] : params.items()) {
    std::string value_field = field;
    value_field += '.';
    value_field += name;
    if (!ValidName(name)) {
      return Invalid(value_field, "a value's name is 1-64 of A-Z a-z 0-9 _ . -");
    }
    std::string error;
    auto norm = NormaliseAdjustValue(value, &error);
    if (!norm) return Invalid(value_field, error);
    (*normalised)[name] = std::move(*norm);
  }
  return std::nullopt;
}

std::optional<RequestError> ValidateMode(ActionKind kind, const Json& body, std::string_view where,
                                         std::string* mode) {
  const auto it = body.find("mode");
  const bool given = it != body.end() && !it->is_null();
  const std::string field = std::string(where) + "mode";
  if (kind != ActionKind::kStop) {
    if (given && !(it->is_string() && it->get_ref<const std::string&>().empty())) {
      return Invalid(field, "only stop takes a mode");
    }
    return std::nullopt;
  }
  *mode = "step";
  if (!given) return std::nullopt;
  if (!it->is_string() || (*it != "step" && *it != "epoch")) {
    return Invalid(field,
                   "must be \"step\" (end of the current step) or \"epoch\" (end of the "
                   "current epoch)");
  }
  *mode = it->get<std::string>();
  return std::nullopt;
}

int SeverityRank(std::string_view severity) {
  if (severity == "critical") return 2;
  if (severity == "warning") return 1;
  return 0;
}

}  // namespace

std::string_view ToString(ActionKind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<ActionKind> ParseActionKind(std::string_view name) {
  for (const auto& [k, n] : kKinds) {
    if (n == name) return k;
  }
  return std::nullopt;
}

std::string_view ToString(ControlState state) {
  switch (state) {
    case ControlState::kRunning:
      return "running";
    case ControlState::kPausing:
      return "pausing";
    case ControlState::kPaused:
      return "paused";
    case ControlState::kHolding:
      return "holding";
    case ControlState::kHeldForDecision:
      return "held_for_decision";
    case ControlState::kResuming:
      return "resuming";
    case ControlState::kStopping:
      return "stopping";
    case ControlState::kFinished:
      return "finished";
  }
  return "unknown";
}

std::optional<Json> NormaliseAdjustValue(const Json& value, std::string* error) {
  if (value.is_number()) {
    const double v = value.get<double>();
    if (!std::isfinite(v)) {
      *error = "must be finite";
      return std::nullopt;
    }
    return Json{{"set", v}};
  }
  if (value.is_object() && value.size() == 1) {
    const auto set = value.find("set");
    if (set != value.end() && set->is_number() && std::isfinite(set->get<double>())) {
      return Json{{"set", set->get<double>()}};
    }
    const auto mul = value.find("multiply");
    if (mul != value.end() && mul->is_number()) return Multiply(mul->get<double>(), error);
  }
  if (value.is_string()) {
    std::string_view text = value.get_ref<const std::string&>();
    if (!text.empty() && (text.back() == 'x' || text.back() == 'X')) {
      text.remove_suffix(1);
      if (auto factor = ParseNumber(text)) return Multiply(*factor, error);
    } else if (!text.empty() && (text.front() == 'x' || text.front() == '*')) {
      text.remove_prefix(1);
      if (auto factor = ParseNumber(text)) return Multiply(*factor, error);
    } else if (auto number = ParseNumber(text)) {
      return Json{{"set", *number}};
    }
  }
  *error =
      "must be a number or \"3e-4\" (set), \"0.5x\" (multiply), or {\"set\": v} / "
      "{\"multiply\": f}";
  return std::nullopt;
}

std::variant<ActionRequest, RequestError> ValidateAction(const Json& body,
                                                         std::string_view default_actor,
                                                         std::string_view where) {
  if (!body.is_object()) return RequestError{400, std::string(where), "must be a JSON object"};
  for (const auto& [key, value] : body.items()) {
    static constexpr std::array<std::string_view, 5> kKeys = {"action", "mode", "params", "reason",
                                                              "actor"};
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      return Invalid(std::string(where) + key, "unknown field");
    }
  }
  ActionRequest request;
  const auto action = body.find("action");
  if (action == body.end() || !action->is_string()) {
    return Invalid(std::string(where) + "action",
                   "required: one of stop, pause, resume, adjust, hold");
  }
  const auto kind = ParseActionKind(action->get_ref<const std::string&>());
  if (!kind) {
    return Invalid(std::string(where) + "action",
                   "unknown action '" + action->get<std::string>() +
                       "' (one of stop, pause, resume, adjust, hold)");
  }
  request.kind = *kind;
  if (auto error = ValidateMode(*kind, body, where, &request.mode)) return *error;
  const auto params = body.find("params");
  const bool has_params =
      params != body.end() && !params->is_null() && !(params->is_object() && params->empty());
  if (*kind == ActionKind::kAdjust) {
    if (auto error =
            ValidateAdjust(has_params ? *params : Json::object(), where, &request.params)) {
      return *error;
    }
  } else if (*kind == ActionKind::kHold && has_params) {
    if (!params->is_object()) return Invalid(std::string(where) + "params", "must be an object");
    request.params = *params;
  } else if (has_params) {
    return Invalid(std::string(where) + "params", "only adjust and hold take params");
  }
  if (auto error = CheckText(body, "reason", kMaxReasonChars, where, &request.reason)) {
    return *error;
  }
  if (auto error = CheckText(body, "actor", kMaxActorChars, where, &request.actor)) return *error;
  if (request.actor.empty()) request.actor = std::string(default_actor);
  return request;
}

std::variant<ActionRequest, RequestError> ParseActionRequest(std::string_view body,
                                                             std::string_view default_actor) {
  const Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return RequestError{400, "", "the body is not valid JSON"};
  return ValidateAction(parsed, default_actor, "");
}

std::variant<Registration, RequestError> ParseRegistration(const Json& body) {
  if (!body.is_object()) return RequestError{422, "register", "must be an object"};
  Registration registration;
  for (const auto& [key, value] : body.items()) {
    const std::string field = "register." + key;
    if (key == "pause_on") {
      if (value.is_null()) continue;
      if (!value.is_string() || (value != "critical" && value != "warning")) {
        return Invalid(field, "must be \"critical\", \"warning\" or null");
      }
      registration.pause_on = value.get<std::string>();
    } else if (key == "adjustable") {
      if (!value.is_array() || value.size() > 256) {
        return Invalid(field, "must be an array of at most 256 names");
      }
      for (const auto& name : value) {
        if (!name.is_string() || !ValidName(name.get_ref<const std::string&>())) {
          return Invalid(field, "names are 1-64 of A-Z a-z 0-9 _ . -");
        }
        registration.adjustable.push_back(name.get<std::string>());
      }
    } else if (key == "decision_timeout_s") {
      if (!value.is_number() || !(value.get<double>() >= 0) ||
          !std::isfinite(value.get<double>())) {
        return Invalid(field, "must be a number >= 0");
      }
      registration.decision_timeout_s = value.get<double>();
    } else if (key == "decision_default") {
      if (!value.is_string() || (value != "continue" && value != "stop")) {
        return Invalid(field, "must be \"continue\" or \"stop\"");
      }
      registration.decision_default = value.get<std::string>();
    } else {
      return Invalid(field, "unknown field");
    }
  }
  return registration;
}

Json ToJson(const Registration& registration) {
  Json out = {{"pause_on", nullptr},
              {"adjustable", registration.adjustable},
              {"decision_timeout_s", registration.decision_timeout_s},
              {"decision_default", registration.decision_default}};
  if (registration.pause_on) out["pause_on"] = *registration.pause_on;
  return out;
}

Registration RegistrationFromJson(const Json& stored) {
  auto parsed = ParseRegistration(stored.is_object() ? stored : Json::object());
  if (auto* registration = std::get_if<Registration>(&parsed)) return *registration;
  return Registration{};
}

bool IsPending(const store::StoredAction& action) { return action.outcome.empty(); }

ControlState DeriveState(const std::vector<store::StoredAction>& actions, model::RunStatus status) {
  if (status != model::RunStatus::kRunning) return ControlState::kFinished;
  ControlState state = ControlState::kRunning;
  for (const store::StoredAction& action : actions) {
    if (action.outcome == "rejected" || action.outcome == "expired") continue;
    const bool applied = action.outcome == "applied";
    const auto kind = ParseActionKind(action.action);
    if (!kind || state == ControlState::kStopping) continue;
    switch (*kind) {
      case ActionKind::kStop:
        state = ControlState::kStopping;
        break;
      case ActionKind::kPause:
        state = applied ? ControlState::kPaused : ControlState::kPausing;
        break;
      case ActionKind::kHold:
        state = applied ? ControlState::kHeldForDecision : ControlState::kHolding;
        break;
      case ActionKind::kResume:
        state = applied ? ControlState::kRunning : ControlState::kResuming;
        break;
      case ActionKind::kAdjust:
        break;
    }
  }
  return state;
}

std::optional<std::string> Conflict(const ActionRequest& request, ControlState state,
                                    const std::vector<store::StoredAction>& actions,
                                    const Registration& registration, const std::string& run_id) {
  const std::string run = "run '" + run_id + "'";
  const std::string now = " (control state: " + std::string(ToString(state)) + ")";
  if (state == ControlState::kStopping) {
    // A stop at the step's end may still overtake a pending stop at the epoch's end.
    const bool sooner = request.kind == ActionKind::kStop && request.mode == "step" &&
                        std::none_of(actions.begin(), actions.end(), [](const auto& a) {
                          return a.action == "stop" && a.mode == "step" &&
                                 a.outcome != "rejected" && a.outcome != "expired";
                        });
    if (!sooner) return run + " is already stopping" + now;
    return std::nullopt;
  }
  switch (request.kind) {
    case ActionKind::kStop:
    case ActionKind::kAdjust:
      break;
    case ActionKind::kPause:
      if (state == ControlState::kPausing || state == ControlState::kPaused) {
        return run + " is already paused" + now;
      }
      if (state == ControlState::kHeldForDecision) {
        return run + " is already held for a decision; resume or stop it" + now;
      }
      break;
    case ActionKind::kHold:
      if (state != ControlState::kRunning && state != ControlState::kResuming) {
        return run + " is not running freely; a hold needs a running run" + now;
      }
      break;
    case ActionKind::kResume:
      if (state == ControlState::kRunning || state == ControlState::kResuming) {
        return run + " is not paused or held, so there is nothing to resume" + now;
      }
      break;
  }
  if (request.kind == ActionKind::kAdjust && !registration.adjustable.empty()) {
    for (const auto& [name, value] : request.params.items()) {
      const auto& names = registration.adjustable;
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        std::string message = run + " has no adjustable value '";
        message += name;
        message += "' (registered: ";
        for (std::size_t i = 0; i < names.size(); ++i) {
          if (i > 0) message += ", ";
          message += names[i];
        }
        message += ")";
        return message;
      }
    }
  }
  return std::nullopt;
}

Json ToJson(const store::StoredAction& action) {
  auto optional = [](const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); };
  return {{"id", action.id},
          {"action", action.action},
          {"mode", action.mode},
          {"params", action.params},
          {"reason", action.reason},
          {"actor", action.actor},
          {"created_at", action.created_at},
          {"delivered_at", optional(action.delivered_at)},
          {"applied_at", optional(action.applied_at)},
          {"outcome", action.outcome.empty() ? Json(nullptr) : Json(action.outcome)},
          {"detail", action.detail}};
}

store::NewAction ToNewAction(const ActionRequest& request, double now) {
  store::NewAction action;
  action.action = std::string(ToString(request.kind));
  action.mode = request.mode;
  action.params = request.params;
  action.reason = request.reason;
  action.actor = request.actor;
  action.created_at = now;
  return action;
}

bool SeverityReaches(std::string_view severity, std::string_view threshold) {
  return SeverityRank(threshold) > 0 && SeverityRank(severity) >= SeverityRank(threshold);
}

}  // namespace atlas::control
