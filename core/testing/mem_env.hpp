// MemEnv: an in-memory Env for tests, with fault injection (LevelDB's MemEnv plus
// FaultInjectionTestEnv in one). Files are strings in a map; directories are remembered by
// name. A test arms a fault on a kind of operation ("the next 2 appends fail with ENOSPC,
// writing half their bytes first") and checks how the code under test copes.
// Thread-safe: one mutex guards everything.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "atlas/env.hpp"

namespace atlas::testing {

enum class EnvOp {
  kOpenAppend,
  kOpenRead,
  kAppend,
  kSync,
  kRead,
  kTruncate,
  kRemove,
  kRename,
  kCreateDirs,
  kSyncDir,
  kGetChildren,
  kGetFileSize,
};

class MemEnv final : public Env {
 public:
  // The next `times` operations of kind `op` (after `skip` successful ones) fail with `err`
  // (ENOSPC, EIO, EACCES, ...); `times` < 0 means every one. For kAppend, `partial` makes the
  // failing append write the first half of its bytes first, as a real full disk may.
  void InjectFault(EnvOp op, int err, int times = 1, int skip = 0, bool partial = false);
  void ClearFaults();
  // How many operations of kind `op` were attempted.
  std::uint64_t count(EnvOp op);
  // How many operations failed by an injected fault.
  std::uint64_t faults_fired();

  std::string Contents(const std::string& path);
  void SetContents(const std::string& path, std::string data);

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  Result<std::uint64_t> GetFileSize(const std::string& path) override;
  Status TruncateFile(const std::string& path, std::uint64_t size) override;
  Status RemoveFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override;
  Status CreateDirs(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;

 private:
  class File;
  class Reader;
  struct Fault {
    EnvOp op;
    int err;
    int times;
    int skip;
    bool partial;
  };

  // Counts `op`; returns the injected error for it, or ok. Requires mu_.
  Status Check(EnvOp op, const std::string& path, bool* partial = nullptr);

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::string>> files_;
  std::set<std::string> dirs_;
  std::vector<Fault> faults_;
  std::map<EnvOp, std::uint64_t> counts_;
  std::uint64_t faults_fired_ = 0;
};

}  // namespace atlas::testing
