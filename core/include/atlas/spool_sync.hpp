// Uploading a spool file later, with no other state (`atlas sync PATH`).
//
// A spool file is self-describing: its first frame is the run-create request (server path and
// JSON) and every later frame a record batch (server path and JSON body). SyncSpool POSTs them
// in order to `server_url`; the server's idempotence on (run, seq) makes re-running it safe.
// Functions here run on the caller's thread and hold no state between calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "atlas/client.hpp"
#include "atlas/env.hpp"
#include "atlas/status.hpp"
#include "atlas/transport.hpp"

namespace atlas {

struct SyncOptions {
  Env* env = nullptr;  // null means Env::Default()
  Compression compression = Compression::kZstd;
  std::chrono::milliseconds request_timeout{30000};
  bool remove_when_done = true;  // delete the file once every frame was delivered or rejected
};

struct SyncReport {
  std::uint64_t frames = 0;            // frames read intact
  std::uint64_t requests = 0;          // frames POSTed
  std::uint64_t records_sent = 0;      // records the server acknowledged
  std::uint64_t records_rejected = 0;  // records in batches the server refused (4xx)
  std::uint64_t bytes_skipped = 0;     // a torn tail or corrupt bytes at the end
  bool run_rejected = false;           // the run-create request was refused
  bool removed = false;                // the file was deleted
  std::string skipped_reason;          // why bytes were skipped, "" when none
};

// Uploads the spool at `path`. Returns ok when every frame was delivered or rejected (see the
// report), kUnavailable when the server could not be reached or failed (re-run later), or the
// file's read error. A torn or corrupt tail is skipped and reported, never fatal.
Status SyncSpool(const std::string& path, Transport& transport, const std::string& server_url,
                 SyncReport* report, const SyncOptions& options = {});

// The spool files in `dir` (full paths, sorted).
Result<std::vector<std::string>> ListSpoolFiles(const std::string& dir, Env* env = nullptr);

// The spool file of run `run_id` under `dir`.
std::string SpoolPathFor(const std::string& dir, const std::string& run_id);

}  // namespace atlas
