// Golden case files -> RunTelemetry and expectations (cases/README.md describes the format).
#include "fixture.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <variant>

#include "protocol/parse.hpp"

namespace atlas::diagnostics::testing {
namespace {

using nlohmann::json;

constexpr double kDefaultStart = 1.7e9;
constexpr double kDefaultEpochSeconds = 60;

// Case files are test input written by hand; a mistake in one is reported by throwing this,
// caught once in ParseCase and turned into a Status naming the field.
struct CaseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& field, const std::string& reason) {
  throw CaseError(field + ": " + reason);
}

// "field.key", the path of a nested field in an error message.
std::string Path(const std::string& field, std::string_view key) {
  std::string path = field;
  path += '.';
  path += key;
  return path;
}

// A telemetry number: a JSON number or "NaN" / "Infinity" / "-Infinity".
double Number(const json& v, const std::string& field) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "NaN") return std::nan("");
    if (s == "Infinity") return HUGE_VAL;
    if (s == "-Infinity") return -HUGE_VAL;
  }
  Fail(field, "expected a number");
}

// The records of a protocol batch, parsed by the server's own parser.
model::RecordBatch ParseRecords(json records, const std::string& field) {
  const std::string body = json{{"records", std::move(records)}}.dump();
  auto parsed = protocol::ParseRecordBatch(body);
  if (const auto* error = std::get_if<protocol::ParseError>(&parsed)) {
    Fail(field + " (" + error->field + ")", error->reason);
  }
  return std::get<model::RecordBatch>(std::move(parsed));
}

// Adds "kind" and a fresh "seq" to each element of `items` (and "ts" when missing).
json AsRecords(const json& items, std::string_view kind, std::int64_t& seq, double default_ts,
               const std::string& field) {
  if (!items.is_array()) Fail(field, "expected an array");
  json records = json::array();
  for (const json& item : items) {
    if (!item.is_object()) Fail(field, "expected an array of objects");
    json record = item;
    record["kind"] = kind;
    record["seq"] = seq++;
    if (!record.contains("ts") && kind != "architecture" && kind != "hyperparameters") {
      record["ts"] = default_ts + static_cast<double>(seq);
    }
    records.push_back(std::move(record));
  }
  return records;
}

FieldStats ParseFieldStats(const json& v, std::int64_t steps, const std::string& field) {
  FieldStats s;
  if (v.is_number()) {  // a constant field: every step had this value
    const double x = v.get<double>();
    s.count = steps;
    s.sum = x * static_cast<double>(steps);
    s.sum_sq = x * x * static_cast<double>(steps);
    s.min = s.max = s.first = s.last = x;
    return s;
  }
  if (!v.is_object()) Fail(field, "expected a number or {mean, std, min, max, first, last}");
  for (const auto& [key, value] : v.items()) {
    static constexpr std::array kKeys = {"mean",  "std",  "min",   "max",
                                         "first", "last", "count", "nonfinite"};
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      Fail(Path(field, key), "unknown statistic");
    }
  }
  s.count = v.value("count", steps);
  s.nonfinite = v.value("nonfinite", std::int64_t{0});
  if (s.count == 0) return s;
  if (!v.contains("mean")) Fail(field + ".mean", "required");
  const double mean = Number(v["mean"], field + ".mean");
  const double sd = v.contains("std") ? Number(v["std"], field + ".std") : 0.0;
  const auto n = static_cast<double>(s.count);
  s.sum = mean * n;
  s.sum_sq = (sd * sd + mean * mean) * n;
  s.min = v.contains("min") ? Number(v["min"], field + ".min") : mean;
  s.max = v.contains("max") ? Number(v["max"], field + ".max") : mean;
  s.first = v.contains("first") ? Number(v["first"], field + ".first") : mean;
  s.last = v.contains("last") ? Number(v["last"], field + ".last") : mean;
  return s;
}

