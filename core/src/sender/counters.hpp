// The client's counters and its sticky health, shared by the producers, the sender thread and
// stats() readers.
//
// Threading: every count is an atomic (relaxed: they are statistics, ordered by nothing), so the
// training thread can count a drop without a lock, and so can a fork()ed child, where a mutex
// held by a vanished parent thread would deadlock. The last error text and the health status
// are guarded by mu_, which only the sender thread and stats()/health() readers take.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "atlas/client.hpp"
#include "util/mutex.hpp"

namespace atlas::core {

class Counters {
 public:
  std::atomic<std::uint64_t> enqueued{0};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> spooled{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> spool_bytes_skipped{0};

  void Drop(DropReason reason, std::uint64_t n = 1) noexcept {
    dropped_[static_cast<std::size_t>(reason)].fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t dropped(DropReason reason) const noexcept {
    return dropped_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }

  void SetLastError(std::string message) ATLAS_EXCLUDES(mu_);
  // Keeps `status` as the health unless an earlier failure is kept already (sticky, as LevelDB's
  // bg_error_); also makes it the last error.
  void SetHealth(const Status& status) ATLAS_EXCLUDES(mu_);
  Status health() const ATLAS_EXCLUDES(mu_);

  // The counts, and the last error text unless `with_text` is false (then no lock is taken).
  Stats Snapshot(bool with_text = true) const ATLAS_EXCLUDES(mu_);
  // The snapshot as the JSON object sent as a finish record's client_stats.
  std::string ToJson() const ATLAS_EXCLUDES(mu_);

 private:
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(DropReason::kCount)> dropped_{};
  mutable Mutex mu_;
  std::string last_error_ ATLAS_GUARDED_BY(mu_);
  Status health_ ATLAS_GUARDED_BY(mu_);
};

}  // namespace atlas::core
