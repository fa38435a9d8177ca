// Belief state: what the agent currently believes is wrong with a run, how sure it is, on what
// evidence, what it recommends, and how each belief changed over the epochs.
//
// Revise() is pure and deterministic: the same previous state and diagnosis give the same new
// state, so a belief can be replayed and tested. Its JSON form is the body of
// GET /api/v1/runs/{id}/beliefs (docs/agent.md, "Belief state").
//
// Confidence rule (docs/agent.md): a finding seen for the first time starts at its severity's
// base (critical 0.6, warning 0.45, info 0.25) and gains 0.1 for each further epoch it covers,
// up to 3 (so at most +0.3), capped at 0.95. A belief whose finding is gone from the latest
// diagnosis is retired and its confidence halved. The primary belief is the active one with the
// highest (severity, confidence, kg CO2 at stake), ties broken by id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace atlas::agent {

using Json = nlohmann::json;

struct Revision {
  std::int64_t revision = 0;
  std::int64_t epoch = 0;
  double confidence = 0;
  std::string status;  // "active" or "retired"
  std::string note;    // what changed, in words
};

struct Hypothesis {
  std::string id;  // "<check>" or "<check>@<layer>"
  std::string check;
  std::string category;
  std::string severity;
  std::string layer;  // "" for run-wide
  std::string issue;  // the finding's title
  double confidence = 0;
  Json evidence = Json::object();  // the finding's evidence, epochs and energy at stake
  std::string why;
  std::string recommended_action;  // the finding's fix
  std::string status = "active";
  std::int64_t since_epoch = 0;
  std::vector<Revision> history;
};

struct PrimaryChange {
  std::int64_t revision = 0;
  std::int64_t epoch = 0;
  std::string from;  // "" for none
  std::string to;    // "" for none
};

struct BeliefState {
  std::string run_id;
  std::string fingerprint;
  std::int64_t revision = 0;  // 0: never revised
  std::int64_t epoch = 0;     // the latest epoch the diagnosis covered
  std::string grade;
  std::string primary;  // the primary hypothesis id, "" for none
  std::vector<Hypothesis> hypotheses;
  std::vector<PrimaryChange> primary_history;  // the last 50 changes
};

// The confidence of a finding covering `epochs_seen` epochs at `severity`.
double ConfidenceFor(const std::string& severity, std::size_t epochs_seen);

// The next state from `previous` and a diagnosis document (docs/diagnostics.md). Returns
// nullopt when nothing changed (the same findings, epochs and grade), so callers store and
// announce only real revisions.
std::optional<BeliefState> Revise(const BeliefState& previous, const Json& diagnosis);

Json ToJson(const BeliefState& state);
BeliefState BeliefStateFromJson(const Json& json);  // tolerant: missing keys take defaults

// The hypothesis named `id`, or nullptr.
const Hypothesis* FindHypothesis(const BeliefState& state, const std::string& id);

// The insight pushed when the primary belief changes: {"run_id", "revision", "epoch",
// "previous", "primary" (the hypothesis or null), "message"}.
Json InsightFor(const BeliefState& state, const std::string& previous_primary);

}  // namespace atlas::agent
