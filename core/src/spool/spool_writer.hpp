// The writing side of one run's spool file (format: spool/log_format.hpp).
//
// Durability: every Append is followed by fdatasync, and a new file's directory is fsynced, so a
// batch counted as spooled survives a crash of the process or the machine. Spooling happens only
// while the server is unreachable and at most once per batch (every 200 ms by default), so the
// cost of a sync per frame is paid on the sender thread at a rate the disk easily sustains.
//
// Failure handling: a failed append (ENOSPC, EIO, ...) is cut back off the file, so the file
// never holds a torn frame in the middle; if even that fails, the writer refuses further appends
// (the file is then only replayed up to its last intact frame). Size: the file never grows past
// max_bytes; an append that would is refused as kFull.
//
// Threading: owned and used by the sender thread only (SyncSpool does not use it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "atlas/env.hpp"
#include "atlas/status.hpp"
#include "spool/log_format.hpp"

namespace atlas::core::spool {

enum class AppendResult { kAppended, kFull, kFailed };

// What a scan of an existing spool found.
struct ScanResult {
  std::uint64_t frames = 0;
  std::uint64_t good_bytes = 0;     // the magic and the intact frames
  std::uint64_t skipped_bytes = 0;  // after them: a torn tail or corruption
  bool starts_with_create = false;
  std::string problem;  // why bytes were skipped, "" when none
};

// Reads the whole spool at `path` (frames are read one at a time, not kept).
Result<ScanResult> ScanFile(Env* env, const std::string& path);

class SpoolWriter {
 public:
  SpoolWriter(Env* env, std::string dir, std::string path, std::uint64_t max_bytes);

  const std::string& path() const { return path_; }
  bool is_open() const { return file_ != nullptr; }
  // The file's size while open.
  std::uint64_t size() const { return size_; }

  // Opens the file for appending unless it is open. A missing or empty file is created with the
  // magic and `create` as its first frame. An existing spool (from an earlier process or an
  // earlier Remove-less close) is scanned: a bad tail is cut off, and a file that is not a spool
  // of ours is moved aside to <path>.corrupt; either adds the bytes lost to `*skipped`.
  Status Open(const Frame& create, std::uint64_t* skipped, std::string* problem);

  // Appends `frame` and syncs. kFull when it would make the file exceed max_bytes; kFailed with
  // `*error` set when the file could not be written.
  AppendResult Append(const Frame& frame, Status* error);

  // Closes and deletes the file (after a complete replay).
  Status Remove();

 private:
  Status CreateNew(const Frame& create);
  Status OpenExisting(const Frame& create, std::uint64_t* skipped, std::string* problem);
  // Writes `bytes` at the end and syncs; on failure cuts the file back to its old size.
  Status AppendAndSync(const std::string& bytes);

  Env* env_;
  std::string dir_;
  std::string path_;
  std::uint64_t max_bytes_;
  std::unique_ptr<WritableFile> file_;
  std::uint64_t size_ = 0;
  bool broken_ = false;  // a failed append could not be cut back off
};

}  // namespace atlas::core::spool
