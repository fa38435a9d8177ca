#include "cli/report_command.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "cli/api_client.hpp"

namespace atlas::cli {
namespace {

using model::Json;

// The order categories and severities are printed in.
constexpr const char* kCategories[] = {"layer",       "gradient", "architecture",
                                       "convergence", "device",   "carbon"};
constexpr const char* kSeverities[] = {"critical", "warning", "info"};

std::string Num(const Json& value, const char* format = "{:.4g}") {
  if (value.is_number()) return fmt::format(fmt::runtime(format), value.get<double>());
  if (value.is_string()) return value.get<std::string>();
  return "-";
}

std::string Text(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const Json& Field(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string EpochList(const Json& epochs) {
  if (!epochs.is_array() || epochs.empty()) return "";
  const auto& first = epochs.front();
  const auto& last = epochs.back();
  if (epochs.size() == 1) return fmt::format(" (epoch {})", Num(first, "{:.0f}"));
  return fmt::format(" (epochs {}-{}, {} epochs)", Num(first, "{:.0f}"), Num(last, "{:.0f}"),
                     epochs.size());
}

void AppendFinding(std::string& out, const Json& f) {
  const std::string layer = Text(f, "layer");
  out += fmt::format("  [{}] {}{}{}\n", Text(f, "severity"), Text(f, "title"),
                     layer.empty() ? "" : fmt::format("  (layer {})", layer),
                     EpochList(Field(f, "epochs")));
  out += fmt::format("      check     {}\n", Text(f, "check"));
  const Json& evidence = Field(f, "evidence");
  if (evidence.is_object() && !evidence.empty()) {
    out += fmt::format("      evidence  {}\n", evidence.dump());
  }
  if (const std::string why = Text(f, "why"); !why.empty()) {
    out += fmt::format("      why       {}\n", why);
  }
  if (const std::string fix = Text(f, "fix"); !fix.empty()) {
    out += fmt::format("      fix       {}\n", fix);
  }
  const Json& stake = Field(f, "energy_at_stake");
  if (stake.is_object()) {
    out += fmt::format("      at stake  {} kWh, {} kg CO2, EUR {}{}\n", Num(Field(stake, "kwh")),
                       Num(Field(stake, "kg_co2")), Num(Field(stake, "eur"), "{:.4f}"),
                       Text(stake, "basis").empty() ? "" : "  (" + Text(stake, "basis") + ")");
  }
}

void AppendFindings(std::string& out, const Json& findings) {
  if (!findings.is_array() || findings.empty()) {
    out += "\nFindings: none\n";
    return;
  }
  out += fmt::format("\nFindings ({})\n", findings.size());
  std::vector<std::string> categories(std::begin(kCategories), std::end(kCategories));
  for (const auto& f : findings) {
    const std::string c = Text(f, "category");
    if (std::find(categories.begin(), categories.end(), c) == categories.end()) {
      categories.push_back(c);
    }
  }
  for (const std::string& category : categories) {
    std::vector<const Json*> in_category;
    for (const char* severity : kSeverities) {
      for (const auto& f : findings) {
        if (Text(f, "category") == category && Text(f, "severity") == severity) {
          in_category.push_back(&f);
        }
      }
    }
    for (const auto& f : findings) {
      const std::string s = Text(f, "severity");
      if (Text(f, "category") == category && s != "critical" && s != "warning" && s != "info") {
        in_category.push_back(&f);
      }
    }
    if (in_category.empty()) continue;
    out += fmt::format("\n {}\n", category);
    for (const Json* f : in_category) AppendFinding(out, *f);
  }
}

void AppendStopping(std::string& out, const Json& d) {
  const Json& waste = Field(d, "waste");
  out += "\nStopping\n";
  out += fmt::format("  optimal stop epoch   {}\n", Num(Field(d, "optimal_stop_epoch"), "{:.0f}"));
  out += fmt::format("  pitch-rule epoch     {}\n", Num(Field(d, "pitch_rule_epoch"), "{:.0f}"));
  out += fmt::format(
      "  waste after the optimal stop: {} epochs, {} s, {} kWh, {} kg CO2, EUR {}, {} car-km, "
      "{}% of compute\n",
      Num(Field(waste, "epochs"), "{:.0f}"), Num(Field(waste, "seconds"), "{:.1f}"),
      Num(Field(waste, "kwh")), Num(Field(waste, "kg_co2")), Num(Field(waste, "eur"), "{:.4f}"),
      Num(Field(waste, "car_km"), "{:.3g}"),
      Field(waste, "fraction").is_number()
          ? fmt::format("{:.1f}", Field(waste, "fraction").get<double>() * 100)
          : std::string("-"));
}

void AppendForecast(std::string& out, const Json& forecast) {
  if (!forecast.is_object() || forecast.empty()) return;
  out += "\nForecast\n";
  for (const auto& [key, value] : forecast.items()) {
    out += fmt::format("  {:<28} {}\n", key,
                       value.is_object() || value.is_array() ? value.dump() : Num(value));
  }
}

}  // namespace

std::string FormatReport(const Json& d) {
  std::string out;
  const std::string run = Text(d, "run_id");
  out += fmt::format("Diagnosis{}\n", run.empty() ? "" : " of run " + run);
  out += fmt::format("  grade {}   score {}\n", Text(d, "grade").empty() ? "-" : Text(d, "grade"),
                     Num(Field(d, "score"), "{:.0f}"));
  const Json& categories = Field(d, "category_scores");
  if (categories.is_object() && !categories.empty()) {
    std::string line;
    for (const auto& [name, score] : categories.items()) {
      line += fmt::format("  {} {}", name, Num(score, "{:.0f}"));
    }
    out += fmt::format("  categories:{}\n", line);
  }
  AppendFindings(out, Field(d, "findings"));
  AppendStopping(out, d);
  AppendForecast(out, Field(d, "forecast"));
  return out;
}

int ReportCommand(const ReportOptions& options) {
  auto document = ApiClient(options.server_url)
                      .Get("/api/v1/runs/" + UrlEncode(options.run_id) + "/diagnostics");
  if (!document.ok()) {
    std::fprintf(stderr, "atlas: %s\n", document.status().message().c_str());
    return document.status().code() == StatusCode::kNotFound ? 2 : 1;
  }
  if (options.json) {
    fmt::print("{}\n", document->dump(2));
    return 0;
  }
  fmt::print("{}", FormatReport(*document));
  return 0;
}

}  // namespace atlas::cli
