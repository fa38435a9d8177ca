// The Observer end to end: a real (tiny) LibTorch training loop, a Client on test doubles
// (FakeTransport, ManualClock, MemEnv), and every request body checked by the server's own
// protocol parser, so the adapter and atlasd cannot drift apart unnoticed.
//
// Contained errors fail a test unless it expects them (TearDown), so containment cannot hide a
// bug from these tests.
#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "atlas/torch.hpp"
#include "json.hpp"
#include "model/records.hpp"
#include "protocol/parse.hpp"
#include "testing/fake_transport.hpp"
#include "testing/manual_clock.hpp"
#include "testing/mem_env.hpp"

namespace {

namespace obs = atlas::torch;
using atlas::model::RecordBatch;
using atlas::model::StepField;
using std::chrono::milliseconds;

// body: Linear(4, 8) -> ReLU -> Linear(8, 8); head: Linear(8, 3).
struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl()
      : body(register_module("body",
                             torch::nn::Sequential(torch::nn::Linear(4, 8), torch::nn::ReLU(),
                                                   torch::nn::Linear(8, 8)))),
        head(register_module("head", torch::nn::Linear(8, 3))) {}
  torch::Tensor forward(const torch::Tensor& x) { return head->forward(body->forward(x)); }
  torch::nn::Sequential body;
  torch::nn::Linear head;
};
TORCH_MODULE(TinyNet);

std::optional<double> Stat(const atlas::model::LayerStat& layer, std::string_view name) {
  const auto& names = atlas::model::kLayerStatNames;
  const auto index =
      static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  return layer.values.at(index);
}

// A protocol body of one record, for the JSON helpers' contract with the parser.
std::string Body(std::string_view kind, const std::string& fields) {
  return R"({"records":[{"kind":")" + std::string(kind) + R"(","seq":1,)" + fields.substr(1) + "]}";
}

template <typename T>
T ParseOrFail(const std::string& body) {
  auto parsed = atlas::protocol::ParseRecordBatch(body);
  if (const auto* error = std::get_if<atlas::protocol::ParseError>(&parsed)) {
    ADD_FAILURE() << error->field << ": " << error->reason << "\n" << body;
    return T{};
  }
  return std::get<T>(std::move(parsed));
}

class ObserverTest : public ::testing::Test {
 protected:
  obs::ObserverOptions Options() {
    obs::ObserverOptions o;
    o.client.server_url = "http://atlasd.test";
    o.client.project = "torch-tests";
    o.client.run_name = "tiny";
    o.client.run_id = "torch-run-1";
    o.client.spool_dir = "/spool";
    o.client.compression = atlas::Compression::kNone;
    o.client.env = &env_;
    o.client.clock = &clock_;
    o.client.transport = &transport_;
    o.layer_health_every = 2;
    o.log = [this](const std::string& line) { log_.push_back(line); };
    return o;
  }

  // Every record the server was sent, each request parsed by the server's protocol parser.
  RecordBatch Received() {
    RecordBatch all;
    for (const auto& call : transport_.calls()) {
      if (call.request.url.find("/records") == std::string::npos) continue;
      RecordBatch b = ParseOrFail<RecordBatch>(call.json);
      auto append = [](auto& to, auto& from) {
        to.insert(to.end(), std::make_move_iterator(from.begin()),
                  std::make_move_iterator(from.end()));
      };
      append(all.steps, b.steps);
      append(all.epochs, b.epochs);
      append(all.layer_stats, b.layer_stats);
      append(all.events, b.events);
      append(all.hyperparameters, b.hyperparameters);
      append(all.architectures, b.architectures);
      append(all.finishes, b.finishes);
    }
    std::sort(all.steps.begin(), all.steps.end(),
              [](const auto& a, const auto& b) { return a.step < b.step; });
    return all;
  }

  void TearDown() override {
    if (observer_ == nullptr || expect_contained_errors_) return;
    std::string lines;
    for (const auto& line : log_) lines += line + "\n";
    EXPECT_EQ(observer_->stats().telemetry_errors, 0) << lines;
  }

