#include "cli/serve.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/config.hpp"
#include "agent/service.hpp"
#include "analysis/service.hpp"
#include "api/routes.hpp"
#include "control/findings_feed.hpp"
#include "control/service.hpp"
#include "http/server.hpp"
#include "live/hub.hpp"
#include "live/run_feed.hpp"
#include "mcp/server.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "web/static_files.hpp"

namespace atlas::cli {
namespace {

bool WritePortFile(const std::string& path, std::uint16_t port) {
  // Written to a temporary name and renamed, so a reader never sees a half-written file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

std::string DefaultDataDir() {
  if (const char* dir = std::getenv("ATLAS_DATA_DIR"); dir && *dir) return dir;
  if (const char* home = std::getenv("HOME"); home && *home) {
    return (std::filesystem::path(home) / ".atlas").string();
  }
  return ".atlas";
}

int Serve(const ServeOptions& options) {
  const std::string data_dir = options.data_dir.empty() ? DefaultDataDir() : options.data_dir;
  const std::string db_path = (std::filesystem::path(data_dir) / "atlas.db").string();

  store::SqliteOptions store_options;
  store_options.path = db_path;
  auto opened = store::OpenSqliteStore(store_options);
  if (!opened.ok()) {
    spdlog::error("cannot open the database {}: {}", db_path, opened.status().message());
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(opened).value();

  // Live push and diagnostics: both follow ingest through the API's listener list. They stop
  // after the server (below), so no request can reach them once they are gone.
  live::Hub hub;
  live::RunFeed feed(hub, live::RunFeed::Options{});
  analysis::AnalysisService analysis(*store, &hub);
  feed.Start();
  analysis.Start();

  api::ApiOptions api_options;
  api_options.version = ATLAS_VERSION;
  api_options.hub = &hub;
  api_options.analysis = &analysis;
  api_options.ingest_listeners = {&analysis, &feed};
  // Control (issue 7): actions reach observers on ingest replies and polls; each change is
  // pushed to dashboards as an `action` or `status` event on the run's topic.
  control::ControlService control(*store);
  control.SetPublisher(
      [&hub](const std::string& run_id, std::string_view event, const nlohmann::json& data) {
        hub.Publish(live::Hub::RunTopic(run_id), event, data);
      });
  api_options.control = &control;
  // Pause on findings: the runs that ask for it are followed on the hub like a dashboard would.
  control::FindingsFeed findings_feed(hub, control);
  control.SetPauseOnHook(
      [&findings_feed](const std::string& run_id) { findings_feed.Watch(run_id); });
  findings_feed.Start();
  http::Router router;
  api::AddRoutes(router, *store, api_options);
  // The agent and its MCP server (issue 8, docs/agent.md): the same tools over the same store,
  // beliefs revised in the background, insights and proposals pushed on the run's topic.
  agent::AgentConfig agent_config = agent::ConfigFromEnv(&std::getenv);
  agent_config.allow_actions = agent_config.allow_actions || options.agent_actions;
  auto agent_service =
      std::make_unique<agent::AgentService>(agent::DefaultSources(*store), agent_config);
  agent_service->AddListener([&hub](const std::string& event, const nlohmann::json& data) {
    hub.Publish(live::Hub::RunTopic(data.value("run_id", "")), event, data);
  });
  agent::AddAgentRoutes(router, *agent_service);
  const mcp::McpServer mcp_server(agent_service->tools(),
                                  mcp::McpOptions{agent_config.allow_actions, ATLAS_VERSION});
  mcp::AddMcpRoutes(router, mcp_server);
  agent_service->StartBackground(std::chrono::seconds(2));
  // After the API, so the dashboard's routes can never shadow it.
  const std::string web_dir = web::ResolveWebDir(options.web_dir);
  if (!web::AddRoutes(router, web_dir)) {
    spdlog::warn("the dashboard is not built in {}; serving the API only", web_dir);
  }

  http::ServerOptions server_options;
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.threads = options.threads;
  server_options.body_limit = options.body_limit;
  server_options.log_requests = options.log_requests;
  http::Server server(server_options, std::move(router));
  if (Status listening = server.Listen(); !listening.ok()) {
    spdlog::error("cannot listen on {}:{}: {}", options.host, options.port, listening.message());
    return 1;
  }
  spdlog::info("atlasd {} listening on http://{}:{} (data: {})", ATLAS_VERSION, options.host,
               server.port(), db_path);
  if (!options.port_file.empty() && !WritePortFile(options.port_file, server.port())) {
    spdlog::error("cannot write the port file {}", options.port_file);
    return 1;
  }

  server.RunUntilSignal();
  agent_service.reset();  // joins its workers before the store closes
  findings_feed.Stop();
  analysis.Stop();
  feed.Stop();

  if (Status closed = store->Close(); !closed.ok()) {
    spdlog::error("closing the database failed: {}", closed.message());
    return 1;
  }
  spdlog::info("atlasd stopped; database closed cleanly");
  return 0;
}

}  // namespace atlas::cli
