// A std::mutex with clang thread-safety annotations, so lock rules are written as GUARDED_BY
// and checked by clang's -Wthread-safety (GCC ignores the annotations). Same as LevelDB's
// port::Mutex plus port/thread_annotations.h.
#pragma once

#include <mutex>

#if defined(__clang__)
#define ATLAS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ATLAS_THREAD_ANNOTATION(x)
#endif

#define ATLAS_CAPABILITY(x) ATLAS_THREAD_ANNOTATION(capability(x))
#define ATLAS_SCOPED_CAPABILITY ATLAS_THREAD_ANNOTATION(scoped_lockable)
#define ATLAS_GUARDED_BY(x) ATLAS_THREAD_ANNOTATION(guarded_by(x))
#define ATLAS_REQUIRES(...) ATLAS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ATLAS_EXCLUDES(...) ATLAS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ATLAS_ACQUIRE(...) ATLAS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ATLAS_RELEASE(...) ATLAS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))

namespace atlas::core {

class ATLAS_CAPABILITY("mutex") Mutex {
 public:
  void Lock() ATLAS_ACQUIRE() { mu_.lock(); }
  void Unlock() ATLAS_RELEASE() { mu_.unlock(); }
  // For std::condition_variable waits, which need the std::mutex itself.
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

class ATLAS_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ATLAS_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ATLAS_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace atlas::core
