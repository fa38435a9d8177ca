// A real SQLite store in a temporary directory with runs, epochs, an architecture and a stored
// diagnosis document, for the agent's tests.
#pragma once

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/sources.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace atlas::agent::testing {

class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("atlas-agent-test-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    store::SqliteOptions options;
    options.path = (dir_ / "atlas.db").string();
    auto opened = store::OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    sources_ = DefaultSources(*store_);
    sources_.clock = [this] { return now_; };
  }

  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 public:
  // A three-layer MLP; `hidden` changes its shapes (and so its fingerprint).
  static std::vector<model::ModuleInfo> Mlp(int hidden, int batch = 32) {
    auto shape = [batch](int n) { return model::Json::array({batch, n}); };
    std::vector<model::ModuleInfo> modules(4);
    modules[0].name = "";
    modules[0].type = "Sequential";
    modules[1] = {"fc1", "Linear", "", 64 * hidden + hidden, 0, shape(64), shape(hidden), {}};
    modules[2] = {"act", "Sigmoid", "", 0, 0, shape(hidden), shape(hidden), {}};
    modules[3] = {"fc2", "Linear", "", hidden * 10 + 10, 0, shape(hidden), shape(10), {}};
    return modules;
  }

 protected:
  void CreateRun(const std::string& id, const std::string& project = "zoo", int hidden = 32) {
    model::RunCreate req;
    req.project.name = project;
    req.name = id + "-name";
    req.run_id = id;
    req.started_at = now_;
    auto created = store_->CreateOrResumeRun(req);
    ASSERT_TRUE(created.ok()) << created.status().message();
    model::RecordBatch batch;
    model::ArchitectureRecord arch;
    arch.seq = 1;
    arch.modules = Mlp(hidden);
    batch.architectures.push_back(arch);
    for (int e = 1; e <= 4; ++e) {
      model::EpochRecord epoch;
      epoch.seq = 1 + e;
      epoch.epoch = e;
      epoch.ts = now_ + e;
      epoch.duration_s = 2.0;
      epoch.train = {{"loss", 1.0 / e}};
      epoch.val = {{"loss", 1.2 / e}};
      epoch.energy = {{"gpu", "cuda:0", 100.0 * e, "measured:nvml-counter"},
                      {"cpu", "package-0", 10.0, "estimated:cpu-model"}};
      batch.epochs.push_back(epoch);
    }
    auto ingested = store_->Ingest(id, batch);
    ASSERT_TRUE(ingested.ok()) << ingested.status().message();
    now_ += 100;
  }

 public:
  static model::Json Finding(const std::string& check, const std::string& severity,
                             const model::Json& layer, std::vector<int> epochs, double kg_co2 = 0) {
    model::Json f = {{"check", check},
                     {"category", check.substr(0, check.find('.'))},
                     {"severity", severity},
                     {"layer", layer},
                     {"epochs", epochs},
                     {"title", check + " title"},
                     {"evidence", {{"value", 1.5}}},
                     {"why", check + " wastes energy"},
                     {"fix", "fix for " + check},
                     {"energy_at_stake", nullptr}};
    if (kg_co2 > 0) {
      f["energy_at_stake"] = {{"joules", kg_co2 * 1e7},
                              {"kwh", kg_co2 * 2},
                              {"kg_co2", kg_co2},
                              {"eur", kg_co2 * 0.05},
                              {"basis", "test"}};
    }
    return f;
  }

  // A diagnosis document shaped like diagnostics/diagnosis_json.cpp's.
  static model::Json Diagnosis(const std::string& grade, double score, model::Json findings,
                               int waste_epochs = 2) {
    return {{"grade", grade},
            {"score", score},
            {"category_scores",
             {{"layer", 90},
              {"gradient", 40},
              {"architecture", 100},
              {"convergence", 70},
              {"device", 100},
              {"carbon", 100}}},
            {"findings", std::move(findings)},
            {"optimal_stop_epoch", 2},
            {"pitch_rule_epoch", 3},
            {"waste",
             {{"epochs", waste_epochs},
              {"seconds", 4.0},
              {"joules", 7200.0},
              {"kwh", 0.002},
              {"kg_co2", 0.0008},
              {"eur", 0.00004},
              {"car_km", 0.0067},
              {"fraction", 0.5}}},
            {"forecast", {{"planned_epochs", 10}, {"plateau_epoch", 3}}},
            {"layer_scores", {{"fc1", 55.0}, {"fc2", 90.0}}},
            {"spent",
             {{"joules", 14400.0},
              {"kwh", 0.004},
              {"kg_co2", 0.0016},
              {"eur", 0.00008},
              {"car_km", 0.013}}}};
  }

 protected:
  void SaveDiagnosis(const std::string& run_id, const model::Json& doc) {
    store::DiagnosisRecord record;
    record.run_id = run_id;
    record.computed_at = now_;
    record.grade = doc.value("grade", "A");
    record.score = doc.value("score", 100.0);
    record.document = doc.dump();
    ASSERT_TRUE(store_->SaveDiagnosis(record).ok());
  }

  std::filesystem::path dir_;
  double now_ = 1'700'000'000.0;
  std::unique_ptr<store::Store> store_;
  RunSources sources_;
};

}  // namespace atlas::agent::testing
