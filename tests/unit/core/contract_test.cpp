// The client's output against the server's own protocol parser (server/src/protocol): every
// request body a Client produces must parse, with the values it was given.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "atlas/client.hpp"
#include "atlas/record.hpp"
#include "model/records.hpp"
#include "protocol/parse.hpp"
#include "testing/fake_transport.hpp"
#include "testing/mem_env.hpp"

namespace atlas {
namespace {

TEST(Contract, EveryRequestParsesOnTheServer) {
  testing::FakeTransport transport;
  testing::MemEnv env;
  ClientConfig config;
  config.server_url = "http://atlasd.test";
  config.project = "contract";
  config.run_id = "contract-run";
  config.framework_json = R"({"torch":"2.3.0"})";
  config.spool_dir = "/spool";
  config.compression = Compression::kZstd;
  config.env = &env;
  config.transport = &transport;
  auto started = Client::Start(config);
  ASSERT_TRUE(started.ok());
  Client& client = **started;

  StepRecord full;
  full.step = 3;
  full.epoch = 0;
  full.ts = 1700000000.5;
  for (std::size_t i = 0; i < kStepFieldCount; ++i) {
    full.Set(static_cast<StepField>(i), static_cast<double>(i) + 0.5);
  }
  full.Set(StepField::kLoss, std::numeric_limits<double>::quiet_NaN());
  full.Set(StepField::kTokensPerS, std::numeric_limits<double>::infinity());
  full.metrics.push_back({"accuracy", 0.75});
  full.metrics.push_back({"naïve \"metric\"", -1});
  ASSERT_TRUE(client.Record(full));
  ASSERT_TRUE(client.RecordJson("epoch", R"({"epoch":0,"ts":1700000001,"duration_s":12.5,
      "train":{"loss":0.4},"val":{"loss":0.5},
      "energy":[{"component":"gpu","device":"cuda:0","joules":1200,"method":"measured:nvml-counter"}]})"));
  ASSERT_TRUE(client.RecordJson("event", R"({"ts":1700000002,"level":"warning","type":"log",
      "message":"careful","data":{"k":1}})"));
  ASSERT_TRUE(client.RecordJson("hyperparameters", R"({"values":{"lr":0.1}})"));
  ASSERT_TRUE(client.Finish(FinishStatus::kFailed, "boom", std::chrono::seconds(10)).ok());

  const auto calls = transport.calls();
  ASSERT_EQ(calls.size(), 2u);
  const auto create = protocol::ParseRunCreate(calls[0].json);
  ASSERT_TRUE(std::holds_alternative<model::RunCreate>(create))
      << std::get<protocol::ParseError>(create).field << ": "
      << std::get<protocol::ParseError>(create).reason;
  const auto& run = std::get<model::RunCreate>(create);
  EXPECT_EQ(run.run_id, "contract-run");
  EXPECT_EQ(run.project.name, "contract");
  EXPECT_EQ(run.framework["torch"], "2.3.0");

  const auto parsed = protocol::ParseRecordBatch(calls[1].json);
  ASSERT_TRUE(std::holds_alternative<model::RecordBatch>(parsed))
      << std::get<protocol::ParseError>(parsed).field << ": "
      << std::get<protocol::ParseError>(parsed).reason;
  const auto& batch = std::get<model::RecordBatch>(parsed);
  ASSERT_EQ(batch.steps.size(), 1u);
  const model::StepRecord& step = batch.steps[0];
  EXPECT_EQ(step.seq, 1);
  EXPECT_EQ(step.step, 3);
  EXPECT_EQ(step.epoch, 0);
  EXPECT_EQ(step.ts, 1700000000.5);
  EXPECT_TRUE(std::isnan(*step.at(model::StepField::kLoss)));
  EXPECT_TRUE(std::isinf(*step.at(model::StepField::kTokensPerS)));
  EXPECT_EQ(*step.at(model::StepField::kLearningRate), 16.5);
  ASSERT_EQ(step.metrics.size(), 2u);
  EXPECT_EQ(step.metrics[1].first, "naïve \"metric\"");
  ASSERT_EQ(batch.epochs.size(), 1u);
  EXPECT_EQ(batch.epochs[0].seq, 2);
  EXPECT_EQ(batch.epochs[0].energy.size(), 1u);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].seq, 3);
  ASSERT_EQ(batch.hyperparameters.size(), 1u);
  ASSERT_EQ(batch.finishes.size(), 1u);
  EXPECT_EQ(batch.finishes[0].seq, 5);
  EXPECT_EQ(batch.finishes[0].status, model::RunStatus::kFailed);
  EXPECT_EQ(batch.finishes[0].reason, "boom");
  EXPECT_EQ(batch.finishes[0].client_stats["enqueued"], 4);
}

}  // namespace
}  // namespace atlas