  atlas::testing::ManualClock clock_;
  atlas::testing::MemEnv env_;
  atlas::testing::FakeTransport transport_;
  std::vector<std::string> log_;
  std::unique_ptr<obs::Observer> observer_;  // declared last: destroyed before what it borrows
  bool expect_contained_errors_ = false;
};

TEST_F(ObserverTest, StreamsATrainingRunTheServerAccepts) {
  torch::manual_seed(0);
  TinyNet model;
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
  observer_ = obs::Observer::Create(Options());
  ASSERT_TRUE(observer_->enabled()) << observer_->setup_status().message();
  EXPECT_EQ(observer_->run_id(), "torch-run-1");
  observer_->LogHyperparameters(
      {{"lr", 0.1}, {"batch_size", 4}, {"optimizer", "SGD"}, {"nesterov", false}});
  observer_->RegisterModel(*model);
  observer_->RegisterOptimizer(sgd);

  const torch::Tensor x = torch::rand({4, 4});
  const torch::Tensor y = torch::tensor({0, 1, 2, 1}, torch::kLong);
  std::vector<double> losses;
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (int i = 0; i < 3; ++i) {
      clock_.Advance(milliseconds(1));  // the data loader's share
      auto step = observer_->BeginStep(4);
      clock_.Advance(milliseconds(2));
      const torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      step.MarkForward();
      clock_.Advance(milliseconds(3));
      sgd.zero_grad();
      loss.backward();
      step.MarkBackward();
      clock_.Advance(milliseconds(4));
      sgd.step();
      step.AddMetric("batch_index", i);
      step.End(loss);
      losses.push_back(loss.item<double>());
    }
    observer_->EndEpoch({.val = {{"loss", 1.5}, {"accuracy", 0.5}}});
  }
  observer_->LogEvent("info", "checkpoint", "saved after 2 epochs");
  ASSERT_TRUE(observer_->Finish().ok());
  const obs::ObserverStats stats = observer_->stats();
  EXPECT_EQ(stats.steps, 6);
  EXPECT_EQ(stats.layer_samples, 3);
  EXPECT_EQ(stats.client.dropped, 0u);

  const RecordBatch got = Received();
  ASSERT_EQ(got.steps.size(), 6u);
  for (std::size_t i = 0; i < got.steps.size(); ++i) {
    const auto& s = got.steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    EXPECT_EQ(s.step, static_cast<std::int64_t>(i));
    EXPECT_EQ(s.epoch, static_cast<std::int64_t>(i / 3));
    EXPECT_DOUBLE_EQ(s.at(StepField::kLoss).value_or(-1), losses[i]);
    EXPECT_EQ(s.at(StepField::kSamples), 4.0);
    EXPECT_DOUBLE_EQ(s.at(StepField::kLearningRate).value_or(-1), 0.1);
    EXPECT_DOUBLE_EQ(s.at(StepField::kForwardMs).value_or(-1), 2.0);
    EXPECT_DOUBLE_EQ(s.at(StepField::kBackwardMs).value_or(-1), 3.0);
    EXPECT_DOUBLE_EQ(s.at(StepField::kOptimizerMs).value_or(-1), 4.0);
    const bool first_of_epoch = i % 3 == 0;
    EXPECT_EQ(s.at(StepField::kDataMs).has_value(), !first_of_epoch);
    const double step_ms = first_of_epoch ? 9.0 : 10.0;
    EXPECT_DOUBLE_EQ(s.at(StepField::kStepMs).value_or(-1), step_ms);
    EXPECT_DOUBLE_EQ(s.at(StepField::kSamplesPerS).value_or(-1), 4000.0 / step_ms);
    ASSERT_EQ(s.metrics.size(), 1u);
    EXPECT_EQ(s.metrics[0].first, "batch_index");
    EXPECT_EQ(s.metrics[0].second, static_cast<double>(i % 3));
  }

  ASSERT_EQ(got.layer_stats.size(), 3u);
  for (std::size_t k = 0; k < got.layer_stats.size(); ++k) {
    const auto& sample = got.layer_stats[k];
    EXPECT_EQ(sample.step, static_cast<std::int64_t>(2 * k));
    ASSERT_EQ(sample.layers.size(), 3u);
    EXPECT_EQ(sample.layers[0].layer, "body.0");
    EXPECT_EQ(sample.layers[1].layer, "body.2");
    EXPECT_EQ(sample.layers[2].layer, "head");
    for (const auto& layer : sample.layers) {
      SCOPED_TRACE(layer.layer);
      for (const char* name : {"grad_norm", "grad_abs_mean", "weight_norm", "weight_abs_mean",
                               "weight_sparsity", "update_ratio", "activation_mean",
                               "activation_std", "dead_fraction", "nonfinite_grads"}) {
        ASSERT_TRUE(Stat(layer, name).has_value()) << name;
        EXPECT_TRUE(std::isfinite(*Stat(layer, name))) << name;
      }
      EXPECT_GT(*Stat(layer, "update_ratio"), 0.0);
      EXPECT_EQ(layer.extra["units"], layer.layer == "head" ? 3 : 8);
      EXPECT_EQ(layer.extra["unit_active_frac"].size(), layer.layer == "head" ? 3u : 8u);
      EXPECT_FALSE(Stat(layer, "saturated_fraction").has_value());
    }
  }

  ASSERT_EQ(got.architectures.size(), 2u);  // at RegisterModel, then with the shapes
  const auto& modules = got.architectures[1].modules;
  ASSERT_EQ(modules.size(), 6u);
  const std::vector<std::string> names = {"", "body", "body.0", "body.1", "body.2", "head"};
  const std::vector<std::string> types = {"TinyNet", "Sequential", "Linear",
                                          "ReLU",    "Linear",     "Linear"};
  for (std::size_t i = 0; i < modules.size(); ++i) {
    EXPECT_EQ(modules[i].name, names[i]);
    EXPECT_EQ(modules[i].type, types[i]);
  }
  EXPECT_FALSE(modules[0].parent.has_value());
  EXPECT_EQ(modules[2].parent, "body");
  EXPECT_EQ(modules[2].params, 4 * 8 + 8);
  EXPECT_EQ(modules[2].input_shape, atlas::model::Json({4, 4}));
  EXPECT_EQ(modules[2].output_shape, atlas::model::Json({4, 8}));
  EXPECT_EQ(modules[2].flops, 64.0);  // 2 FLOPs per multiply-add: 2 x 4 x 8 per sample
  EXPECT_EQ(modules[4].flops, 128.0);
  EXPECT_EQ(modules[5].output_shape, atlas::model::Json({4, 3}));
  EXPECT_EQ(modules[5].flops, 48.0);
  EXPECT_EQ(modules[1].flops, 64.0 + 128.0);  // a container's includes its children's
  EXPECT_EQ(modules[0].flops, 64.0 + 128.0 + 48.0);
  EXPECT_TRUE(modules[3].output_shape.is_null());  // ReLU owns no parameter: not seen
  EXPECT_TRUE(got.architectures[0].modules[2].output_shape.is_null());

  ASSERT_EQ(got.epochs.size(), 2u);
  for (std::ptrdiff_t e = 0; e < 2; ++e) {
    const auto& epoch = got.epochs[static_cast<std::size_t>(e)];
    EXPECT_EQ(epoch.epoch, static_cast<std::int64_t>(e));
    EXPECT_DOUBLE_EQ(epoch.duration_s.value_or(-1), 0.029);  // 9 + 10 + 10 ms of steps
    ASSERT_EQ(epoch.train.size(), 1u);
    EXPECT_EQ(epoch.train[0].first, "loss");
    const double mean =
        std::accumulate(losses.begin() + 3 * e, losses.begin() + 3 * e + 3, 0.0) / 3;
    EXPECT_NEAR(epoch.train[0].second, mean, 1e-12);
    ASSERT_EQ(epoch.val.size(), 2u);
  }

  ASSERT_EQ(got.hyperparameters.size(), 1u);
  EXPECT_EQ(got.hyperparameters[0].values["optimizer"], "SGD");
  EXPECT_EQ(got.hyperparameters[0].values["batch_size"], 4);
  EXPECT_EQ(got.hyperparameters[0].values["nesterov"], false);
  ASSERT_EQ(got.events.size(), 1u);  // no telemetry_error, only the user's event
  EXPECT_EQ(got.events[0].type, "checkpoint");
  EXPECT_EQ(got.events[0].level, "info");
  EXPECT_EQ(got.events[0].message, "saved after 2 epochs");
  ASSERT_EQ(got.finishes.size(), 1u);
  EXPECT_EQ(got.finishes[0].status, atlas::model::RunStatus::kCompleted);
}

