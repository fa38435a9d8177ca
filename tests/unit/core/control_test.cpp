// The control inbox (core/src/control) and the Client's control channel, with a ManualClock and
// a recording FakeTransport: actions from ingest replies and polls, acknowledgements out.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "atlas/client.hpp"
#include "control/inbox.hpp"
#include "test_util.hpp"

namespace atlas::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Json = nlohmann::json;

constexpr char kStop[] =
    R"({"id": 1, "action": "stop", "mode": "epoch", "params": {}, "reason": "enough",
        "actor": "ana", "created_at": 1.0})";
constexpr char kAdjust[] =
    R"({"id": 2, "action": "adjust", "mode": "", "params": {"lr": {"multiply": 0.5}},
        "reason": "", "actor": "cli"})";

std::string Reply(const std::vector<const char*>& actions) {
  std::string body = R"({"accepted": 1, "duplicates": 0, "actions": [)";
  for (std::size_t i = 0; i < actions.size(); ++i)
    body += (i > 0 ? "," : "") + std::string(actions[i]);
  return body + "]}";
}

bool IsControl(const FakeTransport::Call& call) {
  return call.request.url == std::string(kServer) + "/api/v1/runs/run-1/control";
}

std::vector<Json> ControlBodies(FakeTransport& transport) {
  std::vector<Json> out;
  for (const auto& call : transport.calls()) {
    if (IsControl(call)) out.push_back(Json::parse(call.json));
  }
  return out;
}

TEST(ControlInbox, DeliversEachActionOnceInOrder) {
  core::ControlInbox inbox;
  EXPECT_FALSE(inbox.has_actions());
  EXPECT_EQ(inbox.DeliverReply(Reply({kStop, kAdjust})), 2u);
  // Until acknowledged the server repeats them; the inbox keeps only what is new.
  EXPECT_EQ(inbox.DeliverReply(Reply({kStop, kAdjust})), 0u);
  EXPECT_EQ(inbox.DeliverReply(R"({"accepted": 1})"), 0u);
  EXPECT_EQ(inbox.DeliverReply("not json"), 0u);
  EXPECT_EQ(inbox.DeliverReply(R"({"actions": [{"action": "stop"}, 7]})"), 0u);
  ASSERT_TRUE(inbox.has_actions());
  const std::vector<ControlAction> taken = inbox.Take();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].id, 1);
  EXPECT_EQ(taken[0].action, "stop");
  EXPECT_EQ(taken[0].mode, "epoch");
  EXPECT_EQ(taken[0].reason, "enough");
  EXPECT_EQ(taken[0].actor, "ana");
  EXPECT_EQ(Json::parse(taken[1].params_json), Json::parse(R"({"lr": {"multiply": 0.5}})"));
  EXPECT_FALSE(inbox.has_actions());
  EXPECT_TRUE(inbox.Take().empty());
  EXPECT_EQ(inbox.last_seen(), 2);
}

TEST(ControlInbox, WhatAFailedRequestTookGoesBackFirst) {
  core::ControlInbox inbox;
  EXPECT_FALSE(inbox.has_outgoing());
  inbox.Ack(1, true, "stops after step 7");
  inbox.Register(R"({"pause_on":"critical"})");
  core::ControlInbox::Outgoing taken = inbox.TakeOutgoing();
  EXPECT_FALSE(inbox.has_outgoing());
  inbox.Ack(2, false, "no optimizer");
  inbox.Decide("resume", "", "timeout", "no decision within 5 s");
  inbox.Restore(std::move(taken));
  ASSERT_TRUE(inbox.has_outgoing());
  const core::ControlInbox::Outgoing all = inbox.TakeOutgoing();
  const Json body = Json::parse(inbox.RequestBody(all));
  EXPECT_EQ(body["after"], 0);
  ASSERT_EQ(body["acks"].size(), 2u);
  EXPECT_EQ(body["acks"][0],
            Json::parse(R"({"id":1,"outcome":"applied","detail":"stops after step 7"})"));
  EXPECT_EQ(body["acks"][1]["outcome"], "rejected");
  EXPECT_EQ(body["decisions"][0]["actor"], "timeout");
  EXPECT_FALSE(body["decisions"][0].contains("mode"));
  EXPECT_EQ(body["register"]["pause_on"], "critical");
  EXPECT_EQ(Json::parse(inbox.RequestBody({})), Json::parse(R"({"after":0})"));
}

// Starts a client whose every ingest reply carries `actions`, and sends one step so the run
// exists.
std::unique_ptr<Client> StartWithActions(Harness& h, const ClientConfig& config,
                                         const std::vector<const char*>& actions) {
  h.transport.SetResponder([actions](std::size_t, const std::string& url,
                                     const std::string& json) -> Result<HttpResponse> {
    if (url.find("/records") == std::string::npos) return FakeTransport::ServerAnswer(url, json);
    HttpResponse response;
    response.status = 200;
    response.body = Reply(actions);
    return response;
  });
  auto client = h.Start(config);
  EXPECT_TRUE(client->Record(Step(0)));
  EXPECT_TRUE(client->Flush(seconds(10)).ok());
  return client;
}

