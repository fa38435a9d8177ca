// Belief state: deterministic revisions as each epoch's findings arrive, confidence growing with
// evidence, retirement, the primary belief and its changes, and the JSON round trip.
#include <gtest/gtest.h>

#include "agent/beliefs.hpp"
#include "agent/fingerprint.hpp"
#include "fixture.hpp"

namespace atlas::agent {
namespace {

using testing::StoreFixture;

Json Doc(const std::string& grade, Json findings) {
  return StoreFixture::Diagnosis(grade, 50, std::move(findings));
}

TEST(Beliefs, ConfidenceStartsAtTheSeverityBaseAndGrowsWithEpochsUpToACap) {
  EXPECT_DOUBLE_EQ(ConfidenceFor("critical", 1), 0.6);
  EXPECT_DOUBLE_EQ(ConfidenceFor("warning", 1), 0.45);
  EXPECT_DOUBLE_EQ(ConfidenceFor("info", 0), 0.25);
  EXPECT_DOUBLE_EQ(ConfidenceFor("warning", 3), 0.65);
  EXPECT_DOUBLE_EQ(ConfidenceFor("critical", 4), 0.9);
  EXPECT_DOUBLE_EQ(ConfidenceFor("critical", 40), 0.9);
}

TEST(Beliefs, RevisionsFollowTheFindingsEpochByEpoch) {
  BeliefState s0;
  s0.run_id = "r";
  // Epoch 1: one warning.
  auto s1 = Revise(s0, Doc("C", {StoreFixture::Finding("layer.dead", "warning", "fc1", {1})}));
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->revision, 1);
  EXPECT_EQ(s1->epoch, 1);
  EXPECT_EQ(s1->primary, "layer.dead@fc1");
  ASSERT_EQ(s1->hypotheses.size(), 1u);
  EXPECT_DOUBLE_EQ(s1->hypotheses[0].confidence, 0.45);
  EXPECT_EQ(s1->hypotheses[0].recommended_action, "fix for layer.dead");
  EXPECT_EQ(s1->hypotheses[0].history.back().note, "first found");

  // The same diagnosis again changes nothing.
  EXPECT_FALSE(Revise(*s1, Doc("C", {StoreFixture::Finding("layer.dead", "warning", "fc1", {1})})));

  // Epoch 2: the warning persists, a critical appears and becomes primary.
  auto s2 = Revise(
      *s1, Doc("D", {StoreFixture::Finding("gradient.vanishing", "critical", nullptr, {2}, 0.001),
                     StoreFixture::Finding("layer.dead", "warning", "fc1", {1, 2})}));
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->revision, 2);
  EXPECT_EQ(s2->epoch, 2);
  EXPECT_EQ(s2->grade, "D");
  EXPECT_EQ(s2->primary, "gradient.vanishing");
  const Hypothesis* dead = FindHypothesis(*s2, "layer.dead@fc1");
  ASSERT_NE(dead, nullptr);
  EXPECT_DOUBLE_EQ(dead->confidence, 0.55);
  EXPECT_EQ(dead->history.size(), 2u);
  ASSERT_EQ(s2->primary_history.size(), 2u);
  EXPECT_EQ(s2->primary_history[1].from, "layer.dead@fc1");
  EXPECT_EQ(s2->primary_history[1].to, "gradient.vanishing");

  // Epoch 3: the critical is fixed; it is retired at half its confidence.
  auto s3 =
      Revise(*s2, Doc("B", {StoreFixture::Finding("layer.dead", "warning", "fc1", {1, 2, 3})}));
  ASSERT_TRUE(s3);
  const Hypothesis* vanishing = FindHypothesis(*s3, "gradient.vanishing");
  ASSERT_NE(vanishing, nullptr);
  EXPECT_EQ(vanishing->status, "retired");
  EXPECT_DOUBLE_EQ(vanishing->confidence, 0.3);
  EXPECT_EQ(s3->primary, "layer.dead@fc1");
  EXPECT_EQ(s3->hypotheses.front().status, "active");  // active beliefs listed first

  // The JSON form round-trips, so a stored state revises like the live one.
  const BeliefState back = BeliefStateFromJson(ToJson(*s3));
  EXPECT_EQ(ToJson(back), ToJson(*s3));
  const Json insight = InsightFor(*s3, "gradient.vanishing");
  EXPECT_EQ(insight["previous"], "gradient.vanishing");
  EXPECT_EQ(insight["primary"]["id"], "layer.dead@fc1");
  EXPECT_NE(insight["message"].get<std::string>().find("fix for layer.dead"), std::string::npos);
}

TEST(Beliefs, ARunWithNoFindingsHasNoPrimary) {
  auto s = Revise(BeliefState{}, Doc("A", Json::array()));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->primary, "");
  EXPECT_TRUE(ToJson(*s)["primary"].is_null());
  EXPECT_NE(InsightFor(*s, "x")["message"].get<std::string>().find("no open problem"),
            std::string::npos);
}

TEST(Fingerprint, IgnoresNamesAndBatchSizeButNotShapes) {
  auto a = StoreFixture::Mlp(32, 32);
  auto b = StoreFixture::Mlp(32, 128);
  b[1].name = "input_layer";
  EXPECT_EQ(ArchitectureFingerprint(a), ArchitectureFingerprint(b));
  EXPECT_EQ(ArchitectureFingerprint(a).size(), 16u);
  EXPECT_NE(ArchitectureFingerprint(a), ArchitectureFingerprint(StoreFixture::Mlp(64)));
  auto c = a;
  c[2].type = "ReLU";
  EXPECT_NE(ArchitectureFingerprint(a), ArchitectureFingerprint(c));
  EXPECT_EQ(ArchitectureFingerprint({}), "");
}

}  // namespace
}  // namespace atlas::agent
