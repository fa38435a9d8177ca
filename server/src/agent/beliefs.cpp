#include "agent/beliefs.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

namespace atlas::agent {
namespace {

constexpr std::size_t kPrimaryHistoryLimit = 50;
constexpr std::size_t kHypothesisHistoryLimit = 50;

int SeverityRank(const std::string& severity) {
  if (severity == "critical") return 2;
  if (severity == "warning") return 1;
  return 0;
}

std::string HypothesisId(const Json& finding) {
  std::string check = finding.value("check", "");
  const Json layer = finding.value("layer", Json());
  if (layer.is_string() && !layer.get<std::string>().empty()) {
    return check + "@" + layer.get<std::string>();
  }
  return check;
}

double KgAtStake(const Hypothesis& h) {
  const Json stake = h.evidence.value("energy_at_stake", Json());
  return stake.is_object() ? stake.value("kg_co2", 0.0) : 0.0;
}

// The latest epoch a diagnosis covers: the newest epoch of any finding, or what the document
// says it covered.
std::int64_t LatestEpoch(const Json& diagnosis) {
  std::int64_t latest = diagnosis.value("epochs", Json()).is_number_integer()
                            ? diagnosis["epochs"].get<std::int64_t>()
                            : 0;
  for (const auto& finding : diagnosis.value("findings", Json::array())) {
    for (const auto& e : finding.value("epochs", Json::array())) {
      if (e.is_number_integer()) latest = std::max(latest, e.get<std::int64_t>());
    }
  }
  return latest;
}

Hypothesis FromFinding(const Json& finding) {
  Hypothesis h;
  h.id = HypothesisId(finding);
  h.check = finding.value("check", "");
  h.category = finding.value("category", "");
  h.severity = finding.value("severity", "info");
  const Json layer = finding.value("layer", Json());
  h.layer = layer.is_string() ? layer.get<std::string>() : "";
  h.issue = finding.value("title", h.check);
  h.why = finding.value("why", "");
  h.recommended_action = finding.value("fix", "");
  h.evidence = Json{{"numbers", finding.value("evidence", Json::object())},
                    {"epochs", finding.value("epochs", Json::array())}};
  if (finding.contains("energy_at_stake") && finding["energy_at_stake"].is_object()) {
    h.evidence["energy_at_stake"] = finding["energy_at_stake"];
  }
  const std::size_t seen = finding.value("epochs", Json::array()).size();
  h.confidence = ConfidenceFor(h.severity, seen);
  const Json epochs = finding.value("epochs", Json::array());
  h.since_epoch =
      !epochs.empty() && epochs[0].is_number_integer() ? epochs[0].get<std::int64_t>() : 0;
  return h;
}

void Record(Hypothesis& h, std::int64_t revision, std::int64_t epoch, std::string note) {
  h.history.push_back(Revision{revision, epoch, h.confidence, h.status, std::move(note)});
  if (h.history.size() > kHypothesisHistoryLimit) h.history.erase(h.history.begin());
}

std::string PickPrimary(const std::vector<Hypothesis>& hypotheses) {
  const Hypothesis* best = nullptr;
  auto key = [](const Hypothesis& h) {
    return std::make_tuple(SeverityRank(h.severity), h.confidence, KgAtStake(h));
  };
  for (const auto& h : hypotheses) {
    if (h.status != "active") continue;
    if (best == nullptr || key(h) > key(*best) || (key(h) == key(*best) && h.id < best->id)) {
      best = &h;
    }
  }
  return best ? best->id : "";
}

// Folds the latest findings into `next`; returns whether any belief changed.
bool MergeFindings(BeliefState& next, const Json& findings, std::int64_t revision,
                   std::int64_t epoch) {
  bool changed = false;
  std::map<std::string, const Json*> current;
  for (const auto& finding : findings) current[HypothesisId(finding)] = &finding;
  for (auto& h : next.hypotheses) {
    auto it = current.find(h.id);
    if (it == current.end()) {
      if (h.status == "active") {
        h.status = "retired";
        h.confidence = h.confidence / 2;
        Record(h, revision, epoch, "no longer found by the diagnostics");
        changed = true;
      }
      continue;
    }
    Hypothesis fresh = FromFinding(*it->second);
    const bool differs = fresh.confidence != h.confidence || fresh.severity != h.severity ||
                         h.status != "active" || fresh.evidence != h.evidence;
    if (differs) {
      std::string note = "evidence updated";
      if (h.status != "active") {
        note = "found again";
      } else if (fresh.severity != h.severity) {
        note = fmt::format("severity {} -> {}", h.severity, fresh.severity);
      } else if (fresh.confidence != h.confidence) {
        note = fmt::format("confidence {:.2f} -> {:.2f} ({} epochs of evidence)", h.confidence,
                           fresh.confidence, fresh.evidence["epochs"].size());
      }
      fresh.history = std::move(h.history);
      fresh.since_epoch = std::min(h.since_epoch, fresh.since_epoch);
      h = std::move(fresh);
      Record(h, revision, epoch, note);
      changed = true;
    }
    current.erase(it);
  }
  for (const auto& finding : findings) {
    const std::string id = HypothesisId(finding);
    if (!current.count(id)) continue;
    current.erase(id);
    Hypothesis h = FromFinding(finding);
    Record(h, revision, epoch, "first found");
    next.hypotheses.push_back(std::move(h));
    changed = true;
  }
  return changed;
}

}  // namespace

double ConfidenceFor(const std::string& severity, std::size_t epochs_seen) {
  const double base = severity == "critical" ? 0.6 : severity == "warning" ? 0.45 : 0.25;
  const std::size_t extra = epochs_seen > 1 ? std::min<std::size_t>(epochs_seen - 1, 3) : 0;
  return std::min(0.95, base + 0.1 * static_cast<double>(extra));
}

std::optional<BeliefState> Revise(const BeliefState& previous, const Json& diagnosis) {
  BeliefState next = previous;
  const std::int64_t revision = previous.revision + 1;
  const std::int64_t epoch = std::max(previous.epoch, LatestEpoch(diagnosis));
  const std::string grade = diagnosis.value("grade", "");
  bool changed = MergeFindings(next, diagnosis.value("findings", Json::array()), revision, epoch);
  changed = changed || grade != previous.grade || epoch != previous.epoch || previous.revision == 0;
  if (!changed) return std::nullopt;
  next.revision = revision;
  next.epoch = epoch;
  next.grade = grade;
  const std::string primary = PickPrimary(next.hypotheses);
  if (primary != previous.primary) {
    next.primary_history.push_back(PrimaryChange{revision, epoch, previous.primary, primary});
    if (next.primary_history.size() > kPrimaryHistoryLimit) {
      next.primary_history.erase(next.primary_history.begin());
    }
  }
  next.primary = primary;
  // Active beliefs first, each group by descending confidence, so readers see the strongest.
  std::stable_sort(next.hypotheses.begin(), next.hypotheses.end(),
                   [](const Hypothesis& a, const Hypothesis& b) {
                     if ((a.status == "active") != (b.status == "active")) {
                       return a.status == "active";
                     }
                     return a.confidence > b.confidence;
                   });
  return next;
}

Json ToJson(const BeliefState& state) {
  Json hypotheses = Json::array();
  for (const auto& h : state.hypotheses) {
    Json history = Json::array();
    for (const auto& r : h.history) {
      history.push_back({{"revision", r.revision},
                         {"epoch", r.epoch},
                         {"confidence", r.confidence},
                         {"status", r.status},
                         {"note", r.note}});
    }
    hypotheses.push_back({{"id", h.id},
                          {"check", h.check},
                          {"category", h.category},
                          {"severity", h.severity},
                          {"layer", h.layer.empty() ? Json() : Json(h.layer)},
                          {"issue", h.issue},
                          {"confidence", h.confidence},
                          {"evidence", h.evidence},
                          {"why", h.why},
                          {"recommended_action", h.recommended_action},
                          {"status", h.status},
                          {"since_epoch", h.since_epoch},
                          {"history", history}});
  }
  Json changes = Json::array();
  for (const auto& c : state.primary_history) {
    changes.push_back({{"revision", c.revision},
                       {"epoch", c.epoch},
                       {"from", c.from.empty() ? Json() : Json(c.from)},
                       {"to", c.to.empty() ? Json() : Json(c.to)}});
  }
  return {{"run_id", state.run_id},
          {"fingerprint", state.fingerprint},
          {"revision", state.revision},
          {"epoch", state.epoch},
          {"grade", state.grade},
          {"primary", state.primary.empty() ? Json() : Json(state.primary)},
          {"hypotheses", hypotheses},
          {"primary_history", changes}};
}

BeliefState BeliefStateFromJson(const Json& json) {
  BeliefState state;
  if (!json.is_object()) return state;
  state.run_id = json.value("run_id", "");
  state.fingerprint = json.value("fingerprint", "");
  state.revision = json.value("revision", std::int64_t{0});
  state.epoch = json.value("epoch", std::int64_t{0});
  state.grade = json.value("grade", "");
  const Json primary = json.value("primary", Json());
  state.primary = primary.is_string() ? primary.get<std::string>() : "";
  for (const auto& j : json.value("hypotheses", Json::array())) {
    Hypothesis h;
    h.id = j.value("id", "");
    h.check = j.value("check", "");
    h.category = j.value("category", "");
    h.severity = j.value("severity", "info");
    const Json layer = j.value("layer", Json());
    h.layer = layer.is_string() ? layer.get<std::string>() : "";
    h.issue = j.value("issue", "");
    h.confidence = j.value("confidence", 0.0);
    h.evidence = j.value("evidence", Json::object());
    h.why = j.value("why", "");
    h.recommended_action = j.value("recommended_action", "");
    h.status = j.value("status", "active");
    h.since_epoch = j.value("since_epoch", std::int64_t{0});
    for (const auto& r : j.value("history", Json::array())) {
      h.history.push_back(Revision{r.value("revision", std::int64_t{0}),
                                   r.value("epoch", std::int64_t{0}), r.value("confidence", 0.0),
                                   r.value("status", ""), r.value("note", "")});
    }
    state.hypotheses.push_back(std::move(h));
  }
  for (const auto& c : json.value("primary_history", Json::array())) {
    const Json from = c.value("from", Json());
    const Json to = c.value("to", Json());
    state.primary_history.push_back(PrimaryChange{c.value("revision", std::int64_t{0}),
                                                  c.value("epoch", std::int64_t{0}),
                                                  from.is_string() ? from.get<std::string>() : "",
                                                  to.is_string() ? to.get<std::string>() : ""});
  }
  return state;
}

const Hypothesis* FindHypothesis(const BeliefState& state, const std::string& id) {
  for (const auto& h : state.hypotheses) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

Json InsightFor(const BeliefState& state, const std::string& previous_primary) {
  const Hypothesis* primary = FindHypothesis(state, state.primary);
  Json primary_json;
  std::string message;
  if (primary != nullptr) {
    BeliefState only;
    only.hypotheses.push_back(*primary);
    primary_json = ToJson(only)["hypotheses"][0];
    message = fmt::format("Epoch {}: the main problem is now {} ({} confidence {:.0f}%). {}",
                          state.epoch, primary->issue, primary->severity, primary->confidence * 100,
                          primary->recommended_action);
  } else {
    message = fmt::format("Epoch {}: no open problem remains (grade {}).", state.epoch,
                          state.grade.empty() ? "?" : state.grade);
  }
  return {{"run_id", state.run_id},
          {"revision", state.revision},
          {"epoch", state.epoch},
          {"previous", previous_primary.empty() ? Json() : Json(previous_primary)},
          {"primary", primary_json},
          {"message", message}};
}

}  // namespace atlas::agent
