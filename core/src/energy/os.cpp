// The real FileReader (open/read on procfs and sysfs) and LibraryLoader (dlopen).
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "atlas/energy.hpp"

namespace atlas::energy {
namespace {

constexpr std::size_t kMaxFileBytes = 1u << 20;

ReadError Classify(int err) {
  if (err == ENOENT || err == ENOTDIR) return ReadError::kNotFound;
  if (err == EACCES || err == EPERM) return ReadError::kPermissionDenied;
  return ReadError::kOther;
}

FileRead Failure(const std::string& path, int err) {
  FileRead out;
  out.error = Classify(err);
  out.message = path + ": " + std::generic_category().message(err);
  return out;
}

class PosixFileReader final : public FileReader {
 public:
  FileRead Read(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Failure(path, errno);
    FileRead out;
    // sysfs files are small; procfs files report size 0, so read until the end.
    char buf[4096];
    while (out.text.size() < kMaxFileBytes) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        return Failure(path, err);
      }
      if (n == 0) break;
      out.text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Result<std::vector<std::string>> List(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      const int err = errno;
      std::string msg = dir + ": " + std::generic_category().message(err);
      if (Classify(err) == ReadError::kNotFound) return Status::NotFound(std::move(msg));
      return Status::IoError(std::move(msg));
    }
    std::vector<std::string> names;
    // One DIR* read by one thread; the mt-unsafe warning concerns sharing it.
    while (const dirent* entry = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe)
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    return names;
  }
};

class DlLibrary final : public SharedLibrary {
 public:
  explicit DlLibrary(void* handle) : handle_(handle) {}
  ~DlLibrary() override { ::dlclose(handle_); }
  DlLibrary(const DlLibrary&) = delete;
  DlLibrary& operator=(const DlLibrary&) = delete;

  void* Symbol(const char* name) override { return ::dlsym(handle_, name); }

 private:
  void* handle_;
};

class DlLoader final : public LibraryLoader {
 public:
  Result<std::unique_ptr<SharedLibrary>> Load(const std::string& name) override {
    // RTLD_LOCAL: NVML's symbols stay out of the global namespace of the user's process.
    void* handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = ::dlerror();  // NOLINT(concurrency-mt-unsafe): message only
      return Status::NotFound(err != nullptr ? err : name + ": cannot be loaded");
    }
    return std::unique_ptr<SharedLibrary>(std::make_unique<DlLibrary>(handle));
  }
};

}  // namespace

FileReader* FileReader::Default() {
  static auto* reader = new PosixFileReader();  // NOLINT(cppcoreguidelines-owning-memory)
  return reader;
}

LibraryLoader* LibraryLoader::Default() {
  static auto* loader = new DlLoader();  // NOLINT(cppcoreguidelines-owning-memory)
  return loader;
}

}  // namespace atlas::energy
