// The CLI's control commands (issue 7, docs/control.md): `atlas stop RUN [--at step|epoch]`,
// `atlas pause RUN`, `atlas resume RUN`, `atlas adjust RUN --lr 0.5x [--set name=value]` and
// `atlas actions RUN`. Each POSTs to /api/v1/runs/{id}/actions (or reads it) and prints what
// atlasd answered. Exit codes: 0 ok, 1 server or network error or a refused action (409/422),
// 2 unknown run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace atlas::cli {

struct ControlOptions {
  std::string server_url;
  std::string run_id;
  std::string at = "step";  // stop: "step" or "epoch"
  std::string reason;
  std::string actor;  // default $USER, else "cli"
  std::optional<std::string> lr;
  std::vector<std::string> sets;  // adjust: "name=value"
  bool json = false;
};

// The subcommands, added to the `atlas` app by AddControlCommands; Run() runs the one given.
class ControlCommands {
 public:
  explicit ControlCommands(CLI::App& app);
  // True when one of the control subcommands was given on the command line.
  bool selected() const;
  int Run() const;

 private:
  ControlOptions options_;
  CLI::App* stop_ = nullptr;
  CLI::App* pause_ = nullptr;
  CLI::App* resume_ = nullptr;
  CLI::App* adjust_ = nullptr;
  CLI::App* actions_ = nullptr;
};

}  // namespace atlas::cli
