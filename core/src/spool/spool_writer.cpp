#include "spool/spool_writer.hpp"

#include <utility>

namespace atlas::core::spool {

Result<ScanResult> ScanFile(Env* env, const std::string& path) {
  auto file = env->NewSequentialFile(path);
  if (!file.ok()) return file.status();
  auto size = env->GetFileSize(path);
  if (!size.ok()) return size.status();
  LogReader reader(file->get(), 0);
  ScanResult scan;
  Frame frame;
  while (true) {
    const ReadResult result = reader.Next(&frame);
    if (result == ReadResult::kFrame) {
      if (scan.frames == 0) scan.starts_with_create = frame.type == FrameType::kRunCreate;
      ++scan.frames;
      continue;
    }
    if (result == ReadResult::kIoError) return reader.status();
    scan.good_bytes = reader.offset();
    if (result != ReadResult::kEnd) scan.problem = reader.problem();
    break;
  }
  scan.skipped_bytes = *size > scan.good_bytes ? *size - scan.good_bytes : 0;
  return scan;
}

SpoolWriter::SpoolWriter(Env* env, std::string dir, std::string path, std::uint64_t max_bytes)
    : env_(env), dir_(std::move(dir)), path_(std::move(path)), max_bytes_(max_bytes) {}

Status SpoolWriter::Open(const Frame& create, std::uint64_t* skipped, std::string* problem) {
  if (file_ != nullptr) return Status::Ok();
  if (broken_) return Status::IoError("spool " + path_ + " is unusable after a failed write");
  if (env_->FileExists(path_)) {
    auto size = env_->GetFileSize(path_);
    if (!size.ok()) return size.status();
    if (*size > 0) return OpenExisting(create, skipped, problem);
  }
  return CreateNew(create);
}

Status SpoolWriter::CreateNew(const Frame& create) {
  Status dirs = env_->CreateDirs(dir_);
  if (!dirs.ok()) return dirs;
  if (env_->FileExists(path_)) {
    Status removed = env_->RemoveFile(path_);  // an empty leftover
    if (!removed.ok()) return removed;
  }
  auto file = env_->NewAppendableFile(path_);
  if (!file.ok()) return file.status();
  file_ = std::move(file).value();
  size_ = 0;
  Status written = AppendAndSync(std::string(kMagic) + EncodeFrame(create));
  if (!written.ok()) {
    file_.reset();
    (void)env_->RemoveFile(path_);  // best effort: a half-made file is rewritten next time
    return written;
  }
  // Make the new directory entry durable too, or a crash could lose the whole file.
  return env_->SyncDir(dir_);
}

Status SpoolWriter::OpenExisting(const Frame& create, std::uint64_t* skipped,
                                 std::string* problem) {
  auto scan = ScanFile(env_, path_);
  if (!scan.ok()) return scan.status();
  if (scan->frames == 0 || !scan->starts_with_create) {
    // Not a spool we can append to: keep its bytes for a person to look at, start afresh.
    *skipped += scan->good_bytes + scan->skipped_bytes;
    *problem =
        scan->problem.empty() ? "spool does not start with a run-create frame" : scan->problem;
    Status moved = env_->RenameFile(path_, path_ + ".corrupt");
    if (!moved.ok()) return moved;
    return CreateNew(create);
  }
  if (scan->skipped_bytes > 0) {
    *skipped += scan->skipped_bytes;
    *problem = scan->problem;
    Status cut = env_->TruncateFile(path_, scan->good_bytes);
    if (!cut.ok()) return cut;
  }
  auto file = env_->NewAppendableFile(path_);
  if (!file.ok()) return file.status();
  file_ = std::move(file).value();
  size_ = scan->good_bytes;
  return Status::Ok();
}

AppendResult SpoolWriter::Append(const Frame& frame, Status* error) {
  if (file_ == nullptr) {
    *error = Status::Internal("spool is not open");
    return AppendResult::kFailed;
  }
  const std::string bytes = EncodeFrame(frame);
  if (size_ + bytes.size() > max_bytes_) return AppendResult::kFull;
  *error = AppendAndSync(bytes);
  return error->ok() ? AppendResult::kAppended : AppendResult::kFailed;
}

Status SpoolWriter::AppendAndSync(const std::string& bytes) {
  Status status = file_->Append(bytes);
  if (status.ok()) status = file_->Sync();
  if (status.ok()) {
    size_ += bytes.size();
    return status;
  }
  // Part of the frame may be on disk; cut it off so the file stays a sequence of intact frames.
  // (After a failed sync the frame may be intact, but it was not counted as spooled.)
  if (!env_->TruncateFile(path_, size_).ok()) {
    broken_ = true;
    file_.reset();
  }
  return status;
}

Status SpoolWriter::Remove() {
  Status closed = Status::Ok();
  if (file_ != nullptr) {
    closed = file_->Close();
    file_.reset();
  }
  size_ = 0;
  broken_ = false;
  Status removed = env_->RemoveFile(path_);
  if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
  return closed;
}

}  // namespace atlas::core::spool