TEST_F(ObserverTest, NonFiniteGradientsReachTheServerAsData) {
  torch::nn::Linear model(3, 2);
  auto options = Options();
  options.layer_health_every = 1;
  observer_ = obs::Observer::Create(options);
  observer_->RegisterModel(*model);
  auto step = observer_->BeginStep(2);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const torch::Tensor loss =
      model->forward(torch::tensor({{1.0F, nan, 0.0F}, {0.0F, 0.0F, 0.0F}})).sum();
  step.MarkForward();
  loss.backward();
  step.MarkBackward();
  step.End(loss);
  ASSERT_TRUE(observer_->Finish().ok());

  const RecordBatch got = Received();
  ASSERT_EQ(got.steps.size(), 1u);
  EXPECT_TRUE(std::isnan(got.steps[0].at(StepField::kLoss).value_or(0)));
  ASSERT_EQ(got.layer_stats.size(), 1u);
  ASSERT_EQ(got.layer_stats[0].layers.size(), 1u);
  const auto& layer = got.layer_stats[0].layers[0];
  EXPECT_EQ(layer.layer, "");
  // dloss/dW[i][j] sums x[:, j] over the batch: column 1 holds NaN for both outputs.
  EXPECT_EQ(Stat(layer, "nonfinite_grads"), 2.0);
  EXPECT_TRUE(std::isnan(Stat(layer, "grad_norm").value_or(0)));
  EXPECT_EQ(Stat(layer, "nonfinite_activations"), 2.0);  // both outputs of the first sample
  EXPECT_EQ(Stat(layer, "nonfinite_weights"), 0.0);
}

