// The flags of `atlas serve` and `atlasd`, declared once for both binaries.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/serve.hpp"

namespace atlas::cli {

inline void AddServeFlags(CLI::App& app, ServeOptions& options) {
  app.add_option("--host", options.host, "Address to bind (default 127.0.0.1: local only)");
  app.add_option("--port", options.port, "Port to listen on (0 picks a free one)");
  app.add_option("--data-dir", options.data_dir,
                 "Where the embedded database lives (default $ATLAS_DATA_DIR or ~/.atlas)");
  app.add_option("--port-file", options.port_file, "Write the bound port to this file");
  app.add_option("--threads", options.threads, "Server threads (default: one per core, >= 2)");
  app.add_option("--body-limit", options.body_limit,
                 "Largest request body in bytes (default 32 MiB)");
  app.add_option(
      "--web-dir", options.web_dir,
      "The built dashboard served at / (default $ATLAS_WEB_DIR, else the build's web/dist)");
  app.add_flag("--allow-agent-actions", options.agent_actions,
               "Let the agent and MCP clients propose stop/pause/adjust (confirmed in the UI)");
  app.add_flag("!--no-request-log", options.log_requests, "Do not log each request");
}

}  // namespace atlas::cli
