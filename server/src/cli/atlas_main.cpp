// atlas: the command line of Atlas (serve, runs, show, sync).
#include <curl/curl.h>
#include <CLI/CLI.hpp>

#include "cli/agent_commands.hpp"
#include "cli/api_client.hpp"
#include "cli/commands.hpp"
#include "cli/control_commands.hpp"
#include "cli/logging.hpp"
#include "cli/report_command.hpp"
#include "cli/serve_flags.hpp"

int main(int argc, char** argv) {
  using namespace atlas::cli;
  CLI::App app{"atlas: see how much energy, CO2 and money a training run burns"};
  app.set_version_flag("--version", std::string("atlas ") + ATLAS_VERSION);
  app.require_subcommand(1);

  ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run atlasd on the embedded database");
  AddServeFlags(*serve_cmd, serve);

  RunsOptions runs;
  runs.server_url = DefaultServerUrl();
  CLI::App* runs_cmd = app.add_subcommand("runs", "List runs");
  runs_cmd->add_option("--url", runs.server_url, "atlasd URL (default $ATLAS_URL or local)");
  runs_cmd->add_option("--project", runs.project, "Project id or name");
  runs_cmd->add_option("--status", runs.status, "running | completed | failed | stopped");
  runs_cmd->add_option("--name", runs.name, "Only runs whose name contains this");
  runs_cmd->add_option("--limit", runs.limit, "At most this many runs (1-500)")
      ->check(CLI::Range(1, 500));
  runs_cmd->add_flag("--json", runs.json, "Print the API's JSON");

  ShowOptions show;
  show.server_url = DefaultServerUrl();
  CLI::App* show_cmd = app.add_subcommand("show", "Show one run");
  show_cmd->add_option("RUN", show.run_id, "Run id")->required();
  show_cmd->add_option("--url", show.server_url, "atlasd URL (default $ATLAS_URL or local)");
  show_cmd->add_flag("--json", show.json, "Print the API's JSON");

  SyncOptions sync;
  sync.server_url = DefaultServerUrl();
  CLI::App* sync_cmd =
      app.add_subcommand("sync", "Upload runs spooled while atlasd was unreachable or offline");
  sync_cmd->add_option("PATH", sync.paths, "Spool files or directories (default ~/.atlas/spool)");
  sync_cmd->add_option("--url", sync.server_url, "atlasd URL (default $ATLAS_URL or local)");
  sync_cmd->add_flag("--keep", sync.keep, "Keep spool files after a complete upload");

  ReportOptions report;
  report.server_url = DefaultServerUrl();
  CLI::App* report_cmd = app.add_subcommand("report", "Print a run's diagnosis");
  report_cmd->add_option("RUN", report.run_id, "Run id")->required();
  report_cmd->add_option("--url", report.server_url, "atlasd URL (default $ATLAS_URL or local)");
  report_cmd->add_flag("--json", report.json, "Print the diagnosis document (JSON)");

  ControlCommands control(app);  // stop, pause, resume, adjust, actions

  AgentCommands agent(app);  // ask, mcp

  CLI11_PARSE(app, argc, argv);
  ConfigureLogging();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int code = 0;
  if (*serve_cmd) code = Serve(serve);
  if (*runs_cmd) code = RunsCommand(runs);
  if (*show_cmd) code = ShowCommand(show);
  if (*sync_cmd) code = SyncCommand(sync);
  if (*report_cmd) code = ReportCommand(report);
  if (control.selected()) code = control.Run();
  if (agent.selected()) code = agent.Run();
  curl_global_cleanup();
  return code;
}
