#include "testing/mem_env.hpp"

#include <algorithm>
#include <cstring>
#include <system_error>

namespace atlas::testing {

// Appends go straight into the shared string, so readers see them at once, as with write(2).
class MemEnv::File final : public WritableFile {
 public:
  File(MemEnv* env, std::string path) : env_(env), path_(std::move(path)) {}

  Status Append(std::string_view data) override {
    const std::lock_guard<std::mutex> lock(env_->mu_);
    bool partial = false;
    Status fault = env_->Check(EnvOp::kAppend, path_, &partial);
    auto it = env_->files_.find(path_);
    if (it == env_->files_.end()) return Status::IoError("append " + path_ + ": file removed");
    if (!fault.ok()) {
      if (partial) it->second->append(data.substr(0, data.size() / 2));
      return fault;
    }
    it->second->append(data);
    return Status::Ok();
  }

  Status Sync() override {
    const std::lock_guard<std::mutex> lock(env_->mu_);
    return env_->Check(EnvOp::kSync, path_);
  }

  Status Close() override { return Status::Ok(); }

 private:
  MemEnv* env_;
  std::string path_;
};

class MemEnv::Reader final : public SequentialFile {
 public:
  Reader(MemEnv* env, std::string path, std::shared_ptr<std::string> data)
      : env_(env), path_(std::move(path)), data_(std::move(data)) {}

  Result<std::size_t> Read(std::size_t n, char* scratch) override {
    const std::lock_guard<std::mutex> lock(env_->mu_);
    Status fault = env_->Check(EnvOp::kRead, path_);
    if (!fault.ok()) return fault;
    if (pos_ >= data_->size()) return std::size_t{0};
    const std::size_t got = std::min(n, data_->size() - pos_);
    data_->copy(scratch, got, pos_);
    pos_ += got;
    return got;
  }

  Status Skip(std::uint64_t n) override {
    pos_ += n;
    return Status::Ok();
  }

 private:
  MemEnv* env_;
  std::string path_;
  std::shared_ptr<std::string> data_;  // shared with the env: a reader sees later appends
  std::size_t pos_ = 0;
};

void MemEnv::InjectFault(EnvOp op, int err, int times, int skip, bool partial) {
  const std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back(Fault{op, err, times, skip, partial});
}

void MemEnv::ClearFaults() {
  const std::lock_guard<std::mutex> lock(mu_);
  faults_.clear();
}

std::uint64_t MemEnv::count(EnvOp op) {
  const std::lock_guard<std::mutex> lock(mu_);
  return counts_[op];
}

std::uint64_t MemEnv::faults_fired() {
  const std::lock_guard<std::mutex> lock(mu_);
  return faults_fired_;
}

Status MemEnv::Check(EnvOp op, const std::string& path, bool* partial) {
  ++counts_[op];
  for (Fault& fault : faults_) {
    if (fault.op != op || fault.times == 0) continue;
    if (fault.skip > 0) {
      --fault.skip;
      continue;
    }
    if (fault.times > 0) --fault.times;
    if (partial != nullptr) *partial = fault.partial;
    ++faults_fired_;
    const std::string message = path + ": " + std::generic_category().message(fault.err);
    return fault.err == ENOENT ? Status::NotFound(message) : Status::IoError(message);
  }
  return Status::Ok();
}

std::string MemEnv::Contents(const std::string& path) {
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  return it == files_.end() ? std::string() : *it->second;
}

void MemEnv::SetContents(const std::string& path, std::string data) {
  const std::lock_guard<std::mutex> lock(mu_);
  files_[path] = std::make_shared<std::string>(std::move(data));
}

Result<std::unique_ptr<WritableFile>> MemEnv::NewAppendableFile(const std::string& path) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kOpenAppend, path);
  if (!fault.ok()) return fault;
  if (files_.find(path) == files_.end()) files_[path] = std::make_shared<std::string>();
  return std::unique_ptr<WritableFile>(std::make_unique<File>(this, path));
}

Result<std::unique_ptr<SequentialFile>> MemEnv::NewSequentialFile(const std::string& path) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kOpenRead, path);
  if (!fault.ok()) return fault;
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("open " + path + ": no such file");
  return std::unique_ptr<SequentialFile>(std::make_unique<Reader>(this, path, it->second));
}

bool MemEnv::FileExists(const std::string& path) {
  const std::lock_guard<std::mutex> lock(mu_);
  return files_.count(path) != 0;
}

Result<std::uint64_t> MemEnv::GetFileSize(const std::string& path) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kGetFileSize, path);
  if (!fault.ok()) return fault;
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("stat " + path + ": no such file");
  return static_cast<std::uint64_t>(it->second->size());
}

Status MemEnv::TruncateFile(const std::string& path, std::uint64_t size) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kTruncate, path);
  if (!fault.ok()) return fault;
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("truncate " + path + ": no such file");
  it->second->resize(size);
  return Status::Ok();
}

Status MemEnv::RemoveFile(const std::string& path) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kRemove, path);
  if (!fault.ok()) return fault;
  if (files_.erase(path) == 0) return Status::NotFound("unlink " + path + ": no such file");
  return Status::Ok();
}

Status MemEnv::RenameFile(const std::string& from, const std::string& to) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kRename, from);
  if (!fault.ok()) return fault;
  auto it = files_.find(from);
  if (it == files_.end()) return Status::NotFound("rename " + from + ": no such file");
  files_[to] = it->second;
  files_.erase(from);
  return Status::Ok();
}

Result<std::vector<std::string>> MemEnv::GetChildren(const std::string& dir) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kGetChildren, dir);
  if (!fault.ok()) return fault;
  const std::string prefix = dir.back() == '/' ? dir : dir + "/";
  std::vector<std::string> names;
  for (const auto& [path, data] : files_) {
    if (path.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = path.substr(prefix.size());
    if (rest.find('/') == std::string::npos) names.push_back(rest);
  }
  return names;
}

Status MemEnv::CreateDirs(const std::string& dir) {
  const std::lock_guard<std::mutex> lock(mu_);
  Status fault = Check(EnvOp::kCreateDirs, dir);
  if (!fault.ok()) return fault;
  dirs_.insert(dir);
  return Status::Ok();
}

Status MemEnv::SyncDir(const std::string& dir) {
  const std::lock_guard<std::mutex> lock(mu_);
  return Check(EnvOp::kSyncDir, dir);
}

}  // namespace atlas::testing
