#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "live/hub.hpp"
#include "live/run_feed.hpp"

namespace atlas::live {
namespace {

using nlohmann::json;

// A StreamSink that records what it is given and refuses pushes beyond `limit` (a slow client).
class FakeSink : public http::StreamSink {
 public:
  explicit FakeSink(std::size_t limit = 1000) : limit_(limit) {}
  bool Push(std::shared_ptr<const std::string> chunk) override {
    if (closed_) return false;
    if (chunks.size() >= limit_) {
      closed_ = true;
      return false;
    }
    chunks.push_back(*chunk);
    return true;
  }
  void Close() override { closed_ = true; }
  bool closed() const override { return closed_; }

  std::vector<std::string> chunks;

 private:
  std::size_t limit_;
  bool closed_ = false;
};

TEST(FormatEvent, IsOneSseEventWithItsDataOnOneLine) {
  EXPECT_EQ(FormatEvent(7, "epoch", json{{"note", "a\nb"}}),
            "id: 7\nevent: epoch\ndata: {\"note\":\"a\\nb\"}\n\n");
}

TEST(Hub, PublishesToTheTopicsSubscribersOnly) {
  Hub hub(HubOptions{.first_id = 1});
  auto a = std::make_shared<FakeSink>();
  auto b = std::make_shared<FakeSink>();
  hub.Subscribe(Hub::RunTopic("r1"), a, std::nullopt);
  hub.Subscribe(Hub::RunTopic("r2"), b, std::nullopt);
  const std::uint64_t id = hub.Publish(Hub::RunTopic("r1"), "epoch", json{{"epoch", 3}});
  ASSERT_EQ(a->chunks.size(), 1u);
  EXPECT_EQ(a->chunks[0], FormatEvent(id, "epoch", json{{"epoch", 3}}));
  EXPECT_TRUE(b->chunks.empty());
  EXPECT_EQ(hub.subscribers(Hub::RunTopic("r1")), 1u);
}

TEST(Hub, EventIdsIncrease) {
  Hub hub(HubOptions{.first_id = 100});
  const std::uint64_t first = hub.Publish("t", "e", json::object());
  const std::uint64_t second = hub.Publish("u", "e", json::object());
  EXPECT_EQ(first, 100u);
  EXPECT_GT(second, first);
}

TEST(Hub, DropsSubscribersThatWentAwayOrFellBehind) {
  Hub hub(HubOptions{.first_id = 1});
  auto gone = std::make_shared<FakeSink>();
  auto slow = std::make_shared<FakeSink>(1);
  auto fine = std::make_shared<FakeSink>();
  hub.Subscribe("t", gone, std::nullopt);
  hub.Subscribe("t", slow, std::nullopt);
  hub.Subscribe("t", fine, std::nullopt);
  gone.reset();
  hub.Publish("t", "e", json{{"n", 1}});
  hub.Publish("t", "e", json{{"n", 2}});  // `slow` refuses this one and is dropped
  hub.Publish("t", "e", json{{"n", 3}});
  EXPECT_EQ(slow->chunks.size(), 1u);
  EXPECT_EQ(fine->chunks.size(), 3u);
  EXPECT_EQ(hub.subscribers("t"), 1u);
}

TEST(Hub, ReplaysWhatAReconnectingClientMissed) {
  Hub hub(HubOptions{.replay = 3, .first_id = 1});
  std::vector<std::uint64_t> ids;
  ids.reserve(5);
  for (int n = 0; n < 5; ++n) ids.push_back(hub.Publish("t", "e", json{{"n", n}}));
  auto sink = std::make_shared<FakeSink>();
  hub.Subscribe("t", sink, ids[2]);  // saw up to n = 2
  ASSERT_EQ(sink->chunks.size(), 2u);
  EXPECT_EQ(sink->chunks[0], FormatEvent(ids[3], "e", json{{"n", 3}}));
  EXPECT_EQ(sink->chunks[1], FormatEvent(ids[4], "e", json{{"n", 4}}));
  // Only the last `replay` events are kept.
  auto late = std::make_shared<FakeSink>();
  hub.Subscribe("t", late, ids[0]);
  EXPECT_EQ(late->chunks.size(), 3u);
  // Without an id nothing is replayed, and live events follow.
  auto fresh = std::make_shared<FakeSink>();
  hub.Subscribe("t", fresh, std::nullopt);
  EXPECT_TRUE(fresh->chunks.empty());
  hub.Publish("t", "e", json{{"n", 5}});
  EXPECT_EQ(fresh->chunks.size(), 1u);
  EXPECT_EQ(sink->chunks.size(), 3u);
}

TEST(StepThrottle, SendsTheFirstStepAndHoldsBackTheRestUntilTheIntervalPasses) {
  using std::chrono::milliseconds;
  StepThrottle throttle(milliseconds(250));
  const SteadyTime t0{};
  EXPECT_TRUE(throttle.Offer("r", json{{"step", 1}}, t0));
  EXPECT_FALSE(throttle.Offer("r", json{{"step", 2}}, t0 + milliseconds(10)));
  EXPECT_FALSE(throttle.Offer("r", json{{"step", 3}}, t0 + milliseconds(20)));
  ASSERT_TRUE(throttle.NextDue());
  EXPECT_EQ(*throttle.NextDue(), t0 + milliseconds(250));
  EXPECT_TRUE(throttle.Due(t0 + milliseconds(100)).empty());
  auto due = throttle.Due(t0 + milliseconds(250));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].first, "r");
  EXPECT_EQ(due[0].second["step"], 3);  // the newest held-back step
  EXPECT_FALSE(throttle.NextDue());
  // Other runs are throttled on their own.
  EXPECT_TRUE(throttle.Offer("other", json{{"step", 1}}, t0 + milliseconds(260)));
}

TEST(StepThrottle, ForgetReturnsTheHeldBackStepAndQuietRunsAreDropped) {
  using std::chrono::milliseconds;
  StepThrottle throttle(milliseconds(100));
  const SteadyTime t0{};
  throttle.Offer("a", json{{"step", 1}}, t0);
  throttle.Offer("a", json{{"step", 2}}, t0 + milliseconds(1));
  auto held = throttle.Forget("a");
  ASSERT_TRUE(held);
  EXPECT_EQ((*held)["step"], 2);
  throttle.Offer("b", json{{"step", 1}}, t0);
  EXPECT_EQ(throttle.tracked(), 1u);
  throttle.Due(t0 + milliseconds(1000));
  EXPECT_EQ(throttle.tracked(), 0u);
}

TEST(EventData, StepEventCarriesTheFieldsThatWereSent) {
  model::StepRecord step;
  step.step = 42;
  step.epoch = 1;
  step.ts = 5;
  step.at(model::StepField::kLoss) = 0.5;
  const json data = StepEventData(step, 10);
  EXPECT_EQ(data["step"], 42);
  EXPECT_EQ(data["epoch"], 1);
  EXPECT_EQ(data["steps"], 10);
  EXPECT_EQ(data["fields"], (json{{"loss", 0.5}}));
}

}  // namespace
}  // namespace atlas::live
