// Diagnosis <-> JSON (docs/diagnostics.md, "The JSON document").
#include "diagnostics/diagnosis_json.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace atlas::diagnostics {
namespace {

using nlohmann::json;

template <typename T>
json Opt(const std::optional<T>& v) {
  return v ? json(*v) : json();
}

json Number(double v) { return std::isfinite(v) ? json(v) : json(); }

json ToJson(const Stopping& s) {
  return {{"metric", s.metric},
          {"best_epoch", Opt(s.best_epoch)},
          {"best_value", Opt(s.best_value)},
          {"optimal_epoch", Opt(s.optimal_epoch)},
          {"tolerance", s.tolerance},
          {"online_stop_epoch", Opt(s.online_stop_epoch)},
          {"online_rule", s.online_rule},
          {"pitch_rule_epoch", Opt(s.pitch_rule_epoch)}};
}

json ToJson(const Waste& w) {
  return {{"epochs", w.epochs},           {"seconds", w.seconds},
          {"joules", w.footprint.joules}, {"kwh", w.footprint.kwh},
          {"kg_co2", w.footprint.kg_co2}, {"eur", w.footprint.eur},
          {"car_km", w.footprint.car_km}, {"fraction", w.fraction}};
}

json ToJson(const Forecast& f) {
  return {{"planned_epochs", Opt(f.planned_epochs)},
          {"total_seconds", Opt(f.total_seconds)},
          {"total", f.total ? ToJson(*f.total) : json()},
          {"curve_model", f.curve_model.empty() ? json() : json(f.curve_model)},
          {"plateau_value", Opt(f.plateau_value)},
          {"plateau_epoch", Opt(f.plateau_epoch)},
          {"saving_if_stopped_at_plateau",
           f.saving_if_stopped_at_plateau ? ToJson(*f.saving_if_stopped_at_plateau) : json()},
          {"fit_rmse", Opt(f.fit_rmse)}};
}

// Reading: a bad document is reported by throwing this, caught once at each entry point.
struct JsonError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& key, const std::string& reason) {
  throw JsonError(key + ": " + reason);
}

const json& At(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) Fail(key, "required");
  return obj[key];
}

double GetNumber(const json& obj, const char* key) {
  const json& v = At(obj, key);
  if (v.is_null()) return std::nan("");
  if (!v.is_number()) Fail(key, "expected a number");
  return v.get<double>();
}

std::string GetString(const json& obj, const char* key) {
  const json& v = At(obj, key);
  if (!v.is_string()) Fail(key, "expected a string");
  return v.get<std::string>();
}

template <typename T>
std::optional<T> GetOptional(const json& obj, const char* key) {
  if (!obj.contains(key) || obj[key].is_null()) return std::nullopt;
  if (!obj[key].is_number()) Fail(key, "expected a number or null");
  return obj[key].get<T>();
}

Footprint FootprintFrom(const json& j) {
  Footprint f;
  f.joules = GetNumber(j, "joules");
  f.kwh = GetNumber(j, "kwh");
  f.kg_co2 = GetNumber(j, "kg_co2");
  f.eur = GetNumber(j, "eur");
  f.car_km = GetNumber(j, "car_km");
  return f;
}

Finding FindingFrom(const json& j) {
  if (!j.is_object()) Fail("finding", "expected an object");
  Finding f;
  f.check = GetString(j, "check");
  const auto category = ParseCategory(GetString(j, "category"));
  if (!category) Fail("category", "unknown category");
  f.category = *category;
  const auto severity = ParseSeverity(GetString(j, "severity"));
  if (!severity) Fail("severity", "expected info, warning or critical");
  f.severity = *severity;
  if (const json& layer = At(j, "layer"); !layer.is_null()) {
    if (!layer.is_string()) Fail("layer", "expected a string or null");
    f.layer = layer.get<std::string>();
  }
  const json& epochs = At(j, "epochs");
  if (!epochs.is_array()) Fail("epochs", "expected an array");
  for (const json& e : epochs) {
    if (!e.is_number_integer()) Fail("epochs", "expected integers");
    f.epochs.push_back(e.get<std::int64_t>());
  }
  f.title = GetString(j, "title");
  f.evidence = At(j, "evidence");
  f.why = GetString(j, "why");
  f.fix = GetString(j, "fix");
  if (const json& stake = At(j, "energy_at_stake"); !stake.is_null()) {
    EnergyAtStake s;
    s.joules = GetNumber(stake, "joules");
    s.kwh = GetNumber(stake, "kwh");
    s.kg_co2 = GetNumber(stake, "kg_co2");
    s.eur = GetNumber(stake, "eur");
    s.basis = GetString(stake, "basis");
    f.energy_at_stake = std::move(s);
  }
  return f;
}

}  // namespace

json ToJson(const Footprint& f) {
  return {{"joules", Number(f.joules)},
          {"kwh", Number(f.kwh)},
          {"kg_co2", Number(f.kg_co2)},
          {"eur", Number(f.eur)},
          {"car_km", Number(f.car_km)}};
}

