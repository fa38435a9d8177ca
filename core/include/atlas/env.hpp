// Env: every file-system operation libatlas performs, behind one interface (LevelDB's Env).
//
// The client and the spool never call the OS directly: they take an Env*, so tests can hand them
// an in-memory Env that injects ENOSPC, EIO or EACCES at any operation. Env::Default() is the
// POSIX implementation; it lives for the whole process and is never deleted. Every method is
// safe to call from any thread; a WritableFile or SequentialFile is used by one thread at a time.
// No method throws; failures are Status values (kIoError, or kNotFound for a missing file) whose
// message names the path and the OS error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "atlas/status.hpp"

namespace atlas {

// A file opened for appending. Append hands the bytes to the OS (no user-space buffering), so a
// SequentialFile opened later sees them; Sync makes them durable (fsync).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// A file read from front to back.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to `n` bytes into `scratch`; returns how many were read (0 at the end of the file).
  virtual Result<std::size_t> Read(std::size_t n, char* scratch) = 0;
  virtual Status Skip(std::uint64_t n) = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The POSIX Env, shared by the whole process (never deleted).
  static Env* Default();

  // Opens `path` for appending, creating it when missing.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<std::uint64_t> GetFileSize(const std::string& path) = 0;
  virtual Status TruncateFile(const std::string& path, std::uint64_t size) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // The names (not paths) of the entries of `dir`, without "." and "..".
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  // Creates `dir` and any missing parents (mkdir -p).
  virtual Status CreateDirs(const std::string& dir) = 0;
  // Makes the directory entries of `dir` durable (fsync of the directory), so a new file
  // survives a crash.
  virtual Status SyncDir(const std::string& dir) = 0;
};

}  // namespace atlas
