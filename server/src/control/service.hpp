// ControlService: the server side of the interactive loop (issue 7, docs/control.md).
//
// It keeps each run's control state and audit log (in the Store, cached here), accepts actions
// from the API and the CLI (Submit), hands pending actions to the run's observer on every
// ingest reply (PendingForIngest) and on the observer's control poll (Exchange), records the
// observer's acknowledgements and its own decisions, and turns findings of the run's pause_on
// severity into a hold (OnFindings, the hook for the analysis service).
//
// Threading: every method is thread-safe. One mutex serialises all of them, store writes
// included: actions are rare, and serialising keeps every state transition atomic. The
// publisher is called with that mutex released, after the change is stored.
//
// Ownership: the service borrows the Store, which must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "atlas/status.hpp"
#include "control/action.hpp"
#include "store/store.hpp"

namespace atlas::control {

// What the analysis service tells control about a finding (only what pause_on needs).
struct FindingNote {
  std::string check;     // e.g. "layer.dead"
  std::string layer;     // "" for run-wide findings
  std::string severity;  // "info", "warning" or "critical"
  std::string title;
};

// The observer's acknowledgement of an action it received.
struct Ack {
  std::int64_t id = 0;
  std::string outcome;  // "applied" or "rejected"
  std::string detail;
  std::optional<double> ts;  // when it was applied, on the observer's clock
};

// A validated POST /api/v1/runs/{id}/control body (docs/protocol.md, "Control").
struct ExchangeRequest {
  std::int64_t after = 0;  // return only actions with a greater id
  std::vector<Ack> acks;
  std::optional<Registration> registration;
  // Decisions the observer took itself on a held run (the terminal's answer, a timeout's
  // default): recorded as already applied.
  std::vector<ActionRequest> decisions;
};
std::variant<ExchangeRequest, RequestError> ParseExchange(std::string_view body);

class ControlService {
 public:
  using Clock = std::function<double()>;
  // Told of each change: the run, the event ("action" with the action's JSON, or "status"
  // with {"state": ...}) and its data. Must not call back into the service.
  using Publisher =
      std::function<void(const std::string& run_id, std::string_view event, const Json& data)>;

  // `clock` gives Unix seconds; the system clock when empty.
  explicit ControlService(store::Store& store, Clock clock = {});

  // Set before the service is shared between threads.
  void SetPublisher(Publisher publisher);
  // Told of each run that has (or registers) a pause_on severity, so its diagnoses can be
  // followed (FindingsFeed::Watch). Called with the service's mutex held: it must only queue
  // or subscribe, never call back into the service. Set before the service is shared.
  void SetPauseOnHook(std::function<void(const std::string& run_id)> hook);

  // Accepts an action for a running run: the stored action's JSON with the run's new control
  // "state" added. kNotFound for an
  // unknown run, kConflict for a finished run or an action its state does not allow.
  Result<Json> Submit(const std::string& run_id, const ActionRequest& request);

  // The run's control view: {"run_id", "run_status", "state", "registration", "actions"}.
  // Actions a finished run never applied are marked expired here.
  Result<Json> Describe(const std::string& run_id);

  // The observer's poll: stores its registration, acknowledgements and decisions, then
  // returns {"actions": [pending actions with id > after], "state": ...}.
  Result<Json> Exchange(const std::string& run_id, const ExchangeRequest& request);

  // The actions waiting for the run's observer, for the ingest reply ([] when none, or when
  // the actions cannot be read: an ingest never fails because of control).
  Json PendingForIngest(const std::string& run_id);

  // The hook for the analysis service: when a finding reaches the run's registered pause_on
  // severity and has not held the run before, the run gets a hold (actor "atlas").
  void OnFindings(const std::string& run_id, const std::vector<FindingNote>& findings);

 private:
  struct RunEntry {
    std::vector<store::StoredAction> actions;
    Registration registration;
    std::set<std::string> held_findings;  // check/layer keys that already held the run
  };
  struct Event {
    std::string event;
    Json data;
  };

  Result<RunEntry*> Entry(const std::string& run_id);
  Result<store::StoredAction> Append(const std::string& run_id, RunEntry& entry,
                                     const store::NewAction& action, std::vector<Event>* events);
  Status Settle(const std::string& run_id, RunEntry& entry, const std::vector<Ack>& acks,
                std::vector<Event>* events);
  Json TakePending(const std::string& run_id, RunEntry& entry, std::int64_t after);
  void Publish(const std::string& run_id, const std::vector<Event>& events);
  static void NoteStateChange(ControlState before, const RunEntry& entry,
                              std::vector<Event>* events);

  store::Store& store_;
  const Clock clock_;
  Publisher publisher_;
  std::function<void(const std::string&)> pause_on_hook_;
  std::mutex mu_;
  std::unordered_map<std::string, RunEntry> runs_;  // guarded by mu_
};

}  // namespace atlas::control
