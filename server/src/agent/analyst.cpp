#include "agent/analyst.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <utility>

#include <fmt/format.h>

namespace atlas::agent {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool HasAny(const std::string& text, std::initializer_list<const char*> words) {
  return std::any_of(words.begin(), words.end(),
                     [&](const char* w) { return text.find(w) != std::string::npos; });
}

// Calls tools and remembers which, so the answer can say what it was built from.
class ToolCaller {
 public:
  explicit ToolCaller(const ToolRegistry& tools) : tools_(tools) {}
  Result<Json> Call(const std::string& name, const Json& args) {
    used_.push_back(name);
    return tools_.Call(name, args, /*allow_actions=*/false);
  }
  std::vector<std::string> used() && { return std::move(used_); }

 private:
  const ToolRegistry& tools_;
  std::vector<std::string> used_;
};

double Num(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

std::string Co2(double kg) {
  return kg < 1 ? fmt::format("{:.3g} g CO2", kg * 1000) : fmt::format("{:.3g} kg CO2", kg);
}

std::string Energy(double kwh) {
  return kwh < 1 ? fmt::format("{:.3g} Wh", kwh * 1000) : fmt::format("{:.3g} kWh", kwh);
}

std::string Footprint(const Json& j) {
  return fmt::format("{}, {}, EUR {:.4g}", Energy(Num(j, "kwh")), Co2(Num(j, "kg_co2")),
                     Num(j, "eur"));
}

std::string Epochs(const Json& f) {
  const Json epochs = f.value("epochs", Json::array());
  if (epochs.empty()) return "";
  if (epochs.size() == 1) return fmt::format(", epoch {}", epochs[0].dump());
  return fmt::format(", epochs {}-{}", epochs.front().dump(), epochs.back().dump());
}

std::string Where(const Json& f) {
  const Json layer = f.value("layer", Json());
  return layer.is_string() ? fmt::format(" on {}", layer.get<std::string>()) : "";
}

std::string FindingLine(const Json& f) {
  std::string line = fmt::format("{} ({}, {}{}{})", f.value("title", ""), f.value("severity", ""),
                                 f.value("check", ""), Where(f), Epochs(f));
  if (f.contains("energy_at_stake") && f["energy_at_stake"].is_object()) {
    line += fmt::format("; at stake: {}", Footprint(f["energy_at_stake"]));
  }
  return line;
}

int Rank(const Json& f) {
  const std::string s = f.value("severity", "");
  return s == "critical" ? 2 : s == "warning" ? 1 : 0;
}

double Co2AtStake(const Json& f) { return Num(f.value("energy_at_stake", Json()), "kg_co2"); }

// A score as the diagnosis holds it: "85", "8.5" (never rounded to a different number).
std::string Score(double score) { return fmt::format("{:.4g}", score); }

// One problem: the findings of one check at one severity (a check that fires on four layers is
// one thing to change, not four), the most energy at stake first.
struct Problem {
  std::vector<Json> findings;
  double kg_co2 = 0;  // the members' energy at stake, summed
  int rank() const { return Rank(findings.front()); }
  const Json& lead() const { return findings.front(); }
};

// The diagnosis's findings grouped into problems, ordered by what to change first: severity,
// then the CO2 at stake (the energy at stake in every unit, at the run's one grid intensity);
// ties keep the diagnosis's order.
std::vector<Problem> Prioritised(const Json& findings) {
  std::vector<Problem> problems;
  for (const auto& f : findings) {
    auto same = std::find_if(problems.begin(), problems.end(), [&](const Problem& p) {
      return p.lead().value("check", "") == f.value("check", "") && p.rank() == Rank(f);
    });
    if (same == problems.end()) same = problems.insert(problems.end(), Problem{});
    same->findings.push_back(f);
    same->kg_co2 += Co2AtStake(f);
  }
  for (auto& p : problems) {
    std::stable_sort(p.findings.begin(), p.findings.end(),
                     [](const Json& a, const Json& b) { return Co2AtStake(a) > Co2AtStake(b); });
  }
  std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) {
    if (a.rank() != b.rank()) return a.rank() > b.rank();
    return a.kg_co2 > b.kg_co2;
  });
  return problems;
}

// The layers of a problem's other findings: "3, 5 and 7".
std::string OtherLayers(const Problem& p) {
  std::vector<std::string> layers;
  for (std::size_t i = 1; i < p.findings.size(); ++i) {
    const Json layer = p.findings[i].value("layer", Json());
    if (layer.is_string()) layers.push_back(layer.get<std::string>());
  }
  if (layers.empty()) return "";
  std::string out = layers.front();
  for (std::size_t i = 1; i < layers.size(); ++i) {
    out += (i + 1 == layers.size() ? " and " : ", ") + layers[i];
  }
  return out;
}

