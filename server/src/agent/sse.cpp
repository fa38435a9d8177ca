#include "agent/sse.hpp"

namespace atlas::agent {

void SseParser::Feed(std::string_view bytes) {
  for (const char c : bytes) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') continue;
    }
    if (c == '\r' || c == '\n') {
      Line(buffer_);
      buffer_.clear();
      skip_lf_ = c == '\r';
      continue;
    }
    buffer_.push_back(c);
  }
}

void SseParser::Finish() {
  if (!buffer_.empty()) {
    Line(buffer_);
    buffer_.clear();
  }
  Dispatch();
}

void SseParser::Line(std::string_view line) {
  if (line.empty()) {
    Dispatch();
    return;
  }
  if (line.front() == ':') return;  // a comment, e.g. a keep-alive
  const std::size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event = std::string(value);
  } else if (field == "id") {
    current_.id = std::string(value);
  }
}

void SseParser::Dispatch() {
  if (has_data_) on_event_(current_);
  current_ = SseEvent{};
  has_data_ = false;
}

}  // namespace atlas::agent
