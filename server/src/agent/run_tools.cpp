#include "agent/run_tools.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "agent/fingerprint.hpp"

namespace atlas::agent {
namespace {

// ----- schemas ---------------------------------------------------------------------------------

Json Schema(Json properties, const std::vector<std::string>& required) {
  Json schema = {
      {"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) schema["required"] = required;
  return schema;
}

Json RunIdProperty() {
  return {{"type", "string"}, {"minLength", 1}, {"description", "The run's id."}};
}

Json RunOnly() { return Schema({{"run_id", RunIdProperty()}}, {"run_id"}); }

// ----- helpers ---------------------------------------------------------------------------------

Json OptionalJson(const std::optional<double>& v) { return v ? Json(*v) : Json(); }
Json OptionalJson(const std::optional<std::int64_t>& v) { return v ? Json(*v) : Json(); }

Json PairsToJson(const std::vector<std::pair<std::string, double>>& pairs) {
  Json out = Json::object();
  for (const auto& [k, v] : pairs) out[k] = v;
  return out;
}

Result<Json> RequireDiagnosis(const RunSources& sources, const std::string& run_id) {
  Result<std::optional<Json>> diagnosis = sources.diagnosis(run_id);
  if (!diagnosis.ok()) return diagnosis.status();
  if (!diagnosis->has_value()) {
    // Whether the run exists decides between "not yet" and "no such run".
    Result<model::Run> run = sources.store->GetRun(run_id);
    if (!run.ok()) return run.status();
    return Json();
  }
  return std::move(**diagnosis);
}

Json DiagnosisSummary(const Json& d) {
  if (d.is_null()) return Json{{"available", false}, {"note", "no diagnosis computed yet"}};
  Json counts = {{"critical", 0}, {"warning", 0}, {"info", 0}};
  for (const auto& f : d.value("findings", Json::array())) {
    const std::string sev = f.value("severity", "info");
    if (counts.contains(sev)) counts[sev] = counts[sev].get<int>() + 1;
  }
  return {{"available", true},
          {"grade", d.value("grade", Json())},
          {"score", d.value("score", Json())},
          {"category_scores", d.value("category_scores", Json::object())},
          {"finding_counts", counts},
          {"optimal_stop_epoch", d.value("optimal_stop_epoch", Json())},
          {"waste", d.value("waste", Json::object())},
          {"spent", d.value("spent", Json())}};
}

Json BriefFinding(const Json& f) {
  return {{"check", f.value("check", "")},
          {"severity", f.value("severity", "")},
          {"layer", f.value("layer", Json())},
          {"title", f.value("title", "")},
          {"fix", f.value("fix", "")},
          {"epochs", f.value("epochs", Json::array())},
          {"energy_at_stake", f.value("energy_at_stake", Json())}};
}

Json RunBrief(const model::Run& run) {
  return {{"run_id", run.id},
          {"name", run.name},
          {"project", run.project_name},
          {"status", std::string(model::ToString(run.status))},
          {"started_at", run.started_at},
          {"finished_at", OptionalJson(run.finished_at)},
          {"epochs", run.totals.epochs},
          {"last_step", OptionalJson(run.totals.last_step)},
          {"last_loss", OptionalJson(run.totals.last_loss)},
          {"energy_joules", run.totals.energy_joules}};
}

std::int64_t IntArg(const Json& args, const char* name, std::int64_t fallback) {
  return args.contains(name) ? static_cast<std::int64_t>(args[name].get<double>()) : fallback;
}

// ----- tools -----------------------------------------------------------------------------------

Result<Json> ListProjects(const RunSources& s) {
  Result<std::vector<model::Project>> projects = s.store->ListProjects();
  if (!projects.ok()) return projects.status();
  Json out = Json::array();
  for (const auto& p : *projects) {
    out.push_back({{"id", p.id}, {"name", p.name}, {"run_count", p.run_count}});
  }
  return Json{{"projects", out}};
}

Result<Json> ListRuns(const RunSources& s, const Json& args) {
  model::RunQuery query;
  if (args.contains("project")) query.project_name = args["project"].get<std::string>();
  if (args.contains("status"))
    query.status = model::ParseRunStatus(args["status"].get<std::string>());
  query.limit = IntArg(args, "limit", 20);
  Result<model::RunPage> page = s.store->ListRuns(query);
  if (!page.ok()) return page.status();
  std::vector<std::string> ids;
  for (const auto& run : page->runs) ids.push_back(run.id);
  std::map<std::string, store::DiagnosisRecord> grades;
  if (Result<std::vector<store::DiagnosisRecord>> summaries = s.store->ListDiagnosisSummaries(ids);
      summaries.ok()) {
    for (auto& d : *summaries) grades[d.run_id] = d;
  }
  Json runs = Json::array();
  for (const auto& run : page->runs) {
    Json brief = RunBrief(run);
    if (auto it = grades.find(run.id); it != grades.end()) {
      brief["grade"] = it->second.grade;
      brief["score"] = it->second.score;
    }
    runs.push_back(std::move(brief));
  }
  return Json{{"runs", runs}, {"total", page->total}};
}

Result<Json> GetRunSummary(const RunSources& s, BeliefTracker& tracker, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  Result<model::Run> run = s.store->GetRun(id);
  if (!run.ok()) return run.status();
  Result<Json> d = RequireDiagnosis(s, id);
  if (!d.ok()) return d.status();
  Json out = RunBrief(*run);
  out["hyperparameters"] = run->hyperparameters;
  out["device"] = run->device;
  out["fingerprint"] = ArchitectureFingerprint(run->architecture);
  out["diagnosis"] = DiagnosisSummary(*d);
  Json top = Json::array();
  for (const auto& f : d->is_null() ? Json::array() : d->value("findings", Json::array())) {
    if (top.size() >= 5) break;
    top.push_back(BriefFinding(f));
  }
  out["top_findings"] = top;
  if (Result<BeliefState> beliefs = tracker.Refresh(id); beliefs.ok()) {
    const Hypothesis* primary = FindHypothesis(*beliefs, beliefs->primary);
    out["primary_belief"] = primary ? Json{{"id", primary->id},
                                           {"issue", primary->issue},
                                           {"confidence", primary->confidence}}
                                    : Json();
  }
  return out;
}

Result<Json> GetEpochMetrics(const RunSources& s, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  Result<std::vector<model::EpochRecord>> epochs = s.store->ListEpochs(id);
  if (!epochs.ok()) return epochs.status();
  const std::int64_t from = IntArg(args, "from_epoch", INT64_MIN);
  const std::int64_t to = IntArg(args, "to_epoch", INT64_MAX);
  Json out = Json::array();
  for (const auto& e : *epochs) {
    if (e.epoch < from || e.epoch > to) continue;
    double joules = 0;
    for (const auto& entry : e.energy) joules += entry.joules;
    out.push_back({{"epoch", e.epoch},
                   {"duration_s", OptionalJson(e.duration_s)},
                   {"train", PairsToJson(e.train)},
                   {"val", PairsToJson(e.val)},
                   {"energy_joules", joules}});
  }
  return Json{{"run_id", id}, {"epochs", out}};
}

Result<Json> GetFindings(const RunSources& s, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  Result<Json> d = RequireDiagnosis(s, id);
  if (!d.ok()) return d.status();
  Json out = Json::array();
  for (const auto& f : d->is_null() ? Json::array() : d->value("findings", Json::array())) {
    if (args.contains("severity") && f.value("severity", "") != args["severity"]) continue;
    if (args.contains("category") && f.value("category", "") != args["category"]) continue;
    if (args.contains("layer") && f.value("layer", Json()) != args["layer"]) continue;
    out.push_back(f);
  }
  return Json{{"run_id", id},
              {"diagnosed", !d->is_null()},
              {"grade", d->is_null() ? Json() : d->value("grade", Json())},
              {"findings", out}};
}

Result<Json> GetLayerHealth(const RunSources& s, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  store::LayerStatsQuery query;
  if (args.contains("layer")) query.layer = args["layer"].get<std::string>();
  query.limit = 100000;
  Result<std::vector<model::LayerStatsRecord>> samples = s.store->ListLayerStats(id, query);
  if (!samples.ok()) return samples.status();
  // The latest sample of each layer, plus how many samples it had.
  std::map<std::string, std::pair<const model::LayerStat*, std::int64_t>> latest;
  std::map<std::string, std::int64_t> latest_step;
  for (const auto& record : *samples) {
    for (const auto& layer : record.layers) {
      auto& [stat, count] = latest[layer.layer];
      ++count;
      stat = &layer;
      latest_step[layer.layer] = record.step;
    }
  }
  Result<Json> d = RequireDiagnosis(s, id);
  if (!d.ok()) return d.status();
  const Json scores = d->is_null() ? Json::object() : d->value("layer_scores", Json::object());
  Json layers = Json::array();
  for (const auto& [name, entry] : latest) {
    Json stats = Json::object();
    for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
      if (entry.first->values[i])
        stats[std::string(model::kLayerStatNames[i])] = *entry.first->values[i];
    }
    layers.push_back({{"layer", name},
                      {"samples", entry.second},
                      {"latest_step", latest_step[name]},
                      {"latest", stats},
                      {"score", scores.value(name, Json())}});
  }
  return Json{{"run_id", id}, {"layers", layers}};
}

Result<Json> GetArchitecture(const RunSources& s, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  Result<model::Run> run = s.store->GetRun(id);
  if (!run.ok()) return run.status();
  Json modules = Json::array();
  std::int64_t params = 0;
  double flops = 0;
  for (const auto& m : run->architecture) {
    params += m.params;
    flops += m.flops.value_or(0);
    modules.push_back({{"name", m.name},
                       {"type", m.type},
                       {"parent", m.parent ? Json(*m.parent) : Json()},
                       {"params", m.params},
                       {"trainable_params", m.trainable_params},
                       {"input_shape", m.input_shape},
                       {"output_shape", m.output_shape},
                       {"flops", OptionalJson(m.flops)}});
  }
  return Json{{"run_id", id},
              {"fingerprint", ArchitectureFingerprint(run->architecture)},
              {"total_params", params},
              {"total_flops_per_sample", flops},
              {"modules", modules}};
}

Result<Json> GetWasteReport(const RunSources& s, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  Result<Json> d = RequireDiagnosis(s, id);
  if (!d.ok()) return d.status();
  if (d->is_null()) return Json{{"run_id", id}, {"diagnosed", false}};
  Json at_stake = Json::array();
  for (const auto& f : d->value("findings", Json::array())) {
    if (f.contains("energy_at_stake") && f["energy_at_stake"].is_object()) {
      at_stake.push_back({{"check", f.value("check", "")},
                          {"layer", f.value("layer", Json())},
                          {"title", f.value("title", "")},
                          {"energy_at_stake", f["energy_at_stake"]}});
    }
  }
  return Json{{"run_id", id},
              {"diagnosed", true},
              {"optimal_stop_epoch", d->value("optimal_stop_epoch", Json())},
              {"pitch_rule_epoch", d->value("pitch_rule_epoch", Json())},
              {"waste", d->value("waste", Json::object())},
              {"spent", d->value("spent", Json())},
              {"findings_with_energy_at_stake", at_stake}};
}

Result<Json> GetForecast(const RunSources& s, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  Result<Json> d = RequireDiagnosis(s, id);
  if (!d.ok()) return d.status();
  if (d->is_null()) return Json{{"run_id", id}, {"diagnosed", false}};
  return Json{{"run_id", id}, {"diagnosed", true}, {"forecast", d->value("forecast", Json())}};
}

Result<Json> CompareRuns(const RunSources& s, const Json& args) {
  const std::string a = args["run_id"].get<std::string>();
  const std::string b = args["other_run_id"].get<std::string>();
  Json sides = Json::array();
  for (const std::string& id : {a, b}) {
    Result<model::Run> run = s.store->GetRun(id);
    if (!run.ok()) return run.status();
    Result<Json> d = RequireDiagnosis(s, id);
    if (!d.ok()) return d.status();
    Result<std::vector<model::EpochRecord>> epochs = s.store->ListEpochs(id);
    if (!epochs.ok()) return epochs.status();
    Json side = RunBrief(*run);
    side["fingerprint"] = ArchitectureFingerprint(run->architecture);
    side["hyperparameters"] = run->hyperparameters;
    side["diagnosis"] = DiagnosisSummary(*d);
    if (!epochs->empty()) {
      side["final_train"] = PairsToJson(epochs->back().train);
      side["final_val"] = PairsToJson(epochs->back().val);
    }
    Json checks = Json::array();
    for (const auto& f : d->is_null() ? Json::array() : d->value("findings", Json::array())) {
      checks.push_back(f.value("check", "") + (f.value("layer", Json()).is_string()
                                                   ? "@" + f["layer"].get<std::string>()
                                                   : ""));
    }
    side["finding_ids"] = checks;
    sides.push_back(std::move(side));
  }
  Json only_a = Json::array();
  Json only_b = Json::array();
  for (const auto& x : sides[0]["finding_ids"]) {
    if (std::find(sides[1]["finding_ids"].begin(), sides[1]["finding_ids"].end(), x) ==
        sides[1]["finding_ids"].end()) {
      only_a.push_back(x);
    }
  }
  for (const auto& x : sides[1]["finding_ids"]) {
    if (std::find(sides[0]["finding_ids"].begin(), sides[0]["finding_ids"].end(), x) ==
        sides[0]["finding_ids"].end()) {
      only_b.push_back(x);
    }
  }
  return Json{{"runs", sides},
              {"same_architecture", sides[0]["fingerprint"] == sides[1]["fingerprint"] &&
                                        !sides[0]["fingerprint"].get<std::string>().empty()},
              {"findings_only_in_first", only_a},
              {"findings_only_in_second", only_b},
              {"energy_joules_delta",
               sides[1]["energy_joules"].get<double>() - sides[0]["energy_joules"].get<double>()}};
}

Result<Json> GetProjectHistory(const RunSources& s, BeliefTracker& tracker, const Json& args) {
  const std::string id = args["run_id"].get<std::string>();
  Result<model::Run> run = s.store->GetRun(id);
  if (!run.ok()) return run.status();
  const std::string fingerprint = ArchitectureFingerprint(run->architecture);
  if (fingerprint.empty()) {
    return Json{{"run_id", id},
                {"fingerprint", Json()},
                {"earlier_runs", Json::array()},
                {"note", "the run sent no architecture, so it has no fingerprint"}};
  }
  // Revise this run's beliefs first, so the memory holds its fingerprint from now on.
  (void)tracker.Refresh(id);
  Result<std::vector<store::BeliefRecord>> memory =
      s.store->ListBeliefsByFingerprint(fingerprint, IntArg(args, "limit", 10) + 1);
  if (!memory.ok()) return memory.status();
  Json earlier = Json::array();
  for (const auto& record : *memory) {
    if (record.run_id == id) continue;
    Result<model::Run> other = s.store->GetRun(record.run_id);
    if (!other.ok() || other->created_at > run->created_at) continue;
    const Json doc = Json::parse(record.document, nullptr, false);
    if (doc.is_discarded()) continue;
    const BeliefState state = BeliefStateFromJson(doc);
    Json problems = Json::array();
    for (const auto& h : state.hypotheses) {
      if (h.severity == "info") continue;
      problems.push_back({{"id", h.id},
                          {"issue", h.issue},
                          {"since_epoch", h.since_epoch},
                          {"confidence", h.confidence},
                          {"energy_at_stake", h.evidence.value("energy_at_stake", Json())},
                          {"status", h.status}});
    }
    Json entry = RunBrief(*other);
    entry["grade"] = state.grade;
    entry["problems"] = problems;
    if (Result<std::optional<Json>> d = s.diagnosis(record.run_id); d.ok() && d->has_value()) {
      entry["waste"] = (**d).value("waste", Json::object());
    }
    earlier.push_back(std::move(entry));
  }
  return Json{{"run_id", id}, {"fingerprint", fingerprint}, {"earlier_runs", earlier}};
}

Result<Json> GetBeliefs(BeliefTracker& tracker, const Json& args) {
  Result<BeliefState> state = tracker.Refresh(args["run_id"].get<std::string>());
  if (!state.ok()) return state.status();
  return ToJson(*state);
}

Result<Json> RequestRunAction(const RunSources& s, const ProposalPublisher& publish,
                              const Json& args) {
  store::ProposalRecord proposal;
  proposal.run_id = args["run_id"].get<std::string>();
  proposal.action = args["action"].get<std::string>();
  proposal.reason = args["reason"].get<std::string>();
  proposal.actor = "agent";
  proposal.created_at = s.clock();
  if (args.contains("mode")) proposal.params["mode"] = args["mode"];
  if (args.contains("params")) {
    for (const auto& [k, v] : args["params"].items()) proposal.params[k] = v;
  }
  if (proposal.action == "adjust" && !args.contains("params")) {
    return Status::InvalidArgument("params: is required for adjust (e.g. {\"lr\": 0.01})");
  }
  Result<model::Run> run = s.store->GetRun(proposal.run_id);
  if (!run.ok()) return run.status();
  if (run->status != model::RunStatus::kRunning) {
    return Status::Conflict(fmt::format("run {} is {}; only a running run takes actions",
                                        proposal.run_id, model::ToString(run->status)));
  }
  Result<store::ProposalRecord> stored = s.store->AppendProposal(proposal);
  if (!stored.ok()) return stored.status();
  Json out = ProposalToJson(*stored);
  if (publish) publish(proposal.run_id, out);
  out["note"] =
      "Filed as a proposal only: nothing changes until the developer confirms it in the "
      "dashboard.";
  return out;
}

}  // namespace

Json ProposalToJson(const store::ProposalRecord& p) {
  return {{"id", p.id},
          {"run_id", p.run_id},
          {"action", p.action},
          {"params", p.params},
          {"reason", p.reason},
          {"actor", p.actor},
          {"created_at", p.created_at},
          {"status", p.status},
          {"resolved_at", OptionalJson(p.resolved_at)}};
}

void AddRunTools(ToolRegistry& registry, const RunSources& sources, BeliefTracker& tracker,
                 const ProposalPublisher& on_proposal) {
  const RunSources s = sources;
  BeliefTracker* t = &tracker;
  const Json severity = {{"type", "string"}, {"enum", {"critical", "warning", "info"}}};
  const Json category = {
      {"type", "string"},
      {"enum", {"layer", "gradient", "architecture", "convergence", "device", "carbon"}}};
  const Json limit = {{"type", "integer"}, {"minimum", 1}, {"maximum", 200}};

  registry.Add({"list_projects", "List the projects with their run counts.", Schema({}, {})},
               [s](const Json&) { return ListProjects(s); });
  registry.Add(
      {"list_runs",
       "List runs, newest first, with status, epochs, energy and the latest grade. Filter by "
       "project name or status.",
       Schema({{"project", {{"type", "string"}, {"description", "A project name."}}},
               {"status",
                {{"type", "string"}, {"enum", {"running", "completed", "failed", "stopped"}}}},
               {"limit", limit}},
              {})},
      [s](const Json& a) { return ListRuns(s, a); });
  registry.Add({"get_run_summary",
                "A run's status, hyperparameters, device, grade and score, finding counts, "
                "the five most severe findings, waste, and the primary belief.",
                RunOnly()},
               [s, t](const Json& a) { return GetRunSummary(s, *t, a); });
  registry.Add({"get_epoch_metrics",
                "Per-epoch training and validation metrics, duration and energy of a run.",
                Schema({{"run_id", RunIdProperty()},
                        {"from_epoch", {{"type", "integer"}, {"minimum", 0}}},
                        {"to_epoch", {{"type", "integer"}, {"minimum", 0}}}},
                       {"run_id"})},
               [s](const Json& a) { return GetEpochMetrics(s, a); });
  registry.Add(
      {"get_findings",
       "The diagnostics' findings for a run, most severe first: check id, category, "
       "severity, layer, epochs, title, evidence, why it matters, the fix, energy at stake.",
       Schema({{"run_id", RunIdProperty()},
               {"severity", severity},
               {"category", category},
               {"layer", {{"type", "string"}}}},
              {"run_id"})},
      [s](const Json& a) { return GetFindings(s, a); });
  registry.Add({"get_layer_health",
                "Each layer's latest sampled statistics (activations, dead and saturated "
                "fractions, gradient and weight norms, update ratio) and its score.",
                Schema({{"run_id", RunIdProperty()}, {"layer", {{"type", "string"}}}}, {"run_id"})},
               [s](const Json& a) { return GetLayerHealth(s, a); });
  registry.Add({"get_architecture",
                "The run's module tree: types, parameters, shapes, FLOPs per sample, and its "
                "architecture fingerprint.",
                RunOnly()},
               [s](const Json& a) { return GetArchitecture(s, a); });
  registry.Add({"get_energy_timeline",
                "Energy per epoch by component (gpu, cpu, ram), with whether each figure was "
                "measured or estimated and by what method.",
                RunOnly()},
               [s](const Json& a) { return s.energy(a["run_id"].get<std::string>()); });
  registry.Add({"get_waste_report",
                "The compute wasted after the optimal stopping point (epochs, seconds, kWh, "
                "kg CO2, EUR, car-km, fraction) and each finding's energy at stake.",
                RunOnly()},
               [s](const Json& a) { return GetWasteReport(s, a); });
  registry.Add({"get_forecast",
                "The projection for the planned epochs (time, energy, CO2, EUR), the "
                "learning-curve fit, the plateau and the saving if stopped there.",
                RunOnly()},
               [s](const Json& a) { return GetForecast(s, a); });
  registry.Add({"compare_runs",
                "Two runs side by side: grades, findings only in one of them, final metrics, "
                "energy, hyperparameters, and whether they share an architecture.",
                Schema({{"run_id", RunIdProperty()}, {"other_run_id", RunIdProperty()}},
                       {"run_id", "other_run_id"})},
               [s](const Json& a) { return CompareRuns(s, a); });
  registry.Add({"get_project_history",
                "Earlier runs with the same architecture fingerprint (any project): their "
                "grades, the problems they hit and at which epoch, and what they wasted.",
                Schema({{"run_id", RunIdProperty()}, {"limit", limit}}, {"run_id"})},
               [s, t](const Json& a) { return GetProjectHistory(s, *t, a); });
  registry.Add({"get_beliefs",
                "The agent's belief state for a run: hypotheses with confidence, evidence, "
                "recommended action and revision history, and the primary one.",
                RunOnly()},
               [t](const Json& a) { return GetBeliefs(*t, a); });
  registry.Add(
      {"request_run_action",
       "Propose stopping, pausing or adjusting a running training. This only files a "
       "proposal: the developer must confirm it in the dashboard before anything happens.",
       Schema({{"run_id", RunIdProperty()},
               {"action", {{"type", "string"}, {"enum", {"stop", "pause", "adjust"}}}},
               {"mode", {{"type", "string"}, {"enum", {"step", "epoch"}}}},
               {"params",
                {{"type", "object"},
                 {"description", "For adjust: the values to change, e.g. {\"lr\": 0.01}."}}},
               {"reason", {{"type", "string"}, {"minLength", 1}}}},
              {"run_id", "action", "reason"}),
       /*action=*/true},
      [s, on_proposal](const Json& a) { return RequestRunAction(s, on_proposal, a); });
}

}  // namespace atlas::agent
