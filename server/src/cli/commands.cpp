#include "cli/commands.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

#include "cli/api_client.hpp"

namespace atlas::cli {
namespace {

using model::Json;

std::string FormatTime(const Json& ts) {
  if (!ts.is_number()) return "-";
  const auto seconds = static_cast<std::time_t>(ts.get<double>());
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

// A number as the API gives it: a JSON number, a non-finite string, or null.
std::string FormatNumber(const Json& value, const char* format = "{:.4g}") {
  if (value.is_number()) return fmt::format(fmt::runtime(format), value.get<double>());
  if (value.is_string()) return value.get<std::string>();
  return "-";
}

std::string FormatDuration(double seconds) {
  if (seconds < 0) return "-";
  const auto s = static_cast<long>(seconds);
  if (s < 60) return fmt::format("{:.1f}s", seconds);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

void PrintEpochs(const Json& epochs) {
  if (epochs.empty()) return;
  fmt::print("\nEpochs\n  {:>5}  {:>10}  {:>10}  {:>10}  {:>12}  {}\n", "epoch", "train loss",
             "val loss", "val acc", "energy (J)", "energy method");
  for (const auto& e : epochs) {
    double joules = 0;
    std::string methods;
    for (const auto& entry : e["energy"]) {
      if (entry["joules"].is_number()) joules += entry["joules"].get<double>();
      const auto method = entry["method"].get<std::string>();
      if (methods.find(method) == std::string::npos)
        methods += (methods.empty() ? "" : ",") + method;
    }
    fmt::print("  {:>5}  {:>10}  {:>10}  {:>10}  {:>12}  {}\n", e["epoch"].get<long>(),
               FormatNumber(e["train"].value("loss", Json())),
               FormatNumber(e["val"].value("loss", Json())),
               FormatNumber(e["val"].value("accuracy", Json())),
               e["energy"].empty() ? "-" : fmt::format("{:.1f}", joules),
               methods.empty() ? "-" : methods);
  }
}

void PrintArchitecture(const Json& modules) {
  if (modules.empty()) return;
  long long params = 0;
  for (const auto& m : modules) params += m["params"].get<long long>();
  fmt::print("\nArchitecture: {} modules, {} parameters (root {})\n", modules.size(), params,
             modules.front()["type"].get<std::string>());
}

}  // namespace

int RunsCommand(const RunsOptions& options) {
  std::string path = "/api/v1/runs?limit=" + std::to_string(options.limit);
  if (options.project) path += "&project=" + UrlEncode(*options.project);
  if (options.status) path += "&status=" + UrlEncode(*options.status);
  if (options.name) path += "&name=" + UrlEncode(*options.name);
  auto page = ApiClient(options.server_url).Get(path);
  if (!page.ok()) return ReportFailure(page.status());
  if (options.json) {
    fmt::print("{}\n", page->dump(2));
    return 0;
  }
  const Json& runs = (*page)["runs"];
  if (runs.empty()) {
    fmt::print("No runs yet. Start one with the Observer (see README.md).\n");
    return 0;
  }
  fmt::print("{:<34} {:<16} {:<24} {:<10} {:>8} {:>6} {:>10}  {}\n", "ID", "PROJECT", "NAME",
             "STATUS", "STEPS", "EPOCHS", "LAST LOSS", "CREATED (UTC)");
  for (const auto& run : runs) {
    const Json& totals = run["totals"];
    fmt::print("{:<34} {:<16} {:<24} {:<10} {:>8} {:>6} {:>10}  {}\n", run["id"].get<std::string>(),
               run["project"].get<std::string>(), run["name"].get<std::string>(),
               run["status"].get<std::string>(), totals["step_records"].get<long long>(),
               totals["epochs"].get<long long>(), FormatNumber(totals["last_loss"]),
               FormatTime(run["created_at"]));
  }
  fmt::print("{} of {} runs\n", runs.size(), (*page)["total"].get<long long>());
  return 0;
}

int ShowCommand(const ShowOptions& options) {
  ApiClient client(options.server_url);
  const std::string run_path = "/api/v1/runs/" + UrlEncode(options.run_id);
  auto run = client.Get(run_path);
  if (!run.ok()) return ReportFailure(run.status());
  auto epochs = client.Get(run_path + "/epochs");
  if (!epochs.ok()) return ReportFailure(epochs.status());
  auto series = client.Get(run_path + "/series");
  if (!series.ok()) return ReportFailure(series.status());

  if (options.json) {
    Json out = *run;
    out["epochs"] = (*epochs)["epochs"];
    out["series"] = (*series)["series"];
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  const Json& r = *run;
  const Json& totals = r["totals"];
  const double end = r["finished_at"].is_number()    ? r["finished_at"].get<double>()
                     : totals["last_ts"].is_number() ? totals["last_ts"].get<double>()
                                                     : r["started_at"].get<double>();
  fmt::print("Run {}  ({} / {})\n", r["id"].get<std::string>(), r["project"].get<std::string>(),
             r["name"].get<std::string>());
  fmt::print("  status     {}{}\n", r["status"].get<std::string>(),
             r["status_reason"].get<std::string>().empty()
                 ? ""
                 : " - " + r["status_reason"].get<std::string>().substr(0, 200));
  fmt::print("  started    {} UTC, ran {}\n", FormatTime(r["started_at"]),
             FormatDuration(end - r["started_at"].get<double>()));
  fmt::print("  steps      {} records, last step {}, last loss {}\n",
             totals["step_records"].get<long long>(), FormatNumber(totals["last_step"], "{:.0f}"),
             FormatNumber(totals["last_loss"]));
  fmt::print("  samples    {:.0f}   tokens {:.0f}   epochs {}   energy {:.1f} J\n",
             totals["samples"].get<double>(), totals["tokens"].get<double>(),
             totals["epochs"].get<long long>(), totals["energy_joules"].get<double>());
  if (!r["hyperparameters"].empty())
    fmt::print("  hyperparameters {}\n", r["hyperparameters"].dump());
  PrintArchitecture(r["architecture"]);
  PrintEpochs((*epochs)["epochs"]);
  if (!(*series)["series"].empty()) {
    std::string names;
    for (const auto& n : (*series)["series"])
      names += (names.empty() ? "" : ", ") + n.get<std::string>();
    fmt::print("\nSeries: {}\n", names);
  }
  return 0;
}

}  // namespace atlas::cli