TEST_F(ObserverTest, BatchedLossReadbackSendsStepsInOrderWithTheirLosses) {
  auto options = Options();
  options.loss_readback = obs::LossReadback::kBatched;
  options.loss_readback_every = 3;
  observer_ = obs::Observer::Create(options);
  const std::vector<std::uint64_t> enqueued_after = {0, 0, 3, 3, 3};
  for (int i = 0; i < 5; ++i) {
    auto step = observer_->BeginStep(1);
    step.End(torch::tensor(static_cast<float>(i) + 0.5F));
    EXPECT_EQ(observer_->stats().client.enqueued, enqueued_after[static_cast<std::size_t>(i)])
        << "after step " << i;
  }
  observer_->EndEpoch();  // reads the last two
  EXPECT_EQ(observer_->stats().client.enqueued, 6u);
  ASSERT_TRUE(observer_->Finish().ok());
  const RecordBatch got = Received();
  ASSERT_EQ(got.steps.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(got.steps[i].seq, static_cast<std::int64_t>(i + 1));  // sent in step order
    EXPECT_EQ(got.steps[i].at(StepField::kLoss), static_cast<double>(i) + 0.5);
  }
  ASSERT_EQ(got.epochs.size(), 1u);
  EXPECT_EQ(got.epochs[0].train.at(0).second, 2.5);  // the mean of 0.5 .. 4.5
}