json ToJson(const Finding& f) {
  json stake;
  if (f.energy_at_stake) {
    const EnergyAtStake& s = *f.energy_at_stake;
    stake = {{"joules", Number(s.joules)},
             {"kwh", Number(s.kwh)},
             {"kg_co2", Number(s.kg_co2)},
             {"eur", Number(s.eur)},
             {"basis", s.basis}};
  }
  return {{"check", f.check},
          {"category", ToString(f.category)},
          {"severity", ToString(f.severity)},
          {"layer", f.layer ? json(*f.layer) : json()},
          {"epochs", f.epochs},
          {"title", f.title},
          {"evidence", f.evidence},
          {"why", f.why},
          {"fix", f.fix},
          {"energy_at_stake", std::move(stake)}};
}

json ToJson(const Diagnosis& d) {
  json categories = json::object();
  for (std::size_t c = 0; c < kCategoryCount; ++c) {
    categories[std::string(ToString(static_cast<Category>(c)))] = d.category_scores[c];
  }
  json findings = json::array();
  for (const Finding& f : d.findings) findings.push_back(ToJson(f));
  json layers = json::object();
  for (const auto& [name, score] : d.layer_scores) layers[name] = score;
  return {{"grade", std::string(1, d.grade)},
          {"score", d.score},
          {"category_scores", std::move(categories)},
          {"findings", std::move(findings)},
          {"optimal_stop_epoch", Opt(d.stopping.optimal_epoch)},
          {"pitch_rule_epoch", Opt(d.stopping.pitch_rule_epoch)},
          {"waste", ToJson(d.waste)},
          {"forecast", ToJson(d.forecast)},
          {"layer_scores", std::move(layers)},
          {"stopping", ToJson(d.stopping)},
          {"spent", ToJson(d.spent)}};
}

Result<Finding> FindingFromJson(const json& j) {
  try {
    return FindingFrom(j);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("finding.") + e.what());
  }
}

Result<std::vector<Finding>> FindingsFromJson(const json& j) {
  if (!j.is_array()) return Status::InvalidArgument("findings: expected an array");
  std::vector<Finding> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    Result<Finding> f = FindingFromJson(j[i]);
    if (!f.ok()) {
      return Status::InvalidArgument("findings[" + std::to_string(i) + "]." + f.status().message());
    }
    out.push_back(std::move(f).value());
  }
  return out;
}

Result<Diagnosis> DiagnosisFromJson(const json& j) {
  try {
    Diagnosis d;
    const std::string grade = GetString(j, "grade");
    if (grade.size() != 1 || grade[0] < 'A' || grade[0] > 'F') Fail("grade", "expected A-F");
    d.grade = grade[0];
    d.score = GetNumber(j, "score");
    const json& categories = At(j, "category_scores");
    for (std::size_t c = 0; c < kCategoryCount; ++c) {
      d.category_scores[c] =
          GetNumber(categories, std::string(ToString(static_cast<Category>(c))).c_str());
    }
    Result<std::vector<Finding>> findings = FindingsFromJson(At(j, "findings"));
    if (!findings.ok()) return findings.status();
    d.findings = std::move(findings).value();
    for (const auto& [name, score] : At(j, "layer_scores").items()) {
      if (!score.is_number()) Fail("layer_scores", "expected numbers");
      d.layer_scores[name] = score.get<double>();
    }
    const json& s = At(j, "stopping");
    d.stopping.metric = GetString(s, "metric");
    d.stopping.best_epoch = GetOptional<std::int64_t>(s, "best_epoch");
    d.stopping.best_value = GetOptional<double>(s, "best_value");
    d.stopping.optimal_epoch = GetOptional<std::int64_t>(s, "optimal_epoch");
    d.stopping.tolerance = GetNumber(s, "tolerance");
    d.stopping.online_stop_epoch = GetOptional<std::int64_t>(s, "online_stop_epoch");
    d.stopping.online_rule = GetString(s, "online_rule");
    d.stopping.pitch_rule_epoch = GetOptional<std::int64_t>(s, "pitch_rule_epoch");
    const json& w = At(j, "waste");
    d.waste.epochs = At(w, "epochs").get<std::int64_t>();
    d.waste.seconds = GetNumber(w, "seconds");
    d.waste.footprint = FootprintFrom(w);
    d.waste.fraction = GetNumber(w, "fraction");
    const json& f = At(j, "forecast");
    d.forecast.planned_epochs = GetOptional<std::int64_t>(f, "planned_epochs");
    d.forecast.total_seconds = GetOptional<double>(f, "total_seconds");
    if (!At(f, "total").is_null()) d.forecast.total = FootprintFrom(f["total"]);
    if (!At(f, "curve_model").is_null()) d.forecast.curve_model = GetString(f, "curve_model");
    d.forecast.plateau_value = GetOptional<double>(f, "plateau_value");
    d.forecast.plateau_epoch = GetOptional<std::int64_t>(f, "plateau_epoch");
    if (!At(f, "saving_if_stopped_at_plateau").is_null()) {
      d.forecast.saving_if_stopped_at_plateau = FootprintFrom(f["saving_if_stopped_at_plateau"]);
    }
    d.forecast.fit_rmse = GetOptional<double>(f, "fit_rmse");
    d.spent = FootprintFrom(At(j, "spent"));
    return d;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("diagnosis.") + e.what());
  }
}

}  // namespace atlas::diagnostics
