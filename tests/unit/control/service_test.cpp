#include "control/service.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "store/sqlite/sqlite_store.hpp"

namespace atlas::control {
namespace {

namespace fs = std::filesystem;

ActionRequest Request(ActionKind kind, std::string mode = "", Json params = Json::object()) {
  ActionRequest request;
  request.kind = kind;
  request.mode = std::move(mode);
  request.params = std::move(params);
  request.reason = "because";
  request.actor = "ana";
  return request;
}

ExchangeRequest Acks(std::vector<Ack> acks) {
  ExchangeRequest request;
  request.acks = std::move(acks);
  return request;
}

class ControlServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("atlas-control-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    Reopen();
    model::RunCreate create;
    create.project.name = "p";
    create.name = "run";
    create.run_id = "r1";
    ASSERT_TRUE(store_->CreateOrResumeRun(create).ok());
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // Opens the store (again) and a fresh service over it, as atlasd does when it restarts.
  void Reopen() {
    service_.reset();
    store_.reset();
    store::SqliteOptions options;
    options.path = (dir_ / "atlas.db").string();
    options.clock = [this] { return now_; };
    auto opened = store::OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    service_ = std::make_unique<ControlService>(*store_, [this] { return now_; });
    service_->SetPublisher([this](const std::string& run, std::string_view event, const Json& d) {
      events_.push_back(
          run + " " + std::string(event) + " " +
          (event == "status" ? d["state"].get<std::string>() : d["action"].get<std::string>()));
    });
  }

  Json SubmitOk(const ActionRequest& request) {
    auto reply = service_->Submit("r1", request);
    EXPECT_TRUE(reply.ok()) << reply.status().message();
    return reply.ok() ? *reply : Json();
  }

  std::string State() {
    auto view = service_->Describe("r1");
    EXPECT_TRUE(view.ok()) << view.status().message();
    return view.ok() ? (*view)["state"].get<std::string>() : "";
  }

  void FinishRun(model::RunStatus status) {
    model::RecordBatch batch;
    model::FinishRecord finish;
    finish.seq = 1;
    finish.ts = now_;
    finish.status = status;
    batch.finishes.push_back(finish);
    ASSERT_TRUE(store_->Ingest("r1", batch).ok());
  }

  fs::path dir_;
  double now_ = 1000.0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ControlService> service_;
  std::vector<std::string> events_;
};

TEST_F(ControlServiceTest, UnknownRunsAreNotFoundByName) {
  auto reply = service_->Submit("nope", Request(ActionKind::kStop, "step"));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reply.status().message().find("'nope'"), std::string::npos);
  EXPECT_EQ(service_->Describe("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Exchange("nope", {}).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(service_->PendingForIngest("nope").empty());
}

TEST_F(ControlServiceTest, FinishedRunsRefuseActionsNamingTheirStatus) {
  FinishRun(model::RunStatus::kCompleted);
  auto reply = service_->Submit("r1", Request(ActionKind::kPause));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kConflict);
  EXPECT_NE(reply.status().message().find("run 'r1' is completed"), std::string::npos)
      << reply.status().message();
}

TEST_F(ControlServiceTest, AStopIsDeliveredAcknowledgedAndAudited) {
  const Json reply = SubmitOk(Request(ActionKind::kStop, "step"));
  EXPECT_EQ(reply["state"], "stopping");
  EXPECT_EQ(reply["id"], 1);
  EXPECT_EQ(reply["actor"], "ana");
  EXPECT_EQ(reply["created_at"], 1000.0);

  now_ = 1001.0;
  const Json pending = service_->PendingForIngest("r1");
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0]["action"], "stop");
  EXPECT_EQ(pending[0]["mode"], "step");
  // Until acknowledged, every reply carries it again (the observer ignores ids it has seen).
  EXPECT_EQ(service_->PendingForIngest("r1").size(), 1u);

  now_ = 1002.0;
  auto exchanged = service_->Exchange("r1", Acks({{1, "applied", "stops after step 7", {}}}));
  ASSERT_TRUE(exchanged.ok()) << exchanged.status().message();
  EXPECT_TRUE((*exchanged)["actions"].empty());
  EXPECT_TRUE(service_->PendingForIngest("r1").empty());

  auto view = service_->Describe("r1");
  ASSERT_TRUE(view.ok());
  const Json& logged = (*view)["actions"][0];
  EXPECT_EQ(logged["delivered_at"], 1001.0);
  EXPECT_EQ(logged["applied_at"], 1002.0);
  EXPECT_EQ(logged["outcome"], "applied");
  EXPECT_EQ(logged["detail"], "stops after step 7");
  EXPECT_EQ(logged["reason"], "because");

  // A second stop at the epoch's end adds nothing; one at the step's end still may overtake.
  EXPECT_EQ(service_->Submit("r1", Request(ActionKind::kStop, "epoch")).status().code(),
            StatusCode::kConflict);
  EXPECT_EQ(service_->Submit("r1", Request(ActionKind::kResume)).status().code(),
            StatusCode::kConflict);
}