TEST_F(ObserverTest, ContainsBadInputCountsItAndReportsEachSiteOnce) {
  expect_contained_errors_ = true;
  observer_ = obs::Observer::Create(Options());
  for (int i = 0; i < 2; ++i) {
    auto step = observer_->BeginStep(8);
    step.AddMetric("loss", 1.0);  // a step field's name: the server would refuse the record
    step.AddMetric("ok", 2.0);
    step.End(0.25);
  }
  observer_->LogHyperparametersJson("[1, 2]");  // not an object
  observer_->LogEvent("loud", "log", "an unknown level");
  const obs::ObserverStats stats = observer_->stats();
  EXPECT_EQ(stats.telemetry_errors, 4);
  EXPECT_EQ(stats.errors_by_site.at("add_metric"), 2);
  EXPECT_EQ(stats.errors_by_site.at("log_hyperparameters"), 1);
  EXPECT_EQ(stats.errors_by_site.at("log_event"), 1);
  EXPECT_EQ(stats.steps, 2);
  ASSERT_EQ(log_.size(), 3u);  // once per site
  EXPECT_NE(log_[0].find("add_metric"), std::string::npos) << log_[0];
  ASSERT_TRUE(observer_->Finish().ok());

  const RecordBatch got = Received();
  ASSERT_EQ(got.steps.size(), 2u);
  for (const auto& s : got.steps) {
    ASSERT_EQ(s.metrics.size(), 1u);
    EXPECT_EQ(s.metrics[0].first, "ok");
    EXPECT_EQ(s.at(StepField::kLoss), 0.25);
  }
  ASSERT_EQ(got.events.size(), 3u);
  EXPECT_EQ(got.events[0].type, "telemetry_error");
  EXPECT_EQ(got.events[0].level, "warning");
  EXPECT_EQ(got.events[0].data["site"], "add_metric");
  EXPECT_TRUE(got.hyperparameters.empty());
}

TEST_F(ObserverTest, DoesNothingWhenTheClientCannotStart) {
  auto options = Options();
  options.client.project.clear();  // neither a project nor a project_id
  observer_ = obs::Observer::Create(options);
  ASSERT_NE(observer_, nullptr);
  EXPECT_FALSE(observer_->enabled());
  EXPECT_EQ(observer_->setup_status().code(), atlas::StatusCode::kInvalidArgument);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("disabled"), std::string::npos);

  torch::nn::Linear model(2, 2);
  observer_->RegisterModel(*model);
  auto step = observer_->BeginStep(1);
  step.MarkForward();
  step.End(model->forward(torch::ones({1, 2})).sum());
  observer_->EndEpoch();
  EXPECT_FALSE(observer_->Finish().ok());
  EXPECT_EQ(observer_->stats().steps, 0);
  EXPECT_EQ(transport_.call_count(), 0u);
  EXPECT_EQ(observer_->run_id(), "");
}

TEST_F(ObserverTest, StepsNeverEndedAreAbandonedAndStaleStepsDoNothing) {
  observer_ = obs::Observer::Create(Options());
  {
    auto step = observer_->BeginStep(4);
    step.MarkForward();
  }  // an exception in the loop would leave the same way
  auto replaced = observer_->BeginStep(1);
  auto current = observer_->BeginStep(2);  // abandons `replaced`
  replaced.End(1.0);                       // stale: does nothing
  current.End(2.0);
  current.End(3.0);  // ended already: does nothing
  const obs::ObserverStats stats = observer_->stats();
  EXPECT_EQ(stats.steps, 1);
  EXPECT_EQ(stats.abandoned_steps, 2);
  ASSERT_TRUE(observer_->Finish().ok());
  const RecordBatch got = Received();
  ASSERT_EQ(got.steps.size(), 1u);
  EXPECT_EQ(got.steps[0].step, 0);
  EXPECT_EQ(got.steps[0].at(StepField::kSamples), 2.0);
  EXPECT_EQ(got.steps[0].at(StepField::kLoss), 2.0);
}

