// Golden cases: every file under cases/ is one test (named by the file). Each case's telemetry is
// diagnosed with its threshold overrides and the findings are compared with its expectations
// (cases/README.md). Every finding of every case must also be well formed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>

#include "diagnostics/check.hpp"
#include "diagnostics/diagnosis_json.hpp"
#include "diagnostics/engine.hpp"
#include "fixture.hpp"

namespace atlas::diagnostics {
namespace {

using testing::Case;
using testing::ExpectedFinding;

std::filesystem::path CasesDir() { return ATLAS_DIAGNOSTICS_CASES_DIR; }

std::string Describe(const Finding& f) {
  std::string s = f.check + " [" + std::string(ToString(f.severity)) + "]";
  if (f.layer) s += " on '" + *f.layer + "'";
  return s + ": " + f.title;
}

std::string DescribeAll(const std::vector<Finding>& findings) {
  std::string s;
  for (const Finding& f : findings) s += "\n  " + Describe(f);
  return s.empty() ? " (none)" : s;
}

bool Matches(const ExpectedFinding& want, const Finding& got) {
  if (want.check != got.check) return false;
  if (want.layer && got.layer != want.layer) return false;
  if (want.severity && got.severity != *want.severity) return false;
  return std::all_of(want.epochs.begin(), want.epochs.end(), [&](std::int64_t e) {
    return std::find(got.epochs.begin(), got.epochs.end(), e) != got.epochs.end();
  });
}

const CheckInfo* FindCheck(std::string_view id) {
  static const std::vector<CheckInfo> all = AllChecks();
  for (const CheckInfo& c : all) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

void ExpectWellFormed(const Finding& f) {
  SCOPED_TRACE(Describe(f));
  const CheckInfo* info = FindCheck(f.check);
  ASSERT_NE(info, nullptr) << "a finding names a check that is not registered";
  EXPECT_EQ(info->category, f.category);
  EXPECT_FALSE(f.title.empty());
  EXPECT_FALSE(f.why.empty());
  EXPECT_FALSE(f.fix.empty());
  EXPECT_TRUE(f.evidence.is_object() && !f.evidence.empty()) << "evidence must hold numbers";
  EXPECT_TRUE(std::is_sorted(f.epochs.begin(), f.epochs.end()));
  EXPECT_EQ(std::adjacent_find(f.epochs.begin(), f.epochs.end()), f.epochs.end());
  if (f.energy_at_stake) {
    EXPECT_GE(f.energy_at_stake->joules, 0);
    EXPECT_FALSE(f.energy_at_stake->basis.empty());
  }
}

void ExpectStopping(const nlohmann::json& want, const Stopping& got) {
  const std::pair<const char*, const std::optional<std::int64_t>*> fields[] = {
      {"best_epoch", &got.best_epoch},
      {"optimal_epoch", &got.optimal_epoch},
      {"online_stop_epoch", &got.online_stop_epoch},
      {"pitch_rule_epoch", &got.pitch_rule_epoch}};
  for (const auto& [key, value] : want.items()) {
    if (key == "metric") continue;
    const std::string name = key;
    const auto* field = std::find_if(std::begin(fields), std::end(fields),
                                     [&](const auto& f) { return name == f.first; });
    ASSERT_NE(field, std::end(fields)) << "expect.stopping." << key << " is not a stopping field";
    if (value.is_null()) {
      EXPECT_FALSE(field->second->has_value()) << key << " = " << field->second->value_or(-1);
    } else {
      ASSERT_TRUE(field->second->has_value()) << key << " is absent";
      EXPECT_EQ(**field->second, value.get<std::int64_t>()) << key;
    }
  }
  if (want.contains("metric")) {
    EXPECT_EQ(got.metric, want["metric"].get<std::string>());
  }
}

class GoldenCase : public ::testing::TestWithParam<std::filesystem::path> {};

TEST_P(GoldenCase, FindingsMatchExpectations) {
  Result<Case> loaded = testing::LoadCase(GetParam());
  ASSERT_TRUE(loaded.ok()) << GetParam() << ": " << loaded.status().message();
  const Case& c = *loaded;
  Result<Thresholds> thresholds = Thresholds::WithOverrides(c.thresholds);
  ASSERT_TRUE(thresholds.ok()) << thresholds.status().message();

  const Diagnosis d = Diagnose(c.telemetry, *thresholds);
  // ATLAS_GOLDEN_DUMP=1 prints each case's whole document, to write or review a case.
  if (std::getenv("ATLAS_GOLDEN_DUMP") != nullptr) std::cout << ToJson(d).dump(2) << "\n";
  SCOPED_TRACE(c.description + "\nfindings:" + DescribeAll(d.findings));

  for (const ExpectedFinding& want : c.expect.fires) {
    EXPECT_NE(FindCheck(want.check), nullptr) << want.check << " is not a registered check";
    const bool found = std::any_of(d.findings.begin(), d.findings.end(),
                                   [&](const Finding& f) { return Matches(want, f); });
    EXPECT_TRUE(found) << "expected " << want.check << (want.layer ? " on " + *want.layer : "")
                       << (want.severity ? " [" + std::string(ToString(*want.severity)) + "]" : "");
  }
  for (const std::string& pattern : c.expect.silent) {
    for (const Finding& f : d.findings) {
      EXPECT_FALSE(testing::MatchesPattern(pattern, f.check))
          << "must stay silent (" << pattern << "): " << Describe(f);
    }
  }
  if (c.expect.max_severity) {
    for (const Finding& f : d.findings) {
      EXPECT_LE(f.severity, *c.expect.max_severity) << Describe(f);
    }
  }
  if (!c.expect.grades.empty()) {
    EXPECT_NE(c.expect.grades.find(d.grade), std::string::npos)
        << "grade " << d.grade << " (score " << d.score << "), expected one of " << c.expect.grades;
  }
  ExpectStopping(c.expect.stopping, d.stopping);
  for (const Finding& f : d.findings) ExpectWellFormed(f);

  // Diagnosis is pure: the same view gives the same findings.
  const Diagnosis again = Diagnose(c.telemetry, *thresholds);
  ASSERT_EQ(again.findings.size(), d.findings.size());
  for (std::size_t i = 0; i < d.findings.size(); ++i) {
    EXPECT_EQ(again.findings[i].check, d.findings[i].check);
    EXPECT_EQ(again.findings[i].layer, d.findings[i].layer);
  }
}

// Overrides come from users: any finite number for any key. Every check, and the stopping rules,
// must judge each case with it, even where the value makes no sense (a window of 0 or -1 samples,
// a count past any run's length), without crashing atlasd or writing a malformed finding.
TEST_P(GoldenCase, AnyFiniteOverrideOfAnyThresholdIsJudgedSafely) {
  Result<Case> loaded = testing::LoadCase(GetParam());
  ASSERT_TRUE(loaded.ok()) << GetParam() << ": " << loaded.status().message();
  for (const ThresholdInfo& info : ThresholdTable()) {
    for (const double value : {0.0, -1.0, 0.5, 1e300}) {
      nlohmann::json overrides = loaded->thresholds;
      overrides[std::string(info.key)] = value;
      Result<Thresholds> thresholds = Thresholds::WithOverrides(overrides);
      ASSERT_TRUE(thresholds.ok()) << thresholds.status().message();
      SCOPED_TRACE(std::string(info.key) + " = " + std::to_string(value));
      for (const Finding& f : Diagnose(loaded->telemetry, *thresholds).findings) {
        ExpectWellFormed(f);
      }
    }
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::filesystem::path>& info) {
  std::string name = info.param.stem().string();
  for (char& ch : name) {
    if (std::isalnum(static_cast<unsigned char>(ch)) == 0) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenCase, ::testing::ValuesIn(testing::CaseFiles(CasesDir())),
                         CaseName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GoldenCase);

// Every registered check has at least one case file in which it is expected to fire, and every
// case file is named <check id>__<scenario>.json or healthy__<scenario>.json.
TEST(GoldenCases, EveryCheckHasAPositiveCase) {
  std::set<std::string> positive;
  for (const auto& path : testing::CaseFiles(CasesDir())) {
    Result<Case> c = testing::LoadCase(path);
    ASSERT_TRUE(c.ok()) << path << ": " << c.status().message();
    const std::string stem = path.stem().string();
    const std::string prefix = stem.substr(0, stem.find("__"));
    EXPECT_TRUE(prefix == "healthy" || FindCheck(prefix) != nullptr)
        << path.filename() << ": name it <check id>__<scenario>.json or healthy__<scenario>.json";
    for (const ExpectedFinding& f : c->expect.fires) positive.insert(f.check);
  }
  for (const CheckInfo& check : AllChecks()) {
    EXPECT_TRUE(positive.count(std::string(check.id)) > 0)
        << check.id << " has no case in which it fires";
  }
}

}  // namespace
}  // namespace atlas::diagnostics
