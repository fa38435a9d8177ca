// Records and a temporary SQLite store for the analysis tests.
#pragma once

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "model/records.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace atlas::analysis::testing {

inline model::StepRecord Step(std::int64_t seq, std::int64_t epoch, double loss) {
  model::StepRecord s;
  s.seq = seq;
  s.step = seq;
  s.epoch = epoch;
  s.ts = 1.7e9 + static_cast<double>(seq) * 0.01;
  s.at(model::StepField::kLoss) = loss;
  s.at(model::StepField::kSamples) = 32;
  return s;
}

inline model::EpochRecord Epoch(std::int64_t seq, std::int64_t epoch, double train_loss,
                                double val_loss) {
  model::EpochRecord e;
  e.seq = seq;
  e.epoch = epoch;
  e.ts = 1.7e9 + static_cast<double>(seq) * 0.01;
  e.duration_s = 10;
  e.train = {{"loss", train_loss}};
  e.val = {{"loss", val_loss}};
  e.energy = {{"gpu", "cuda:0", 1000.0 * static_cast<double>(epoch + 1), "measured:nvml-counter"}};
  return e;
}

inline model::LayerStatsRecord Layers(std::int64_t seq, std::int64_t epoch) {
  model::LayerStatsRecord r;
  r.seq = seq;
  r.step = seq;
  r.epoch = epoch;
  r.ts = 1.7e9 + static_cast<double>(seq) * 0.01;
  for (const char* name : {"fc1", "fc2"}) {
    model::LayerStat stat;
    stat.layer = name;
    stat.values[4] = 0.0;  // saturated_fraction
    stat.values[5] = 0.1;  // grad_norm
    r.layers.push_back(stat);
  }
  return r;
}

// A temporary directory with a SQLite store in it, removed afterwards.
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("atlas-analysis-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    store::SqliteOptions options;
    options.path = (dir_ / "atlas.db").string();
    auto opened = store::OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  model::Run CreateRun(const std::string& project = "p",
                       model::Json config = model::Json::object()) {
    model::RunCreate req;
    req.project.name = project;
    req.name = "run";
    req.started_at = 1.7e9;
    req.config = std::move(config);
    auto created = store_->CreateOrResumeRun(req);
    EXPECT_TRUE(created.ok()) << created.status().message();
    return created->run;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace atlas::analysis::testing
