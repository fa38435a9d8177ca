// The CLI's client commands: `atlas runs`, `atlas show RUN` and `atlas sync [PATH...]`. Each prints
// to stdout and returns the process exit code (0 ok, 1 server or network error, 2 not found).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace atlas::cli {

struct RunsOptions {
  std::string server_url;
  std::optional<std::string> project;  // id or name
  std::optional<std::string> status;
  std::optional<std::string> name;
  int limit = 50;
  bool json = false;
};

struct ShowOptions {
  std::string server_url;
  std::string run_id;
  bool json = false;
};

struct SyncOptions {
  std::string server_url;
  std::vector<std::string> paths;  // spool files or directories of them; empty: the default dir
  bool keep = false;               // keep files after a complete upload
};

int RunsCommand(const RunsOptions& options);
int ShowCommand(const ShowOptions& options);
// Uploads spools written while atlasd was unreachable or in offline mode (`atlas sync`).
int SyncCommand(const SyncOptions& options);

}  // namespace atlas::cli
