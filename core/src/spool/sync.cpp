// SyncSpool and friends (atlas/spool_sync.hpp): upload a spool with nothing but the file.
#include <algorithm>
#include <string>
#include <vector>

#include "atlas/spool_sync.hpp"
#include "spool/log_format.hpp"
#include "transport/poster.hpp"

namespace atlas {
namespace {

constexpr std::string_view kSpoolSuffix = ".atlas-spool";

void NoteSkipped(Env* env, const std::string& path, const core::spool::LogReader& reader,
                 SyncReport* report) {
  auto size = env->GetFileSize(path);
  if (size.ok() && *size > reader.offset()) report->bytes_skipped = *size - reader.offset();
  report->skipped_reason = reader.problem();
}

// POSTs one frame; returns false when the server could not take it now (retry later).
bool SendFrame(const core::spool::Frame& frame, Transport& transport, const std::string& server_url,
               const SyncOptions& options, SyncReport* report, std::string* error) {
  ++report->requests;
  const core::PostResult posted =
      core::PostJson(transport, core::JoinUrl(server_url, frame.path), frame.body,
                     options.compression, options.request_timeout);
  switch (posted.outcome) {
    case Outcome::kDelivered:
      if (frame.type == core::spool::FrameType::kRecords) report->records_sent += frame.records;
      return true;
    case Outcome::kRejected:
      if (frame.type == core::spool::FrameType::kRunCreate) report->run_rejected = true;
      report->records_rejected += frame.records;
      return true;
    case Outcome::kRetryable:
      break;
  }
  *error = posted.error;
  return false;
}

}  // namespace

std::string SpoolPathFor(const std::string& dir, const std::string& run_id) {
  std::string path = dir;
  if (!path.empty() && path.back() != '/') path += '/';
  return path + run_id + std::string(kSpoolSuffix);
}

Result<std::vector<std::string>> ListSpoolFiles(const std::string& dir, Env* env) {
  if (env == nullptr) env = Env::Default();
  auto names = env->GetChildren(dir);
  if (!names.ok()) return names.status();
  std::vector<std::string> paths;
  for (const std::string& name : *names) {
    if (name.size() > kSpoolSuffix.size() &&
        name.compare(name.size() - kSpoolSuffix.size(), kSpoolSuffix.size(), kSpoolSuffix) == 0) {
      paths.push_back(SpoolPathFor(dir, name.substr(0, name.size() - kSpoolSuffix.size())));
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

Status SyncSpool(const std::string& path, Transport& transport, const std::string& server_url,
                 SyncReport* report, const SyncOptions& options) {
  SyncReport local;
  if (report == nullptr) report = &local;
  *report = SyncReport{};
  Env* env = options.env != nullptr ? options.env : Env::Default();
  auto file = env->NewSequentialFile(path);
  if (!file.ok()) return file.status();
  core::spool::LogReader reader(file->get(), 0);
  core::spool::Frame frame;
  while (true) {
    const core::spool::ReadResult result = reader.Next(&frame);
    if (result == core::spool::ReadResult::kIoError) return reader.status();
    if (result != core::spool::ReadResult::kFrame) {
      if (result != core::spool::ReadResult::kEnd) NoteSkipped(env, path, reader, report);
      break;
    }
    ++report->frames;
    std::string error;
    if (!SendFrame(frame, transport, server_url, options, report, &error)) {
      std::string message = "sync of " + path;
      message += " stopped: ";
      message += error;
      return Status::Unavailable(std::move(message));
    }
  }
  if (options.remove_when_done) {
    file->reset();
    Status removed = env->RemoveFile(path);
    if (!removed.ok()) return removed;
    report->removed = true;
  }
  return Status::Ok();
}

}  // namespace atlas
