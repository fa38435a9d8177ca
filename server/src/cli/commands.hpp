// The CLI's read commands: `atlas runs` and `atlas show RUN`. Each prints to stdout and returns
// the process exit code (0 ok, 1 server or network error, 2 not found).
#pragma once

#include <optional>
#include <string>

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

int RunsCommand(const RunsOptions& options);
int ShowCommand(const ShowOptions& options);

}  // namespace atlas::cli
