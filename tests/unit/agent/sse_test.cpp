// The SSE parser: events survive any chunking, CRLF and comments.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/sse.hpp"

namespace atlas::agent {
namespace {

std::vector<SseEvent> ParseInChunks(const std::string& stream, std::size_t split) {
  std::vector<SseEvent> events;
  SseParser parser([&](const SseEvent& e) { events.push_back(e); });
  parser.Feed(std::string_view{stream}.substr(0, split));
  parser.Feed(std::string_view{stream}.substr(split));
  parser.Finish();
  return events;
}

TEST(SseParser, EventsAreTheSameWhereverTheStreamIsSplit) {
  const std::string stream =
      ": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\n"
      "data: line one\ndata: line two\n\nevent: done\ndata: [DONE]\n\n";
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    const auto events = ParseInChunks(stream, split);
    ASSERT_EQ(events.size(), 3u) << "split at " << split;
    EXPECT_EQ(events[0].event, "message_start");
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].event, "");
    EXPECT_EQ(events[1].data, "line one\nline two");
    EXPECT_EQ(events[2].event, "done");
    EXPECT_EQ(events[2].data, "[DONE]");
  }
}

TEST(SseParser, AnUnterminatedLastEventIsDispatchedOnFinish) {
  std::vector<SseEvent> events;
  SseParser parser([&](const SseEvent& e) { events.push_back(e); });
  parser.Feed("data: tail");
  EXPECT_TRUE(events.empty());
  parser.Finish();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "tail");
}

TEST(SseParser, BlankLinesWithoutDataDispatchNothing) {
  std::vector<SseEvent> events;
  SseParser parser([&](const SseEvent& e) { events.push_back(e); });
  parser.Feed("\n\nevent: x\n\n: comment\n\n");
  parser.Finish();
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace atlas::agent