// The energy at stake of every member, summed unit by unit.
Json SummedAtStake(const Problem& p) {
  Json sum = {{"kwh", 0.0}, {"kg_co2", 0.0}, {"eur", 0.0}};
  for (const auto& f : p.findings) {
    const Json at_stake = f.value("energy_at_stake", Json());
    for (const char* unit : {"kwh", "kg_co2", "eur"}) {
      sum[unit] = sum[unit].get<double>() + Num(at_stake, unit);
    }
  }
  return sum;
}

std::string ProblemLine(const Problem& p) {
  if (p.findings.size() == 1) return FindingLine(p.lead());
  const std::string others = OtherLayers(p);
  std::string line = FindingLine(p.lead());
  line += fmt::format("; the same on {}", others.empty() ? "other parts of the run" : others);
  if (p.kg_co2 > 0) line += fmt::format(" (at stake in all: {})", Footprint(SummedAtStake(p)));
  return line;
}

Result<std::string> WhyGrade(ToolCaller& tools, const std::string& run_id) {
  Result<Json> summary = tools.Call("get_run_summary", {{"run_id", run_id}});
  if (!summary.ok()) return summary.status();
  const Json d = summary->value("diagnosis", Json::object());
  if (!d.value("available", false)) {
    return fmt::format("Run {} has no diagnosis yet: it needs at least one finished epoch.",
                       run_id);
  }
  Result<Json> findings = tools.Call("get_findings", {{"run_id", run_id}});
  if (!findings.ok()) return findings.status();
  const Json counts = d.value("finding_counts", Json::object());
  std::string text = fmt::format(
      "Run {} has grade {} (score {}/100) from {} critical, {} warning and {} info "
      "findings; a finding repeated over epochs counts once.",
      run_id, d.value("grade", Json("?")).get<std::string>(), Score(Num(d, "score")),
      counts.value("critical", 0), counts.value("warning", 0), counts.value("info", 0));
  const Json categories = d.value("category_scores", Json::object());
  if (categories.is_object() && !categories.empty()) {
    std::vector<std::pair<double, std::string>> sorted;
    for (const auto& [name, score] : categories.items()) {
      if (score.is_number()) sorted.emplace_back(score.get<double>(), name);
    }
    std::sort(sorted.begin(), sorted.end());
    // A weakest category among perfect ones would be an arbitrary name.
    if (!sorted.empty() && sorted[0].first < 100) {
      text += fmt::format(" The weakest category is {} ({}/100).", sorted[0].second,
                          Score(sorted[0].first));
    } else if (!sorted.empty()) {
      text += " Every category scores 100/100.";
    }
  }
  const std::vector<Problem> ordered = Prioritised(findings->value("findings", Json::array()));
  if (ordered.empty()) return text + " Nothing costs it points.";
  text += " What costs it the most:";
  for (std::size_t i = 0; i < ordered.size() && i < 3; ++i) {
    text += fmt::format("\n{}. {}. {}", i + 1, ProblemLine(ordered[i]),
                        ordered[i].lead().value("why", ""));
  }
  return text;
}

Result<std::string> FirstChange(ToolCaller& tools, const std::string& run_id) {
  Result<Json> findings = tools.Call("get_findings", {{"run_id", run_id}});
  if (!findings.ok()) return findings.status();
  if (!findings->value("diagnosed", false)) {
    return fmt::format("Run {} has no diagnosis yet, so there is nothing to change yet.", run_id);
  }
  const std::vector<Problem> ordered = Prioritised(findings->value("findings", Json::array()));
  if (ordered.empty() || ordered[0].rank() == 0) {
    return fmt::format("Run {} has no warning or critical finding: nothing needs changing first.",
                       run_id);
  }
  const Problem& top = ordered[0];
  std::string text = fmt::format("Change this first: {}", top.lead().value("fix", ""));
  if (const std::string others = OtherLayers(top); !others.empty()) {
    text += fmt::format("\nThe same applies to {}.", others);
  }
  text += fmt::format("\nBecause: {}. {}", ProblemLine(top), top.lead().value("why", ""));
  for (std::size_t i = 1; i < ordered.size() && i < 3 && ordered[i].rank() > 0; ++i) {
    text += fmt::format("\nThen: {} (for: {})", ordered[i].lead().value("fix", ""),
                        ProblemLine(ordered[i]));
  }
  return text;
}

