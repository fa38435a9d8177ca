// Hub: fans live events out to Server-Sent Events streams (docs/protocol.md, "Live updates").
//
// A topic is a run ("run:<id>") or the runs table ("runs"). Publish formats an event once, as
// one shared immutable SSE message, and pushes it to a snapshot of the topic's subscribers,
// which the hub holds as weak pointers: a stream that went away is dropped at the next publish.
// Each stream has its own bounded queue (http::StreamSink), so a slow client is closed instead of
// slowing the publisher. Every topic keeps its last `replay` events so a client that reconnects
// with Last-Event-ID gets what it missed.
//
// Event ids increase over the hub's life and start from the wall clock in milliseconds, so ids
// given out after a restart are larger than those before it.
//
// Threading: every member function is thread-safe. Publishers of one topic are serialised by that
// topic's lock (so subscribers see its events in id order); pushes only queue and never block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/http.hpp"

namespace atlas::live {

struct HubOptions {
  std::size_t replay = 64;        // events kept per topic for Last-Event-ID
  std::size_t max_topics = 1024;  // topics without subscribers beyond this are forgotten
  std::uint64_t first_id = 0;     // 0: the wall clock in milliseconds
};

// The text of one SSE event: "id: <id>\nevent: <event>\ndata: <json>\n\n".
std::string FormatEvent(std::uint64_t id, std::string_view event, const nlohmann::json& data);

class Hub {
 public:
  static constexpr std::string_view kRunsTopic = "runs";
  static std::string RunTopic(std::string_view run_id);

  explicit Hub(HubOptions options = {});
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Publishes `event` with `data` on `topic`; returns the event's id.
  std::uint64_t Publish(std::string_view topic, std::string_view event, const nlohmann::json& data);

  // Adds `sink` to `topic`. With `last_event_id`, first pushes the kept events of the topic
  // whose id is larger, so the client resumes without a gap (when the gap is within `replay`).
  void Subscribe(std::string_view topic, const std::shared_ptr<http::StreamSink>& sink,
                 std::optional<std::uint64_t> last_event_id);

  // Live subscribers of `topic` (for tests and logs).
  std::size_t subscribers(std::string_view topic) const;

 private:
  struct Event {
    std::uint64_t id;
    std::shared_ptr<const std::string> text;
  };
  struct Topic {
    std::mutex mutex;          // serialises publishing and subscribing on this topic
    std::deque<Event> recent;  // guarded by mutex
    std::vector<std::weak_ptr<http::StreamSink>> subs;  // guarded by mutex
  };

  std::shared_ptr<Topic> FindOrAdd(std::string_view topic);
  std::shared_ptr<Topic> Find(std::string_view topic) const;
  void ForgetIdleTopics();  // with mutex_ held

  const HubOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Topic>, std::less<>> topics_;  // guarded by mutex_
  std::uint64_t next_id_;                                              // guarded by mutex_
};

}  // namespace atlas::live
