// `atlas serve` / atlasd: open the embedded store, serve API v1 until SIGINT/SIGTERM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace atlas::cli {

inline constexpr std::uint16_t kDefaultPort = 7878;

struct ServeOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = kDefaultPort;
  std::string data_dir;                // empty: $HOME/.atlas
  std::string port_file;               // when set, the bound port is written there once listening
  int threads = 0;                     // 0: one per core, at least 2
  std::size_t body_limit = 32u << 20;  // request bodies on the wire
  bool log_requests = true;
  std::string web_dir;  // the built dashboard; empty: $ATLAS_WEB_DIR, else the build's web/dist
  bool agent_actions = false;  // offer request_run_action to the agent and MCP clients
};

// The default data directory: $ATLAS_DATA_DIR, else $HOME/.atlas, else ./.atlas.
std::string DefaultDataDir();

// Serves until a stop signal; returns the process exit code. The store is closed cleanly
// (its write-ahead log checkpointed) after the last in-flight request has finished.
int Serve(const ServeOptions& options);

}  // namespace atlas::cli