TEST_F(ControlServiceTest, PauseAndResumeMoveTheStateWhenTheObserverApplies) {
  EXPECT_EQ(SubmitOk(Request(ActionKind::kPause))["state"], "pausing");
  EXPECT_EQ(service_->Submit("r1", Request(ActionKind::kPause)).status().code(),
            StatusCode::kConflict);
  ASSERT_TRUE(service_->Exchange("r1", Acks({{1, "applied", "", {}}})).ok());
  EXPECT_EQ(State(), "paused");
  EXPECT_EQ(SubmitOk(Request(ActionKind::kResume))["state"], "resuming");
  // The poll returns only actions after the id the observer has seen.
  ExchangeRequest poll;
  poll.after = 1;
  auto reply = service_->Exchange("r1", poll);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ((*reply)["actions"].size(), 1u);
  EXPECT_EQ((*reply)["actions"][0]["action"], "resume");
  poll.after = 2;
  EXPECT_TRUE((*service_->Exchange("r1", poll))["actions"].empty());
  ASSERT_TRUE(service_->Exchange("r1", Acks({{2, "applied", "", {}}})).ok());
  EXPECT_EQ(State(), "running");
  // Acknowledging twice changes nothing; an unknown id is an error.
  ASSERT_TRUE(service_->Exchange("r1", Acks({{2, "rejected", "late", {}}})).ok());
  EXPECT_EQ((*service_->Describe("r1"))["actions"][1]["outcome"], "applied");
  EXPECT_EQ(service_->Exchange("r1", Acks({{9, "applied", "", {}}})).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(events_,
            (std::vector<std::string>{"r1 action pause", "r1 status pausing", "r1 action pause",
                                      "r1 status paused", "r1 action resume", "r1 status resuming",
                                      "r1 action resume", "r1 status running"}));
}

TEST_F(ControlServiceTest, CriticalFindingsHoldARunThatAskedForIt) {
  const FindingNote dead{"layer.dead", "conv2", "critical", "conv2: 87% of units are dead"};
  const FindingNote slow{"device.idle", "", "warning", "the GPU waits for data"};
  // Without a registration findings never hold.
  service_->OnFindings("r1", {dead});
  EXPECT_EQ(State(), "running");

  ExchangeRequest hello;
  Registration registration;
  registration.pause_on = "critical";
  hello.registration = registration;
  ASSERT_TRUE(service_->Exchange("r1", hello).ok());
  service_->OnFindings("r1", {slow});
  EXPECT_EQ(State(), "running");
  service_->OnFindings("r1", {slow, dead});
  EXPECT_EQ(State(), "holding");
  auto view = service_->Describe("r1");
  ASSERT_TRUE(view.ok());
  const Json& hold = (*view)["actions"][0];
  EXPECT_EQ(hold["action"], "hold");
  EXPECT_EQ(hold["actor"], "atlas");
  EXPECT_EQ(hold["reason"], "critical: conv2: 87% of units are dead");
  EXPECT_EQ(hold["params"]["findings"][0]["check"], "layer.dead");

  ASSERT_TRUE(service_->Exchange("r1", Acks({{1, "applied", "held", {}}})).ok());
  EXPECT_EQ(State(), "held_for_decision");
  // The terminal answered: the observer reports its own decision.
  ExchangeRequest decided;
  decided.decisions.push_back(Request(ActionKind::kResume));
  decided.decisions.back().actor = "terminal";
  ASSERT_TRUE(service_->Exchange("r1", decided).ok());
  EXPECT_EQ(State(), "running");
  // The same finding seen again (next epoch, or after a restart) does not hold again.
  service_->OnFindings("r1", {dead});
  Reopen();
  service_->OnFindings("r1", {dead});
  EXPECT_EQ(State(), "running");
  EXPECT_EQ((*service_->Describe("r1"))["actions"].size(), 2u);
  EXPECT_EQ((*service_->Describe("r1"))["registration"]["pause_on"], "critical");
}

TEST_F(ControlServiceTest, ARestartKeepsTheLogAndWhatIsPending) {
  SubmitOk(Request(ActionKind::kAdjust, "", Json{{"lr", {{"multiply", 0.5}}}}));
  Reopen();
  const Json pending = service_->PendingForIngest("r1");
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0]["params"]["lr"]["multiply"], 0.5);
}

TEST_F(ControlServiceTest, WhatAFinishedRunNeverAppliedExpires) {
  SubmitOk(Request(ActionKind::kPause));
  FinishRun(model::RunStatus::kFailed);
  auto view = service_->Describe("r1");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)["state"], "finished");
  EXPECT_EQ((*view)["run_status"], "failed");
  EXPECT_EQ((*view)["actions"][0]["outcome"], "expired");
  EXPECT_NE((*view)["actions"][0]["detail"].get<std::string>().find("failed"), std::string::npos);
}

TEST(ParseExchange, ValidatesAcksDecisionsAndTheRegistration) {
  auto ok = ParseExchange(
      R"({"after": 3, "acks": [{"id": 3, "outcome": "applied", "detail": "x"}],
          "decisions": [{"action": "stop", "actor": "timeout"}],
          "register": {"pause_on": "warning"}})");
  ASSERT_TRUE(std::holds_alternative<ExchangeRequest>(ok));
  const auto& request = std::get<ExchangeRequest>(ok);
  EXPECT_EQ(request.after, 3);
  ASSERT_EQ(request.acks.size(), 1u);
  EXPECT_EQ(request.decisions.at(0).actor, "timeout");
  EXPECT_EQ(request.registration->pause_on, "warning");
  const std::vector<std::pair<const char*, const char*>> bad = {
      {R"({"after": -1})", "after"},
      {R"({"acks": [{"id": 0, "outcome": "applied"}]})", "acks[0].id"},
      {R"({"acks": [{"id": 1, "outcome": "done"}]})", "acks[0].outcome"},
      {R"({"decisions": [{"action": "pause"}]})", "decisions[0].action"},
      {R"({"register": {"pause_on": "sometimes"}})", "register.pause_on"},
      {R"({"hello": 1})", "hello"},
  };
  for (const auto& [body, field] : bad) {
    auto parsed = ParseExchange(body);
    ASSERT_TRUE(std::holds_alternative<RequestError>(parsed)) << body;
    EXPECT_EQ(std::get<RequestError>(parsed).field, field) << body;
  }
}

}  // namespace
}  // namespace atlas::control
