// The stored form of control actions (issue 7, docs/control.md): the audit log of what was
// asked of a running training (stop, pause, resume, adjust, hold), by whom, when and why, and
// when the observer received and applied it.
//
// Plain values; the Store (store.hpp) persists them, the control service (control/) gives them
// meaning. Times are Unix seconds on the server's clock, except applied_at, which is the
// observer's clock when it says so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/records.hpp"

namespace atlas::store {

struct StoredAction {
  std::int64_t id = 0;  // per run, 1, 2, ... in the order the actions were made
  std::string action;   // "stop", "pause", "resume", "adjust", "hold"
  std::string mode;     // stop: "step" or "epoch"; "" otherwise
  model::Json params = model::Json::object();
  std::string reason;
  std::string actor;  // who asked: a user name, "cli", "dashboard", "atlas", "timeout"
  double created_at = 0;
  std::optional<double> delivered_at;  // first handed to the observer
  std::optional<double> applied_at;    // the observer applied (or refused) it
  std::string outcome;  // "" while pending; "applied", "rejected" or "expired" once settled
  std::string detail;   // what applying it did, e.g. "lr 0.1 -> 0.05", or why it was refused
};

// An action to append. Decisions the observer made itself (a timeout's default, an answer at
// the terminal) are appended already settled: `outcome` and `applied_at` set.
struct NewAction {
  std::string action;
  std::string mode;
  model::Json params = model::Json::object();
  std::string reason;
  std::string actor;
  double created_at = 0;
  std::optional<double> applied_at;
  std::string outcome;
  std::string detail;
};

// A change to a stored action; unset fields keep their value. delivered_at is only set when
// it was still unset.
struct ActionUpdate {
  std::int64_t id = 0;
  std::optional<double> delivered_at;
  std::optional<double> applied_at;
  std::optional<std::string> outcome;
  std::optional<std::string> detail;
};

}  // namespace atlas::store