// {"count", "first_step", "last_step", "first_ts", "last_ts", "<step field>": stats}.
StepAggregate ParseSteps(const json& v, std::int64_t next_step, double start_ts, double end_ts,
                         const std::string& field) {
  if (!v.is_object()) Fail(field, "expected an object");
  StepAggregate agg;
  agg.steps = v.value("count", std::int64_t{0});
  if (agg.steps <= 0) Fail(field + ".count", "required, > 0");
  agg.first_step = v.value("first_step", next_step);
  agg.last_step = v.value("last_step", *agg.first_step + agg.steps - 1);
  agg.first_ts = v.value("first_ts", start_ts);
  agg.last_ts = v.value("last_ts", end_ts);
  for (const auto& [key, value] : v.items()) {
    if (key == "count" || key == "first_step" || key == "last_step" || key == "first_ts" ||
        key == "last_ts") {
      continue;
    }
    const std::optional<model::StepField> f = model::FindStepField(key);
    if (!f) Fail(Path(field, key), "not a step field (docs/protocol.md, step)");
    agg.fields[static_cast<std::size_t>(*f)] = ParseFieldStats(value, agg.steps, Path(field, key));
  }
  return agg;
}

// "epoch_series": {"train.loss": [...], "duration_s": 60, "energy.gpu": [...],
// "steps.count": 100, "steps.loss.std": [...]} -> the equivalent "epochs" array.
json ExpandSeries(const json& series) {
  if (!series.is_object()) Fail("epoch_series", "expected an object");
  std::size_t n = series.value("count", std::size_t{0});
  for (const auto& [key, value] : series.items()) {
    if (value.is_array()) n = std::max(n, value.size());
  }
  if (n == 0) Fail("epoch_series", "no array gives the number of epochs (or give \"count\")");
  json epochs = json::array();
  for (std::size_t i = 0; i < n; ++i) epochs.push_back({{"epoch", i}});
  for (const auto& [key, value] : series.items()) {
    if (key == "count") continue;
    const std::string field = "epoch_series." + key;
    if (value.is_array() && value.size() != n)
      Fail(field, "expected " + std::to_string(n) + " values");
    for (std::size_t i = 0; i < n; ++i) {
      const json& v = value.is_array() ? value[i] : value;
      if (v.is_null()) continue;  // this epoch does not report the value
      json& e = epochs[i];
      if (key == "duration_s" || key == "ts") {
        e[key] = v;
      } else if (key.rfind("train.", 0) == 0) {
        e["train"][key.substr(6)] = v;
      } else if (key.rfind("val.", 0) == 0) {
        e["val"][key.substr(4)] = v;
      } else if (key.rfind("energy.", 0) == 0) {
        e["joules"][key.substr(7)] = v;
      } else if (key == "steps.count") {
        e["steps"]["count"] = v;
      } else if (key.rfind("steps.", 0) == 0) {
        const std::string rest = key.substr(6);
        const std::size_t dot = rest.rfind('.');
        if (dot == std::string::npos) {
          e["steps"][rest] = v;
        } else {
          e["steps"][rest.substr(0, dot)][rest.substr(dot + 1)] = v;
        }
      } else {
        Fail(field, "unknown series (train.*, val.*, duration_s, ts, energy.*, steps.*)");
      }
    }
  }
  return epochs;
}

void ParseEpochs(const json& t, RunTelemetry& run, std::int64_t& seq) {
  json epochs = t.contains("epoch_series") ? ExpandSeries(t["epoch_series"])
                                           : t.value("epochs", json::array());
  if (t.contains("epoch_series") && t.contains("epochs")) {
    Fail("epochs", "give either \"epochs\" or \"epoch_series\"");
  }
  if (!epochs.is_array()) Fail("epochs", "expected an array");
  const std::string method = t.value("energy_method", std::string("measured:fixture"));
  double ts = run.started_at;
  std::int64_t next_step = 0;
  for (std::size_t i = 0; i < epochs.size(); ++i) {
    const std::string field = "epochs[" + std::to_string(i) + "]";
    json e = epochs[i];
    if (!e.is_object()) Fail(field, "expected an object");
    const double start = ts;
    if (!e.contains("epoch")) e["epoch"] = i;
    if (!e.contains("ts")) {
      e["ts"] =
          ts + (e.contains("duration_s") ? e["duration_s"].get<double>() : kDefaultEpochSeconds);
    }
    ts = e["ts"].get<double>();
    json steps = e.contains("steps") ? e["steps"] : json();
    e.erase("steps");
    if (e.contains("joules")) {  // shorthand: {"gpu": J, "cpu": J}
      if (e.contains("energy")) Fail(field, "give either \"energy\" or \"joules\"");
      json energy = json::array();
      for (const auto& [component, joules] : e["joules"].items()) {
        energy.push_back({{"component", component}, {"joules", joules}, {"method", method}});
      }
      e["energy"] = std::move(energy);
      e.erase("joules");
    }
    json records = json::array();
    e["kind"] = "epoch";
    e["seq"] = seq++;
    records.push_back(std::move(e));
    model::RecordBatch batch = ParseRecords(std::move(records), field);
    EpochView view;
    view.record = std::move(batch.epochs.at(0));
    for (const model::EnergyEntry& entry : view.record.energy) {
      if (std::isfinite(entry.joules)) view.joules += entry.joules;
    }
    if (!steps.is_null()) {
      view.steps = ParseSteps(steps, next_step, start, ts, field + ".steps");
      next_step = *view.steps.last_step + 1;
    }
    run.epochs.push_back(std::move(view));
  }
}

