#include "sender/counters.hpp"

#include <nlohmann/json.hpp>

namespace atlas::core {

void Counters::SetLastError(std::string message) {
  MutexLock lock(&mu_);
  last_error_ = std::move(message);
}

void Counters::SetHealth(const Status& status) {
  MutexLock lock(&mu_);
  last_error_ = status.message();
  if (health_.ok()) health_ = status;
}

Status Counters::health() const {
  MutexLock lock(&mu_);
  return health_;
}

Stats Counters::Snapshot(bool with_text) const {
  Stats s;
  s.enqueued = enqueued.load(std::memory_order_relaxed);
  s.sent = sent.load(std::memory_order_relaxed);
  s.duplicates = duplicates.load(std::memory_order_relaxed);
  s.spooled = spooled.load(std::memory_order_relaxed);
  s.requests = requests.load(std::memory_order_relaxed);
  s.retries = retries.load(std::memory_order_relaxed);
  s.spool_bytes_skipped = spool_bytes_skipped.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < dropped_.size(); ++i) {
    const std::uint64_t n = dropped_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    s.dropped += n;
    s.dropped_by_reason[std::string(ToString(static_cast<DropReason>(i)))] = n;
  }
  if (!with_text) return s;
  MutexLock lock(&mu_);
  s.last_error = last_error_;
  return s;
}

std::string Counters::ToJson() const {
  const Stats s = Snapshot();
  nlohmann::json dropped = nlohmann::json::object();
  for (const auto& [reason, n] : s.dropped_by_reason) dropped[reason] = n;
  const nlohmann::json out = {{"enqueued", s.enqueued},
                              {"sent", s.sent},
                              {"duplicates", s.duplicates},
                              {"spooled", s.spooled},
                              {"dropped", std::move(dropped)},
                              {"dropped_total", s.dropped},
                              {"requests", s.requests},
                              {"retries", s.retries},
                              {"spool_bytes_skipped", s.spool_bytes_skipped},
                              {"last_error", s.last_error}};
  // Replace, not throw, on invalid UTF-8 in an error text.
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace atlas::core
