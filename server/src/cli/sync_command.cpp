// `atlas sync [PATH...]`: upload the spools libatlas wrote while atlasd was unreachable.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "atlas/spool_sync.hpp"
#include "atlas/transport.hpp"
#include "cli/commands.hpp"

namespace atlas::cli {
namespace {

// libatlas's default spool directory (ClientConfig::spool_dir).
std::string DefaultSpoolDir() {
  if (const char* home = std::getenv("HOME"); home && *home) {
    return (std::filesystem::path(home) / ".atlas" / "spool").string();
  }
  return ".atlas/spool";
}

// Expands directories into the spool files they hold; files are taken as they are.
Result<std::vector<std::string>> SpoolFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) {
      if (!std::filesystem::exists(path, ec)) return Status::NotFound("no such file: " + path);
      files.push_back(path);
      continue;
    }
    auto listed = ListSpoolFiles(path);
    if (!listed.ok()) return listed.status();
    files.insert(files.end(), listed->begin(), listed->end());
  }
  return files;
}

}  // namespace

int SyncCommand(const SyncOptions& options) {
  const std::vector<std::string> paths =
      options.paths.empty() ? std::vector<std::string>{DefaultSpoolDir()} : options.paths;
  auto files = SpoolFiles(paths);
  if (!files.ok()) {
    std::fprintf(stderr, "atlas: %s\n", files.status().message().c_str());
    return 2;
  }
  if (files->empty()) {
    fmt::print("Nothing to sync: no spool files in {}\n", fmt::join(paths, ", "));
    return 0;
  }
  auto transport = NewCurlTransport();
  atlas::SyncOptions sync_options;
  sync_options.remove_when_done = !options.keep;
  int failures = 0;
  for (const auto& file : *files) {
    SyncReport report;
    Status status = SyncSpool(file, *transport, options.server_url, &report, sync_options);
    fmt::print("{}: {} records sent, {} rejected in {} requests{}{}\n", file, report.records_sent,
               report.records_rejected, report.requests,
               report.bytes_skipped ? fmt::format(", {} torn bytes skipped ({})",
                                                  report.bytes_skipped, report.skipped_reason)
                                    : "",
               report.removed ? ", removed" : "");
    if (report.run_rejected)
      std::fprintf(stderr, "atlas: %s: the server refused the run\n", file.c_str());
    if (!status.ok()) {
      std::fprintf(stderr, "atlas: %s: %s (run `atlas sync` again later)\n", file.c_str(),
                   status.message().c_str());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace atlas::cli