std::optional<std::int64_t> OptionalInt(const json& t, const char* key) {
  if (!t.contains(key) || t[key].is_null()) return std::nullopt;
  if (!t[key].is_number_integer()) Fail(key, "expected an integer");
  return t[key].get<std::int64_t>();
}

void ParseCarbon(const json& c, CarbonModel& m) {
  if (!c.is_object()) Fail("carbon", "expected an object");
  for (const auto& [key, value] : c.items()) {
    if (key == "pue") {
      m.pue = value.get<double>();
    } else if (key == "grid_g_co2_per_kwh") {
      m.grid_g_co2_per_kwh = value.get<double>();
    } else if (key == "grid_source") {
      m.grid_source = value.get<std::string>();
    } else if (key == "eur_per_tonne_co2") {
      m.eur_per_tonne_co2 = value.get<double>();
    } else if (key == "g_co2_per_car_km") {
      m.g_co2_per_car_km = value.get<double>();
    } else if (key == "budget_kg_co2") {
      if (!value.is_null()) m.budget_kg_co2 = value.get<double>();
    } else {
      Fail("carbon." + key, "unknown field");
    }
  }
}

RunTelemetry ParseTelemetryOrThrow(const json& t) {
  if (!t.is_object()) Fail("telemetry", "expected an object");
  static constexpr std::array kKeys = {
      "run_id",       "run_name",      "project_name", "status",        "finished",
      "started_at",   "host",          "device",       "config",        "hyperparameters",
      "architecture", "epochs",        "epoch_series", "energy_method", "open_epoch",
      "loss_trace",   "layer_samples", "profiles",     "events",        "planned_epochs",
      "batch_size",   "carbon"};
  for (const auto& [key, value] : t.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) Fail(key, "unknown field");
  }
  RunTelemetry run;
  run.run_id = t.value("run_id", std::string("case"));
  run.run_name = t.value("run_name", std::string("case"));
  run.project_name = t.value("project_name", std::string("golden"));
  run.finished = t.value("finished", false);
  if (t.contains("status")) {
    const auto status = model::ParseRunStatus(t["status"].get<std::string>());
    if (!status) Fail("status", "expected running, completed, failed or stopped");
    run.status = *status;
  }
  run.started_at = t.value("started_at", kDefaultStart);
  run.host = t.value("host", json::object());
  run.device = t.value("device", json::object());
  run.config = t.value("config", json::object());
  run.hyperparameters = t.value("hyperparameters", json::object());
  std::int64_t seq = 0;

  if (t.contains("architecture")) {
    json record = {{"kind", "architecture"}, {"seq", seq++}, {"modules", t["architecture"]}};
    model::RecordBatch batch = ParseRecords(json::array({std::move(record)}), "architecture");
    run.modules = BuildModuleTree(batch.architectures.at(0).modules);
  }
  ParseEpochs(t, run, seq);
  const double end_ts = run.epochs.empty() ? run.started_at : run.epochs.back().record.ts;
  for (const EpochView& e : run.epochs) run.all_steps.Merge(e.steps);
  if (t.contains("open_epoch")) {
    const std::int64_t next = run.all_steps.last_step ? *run.all_steps.last_step + 1 : 0;
    run.open_epoch =
        ParseSteps(t["open_epoch"], next, end_ts, end_ts + kDefaultEpochSeconds, "open_epoch");
    run.all_steps.Merge(run.open_epoch);
  }
  for (const json& p : t.value("loss_trace", json::array())) {
    if (!p.is_array() || p.size() != 2) Fail("loss_trace", "expected [[step, loss], ...]");
    run.loss_trace.push_back({p[0].get<std::int64_t>(), Number(p[1], "loss_trace")});
  }
  if (t.contains("layer_samples")) {
    json records =
        AsRecords(t["layer_samples"], "layer_stats", seq, run.started_at, "layer_samples");
    run.layer_samples = ParseRecords(std::move(records), "layer_samples").layer_stats;
    std::stable_sort(run.layer_samples.begin(), run.layer_samples.end(),
                     [](const auto& a, const auto& b) { return a.step < b.step; });
  }
  if (t.contains("profiles")) {
    json records = AsRecords(t["profiles"], "profile", seq, run.started_at, "profiles");
    run.profiles = ParseRecords(std::move(records), "profiles").profiles;
  }
  if (t.contains("events")) {
    json records = AsRecords(t["events"], "event", seq, run.started_at, "events");
    run.events = ParseRecords(std::move(records), "events").events;
  }
  run.planned_epochs = OptionalInt(t, "planned_epochs");
  if (t.contains("batch_size") && !t["batch_size"].is_null()) {
    run.batch_size = t["batch_size"].get<double>();
  }
  if (t.contains("carbon")) ParseCarbon(t["carbon"], run.carbon);
  run.last_ts = std::max(end_ts, run.all_steps.last_ts);
  return run;
}

