// The diagnostics tables (migration 3) and the step scan, as every backend must provide them.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sqlite_backend.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store_suite.hpp"

namespace atlas::store::testing {
namespace {

class DiagnosisStore : public StoreSuite {};

DiagnosisRecord Record(const std::string& run_id, const std::string& grade, double score) {
  DiagnosisRecord d;
  d.run_id = run_id;
  d.computed_at = 1.7e9;
  d.grade = grade;
  d.score = score;
  d.wasted_fraction = 0.25;
  d.kwh = 1.5;
  d.kg_co2 = 0.4;
  d.eur = 0.02;
  d.document = R"({"grade":")" + grade + R"(","findings":[]})";
  return d;
}

TEST_P(DiagnosisStore, SavedDiagnosisReplacesThePreviousOneAndSurvivesAReopen) {
  CreateRun("r1");
  auto none = store_->GetDiagnosis("r1");
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE(store_->SaveDiagnosis(Record("r1", "C", 61)).ok());
  ASSERT_TRUE(store_->SaveDiagnosis(Record("r1", "B", 80)).ok());
  Reopen();
  auto got = store_->GetDiagnosis("r1");
  ASSERT_TRUE(got.ok() && got->has_value());
  const DiagnosisRecord& d = **got;
  EXPECT_EQ(d.grade, "B");
  EXPECT_EQ(d.score, 80);
  EXPECT_EQ(d.wasted_fraction, 0.25);
  EXPECT_EQ(d.kwh, 1.5);
  EXPECT_EQ(d.kg_co2, 0.4);
  EXPECT_EQ(d.eur, 0.02);
  EXPECT_EQ(d.document, R"({"grade":"B","findings":[]})");
}

TEST_P(DiagnosisStore, UnknownRunsAreNotFound) {
  EXPECT_EQ(store_->GetDiagnosis("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SaveDiagnosis(Record("nope", "A", 95)).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ScanSteps("nope", [](const model::StepRecord&) {}).code(),
            StatusCode::kNotFound);
}

TEST_P(DiagnosisStore, SummariesListTheRunsThatHaveADiagnosisWithoutTheirDocuments) {
  CreateRun("r1");
  CreateRun("r2");
  ASSERT_TRUE(store_->SaveDiagnosis(Record("r2", "D", 50)).ok());
  auto summaries = store_->ListDiagnosisSummaries({"r1", "r2", "missing"});
  ASSERT_TRUE(summaries.ok()) << summaries.status().message();
  ASSERT_EQ(summaries->size(), 1u);
  EXPECT_EQ((*summaries)[0].run_id, "r2");
  EXPECT_EQ((*summaries)[0].grade, "D");
  EXPECT_TRUE((*summaries)[0].document.empty());
}

TEST_P(DiagnosisStore, ProjectThresholdsDefaultToEmptyAndAreReplaced) {
  const model::Run run = CreateRun("r1");
  auto empty = store_->GetProjectThresholds(run.project_id);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, model::Json::object());
  ASSERT_TRUE(store_->SetProjectThresholds(run.project_id, {{"a.b", 1.5}}).ok());
  ASSERT_TRUE(store_->SetProjectThresholds(run.project_id, {{"c.d", 2}}).ok());
  Reopen();
  EXPECT_EQ(store_->GetProjectThresholds(run.project_id).value(), (model::Json{{"c.d", 2}}));
  EXPECT_EQ(store_->SetProjectThresholds(run.project_id + 1000, {}).code(), StatusCode::kNotFound);
}

TEST_P(DiagnosisStore, ScanStepsStreamsEveryStepInSeqOrderWithItsFields) {
  CreateRun("r1");
  model::RecordBatch batch;
  for (std::int64_t i = 9; i >= 0; --i) {
    const auto x = static_cast<double>(i);
    batch.steps.push_back(MakeStep(i, i * 2, 1.7e9 + x, 1.0 / (x + 1)));
  }
  batch.steps[3].at(model::StepField::kLoss) = std::nan("");  // seq 6
  batch.steps[3].epoch = 4;
  ASSERT_TRUE(store_->Ingest("r1", batch).ok());
  std::vector<model::StepRecord> seen;
  ASSERT_TRUE(store_->ScanSteps("r1", [&](const model::StepRecord& s) { seen.push_back(s); }).ok());
  ASSERT_EQ(seen.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(seen[i].seq, i);
    EXPECT_EQ(seen[i].step, i * 2);
  }
  EXPECT_TRUE(std::isnan(*seen[6].at(model::StepField::kLoss)));
  EXPECT_EQ(seen[6].epoch, 4);
  EXPECT_EQ(*seen[1].at(model::StepField::kLoss), 0.5);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, DiagnosisStore, ::testing::Values(SqliteBackend()), BackendName);

}  // namespace
}  // namespace atlas::store::testing