TEST(ClientControl, ActionsOnIngestRepliesReachPollActionsOnce) {
  Harness h;
  auto client = StartWithActions(h, h.Config(), {kStop, kAdjust});
  const std::vector<ControlAction> actions = client->PollActions();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].action, "stop");
  EXPECT_EQ(actions[1].action, "adjust");
  ASSERT_TRUE(client->Record(Step(1)));
  ASSERT_TRUE(client->Flush(seconds(10)).ok());  // the reply repeats both
  EXPECT_TRUE(client->PollActions().empty());
  // The poll is off by default: no control request was made.
  EXPECT_TRUE(ControlBodies(h.transport).empty());
  EXPECT_TRUE(client->Shutdown(seconds(10)).ok());
}

TEST(ClientControl, AcknowledgementsGoOutOnTheNextControlRequest) {
  Harness h;
  auto client = StartWithActions(h, h.Config(), {kStop});
  ASSERT_EQ(client->PollActions().size(), 1u);
  client->AckAction(1, true, "the run stops at the end of epoch 3");
  client->SetControlRegistration(R"({"pause_on":null,"adjustable":["lr"]})");
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  const std::vector<Json> bodies = ControlBodies(h.transport);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0]["after"], 1);
  EXPECT_EQ(bodies[0]["acks"][0]["id"], 1);
  EXPECT_EQ(bodies[0]["acks"][0]["outcome"], "applied");
  EXPECT_EQ(bodies[0]["register"]["adjustable"][0], "lr");
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  EXPECT_EQ(ControlBodies(h.transport).size(), 1u);  // nothing more to say, no poll configured
  EXPECT_TRUE(client->Shutdown(seconds(10)).ok());
}

TEST(ClientControl, PollsOnlyWhenNothingReachedTheServerForTheInterval) {
  Harness h;
  ClientConfig config = h.Config();
  config.control_poll_interval = milliseconds(500);
  auto client = StartWithActions(h, config, {});
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  EXPECT_TRUE(ControlBodies(h.transport).empty());  // a batch was just answered
  h.clock.Advance(milliseconds(300));
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  EXPECT_TRUE(ControlBodies(h.transport).empty());
  h.clock.Advance(milliseconds(300));
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  ASSERT_EQ(ControlBodies(h.transport).size(), 1u);  // 600 ms of silence: one poll

  // A poll's reply delivers actions like an ingest reply does.
  h.transport.SetResponder(
      [](std::size_t, const std::string& url, const std::string& json) -> Result<HttpResponse> {
        if (url.find("/control") == std::string::npos)
          return FakeTransport::ServerAnswer(url, json);
        HttpResponse response;
        response.status = 200;
        response.body = R"({"actions": [)" + std::string(kStop) + R"(], "state": "stopping"})";
        return response;
      });
  h.clock.Advance(milliseconds(600));
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  ASSERT_EQ(ControlBodies(h.transport).size(), 2u);
  const std::vector<ControlAction> actions = client->PollActions();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].reason, "enough");
  EXPECT_TRUE(client->Shutdown(seconds(10)).ok());
}

TEST(ClientControl, AFailedControlRequestKeepsItsAcknowledgements) {
  Harness h;
  auto client = StartWithActions(h, h.Config(), {kStop});
  h.transport.SetResponder(
      [](std::size_t, const std::string& url, const std::string& json) -> Result<HttpResponse> {
        if (url.find("/control") != std::string::npos) return Status::Unavailable("refused");
        return FakeTransport::ServerAnswer(url, json);
      });
  client->AckAction(1, true, "done");
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  ASSERT_EQ(ControlBodies(h.transport).size(), 1u);
  h.transport.SetResponder({});  // the server is back
  ASSERT_TRUE(h.DriveUntil(*client, [&] { return ControlBodies(h.transport).size() >= 2; }));
  const std::vector<Json> bodies = ControlBodies(h.transport);
  EXPECT_EQ(bodies[1]["acks"][0]["id"], 1);
  EXPECT_EQ(bodies[1]["acks"][0]["detail"], "done");
  EXPECT_TRUE(client->Shutdown(seconds(10)).ok());
}

TEST(ClientControl, AStopsAcknowledgementPrecedesTheFinish) {
  Harness h;
  auto client = StartWithActions(h, h.Config(), {kStop});
  ASSERT_EQ(client->PollActions().size(), 1u);
  client->AckAction(1, true, "stopped");
  ASSERT_TRUE(client->Finish(FinishStatus::kStopped, "enough", seconds(10)).ok());
  const auto calls = h.transport.calls();
  std::size_t ack = calls.size();
  std::size_t finish = calls.size();
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (IsControl(calls[i]) && ack == calls.size()) ack = i;
    if (calls[i].json.find(R"("kind":"finish")") != std::string::npos) finish = i;
  }
  ASSERT_LT(finish, calls.size());
  EXPECT_LT(ack, finish);
}

TEST(ClientControl, OfflineClientsHaveNoControlChannel) {
  Harness h;
  ClientConfig config = h.Config();
  config.offline = true;
  config.control_poll_interval = milliseconds(100);
  auto client = h.Start(config);
  client->AckAction(1, true, "x");
  ASSERT_TRUE(client->Record(Step(0)));
  h.clock.Advance(seconds(5));
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  EXPECT_EQ(h.transport.call_count(), 0u);
  EXPECT_TRUE(client->PollActions().empty());
  EXPECT_TRUE(client->Shutdown(seconds(10)).ok());
}

}  // namespace
}  // namespace atlas::testing
