// The stored form of the agent's state (issue 8, docs/agent.md): each run's belief state and
// the actions the agent proposed for a developer to confirm.
//
// Plain values; the Store (store.hpp) persists them, the agent (agent/) gives them meaning.
// Times are Unix seconds on the server's clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/records.hpp"

namespace atlas::store {

// A run's belief state: the JSON document agent/beliefs.hpp defines, with the columns the
// project memory looks it up by.
struct BeliefRecord {
  std::string run_id;
  std::string fingerprint;  // the run's architecture fingerprint; "" when it sent none
  std::int64_t revision = 0;
  double updated_at = 0;
  std::string document;  // JSON
};

// An action the agent asked for (request_run_action). It does nothing until a developer
// confirms it in the dashboard, which then submits the real action to the control service.
struct ProposalRecord {
  std::int64_t id = 0;  // per run, 1, 2, ...
  std::string run_id;
  std::string action;  // "stop", "pause" or "adjust"
  model::Json params = model::Json::object();
  std::string reason;
  std::string actor;  // who proposed it: "agent" or an MCP client's name
  double created_at = 0;
  std::string status = "pending";  // "pending", "confirmed" or "dismissed"
  std::optional<double> resolved_at;
};

}  // namespace atlas::store