std::optional<Severity> SeverityField(const json& v, const std::string& field) {
  if (v.is_null()) return std::nullopt;
  const auto s = ParseSeverity(v.get<std::string>());
  if (!s) Fail(field, "expected info, warning or critical");
  return s;
}

Expectation ParseExpectation(const json& e) {
  if (!e.is_object()) Fail("expect", "expected an object");
  Expectation x;
  for (const auto& [key, value] : e.items()) {
    if (key == "fires") {
      for (const json& f : value) {
        ExpectedFinding ef;
        ef.check = f.at("check").get<std::string>();
        if (f.contains("layer")) ef.layer = f["layer"].get<std::string>();
        if (f.contains("severity")) ef.severity = SeverityField(f["severity"], "expect.fires");
        if (f.contains("epochs")) ef.epochs = f["epochs"].get<std::vector<std::int64_t>>();
        x.fires.push_back(std::move(ef));
      }
    } else if (key == "silent") {
      x.silent = value.get<std::vector<std::string>>();
    } else if (key == "max_severity") {
      x.max_severity = SeverityField(value, "expect.max_severity");
    } else if (key == "grade") {
      x.grades = value.get<std::string>();
    } else if (key == "stopping") {
      x.stopping = value;
    } else {
      Fail("expect." + key, "unknown field (fires, silent, max_severity, grade, stopping)");
    }
  }
  return x;
}

}  // namespace

Result<RunTelemetry> ParseTelemetry(const nlohmann::json& telemetry) {
  try {
    return ParseTelemetryOrThrow(telemetry);
  } catch (const std::exception& e) {  // CaseError and nlohmann's type errors
    return Status::InvalidArgument(std::string("telemetry.") + e.what());
  }
}

Result<Case> ParseCase(std::string_view text, std::string name) {
  try {
    const json doc = json::parse(text);
    Case c;
    c.name = std::move(name);
    c.description = doc.value("description", std::string());
    if (c.description.empty()) Fail("description", "required: what the case is about");
    for (const auto& [key, value] : doc.items()) {
      if (key != "description" && key != "telemetry" && key != "thresholds" && key != "expect") {
        Fail(key, "unknown field (description, telemetry, thresholds, expect)");
      }
    }
    Result<RunTelemetry> t = ParseTelemetry(doc.value("telemetry", json::object()));
    if (!t.ok()) return t.status();
    c.telemetry = std::move(t).value();
    c.thresholds = doc.value("thresholds", json::object());
    c.expect = ParseExpectation(doc.value("expect", json::object()));
    return c;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(e.what());
  }
}

Result<Case> LoadCase(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return ParseCase(text.str(), path.stem().string());
}

std::vector<std::filesystem::path> CaseFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool MatchesPattern(std::string_view pattern, std::string_view id) {
  if (pattern == "*") return true;
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == ".*") {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // keeps the dot
    return id.substr(0, prefix.size()) == prefix;
  }
  return pattern == id;
}

}  // namespace atlas::diagnostics::testing
