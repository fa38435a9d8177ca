// ControlInbox: the Client's side of the control channel (docs/control.md).
//
// Actions arrive on the sender thread, from the "actions" of an ingest reply or of a control
// poll (Deliver), and wait here until the training side takes them (Take). What goes back to
// atlasd -- acknowledgements, decisions the process took itself, the registration -- waits
// here until the sender thread's next control request takes it (TakeOutgoing), and is put back
// when that request fails (Restore).
//
// Threading: every method is thread-safe and short (one mutex, no I/O under it). has_actions()
// is one atomic load, so the training thread may ask at every step for nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atlas/client.hpp"
#include "util/mutex.hpp"

namespace atlas::core {

class ControlInbox {
 public:
  struct Outgoing {
    std::vector<std::string> acks;       // JSON objects {"id","outcome","detail"}
    std::vector<std::string> decisions;  // JSON objects {"action","mode","actor","reason"}
    std::optional<std::string> registration;
  };

  // Sender thread: adds the actions of a reply body ({"actions": [...], ...}) not seen before
  // (ids are increasing; an action is re-sent until acknowledged). Malformed entries are
  // skipped. Returns how many were new.
  std::size_t DeliverReply(std::string_view reply_body) ATLAS_EXCLUDES(mu_);

  bool has_actions() const { return pending_count_.load(std::memory_order_acquire) > 0; }
  std::vector<ControlAction> Take() ATLAS_EXCLUDES(mu_);

  // Texts longer than the server accepts are cut (detail and reason 1,000 bytes, actor 128).
  void Ack(std::int64_t id, bool applied, std::string detail) ATLAS_EXCLUDES(mu_);
  void Decide(std::string action, std::string mode, std::string actor, std::string reason)
      ATLAS_EXCLUDES(mu_);
  // Keeps `json` (a JSON object's text) to send; a later call replaces an unsent one.
  void Register(std::string json) ATLAS_EXCLUDES(mu_);

  bool has_outgoing() const { return outgoing_count_.load(std::memory_order_acquire) > 0; }
  Outgoing TakeOutgoing() ATLAS_EXCLUDES(mu_);
  // Puts back what a failed request took, ahead of anything added since.
  void Restore(Outgoing outgoing) ATLAS_EXCLUDES(mu_);

  // The body of a control request: {"after": <last id seen>, "acks": [...], ...}.
  std::string RequestBody(const Outgoing& outgoing) const ATLAS_EXCLUDES(mu_);
  std::int64_t last_seen() const ATLAS_EXCLUDES(mu_);

 private:
  void Recount() ATLAS_REQUIRES(mu_);

  mutable Mutex mu_;
  std::vector<ControlAction> pending_ ATLAS_GUARDED_BY(mu_);
  std::int64_t last_seen_ ATLAS_GUARDED_BY(mu_) = 0;
  Outgoing outgoing_ ATLAS_GUARDED_BY(mu_);
  std::atomic<std::size_t> pending_count_{0};
  std::atomic<std::size_t> outgoing_count_{0};
};

}  // namespace atlas::core
