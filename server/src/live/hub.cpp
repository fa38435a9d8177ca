#include "live/hub.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>

namespace atlas::live {
namespace {

std::uint64_t WallClockMillis() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

std::string FormatEvent(std::uint64_t id, std::string_view event, const nlohmann::json& data) {
  // dump() without indentation escapes newlines inside strings, so `data` is one line, as an SSE
  // data field must be.
  return fmt::format("id: {}\nevent: {}\ndata: {}\n\n", id, event,
                     data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string Hub::RunTopic(std::string_view run_id) { return fmt::format("run:{}", run_id); }

Hub::Hub(HubOptions options)
    : options_(options), next_id_(options.first_id != 0 ? options.first_id : WallClockMillis()) {}

std::shared_ptr<Hub::Topic> Hub::FindOrAdd(std::string_view topic) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = topics_.find(topic);
  if (it != topics_.end()) return it->second;
  if (topics_.size() >= options_.max_topics) ForgetIdleTopics();
  auto added = std::make_shared<Topic>();
  topics_.emplace(std::string(topic), added);
  return added;
}

std::shared_ptr<Hub::Topic> Hub::Find(std::string_view topic) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? nullptr : it->second;
}

void Hub::ForgetIdleTopics() {
  for (auto it = topics_.begin(); it != topics_.end();) {
    const std::shared_ptr<Topic>& topic = it->second;
    bool idle = false;
    {
      std::unique_lock<std::mutex> topic_lock(topic->mutex, std::try_to_lock);
      // A topic being published to right now is not idle.
      idle = topic_lock.owns_lock() &&
             std::none_of(topic->subs.begin(), topic->subs.end(),
                          [](const std::weak_ptr<http::StreamSink>& s) { return !s.expired(); });
    }
    it = idle ? topics_.erase(it) : std::next(it);
  }
}

std::uint64_t Hub::Publish(std::string_view topic_name, std::string_view event,
                           const nlohmann::json& data) {
  std::shared_ptr<Topic> topic = FindOrAdd(topic_name);
  std::lock_guard<std::mutex> topic_lock(topic->mutex);
  std::uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    id = next_id_++;
  }
  Event message{id, std::make_shared<const std::string>(FormatEvent(id, event, data))};
  topic->recent.push_back(message);
  while (topic->recent.size() > options_.replay) topic->recent.pop_front();
  // Push to every live subscriber; drop those that went away or were closed for being slow.
  std::erase_if(topic->subs, [&](const std::weak_ptr<http::StreamSink>& weak) {
    std::shared_ptr<http::StreamSink> sink = weak.lock();
    return !sink || !sink->Push(message.text);
  });
  return id;
}

void Hub::Subscribe(std::string_view topic_name, const std::shared_ptr<http::StreamSink>& sink,
                    std::optional<std::uint64_t> last_event_id) {
  std::shared_ptr<Topic> topic = FindOrAdd(topic_name);
  std::lock_guard<std::mutex> topic_lock(topic->mutex);
  if (last_event_id) {
    for (const Event& event : topic->recent) {
      if (event.id > *last_event_id && !sink->Push(event.text)) return;
    }
  }
  topic->subs.push_back(sink);
}

std::size_t Hub::subscribers(std::string_view topic_name) const {
  std::shared_ptr<Topic> topic = Find(topic_name);
  if (!topic) return 0;
  std::lock_guard<std::mutex> topic_lock(topic->mutex);
  return static_cast<std::size_t>(
      std::count_if(topic->subs.begin(), topic->subs.end(), [](const auto& weak) {
        std::shared_ptr<http::StreamSink> sink = weak.lock();
        return sink && !sink->closed();
      }));
}

}  // namespace atlas::live
