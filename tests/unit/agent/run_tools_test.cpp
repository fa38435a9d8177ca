// The run tools over a real SQLite store, the belief tracker's persistence and insights, the
// project memory by fingerprint, proposals, and the offline analyst's answers checked against
// the stored diagnosis.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/analyst.hpp"
#include "agent/belief_tracker.hpp"
#include "agent/fingerprint.hpp"
#include "agent/run_tools.hpp"
#include "fixture.hpp"

namespace atlas::agent {
namespace {

class RunTools : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    tracker_ = std::make_unique<BeliefTracker>(sources_);
    tracker_->SetPublisher([this](const std::string& run, const Json& insight) {
      insights_.emplace_back(run, insight);
    });
    AddRunTools(tools_, sources_, *tracker_,
                [this](const std::string&, const Json& p) { proposals_.push_back(p); });
  }

  Json Call(const std::string& name, const Json& args, bool actions = false) {
    Result<Json> out = tools_.Call(name, args, actions);
    EXPECT_TRUE(out.ok()) << name << ": " << out.status().message();
    return out.ok() ? *out : Json();
  }

  Json Planted() {
    return Diagnosis("D", 52,
                     {Finding("gradient.vanishing", "critical", nullptr, {2, 3, 4}, 0.0005),
                      Finding("layer.dead", "warning", "fc1", {3, 4}, 0.002),
                      Finding("convergence.plateau", "info", nullptr, {4})});
  }

  std::unique_ptr<BeliefTracker> tracker_;
  ToolRegistry tools_;
  std::vector<std::pair<std::string, Json>> insights_;
  std::vector<Json> proposals_;
};

TEST_F(RunTools, EveryReadToolAnswersFromTheStore) {
  CreateRun("r1");
  SaveDiagnosis("r1", Planted());
  EXPECT_EQ(Call("list_projects", Json::object())["projects"][0]["name"], "zoo");
  const Json runs = Call("list_runs", {{"project", "zoo"}});
  ASSERT_EQ(runs["runs"].size(), 1u);
  EXPECT_EQ(runs["runs"][0]["grade"], "D");

  const Json summary = Call("get_run_summary", {{"run_id", "r1"}});
  EXPECT_EQ(summary["diagnosis"]["grade"], "D");
  EXPECT_EQ(summary["diagnosis"]["finding_counts"]["critical"], 1);
  EXPECT_EQ(summary["primary_belief"]["id"], "gradient.vanishing");
  EXPECT_EQ(summary["fingerprint"], ArchitectureFingerprint(Mlp(32)));

  const Json epochs = Call("get_epoch_metrics", {{"run_id", "r1"}, {"from_epoch", 2}});
  ASSERT_EQ(epochs["epochs"].size(), 3u);
  EXPECT_DOUBLE_EQ(epochs["epochs"][0]["energy_joules"].get<double>(), 210.0);
  EXPECT_DOUBLE_EQ(epochs["epochs"][0]["train"]["loss"].get<double>(), 0.5);

  const Json warnings = Call("get_findings", {{"run_id", "r1"}, {"severity", "warning"}});
  ASSERT_EQ(warnings["findings"].size(), 1u);
  EXPECT_EQ(warnings["findings"][0]["layer"], "fc1");

  const Json arch = Call("get_architecture", {{"run_id", "r1"}});
  EXPECT_EQ(arch["modules"].size(), 4u);
  EXPECT_EQ(arch["total_params"], 64 * 32 + 32 + 32 * 10 + 10);

  const Json energy = Call("get_energy_timeline", {{"run_id", "r1"}});
  EXPECT_DOUBLE_EQ(energy["total_joules"].get<double>(), 1000.0 + 40.0);
  EXPECT_EQ(energy["measured"], true);

  const Json waste = Call("get_waste_report", {{"run_id", "r1"}});
  EXPECT_EQ(waste["optimal_stop_epoch"], 2);
  EXPECT_EQ(waste["findings_with_energy_at_stake"].size(), 2u);
  EXPECT_EQ(Call("get_forecast", {{"run_id", "r1"}})["forecast"]["plateau_epoch"], 3);

  const Json layers = Call("get_layer_health", {{"run_id", "r1"}});
  EXPECT_TRUE(layers["layers"].empty());  // this run sent no layer statistics

  EXPECT_EQ(tools_.Call("get_findings", {{"run_id", "nope"}}, false).status().code(),
            StatusCode::kNotFound);
}

