#include "cli/control_commands.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "cli/api_client.hpp"
#include "model/records.hpp"

namespace atlas::cli {
namespace {

using model::Json;

std::string DefaultActor() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? std::string(user) : std::string("cli");
}

// The time of day (UTC) of a timestamp in seconds; "-" when there is none.
std::string FormatClock(const Json& ts) {
  if (!ts.is_number()) return "-";
  const auto seconds = static_cast<std::time_t>(ts.get<double>());
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%H:%M:%S", &tm);
  return buffer;
}

std::string DescribeParams(const Json& params) {
  std::string out;
  for (const auto& [name, value] : params.items()) {
    if (!out.empty()) out += ", ";
    if (value.contains("multiply")) {
      out += fmt::format("{} x{}", name, value["multiply"].dump());
    } else if (value.contains("set")) {
      out += fmt::format("{} = {}", name, value["set"].dump());
    } else {
      out += name;
    }
  }
  return out;
}

int Submit(const ControlOptions& options, Json body) {
  body["reason"] = options.reason;
  body["actor"] = options.actor.empty() ? DefaultActor() : options.actor;
  auto reply = ApiClient(options.server_url)
                   .Post("/api/v1/runs/" + UrlEncode(options.run_id) + "/actions", body);
  if (!reply.ok()) return ReportFailure(reply.status());
  if (options.json) {
    fmt::print("{}\n", reply->dump(2));
    return 0;
  }
  const Json& action = *reply;
  fmt::print("action {} ({}{}) sent to run {}; control state: {}\n", action["id"].dump(),
             action["action"].get<std::string>(),
             action["mode"].get<std::string>().empty()
                 ? std::string()
                 : " at the end of the " + action["mode"].get<std::string>(),
             options.run_id, (*reply)["state"].get<std::string>());
  return 0;
}

Result<Json> AdjustParams(const ControlOptions& options) {
  Json params = Json::object();
  if (options.lr) params["lr"] = *options.lr;
  for (const std::string& set : options.sets) {
    const auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--set takes name=value, got '" + set + "'");
    }
    const std::string value = set.substr(eq + 1);
    const Json number = Json::parse(value, nullptr, /*allow_exceptions=*/false);
    params[set.substr(0, eq)] = number.is_number() ? number : Json(value);
  }
  if (params.empty()) return Status::InvalidArgument("adjust needs --lr or --set name=value");
  return params;
}

int PrintActions(const ControlOptions& options) {
  auto view =
      ApiClient(options.server_url).Get("/api/v1/runs/" + UrlEncode(options.run_id) + "/actions");
  if (!view.ok()) return ReportFailure(view.status());
  if (options.json) {
    fmt::print("{}\n", view->dump(2));
    return 0;
  }
  const Json& v = *view;
  fmt::print("Run {}: {} (control state: {})\n", options.run_id, v["run_status"].get<std::string>(),
             v["state"].get<std::string>());
  const Json& actions = v["actions"];
  if (actions.empty()) {
    fmt::print("No actions yet.\n");
    return 0;
  }
  fmt::print("{:>4} {:<8} {:<6} {:<28} {:<14} {:>8} {:>8} {:<9} {}\n", "ID", "ACTION", "MODE",
             "PARAMS", "BY", "ASKED", "APPLIED", "OUTCOME", "REASON / DETAIL");
  for (const auto& a : actions) {
    std::string note = a["reason"].get<std::string>();
    const std::string detail = a["detail"].get<std::string>();
    if (!detail.empty()) note += (note.empty() ? "" : " / ") + detail;
    fmt::print("{:>4} {:<8} {:<6} {:<28} {:<14} {:>8} {:>8} {:<9} {}\n", a["id"].dump(),
               a["action"].get<std::string>(), a["mode"].get<std::string>(),
               DescribeParams(a["params"]).substr(0, 28), a["actor"].get<std::string>(),
               FormatClock(a["created_at"]), FormatClock(a["applied_at"]),
               a["outcome"].is_string() ? a["outcome"].get<std::string>() : "pending",
               note.substr(0, 120));
  }
  return 0;
}

CLI::App* AddRunCommand(CLI::App& app, const char* name, const char* help,
                        ControlOptions& options) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("RUN", options.run_id, "Run id")->required();
  cmd->add_option("--url", options.server_url, "atlasd URL (default $ATLAS_URL or local)");
  cmd->add_flag("--json", options.json, "Print the API's JSON");
  return cmd;
}

void AddWhy(CLI::App* cmd, ControlOptions& options) {
  cmd->add_option("--reason", options.reason, "Why (kept in the run's audit log)");
  cmd->add_option("--actor", options.actor, "Who asks (default $USER)");
}

}  // namespace

ControlCommands::ControlCommands(CLI::App& app) {
  options_.server_url = DefaultServerUrl();
  stop_ =
      AddRunCommand(app, "stop", "Stop a running training (it exits its loop normally)", options_);
  stop_
      ->add_option("--at", options_.at,
                   "step: end of the current step (default); epoch: end of "
                   "the current epoch")
      ->check(CLI::IsMember({"step", "epoch"}));
  AddWhy(stop_, options_);
  pause_ = AddRunCommand(app, "pause", "Pause a running training at its next step", options_);
  AddWhy(pause_, options_);
  resume_ = AddRunCommand(app, "resume", "Resume a paused or held training (continue)", options_);
  AddWhy(resume_, options_);
  adjust_ =
      AddRunCommand(app, "adjust", "Adjust the learning rate or a registered value", options_);
  adjust_->add_option("--lr", options_.lr, "0.5x multiplies, 3e-4 sets");
  adjust_->add_option("--set", options_.sets, "name=value (or name=0.5x) of a registered value");
  AddWhy(adjust_, options_);
  actions_ = AddRunCommand(app, "actions", "Show a run's control state and audit log", options_);
}

bool ControlCommands::selected() const {
  return *stop_ || *pause_ || *resume_ || *adjust_ || *actions_;
}

int ControlCommands::Run() const {
  if (*stop_) return Submit(options_, {{"action", "stop"}, {"mode", options_.at}});
  if (*pause_) return Submit(options_, {{"action", "pause"}});
  if (*resume_) return Submit(options_, {{"action", "resume"}});
  if (*adjust_) {
    auto params = AdjustParams(options_);
    if (!params.ok()) return ReportFailure(params.status());
    return Submit(options_, {{"action", "adjust"}, {"params", *params}});
  }
  if (*actions_) return PrintActions(options_);
  return 0;
}

}  // namespace atlas::cli
