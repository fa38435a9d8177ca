// The threshold table and per-project overrides.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "diagnostics/check.hpp"
#include "diagnostics/thresholds.hpp"

namespace atlas::diagnostics {
namespace {

TEST(ThresholdTable, KeysAreUniqueAndDocumented) {
  std::set<std::string_view> keys;
  for (const ThresholdInfo& t : ThresholdTable()) {
    EXPECT_TRUE(keys.insert(t.key).second) << "duplicate key " << t.key;
    EXPECT_TRUE(std::isfinite(t.value)) << t.key;
    EXPECT_FALSE(t.unit.empty()) << t.key;
    EXPECT_FALSE(t.description.empty()) << t.key;
    EXPECT_FALSE(t.source.empty()) << t.key;
  }
}

TEST(ThresholdTable, EveryKeyBelongsToARegisteredCheck) {
  std::set<std::string, std::less<>> ids;
  for (const CheckInfo& c : AllChecks()) ids.emplace(c.id);
  for (const ThresholdInfo& t : ThresholdTable()) {
    const std::string_view check = t.key.substr(0, t.key.rfind('.'));
    EXPECT_TRUE(ids.count(check) > 0) << t.key << ": no check " << check;
  }
}

TEST(Thresholds, DefaultsComeFromTheTable) {
  const Thresholds defaults;
  for (const ThresholdInfo& t : ThresholdTable()) EXPECT_EQ(defaults.Get(t.key), t.value);
  EXPECT_TRUE(defaults.Overrides().empty());
}

TEST(Thresholds, OverridesReplaceOnlyTheirKeys) {
  Result<Thresholds> t = Thresholds::WithOverrides({{"convergence.overfitting.gap", 0.25}});
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->Get("convergence.overfitting.gap"), 0.25);
  EXPECT_EQ(t->Get("carbon.spike.factor"), Thresholds().Get("carbon.spike.factor"));
  EXPECT_EQ(t->Overrides(), nlohmann::json({{"convergence.overfitting.gap", 0.25}}));
}

TEST(Thresholds, UnknownKeyIsRejectedByName) {
  Result<Thresholds> t = Thresholds::WithOverrides({{"convergence.overfiting.gap", 0.25}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("convergence.overfiting.gap"), std::string::npos);
}

TEST(Thresholds, NonNumbersAreRejected) {
  EXPECT_FALSE(Thresholds::WithOverrides({{"carbon.spike.factor", "ten"}}).ok());
  EXPECT_FALSE(Thresholds::WithOverrides(nlohmann::json::array({1, 2})).ok());
  EXPECT_TRUE(Thresholds::WithOverrides(nullptr).ok());
}

// docs/diagnostics.md documents every check and every threshold (its table is generated from
// kThresholdTable; this test catches a threshold or a check added without its documentation).
TEST(Docs, DocumentEveryCheckAndThreshold) {
  std::ifstream in(ATLAS_DOCS_DIR "/diagnostics.md");
  ASSERT_TRUE(in) << "cannot read docs/diagnostics.md";
  std::ostringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  for (const CheckInfo& c : AllChecks()) {
    EXPECT_NE(doc.find("`" + std::string(c.id) + "`"), std::string::npos)
        << c.id << " is not documented";
  }
  for (const ThresholdInfo& t : ThresholdTable()) {
    EXPECT_NE(doc.find("`" + std::string(t.key) + "`"), std::string::npos)
        << t.key << " is missing from the thresholds table";
  }
}

}  // namespace
}  // namespace atlas::diagnostics
