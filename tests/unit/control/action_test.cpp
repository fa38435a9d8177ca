#include "control/action.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

namespace atlas::control {
namespace {

ActionRequest Accept(std::string_view body) {
  auto parsed = ParseActionRequest(body, "api");
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    ADD_FAILURE() << body << " was refused: " << error->field << ": " << error->reason;
    return {};
  }
  return std::get<ActionRequest>(parsed);
}

RequestError Refuse(std::string_view body) {
  auto parsed = ParseActionRequest(body, "api");
  if (auto* error = std::get_if<RequestError>(&parsed)) return *error;
  ADD_FAILURE() << body << " was accepted";
  return {};
}

store::StoredAction Stored(std::int64_t id, std::string action, std::string outcome = "",
                           std::string mode = "") {
  store::StoredAction a;
  a.id = id;
  a.action = std::move(action);
  a.outcome = std::move(outcome);
  a.mode = std::move(mode);
  return a;
}

TEST(ParseActionRequest, StopDefaultsToTheEndOfTheStepAndTakesEpoch) {
  const ActionRequest stop = Accept(R"({"action": "stop", "reason": "loss diverged"})");
  EXPECT_EQ(stop.kind, ActionKind::kStop);
  EXPECT_EQ(stop.mode, "step");
  EXPECT_EQ(stop.reason, "loss diverged");
  EXPECT_EQ(stop.actor, "api");
  EXPECT_EQ(Accept(R"({"action": "stop", "mode": "epoch", "actor": "ana"})").mode, "epoch");
  EXPECT_EQ(Accept(R"({"action": "stop", "mode": "epoch", "actor": "ana"})").actor, "ana");
}

TEST(ParseActionRequest, RefusesWhatItCannotMeanAndNamesTheField) {
  struct Case {
    const char* body;
    unsigned status;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"not json", 400, ""},
      {"[1]", 400, ""},
      {R"({"mode": "step"})", 422, "action"},
      {R"({"action": "explode"})", 422, "action"},
      {R"({"action": "stop", "mode": "now"})", 422, "mode"},
      {R"({"action": "pause", "mode": "step"})", 422, "mode"},
      {R"({"action": "pause", "params": {"lr": 1}})", 422, "params"},
      {R"({"action": "stop", "colour": "red"})", 422, "colour"},
      {R"({"action": "stop", "reason": 7})", 422, "reason"},
      {R"({"action": "adjust"})", 422, "params"},
      {R"({"action": "adjust", "params": {"lr": "fast"}})", 422, "params.lr"},
      {R"({"action": "adjust", "params": {"lr": "-2x"}})", 422, "params.lr"},
      {R"({"action": "adjust", "params": {"lr": "0x"}})", 422, "params.lr"},
      {R"({"action": "adjust", "params": {"bad name!": 1}})", 422, "params.bad name!"},
  };
  for (const Case& c : cases) {
    const RequestError error = Refuse(c.body);
    EXPECT_EQ(error.status, c.status) << c.body;
    EXPECT_EQ(error.field, c.field) << c.body;
    EXPECT_FALSE(error.reason.empty()) << c.body;
  }
  EXPECT_EQ(Refuse(R"({"action": "stop", "reason": ")" + std::string(1001, 'r') + "\"}").field,
            "reason");
}

TEST(ParseActionRequest, NormalisesAdjustValues) {
  const ActionRequest adjust = Accept(
      R"({"action": "adjust", "params": {"lr": "0.5x", "wd": "3e-4", "momentum": 0.8,
          "dropout": {"multiply": 2}, "beta": "x1.5", "gamma": {"set": 1}}})");
  EXPECT_EQ(adjust.params["lr"], (Json{{"multiply", 0.5}}));
  EXPECT_EQ(adjust.params["wd"], (Json{{"set", 3e-4}}));
  EXPECT_EQ(adjust.params["momentum"], (Json{{"set", 0.8}}));
  EXPECT_EQ(adjust.params["dropout"], (Json{{"multiply", 2.0}}));
  EXPECT_EQ(adjust.params["beta"], (Json{{"multiply", 1.5}}));
  EXPECT_EQ(adjust.params["gamma"], (Json{{"set", 1.0}}));
}

