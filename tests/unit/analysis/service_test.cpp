#include "analysis/service.hpp"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace atlas::analysis {
namespace {

using testing::Epoch;
using testing::Step;
using testing::StoreFixture;

class RecordingSink : public http::StreamSink {
 public:
  bool Push(std::shared_ptr<const std::string> chunk) override {
    chunks.push_back(*chunk);
    return true;
  }
  void Close() override {}
  bool closed() const override { return false; }
  std::vector<std::string> chunks;
};

class ServiceTest : public StoreFixture {
 protected:
  // Stores `batch` and tells the service, as the ingest handler does.
  void Ingest(AnalysisService& service, const std::string& run_id, model::RecordBatch batch) {
    auto result = store_->Ingest(run_id, batch);
    ASSERT_TRUE(result.ok()) << result.status().message();
    service.OnBatchStored(run_id, std::make_shared<const model::RecordBatch>(std::move(batch)),
                          *result);
  }

  model::RecordBatch EpochBatch(std::int64_t& seq, std::int64_t epoch) {
    model::RecordBatch batch;
    for (int i = 0; i < 20; ++i)
      batch.steps.push_back(Step(seq++, epoch, 1.0 / static_cast<double>(epoch + 1)));
    batch.epochs.push_back(Epoch(seq++, epoch, 1.0 / static_cast<double>(epoch + 1),
                                 1.1 / static_cast<double>(epoch + 1)));
    return batch;
  }
};

TEST_F(ServiceTest, DiagnosesAfterAnEpochStoresAndPublishes) {
  live::Hub hub(live::HubOptions{.first_id = 1});
  auto run_events = std::make_shared<RecordingSink>();
  auto table_events = std::make_shared<RecordingSink>();
  const model::Run run = CreateRun();
  hub.Subscribe(live::Hub::RunTopic(run.id), run_events, std::nullopt);
  hub.Subscribe(live::Hub::kRunsTopic, table_events, std::nullopt);

  ServiceOptions options;
  options.clock = [] { return 1.8e9; };
  AnalysisService service(*store_, &hub, options);
  service.Start();
  service.OnRunCreated(run, false);
  std::int64_t seq = 0;
  Ingest(service, run.id, EpochBatch(seq, 0));
  service.Flush();

  auto stored = store_->GetDiagnosis(run.id);
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->computed_at, 1.8e9);
  EXPECT_FALSE((*stored)->grade.empty());
  const model::Json document = model::Json::parse((*stored)->document);
  EXPECT_EQ(document["run_id"], run.id);
  EXPECT_TRUE(document.contains("findings"));
  EXPECT_EQ(document["grade"], (*stored)->grade);

  ASSERT_FALSE(run_events->chunks.empty());
  EXPECT_NE(run_events->chunks.back().find("event: diagnostics\n"), std::string::npos);
  ASSERT_FALSE(table_events->chunks.empty());
  EXPECT_NE(table_events->chunks.back().find("\"grade\""), std::string::npos);
  service.Stop();
}

TEST_F(ServiceTest, DiagnosisOfAnUnknownRunIsNotFound) {
  AnalysisService service(*store_, nullptr);
  auto document = service.Diagnosis("missing");
  ASSERT_FALSE(document.ok());
  EXPECT_EQ(document.status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceTest, DiagnosisBeforeAnyEpochIsAValidDocument) {
  AnalysisService service(*store_, nullptr);
  const model::Run run = CreateRun();
  auto document = service.Diagnosis(run.id);
  ASSERT_TRUE(document.ok()) << document.status().message();
  EXPECT_TRUE((*document)["findings"].is_array());
  EXPECT_TRUE((*document).contains("grade"));
  // It was stored, so the runs list can show it.
  auto summaries = store_->ListDiagnosisSummaries({run.id});
  ASSERT_TRUE(summaries.ok());
  EXPECT_EQ(summaries->size(), 1u);
}

TEST_F(ServiceTest, DiagnosisCatchesUpWithRecordsStoredWhileTheWorkerIsStopped) {
  // No worker: the GET path must still see every stored record.
  AnalysisService service(*store_, nullptr);
  const model::Run run = CreateRun();
  std::int64_t seq = 0;
  ASSERT_TRUE(service.Diagnosis(run.id).ok());
  for (int e = 0; e < 3; ++e) Ingest(service, run.id, EpochBatch(seq, e));
  auto document = service.Diagnosis(run.id);
  ASSERT_TRUE(document.ok());
  auto stored = store_->GetDiagnosis(run.id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(model::Json::parse((*stored)->document), *document);
}

// Records may arrive in any order (docs/protocol.md): a batch stored after the run's view was
// loaded is folded in whatever its seqs (a spool replay of earlier steps), and one stored before
// it, though the worker hears of it later, is not folded in twice.
TEST_F(ServiceTest, AViewLoadedBetweenBatchesHoldsEveryBatchOnce) {
  AnalysisService service(*store_, nullptr);
  service.Start();
  const model::Run run = CreateRun();
  std::int64_t later_seq = 100;
  const model::RecordBatch later = EpochBatch(later_seq, 1);
  auto later_stored = store_->Ingest(run.id, later);
  ASSERT_TRUE(later_stored.ok()) << later_stored.status().message();
  EXPECT_EQ(later_stored->batch_order, 1);

  auto loaded = service.Diagnosis(run.id);  // loads the view from the store: epoch 1 only
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)["epochs_analysed"], 1);
  std::int64_t earlier_seq = 0;
  Ingest(service, run.id, EpochBatch(earlier_seq, 0));
  service.OnBatchStored(run.id, std::make_shared<const model::RecordBatch>(later), *later_stored);
  service.Flush();

  auto document = service.Diagnosis(run.id);
  ASSERT_TRUE(document.ok()) << document.status().message();
  EXPECT_EQ((*document)["epochs_analysed"], 2);
  service.Stop();
}

TEST_F(ServiceTest, ProjectOverridesAreValidatedAndStored) {
  AnalysisService service(*store_, nullptr);
  const model::Run run = CreateRun();
  Status bad = service.SetProjectOverrides(run.project_id, {{"no.such.threshold", 1.0}});
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("no.such.threshold"), std::string::npos);

  const auto table = diagnostics::ThresholdTable();
  ASSERT_FALSE(table.empty());
  const std::string key(table.front().key);
  const double value = table.front().value * 2 + 1;
  ASSERT_TRUE(service.SetProjectOverrides(run.project_id, {{key, value}}).ok());
  auto overrides = service.ProjectOverrides(run.project_id);
  ASSERT_TRUE(overrides.ok());
  EXPECT_EQ(*overrides, (model::Json{{key, value}}));
  EXPECT_EQ(service.ProjectOverrides(run.project_id + 100).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace atlas::analysis
