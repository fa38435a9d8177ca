// `atlas report RUN`: the run's diagnosis (GET /api/v1/runs/{id}/diagnostics) printed for a
// person, or with --json the document itself. Returns the process exit code (0 ok, 1 server or
// network error, 2 unknown run).
#pragma once

#include <string>

#include "model/records.hpp"

namespace atlas::cli {

struct ReportOptions {
  std::string server_url;
  std::string run_id;
  bool json = false;
};

int ReportCommand(const ReportOptions& options);

// The readable report of a diagnosis document (what ReportCommand prints without --json).
std::string FormatReport(const model::Json& document);

}  // namespace atlas::cli