TEST_F(RunTools, ARunWithoutDiagnosisSaysSoInsteadOfFailing) {
  CreateRun("r1");
  EXPECT_EQ(Call("get_findings", {{"run_id", "r1"}})["diagnosed"], false);
  EXPECT_EQ(Call("get_waste_report", {{"run_id", "r1"}})["diagnosed"], false);
  EXPECT_EQ(Call("get_run_summary", {{"run_id", "r1"}})["diagnosis"]["available"], false);
  EXPECT_EQ(Call("get_beliefs", {{"run_id", "r1"}})["revision"], 0);
}

TEST_F(RunTools, BeliefsArePersistedRevisedAndAnnounced) {
  CreateRun("r1");
  SaveDiagnosis("r1", Diagnosis("C", 70, {Finding("layer.dead", "warning", "fc1", {1})}));
  Json b1 = Call("get_beliefs", {{"run_id", "r1"}});
  EXPECT_EQ(b1["revision"], 1);
  EXPECT_EQ(b1["primary"], "layer.dead@fc1");
  ASSERT_EQ(insights_.size(), 1u);
  EXPECT_EQ(insights_[0].first, "r1");
  // Reading again without a new diagnosis neither revises nor announces.
  EXPECT_EQ(Call("get_beliefs", {{"run_id", "r1"}})["revision"], 1);
  EXPECT_EQ(insights_.size(), 1u);

  SaveDiagnosis("r1", Planted());
  tracker_->RefreshRecent(10);
  ASSERT_EQ(insights_.size(), 2u);
  EXPECT_EQ(insights_[1].second["primary"]["id"], "gradient.vanishing");
  EXPECT_EQ(insights_[1].second["previous"], "layer.dead@fc1");
  auto stored = store_->GetBeliefs("r1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->revision, 2);
  EXPECT_EQ((*stored)->fingerprint, ArchitectureFingerprint(Mlp(32)));
}

TEST_F(RunTools, ProjectHistoryRemembersEarlierRunsOfTheSameArchitecture) {
  CreateRun("old", "zoo", 32);
  SaveDiagnosis("old", Planted());
  CreateRun("other-arch", "zoo", 64);
  SaveDiagnosis("other-arch", Planted());
  tracker_->RefreshRecent(10);
  CreateRun("new", "another-project", 32);
  const Json history = Call("get_project_history", {{"run_id", "new"}});
  ASSERT_EQ(history["earlier_runs"].size(), 1u);
  const Json& old = history["earlier_runs"][0];
  EXPECT_EQ(old["run_id"], "old");
  EXPECT_EQ(old["grade"], "D");
  EXPECT_EQ(old["problems"][0]["id"], "gradient.vanishing");
  EXPECT_EQ(old["problems"][0]["since_epoch"], 2);
  EXPECT_DOUBLE_EQ(old["waste"]["kg_co2"].get<double>(), 0.0008);
  // The earlier run does not see the later one.
  EXPECT_TRUE(Call("get_project_history", {{"run_id", "old"}})["earlier_runs"].empty());
}

TEST_F(RunTools, RequestRunActionOnlyFilesAProposal) {
  CreateRun("r1");
  const Json args = {
      {"run_id", "r1"}, {"action", "stop"}, {"mode", "epoch"}, {"reason", "past the optimal stop"}};
  EXPECT_EQ(tools_.Call("request_run_action", args, false).status().code(), StatusCode::kNotFound);
  const Json p = Call("request_run_action", args, true);
  EXPECT_EQ(p["status"], "pending");
  EXPECT_EQ(p["id"], 1);
  EXPECT_EQ(p["params"]["mode"], "epoch");
  ASSERT_EQ(proposals_.size(), 1u);
  auto actions = store_->ListActions("r1");
  ASSERT_TRUE(actions.ok());
  EXPECT_TRUE(actions->empty());  // nothing reached the control log
  EXPECT_EQ(tools_
                .Call("request_run_action",
                      {{"run_id", "r1"}, {"action", "adjust"}, {"reason", "lr"}}, true)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->ResolveProposal("r1", 1, "dismissed").ok());
  EXPECT_EQ(store_->ResolveProposal("r1", 1, "confirmed").code(), StatusCode::kConflict);
  EXPECT_EQ(store_->ResolveProposal("r1", 9, "confirmed").code(), StatusCode::kNotFound);
  auto list = store_->ListProposals("r1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].status, "dismissed");
}

TEST_F(RunTools, OfflineAnalystAnswersTheMainQuestionsFromTheDiagnosis) {
  CreateRun("r1");
  SaveDiagnosis("r1", Planted());
  CreateRun("r2");
  SaveDiagnosis("r2", Diagnosis("B", 80, {Finding("layer.dead", "warning", "fc1", {3})}, 0));

  auto grade = AnswerOffline(tools_, "r1", "Why is my grade D?", std::nullopt);
  ASSERT_TRUE(grade.ok()) << grade.status().message();
  EXPECT_EQ(grade->intent, Intent::kGrade);
  EXPECT_EQ(grade->text.rfind(kOfflineLabel, 0), 0u);
  EXPECT_NE(grade->text.find("grade D (score 52/100)"), std::string::npos);
  EXPECT_NE(grade->text.find("1 critical, 1 warning and 1 info"), std::string::npos);
  EXPECT_NE(grade->text.find("weakest category is gradient (40/100)"), std::string::npos);
  EXPECT_NE(grade->text.find("1. gradient.vanishing title"), std::string::npos);

  auto first = AnswerOffline(tools_, "r1", "What should I change first?", std::nullopt);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->intent, Intent::kFirstChange);
  EXPECT_NE(first->text.find("Change this first: fix for gradient.vanishing"), std::string::npos);
  EXPECT_NE(first->text.find("Then: fix for layer.dead"), std::string::npos);

  auto waste = AnswerOffline(tools_, "r1", "How much did this waste and cost?", std::nullopt);
  ASSERT_TRUE(waste.ok());
  EXPECT_EQ(waste->intent, Intent::kWaste);
  EXPECT_NE(waste->text.find("2 epochs past its optimal stop (epoch 2)"), std::string::npos);
  EXPECT_NE(waste->text.find("50.0% of its compute"), std::string::npos);
  EXPECT_NE(waste->text.find("0.8 g CO2"), std::string::npos);
  EXPECT_NE(waste->text.find("measured"), std::string::npos);

  auto compare = AnswerOffline(tools_, "r1", "how does it compare?", std::string("r2"));
  ASSERT_TRUE(compare.ok());
  EXPECT_EQ(compare->intent, Intent::kCompare);
  EXPECT_NE(compare->text.find("(the same architecture)"), std::string::npos);
  EXPECT_NE(compare->text.find("Only in r1: gradient.vanishing, convergence.plateau."),
            std::string::npos);
  EXPECT_NE(compare->text.find("grade D (score 52/100)"), std::string::npos);
  EXPECT_NE(compare->text.find("final validation loss 0.3"), std::string::npos);
  // Both fixture diagnoses spent the same.
  EXPECT_NE(compare->text.find("Both runs cost the same: 4 Wh, 1.6 g CO2, EUR 8e-05."),
            std::string::npos);
  // Without a named run, it compares with the newest earlier run of the same architecture.
  tracker_->RefreshRecent(10);
  auto implicit = AnswerOffline(tools_, "r2", "compare with the last run", std::nullopt);
  ASSERT_TRUE(implicit.ok()) << implicit.status().message();
  EXPECT_NE(implicit->text.find("Comparing r2 with r1"), std::string::npos);

  // Deterministic: the same question twice gives the same text.
  EXPECT_EQ(AnswerOffline(tools_, "r1", "overview", std::nullopt)->text,
            AnswerOffline(tools_, "r1", "overview", std::nullopt)->text);
  EXPECT_EQ(AnswerOffline(tools_, "nope", "why", std::nullopt).status().code(),
            StatusCode::kNotFound);
}

TEST_F(RunTools, OfflineAnalystGroupsAChecksLayersAndQuotesScoresAsStored) {
  CreateRun("r1");
  // layer.not_updating on three layers is one problem whose energy at stake (0.0009 kg CO2 in
  // all) outweighs the single critical finding's 0.0007, so its fix comes first; its members
  // are ordered by their own energy at stake.
  SaveDiagnosis("r1", Diagnosis("F", 8.5,
                                {Finding("gradient.vanishing", "critical", nullptr, {1}, 0.0007),
                                 Finding("layer.not_updating", "critical", "fc2", {1}, 0.0002),
                                 Finding("layer.not_updating", "critical", "fc1", {1}, 0.0004),
                                 Finding("layer.not_updating", "critical", "fc3", {1}, 0.0003),
                                 Finding("layer.dead", "warning", "fc1", {1}, 0.01)}));
  auto first = AnswerOffline(tools_, "r1", "What should I change first?", std::nullopt);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_NE(first->text.find("Change this first: fix for layer.not_updating\n"
                             "The same applies to fc3 and fc2.\n"
                             "Because: layer.not_updating title (critical, layer.not_updating on "
                             "fc1, epoch 1)"),
            std::string::npos)
      << first->text;
  EXPECT_NE(first->text.find("at stake in all: 1.8 Wh, 0.9 g CO2, EUR 4.5e-05"), std::string::npos)
      << first->text;
  EXPECT_NE(first->text.find("Then: fix for gradient.vanishing"), std::string::npos);
  EXPECT_NE(first->text.find("Then: fix for layer.dead"), std::string::npos);

  auto grade = AnswerOffline(tools_, "r1", "why this grade?", std::nullopt);
  ASSERT_TRUE(grade.ok());
  EXPECT_NE(grade->text.find("grade F (score 8.5/100)"), std::string::npos) << grade->text;
  EXPECT_NE(grade->text.find("1. layer.not_updating title"), std::string::npos);
  EXPECT_NE(grade->text.find("2. gradient.vanishing title"), std::string::npos);
  EXPECT_NE(grade->text.find("3. layer.dead title"), std::string::npos);
}

TEST_F(RunTools, OfflineAnalystNamesTheCheaperRunByItsFootprint) {
  CreateRun("long");
  Json costly = Diagnosis("C", 70, {});
  costly["spent"] = {
      {"joules", 300.0}, {"kwh", 0.0001}, {"kg_co2", 0.00004}, {"eur", 2e-06}, {"car_km", 0.0003}};
  SaveDiagnosis("long", costly);
  CreateRun("short");
  Json cheap = Diagnosis("B", 85, {});
  cheap["spent"] = {
      {"joules", 75.0}, {"kwh", 0.000025}, {"kg_co2", 0.00001}, {"eur", 5e-07}, {"car_km", 8e-05}};
  SaveDiagnosis("short", cheap);

  for (const auto& [run, other] : {std::pair<std::string, std::string>{"long", "short"},
                                   std::pair<std::string, std::string>{"short", "long"}}) {
    auto compare = AnswerOffline(tools_, run, "compare", other);
    ASSERT_TRUE(compare.ok()) << compare.status().message();
    EXPECT_NE(compare->text.find("short (short-name) was the cheaper run: 0.025 Wh, 0.01 g CO2, "
                                 "EUR 5e-07 against 0.1 Wh, 0.04 g CO2, EUR 2e-06 for long "
                                 "(75% less energy)."),
              std::string::npos)
        << compare->text;
  }

  // Among perfect categories none is the weakest.
  cheap["category_scores"] = {{"layer", 100}, {"gradient", 100}};
  SaveDiagnosis("short", cheap);
  auto grade = AnswerOffline(tools_, "short", "why grade B?", std::nullopt);
  ASSERT_TRUE(grade.ok());
  EXPECT_NE(grade->text.find("Every category scores 100/100. Nothing costs it points."),
            std::string::npos)
      << grade->text;
}

TEST(ClassifyQuestion, RecognisesTheFourIntents) {
  EXPECT_EQ(ClassifyQuestion("why is my grade D"), Intent::kGrade);
  EXPECT_EQ(ClassifyQuestion("What should I change first?"), Intent::kFirstChange);
  EXPECT_EQ(ClassifyQuestion("how much CO2 did it waste"), Intent::kWaste);
  EXPECT_EQ(ClassifyQuestion("compare with run 7"), Intent::kCompare);
  EXPECT_EQ(ClassifyQuestion("hello"), Intent::kOverview);
}

}  // namespace
}  // namespace atlas::agent
