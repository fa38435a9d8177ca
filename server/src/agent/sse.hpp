// SseParser: splits a Server-Sent Events byte stream (the WHATWG event-stream format) into
// events, however the bytes are chunked. Used for the streaming responses of both LLM
// providers and by `atlas ask`.
//
// Not thread-safe: one parser per stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace atlas::agent {

struct SseEvent {
  std::string event;  // "" when the stream named none ("message" by the spec's default)
  std::string data;   // data lines joined with "\n"
  std::string id;
};

class SseParser {
 public:
  using OnEvent = std::function<void(const SseEvent&)>;
  explicit SseParser(OnEvent on_event) : on_event_(std::move(on_event)) {}

  // Feeds the next bytes; calls on_event for each event they complete.
  void Feed(std::string_view bytes);
  // Ends the stream: an event not yet terminated by a blank line is dispatched.
  void Finish();

 private:
  void Line(std::string_view line);
  void Dispatch();

  OnEvent on_event_;
  std::string buffer_;  // an incomplete line
  SseEvent current_;
  bool has_data_ = false;
  bool skip_lf_ = false;  // the previous chunk ended in CR: a leading LF belongs to it
};

}  // namespace atlas::agent