TEST(DeriveState, FollowsTheLogAndTheRunStatus) {
  using S = ControlState;
  const auto state = [](const std::vector<store::StoredAction>& log) {
    return DeriveState(log, model::RunStatus::kRunning);
  };
  EXPECT_EQ(state({}), S::kRunning);
  EXPECT_EQ(state({Stored(1, "pause")}), S::kPausing);
  EXPECT_EQ(state({Stored(1, "pause", "applied")}), S::kPaused);
  EXPECT_EQ(state({Stored(1, "pause", "applied"), Stored(2, "resume")}), S::kResuming);
  EXPECT_EQ(state({Stored(1, "pause", "applied"), Stored(2, "resume", "applied")}), S::kRunning);
  EXPECT_EQ(state({Stored(1, "hold")}), S::kHolding);
  EXPECT_EQ(state({Stored(1, "hold", "applied")}), S::kHeldForDecision);
  EXPECT_EQ(state({Stored(1, "hold", "applied"), Stored(2, "stop", "", "step")}), S::kStopping);
  // A stop is final: a later resume does not undo it.
  EXPECT_EQ(state({Stored(1, "stop"), Stored(2, "resume", "applied")}), S::kStopping);
  // What the observer refused or never applied has no effect.
  EXPECT_EQ(state({Stored(1, "pause", "rejected")}), S::kRunning);
  EXPECT_EQ(state({Stored(1, "adjust", "applied")}), S::kRunning);
  EXPECT_EQ(DeriveState({Stored(1, "pause")}, model::RunStatus::kStopped), S::kFinished);
}

TEST(Conflict, NamesTheRunAndItsState) {
  const Registration none;
  ActionRequest resume;
  resume.kind = ActionKind::kResume;
  auto conflict = Conflict(resume, ControlState::kRunning, {}, none, "r1");
  ASSERT_TRUE(conflict.has_value());
  EXPECT_NE(conflict->find("run 'r1'"), std::string::npos) << *conflict;
  EXPECT_NE(conflict->find("running"), std::string::npos) << *conflict;
  EXPECT_FALSE(Conflict(resume, ControlState::kPaused, {}, none, "r1").has_value());
  EXPECT_FALSE(Conflict(resume, ControlState::kHeldForDecision, {}, none, "r1").has_value());

  ActionRequest pause;
  pause.kind = ActionKind::kPause;
  EXPECT_TRUE(Conflict(pause, ControlState::kPaused, {}, none, "r1").has_value());
  EXPECT_TRUE(Conflict(pause, ControlState::kStopping, {}, none, "r1").has_value());

  ActionRequest step_stop;
  step_stop.kind = ActionKind::kStop;
  step_stop.mode = "step";
  const std::vector<store::StoredAction> at_epoch = {Stored(1, "stop", "", "epoch")};
  EXPECT_FALSE(Conflict(step_stop, ControlState::kStopping, at_epoch, none, "r1").has_value());
  ActionRequest epoch_stop = step_stop;
  epoch_stop.mode = "epoch";
  EXPECT_TRUE(Conflict(epoch_stop, ControlState::kStopping, at_epoch, none, "r1").has_value());
}

TEST(Conflict, AdjustOnlyWhatTheRunRegistered) {
  Registration registration;
  registration.adjustable = {"lr", "dropout"};
  ActionRequest adjust;
  adjust.kind = ActionKind::kAdjust;
  adjust.params = {{"lr", {{"multiply", 0.5}}}};
  EXPECT_FALSE(Conflict(adjust, ControlState::kRunning, {}, registration, "r1").has_value());
  adjust.params = {{"momentum", {{"set", 0.9}}}};
  auto conflict = Conflict(adjust, ControlState::kRunning, {}, registration, "r1");
  ASSERT_TRUE(conflict.has_value());
  EXPECT_NE(conflict->find("'momentum'"), std::string::npos) << *conflict;
  EXPECT_NE(conflict->find("lr, dropout"), std::string::npos) << *conflict;
  // Without a registration the observer decides (and says why it refuses).
  EXPECT_FALSE(Conflict(adjust, ControlState::kRunning, {}, Registration{}, "r1").has_value());
}

TEST(ParseRegistration, ValidatesEveryKey) {
  auto ok = ParseRegistration(Json{{"pause_on", "critical"},
                                   {"adjustable", {"lr"}},
                                   {"decision_timeout_s", 30},
                                   {"decision_default", "stop"}});
  ASSERT_TRUE(std::holds_alternative<Registration>(ok));
  const auto& registration = std::get<Registration>(ok);
  EXPECT_EQ(registration.pause_on, "critical");
  EXPECT_EQ(registration.decision_default, "stop");
  EXPECT_EQ(ToJson(registration)["adjustable"], Json::array({"lr"}));
  for (const Json& bad :
       {Json{{"pause_on", "info"}}, Json{{"adjustable", "lr"}}, Json{{"decision_timeout_s", -1}},
        Json{{"decision_default", "maybe"}}, Json{{"what", 1}}}) {
    EXPECT_TRUE(std::holds_alternative<RequestError>(ParseRegistration(bad))) << bad.dump();
  }
}

TEST(SeverityReaches, ComparesAgainstTheThreshold) {
  EXPECT_TRUE(SeverityReaches("critical", "critical"));
  EXPECT_TRUE(SeverityReaches("critical", "warning"));
  EXPECT_TRUE(SeverityReaches("warning", "warning"));
  EXPECT_FALSE(SeverityReaches("warning", "critical"));
  EXPECT_FALSE(SeverityReaches("info", "warning"));
  EXPECT_FALSE(SeverityReaches("critical", "none"));
}

}  // namespace
}  // namespace atlas::control