Result<std::string> Waste(ToolCaller& tools, const std::string& run_id) {
  Result<Json> report = tools.Call("get_waste_report", {{"run_id", run_id}});
  if (!report.ok()) return report.status();
  if (!report->value("diagnosed", false)) {
    return fmt::format("Run {} has no diagnosis yet, so its waste is not known yet.", run_id);
  }
  Result<Json> energy = tools.Call("get_energy_timeline", {{"run_id", run_id}});
  if (!energy.ok()) return energy.status();
  const Json waste = report->value("waste", Json::object());
  const Json stop = report->value("optimal_stop_epoch", Json());
  std::string text;
  if (Num(waste, "epochs") > 0) {
    text = fmt::format(
        "Run {} trained {} epochs past its optimal stop (epoch {}): {:.1f}% of its compute, "
        "{:.0f} s, {} (about {:.2g} km by car).",
        run_id, Num(waste, "epochs"), stop.dump(), Num(waste, "fraction") * 100,
        Num(waste, "seconds"), Footprint(waste), Num(waste, "car_km"));
  } else {
    text = fmt::format("Run {} did not train past its optimal stop{}.", run_id,
                       stop.is_null() ? "" : fmt::format(" (epoch {})", stop.dump()));
  }
  const Json spent = report->value("spent", Json());
  if (spent.is_object()) text += fmt::format(" The whole run so far: {}.", Footprint(spent));
  for (const auto& f : report->value("findings_with_energy_at_stake", Json::array())) {
    text += fmt::format("\n- {}: {}", f.value("title", ""),
                        Footprint(f.value("energy_at_stake", Json::object())));
  }
  const Json methods = energy->value("methods", Json::array());
  text += fmt::format("\nEnergy recorded: {:.4g} J, {} ({}).", Num(*energy, "total_joules"),
                      energy->value("measured", false) ? "measured" : "estimated",
                      methods.empty() ? std::string("no method reported") : methods.dump());
  return text;
}

// The run to compare with: the one named, else the newest earlier run of the same
// architecture, else the newest other run of the same project.
Result<std::string> CompareTarget(ToolCaller& tools, const std::string& run_id) {
  Result<Json> history = tools.Call("get_project_history", {{"run_id", run_id}, {"limit", 1}});
  if (history.ok() && !history->value("earlier_runs", Json::array()).empty()) {
    return history->at("earlier_runs")[0].value("run_id", "");
  }
  Result<Json> summary = tools.Call("get_run_summary", {{"run_id", run_id}});
  if (!summary.ok()) return summary.status();
  Result<Json> runs =
      tools.Call("list_runs", {{"project", summary->value("project", "")}, {"limit", 20}});
  if (!runs.ok()) return runs.status();
  for (const auto& r : runs->value("runs", Json::array())) {
    if (r.value("run_id", "") != run_id) return r.value("run_id", "");
  }
  return Status::NotFound("no other run to compare with; name one");
}

// "accuracy 0.922, loss 0.61", or "none recorded".
std::string Metrics(const Json& metrics) {
  std::string out;
  for (const auto& [name, value] : metrics.items()) {
    if (!value.is_number()) continue;
    out += fmt::format("{}{} {:.4g}", out.empty() ? "" : ", ", name, value.get<double>());
  }
  return out.empty() ? "none recorded" : out;
}

std::string IdList(const Json& ids) {
  if (!ids.is_array() || ids.empty()) return "no finding";
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id.get<std::string>();
  return out;
}

// What a side of compare_runs cost: the diagnosis's footprint when there is one, else the
// joules the run recorded.
std::string Cost(const Json& side) {
  const Json spent = side.value("diagnosis", Json::object()).value("spent", Json());
  if (spent.is_object()) return Footprint(spent);
  return fmt::format("{:.4g} J", Num(side, "energy_joules"));
}

std::string Side(const Json& side) {
  const Json d = side.value("diagnosis", Json::object());
  const bool graded = d.value("available", false) && d.value("grade", Json()).is_string();
  return fmt::format("{} ({}): {}, {} epochs, {}, final validation {}", side.value("run_id", ""),
                     side.value("name", ""),
                     graded ? fmt::format("grade {} (score {}/100)", d["grade"].get<std::string>(),
                                          Score(Num(d, "score")))
                            : std::string("not graded yet"),
                     side.value("epochs", 0), Cost(side),
                     Metrics(side.value("final_val", Json::object())));
}