TEST_F(ObserverTest, DestroyedDuringAnExceptionTheRunFinishesAsFailed) {
  try {
    auto observer = obs::Observer::Create(Options());
    auto step = observer->BeginStep(1);
    step.End(1.0);
    throw std::runtime_error("the training loop failed");
  } catch (const std::runtime_error&) {
  }
  const RecordBatch got = Received();
  ASSERT_EQ(got.finishes.size(), 1u);
  EXPECT_EQ(got.finishes[0].status, atlas::model::RunStatus::kFailed);
  EXPECT_NE(got.finishes[0].reason.find("exception"), std::string::npos);
  EXPECT_EQ(got.steps.size(), 1u);
}

TEST(RecordJson, EdgeValuesParseOnTheServer) {
  namespace in = atlas::torch::internal;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  in::LayerValues layer;
  layer.layer = "features.0";
  layer.extra_numbers = {{"units", 2}};
  layer.extra_arrays = {{"unit_score", {nan, 1.5}}};
  layer.Set(in::LayerStat::kGradNorm, nan);
  layer.Set(in::LayerStat::kUpdateRatio, inf);
  layer.Set(in::LayerStat::kActivationMean, -inf);
  const auto stats = ParseOrFail<RecordBatch>(
      Body("layer_stats", in::LayerStatsJson(7, std::nullopt, 1.7e9, {layer})));
  ASSERT_EQ(stats.layer_stats.size(), 1u);
  const auto& parsed = stats.layer_stats[0].layers.at(0);
  EXPECT_TRUE(std::isnan(Stat(parsed, "grad_norm").value_or(0)));
  EXPECT_EQ(Stat(parsed, "update_ratio"), inf);
  EXPECT_EQ(Stat(parsed, "activation_mean"), -inf);
  EXPECT_FALSE(stats.layer_stats[0].epoch.has_value());
  EXPECT_EQ(parsed.extra["units"], 2);
  EXPECT_EQ(parsed.extra["unit_score"], atlas::model::Json::parse(R"(["NaN", 1.5])"));

  in::ModuleInfo root{"", "Net", std::nullopt, 3, 0, {}, {}, std::nullopt};
  in::ModuleInfo child{
      "fc", "Linear", "", 6, 6, std::vector<std::int64_t>{1, 2}, std::vector<std::int64_t>{1, 3},
      inf};  // a non-finite flops is left out
  const auto arch =
      ParseOrFail<RecordBatch>(Body("architecture", in::ArchitectureJson({root, child})));
  ASSERT_EQ(arch.architectures.size(), 1u);
  EXPECT_EQ(arch.architectures[0].modules.at(1).input_shape, atlas::model::Json({1, 2}));
  EXPECT_FALSE(arch.architectures[0].modules.at(1).flops.has_value());

  const auto epoch = ParseOrFail<RecordBatch>(
      Body("epoch", in::EpochJson(0, 1.7e9, inf, {{"loss", nan}}, {{"accuracy", 1.0}})));
  ASSERT_EQ(epoch.epochs.size(), 1u);
  EXPECT_FALSE(epoch.epochs[0].duration_s.has_value());  // a non-finite duration is left out
  EXPECT_TRUE(std::isnan(epoch.epochs[0].train.at(0).second));

  const auto event = ParseOrFail<RecordBatch>(Body(
      "event", in::EventJson(1.7e9, "warning", "telemetry_error", "bad \xff byte", {{"k", "v"}})));
  ASSERT_EQ(event.events.size(), 1u);
  EXPECT_EQ(event.events[0].data["k"], "v");

  const auto hyper = ParseOrFail<RecordBatch>(
      Body("hyperparameters", in::HyperparametersJson(R"({"betas": [0.9, 0.999]})")));
  ASSERT_EQ(hyper.hyperparameters.size(), 1u);
  EXPECT_THROW((void)in::HyperparametersJson("not json"), std::invalid_argument);
}

}  // namespace
