// Control actions: what a person (or atlasd itself) asks of a running training, as validated
// values, and the run's control state derived from its audit log (docs/control.md).
//
// Pure functions of their inputs: parsing and validating request bodies, normalising adjust
// parameters, deriving the state, and the JSON forms. No I/O, no clock, no locks; safe from any
// thread. The ControlService (service.hpp) adds storage, delivery and the rules that need the
// run's current state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/records.hpp"
#include "store/actions.hpp"

namespace atlas::control {

using Json = model::Json;

// The kinds of action. kHold is normally made by atlasd when a finding of the run's pause_on
// severity arrives, but may also be asked for: hold at the next epoch end for a decision.
enum class ActionKind { kStop, kPause, kResume, kAdjust, kHold };
std::string_view ToString(ActionKind kind);
std::optional<ActionKind> ParseActionKind(std::string_view name);

// The run's control state, derived from its actions (DeriveState) and its status.
enum class ControlState {
  kRunning,
  kPausing,          // pause asked, not yet applied by the observer
  kPaused,           // the observer holds the training until resume (or stop)
  kHolding,          // a hold asked: the observer will hold at the end of this epoch
  kHeldForDecision,  // held at an epoch end, waiting for continue (resume) or stop
  kResuming,         // resume asked, not yet applied
  kStopping,         // stop asked; the run ends at the step's or the epoch's end
  kFinished,         // the run has ended (its status says how)
};
std::string_view ToString(ControlState state);

// A validated POST /api/v1/runs/{id}/actions body.
struct ActionRequest {
  ActionKind kind = ActionKind::kStop;
  std::string mode;  // stop: "step" or "epoch"; "" for the others
  // adjust: {"name": {"multiply": f} | {"set": v}, ...}; hold: may carry {"findings": [...]}.
  Json params = Json::object();
  std::string reason;
  std::string actor;
};

// A request the server refuses before looking at the run: 400 (malformed) or 422 (a field).
struct RequestError {
  unsigned status = 422;
  std::string field;
  std::string reason;
};

inline constexpr std::size_t kMaxReasonChars = 1000;
inline constexpr std::size_t kMaxActorChars = 128;
inline constexpr std::size_t kMaxAdjustValues = 32;

// Parses and validates an action body. `default_actor` fills a missing "actor".
std::variant<ActionRequest, RequestError> ParseActionRequest(std::string_view body,
                                                             std::string_view default_actor);
// Validates a parsed action object (also used for the observer's own decisions).
std::variant<ActionRequest, RequestError> ValidateAction(const Json& body,
                                                         std::string_view default_actor,
                                                         std::string_view where);

// Normalises one adjust value: a number or "3e-4" sets; "0.5x" (or "x0.5", "*0.5")
// multiplies. Returns {"set": v} or {"multiply": f}, or nullopt with `error` filled.
std::optional<Json> NormaliseAdjustValue(const Json& value, std::string* error);

// The observer's registration (POST .../control "register"): which findings pause the run and
// which values may be adjusted. Validated, with unknown keys refused.
struct Registration {
  std::optional<std::string> pause_on;  // "critical" or "warning"; none: findings never hold
  std::vector<std::string> adjustable;  // names adjust may use ("lr" when an optimizer is known)
  double decision_timeout_s = 0;
  std::string decision_default = "continue";
};
std::variant<Registration, RequestError> ParseRegistration(const Json& body);
Json ToJson(const Registration& registration);
Registration RegistrationFromJson(const Json& stored);  // stored JSON was validated on the way in

// The state after `actions` (in id order) on a run whose status is `status`.
ControlState DeriveState(const std::vector<store::StoredAction>& actions, model::RunStatus status);

// Why `request` cannot be accepted in `state` (409), or nullopt when it can. `adjustable`
// lists the run's registered names (empty when it registered none: then any name goes and the
// observer decides).
std::optional<std::string> Conflict(const ActionRequest& request, ControlState state,
                                    const std::vector<store::StoredAction>& actions,
                                    const Registration& registration, const std::string& run_id);

Json ToJson(const store::StoredAction& action);
store::NewAction ToNewAction(const ActionRequest& request, double now);

// Whether a finding of `severity` reaches a pause_on `threshold` ("warning" or "critical").
bool SeverityReaches(std::string_view severity, std::string_view threshold);

// Whether an action still waits for the observer (not yet applied, refused or expired).
bool IsPending(const store::StoredAction& action);

}  // namespace atlas::control