// Which run was cheaper, by the diagnoses' kWh when both have one (CO2 and EUR follow from it
// at one grid intensity and price), else by the joules the runs recorded.
std::string Cheaper(const Json& first, const Json& second) {
  const Json a = first.value("diagnosis", Json::object()).value("spent", Json());
  const Json b = second.value("diagnosis", Json::object()).value("spent", Json());
  const bool footprints = a.is_object() && b.is_object();
  const double cost_a = footprints ? Num(a, "kwh") : Num(first, "energy_joules");
  const double cost_b = footprints ? Num(b, "kwh") : Num(second, "energy_joules");
  if (cost_a == cost_b) return fmt::format("Both runs cost the same: {}.", Cost(first));
  const bool first_cheaper = cost_a < cost_b;
  const Json& cheap = first_cheaper ? first : second;
  const Json& dear = first_cheaper ? second : first;
  const double saving = 100 * (1 - std::min(cost_a, cost_b) / std::max(cost_a, cost_b));
  return fmt::format("{} ({}) was the cheaper run: {} against {} for {} ({:.0f}% less energy).",
                     cheap.value("run_id", ""), cheap.value("name", ""), Cost(cheap), Cost(dear),
                     dear.value("run_id", ""), saving);
}

Result<std::string> Compare(ToolCaller& tools, const std::string& run_id,
                            const std::optional<std::string>& other) {
  std::string other_id;
  if (other) {
    other_id = *other;
  } else {
    Result<std::string> target = CompareTarget(tools, run_id);
    if (!target.ok()) return target.status();
    other_id = *target;
  }
  Result<Json> cmp = tools.Call("compare_runs", {{"run_id", run_id}, {"other_run_id", other_id}});
  if (!cmp.ok()) return cmp.status();
  const Json runs = cmp->value("runs", Json::array());
  std::string text =
      fmt::format("Comparing {} with {}{}:\n- {}\n- {}", run_id, other_id,
                  cmp->value("same_architecture", false) ? " (the same architecture)" : "",
                  Side(runs[0]), Side(runs[1]));
  text += fmt::format("\n{}", Cheaper(runs[0], runs[1]));
  text += fmt::format("\nOnly in {}: {}.", run_id,
                      IdList(cmp->value("findings_only_in_first", Json::array())));
  text += fmt::format("\nOnly in {}: {}.", other_id,
                      IdList(cmp->value("findings_only_in_second", Json::array())));
  return text;
}

}  // namespace

std::string_view ToString(Intent intent) {
  switch (intent) {
    case Intent::kGrade:
      return "why_grade";
    case Intent::kFirstChange:
      return "change_first";
    case Intent::kWaste:
      return "waste";
    case Intent::kCompare:
      return "compare";
    case Intent::kOverview:
      return "overview";
  }
  return "overview";
}

Intent ClassifyQuestion(const std::string& question) {
  const std::string q = Lower(question);
  if (HasAny(q, {"compare", " vs", "versus", "differ", "better than", "worse than"})) {
    return Intent::kCompare;
  }
  if (HasAny(q, {"first", "fix", "change", "should i", "what to do", "improve"})) {
    return Intent::kFirstChange;
  }
  if (HasAny(q, {"waste", "cost", "co2", "carbon", "energy", "kwh", "eur", "spent"})) {
    return Intent::kWaste;
  }
  if (HasAny(q, {"grade", "score", "why"})) return Intent::kGrade;
  return Intent::kOverview;
}

Result<AnalystAnswer> AnswerOffline(const ToolRegistry& tools, const std::string& run_id,
                                    const std::string& question,
                                    const std::optional<std::string>& other_run_id) {
  ToolCaller caller(tools);
  AnalystAnswer answer;
  answer.intent = other_run_id ? Intent::kCompare : ClassifyQuestion(question);
  std::vector<Result<std::string>> parts;
  switch (answer.intent) {
    case Intent::kGrade:
      parts.push_back(WhyGrade(caller, run_id));
      break;
    case Intent::kFirstChange:
      parts.push_back(FirstChange(caller, run_id));
      break;
    case Intent::kWaste:
      parts.push_back(Waste(caller, run_id));
      break;
    case Intent::kCompare:
      parts.push_back(Compare(caller, run_id, other_run_id));
      break;
    case Intent::kOverview:
      parts.push_back(WhyGrade(caller, run_id));
      parts.push_back(FirstChange(caller, run_id));
      parts.push_back(Waste(caller, run_id));
      break;
  }
  answer.text = kOfflineLabel;
  for (auto& part : parts) {
    if (!part.ok()) return part.status();
    answer.text += "\n\n" + *part;
  }
  answer.tools_used = std::move(caller).used();
  return answer;
}

}  // namespace atlas::agent
