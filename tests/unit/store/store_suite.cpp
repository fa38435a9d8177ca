#include "store_suite.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace atlas::store::testing {

using model::Json;

namespace {

// The value of `result`; a failure of the test (and a default T) when it holds an error.
template <typename T>
T Unwrap(Result<T> result) {
  if (!result.ok()) {
    ADD_FAILURE() << "unexpected error: " << result.status().message();
    return T{};
  }
  return std::move(result).value();
}

std::size_t FieldIndex(model::StepField field) { return static_cast<std::size_t>(field); }

// Compares doubles so that NaN equals NaN.
bool SameDouble(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool SameOptional(const std::optional<double>& a, const std::optional<double>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || SameDouble(*a, *b);
}

std::vector<double> Xs(const std::vector<SeriesPoint>& points) {
  std::vector<double> xs;
  xs.reserve(points.size());
  for (const auto& point : points) xs.push_back(point.x);
  return xs;
}

}  // namespace

// --- fixture ------------------------------------------------------------------------------------

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device random;
  path_ = std::filesystem::temp_directory_path() /
          fmt::format("atlas-store-test-{}-{}-{:08x}", ::getpid(), counter++, random());
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void StoreSuite::SetUp() {
  dir_ = std::make_unique<TempDir>();
  store_ = Open();
  ASSERT_NE(store_, nullptr);
}

void StoreSuite::TearDown() {
  store_.reset();
  dir_.reset();
}

std::unique_ptr<Store> StoreSuite::Open() {
  Result<std::unique_ptr<Store>> store = GetParam().open(dir_->path(), Clock());
  if (!store.ok()) {
    ADD_FAILURE() << "cannot open the store: " << store.status().message();
    return nullptr;
  }
  return std::move(store).value();
}

void StoreSuite::Reopen() {
  ASSERT_TRUE(store_->Close().ok());
  store_ = Open();
  ASSERT_NE(store_, nullptr);
}

model::Run StoreSuite::CreateRun(const std::string& run_id, const std::string& name) {
  model::RunCreate req;
  req.project.name = "p";
  req.name = name;
  req.run_id = run_id;
  return Unwrap(store_->CreateOrResumeRun(req)).run;
}

std::vector<SeriesPoint> StoreSuite::Scan(const std::string& run_id, const SeriesQuery& query) {
  std::vector<SeriesPoint> points;
  Status status =
      store_->ScanSeries(run_id, query, [&](const SeriesPoint& p) { points.push_back(p); });
  EXPECT_TRUE(status.ok()) << status.message();
  return points;
}

SeriesQuery Series(std::string metric, SeriesAxis axis, std::optional<double> from,
                   std::optional<double> to) {
  SeriesQuery query;
  query.metric = std::move(metric);
  query.axis = axis;
  query.from = from;
  query.to = to;
  return query;
}

model::StepRecord MakeStep(std::int64_t seq, std::int64_t step, double ts,
                           std::optional<double> loss) {
  model::StepRecord record;
  record.seq = seq;
  record.step = step;
  record.ts = ts;
  record.at(model::StepField::kLoss) = loss;
  return record;
}

model::EpochRecord MakeEpoch(std::int64_t seq, std::int64_t epoch, double ts) {
  model::EpochRecord record;
  record.seq = seq;
  record.epoch = epoch;
  record.ts = ts;
  record.duration_s = 12.5;
  record.train = {{"loss", 0.5}, {"accuracy", 0.8}};
  record.val = {{"loss", 0.6}};
  record.energy = {{"gpu", "cuda:0", 100.0, "measured:nvml-counter"},
                   {"cpu", "package-0", 20.0, "estimated:cpu-model"}};
  return record;
}

model::LayerStatsRecord MakeLayerStats(std::int64_t seq, std::int64_t step, double ts,
                                       const std::vector<std::string>& layers) {
  model::LayerStatsRecord record;
  record.seq = seq;
  record.step = step;
  record.ts = ts;
  for (const auto& name : layers) {
    model::LayerStat& stat = record.layers.emplace_back();
    stat.layer = name;
    for (std::size_t i = 0; i < stat.values.size(); ++i) {
      stat.values[i] = static_cast<double>(step) + static_cast<double>(i) / 100.0;
    }
  }
  return record;
}

model::EventRecord MakeEvent(std::int64_t seq, double ts, const std::string& type) {
  model::EventRecord record;
  record.seq = seq;
  record.ts = ts;
  record.level = "info";
  record.type = type;
  record.message = fmt::format("event {}", seq);
  record.data = {{"seq", seq}};
  return record;
}

model::RecordBatch MixedBatch(std::int64_t first_seq, int steps) {
  model::RecordBatch batch;
  std::int64_t seq = first_seq;
  for (int i = 0; i < steps; ++i) {
    model::StepRecord step = MakeStep(seq++, i, 100.0 + i, 2.0 - i * 0.01);
    step.at(model::StepField::kSamples) = 32;
    step.metrics = {{"grad_scale", 1024.0 + i}};
    batch.steps.push_back(std::move(step));
  }
  batch.epochs.push_back(MakeEpoch(seq++, 0, 200.0));
  batch.layer_stats.push_back(MakeLayerStats(seq++, 0, 150.0, {"conv1", "fc"}));
  batch.profiles.push_back({seq++, 3, 160.0, Json{{"top", Json::array({"matmul"})}}});
  batch.events.push_back(MakeEvent(seq++, 170.0, "log"));
  batch.hyperparameters.push_back({seq++, Json{{"lr", 0.1}}});
  model::ArchitectureRecord arch;
  arch.seq = seq++;
  arch.modules = {{"", "Net", std::nullopt, 0, 0, nullptr, nullptr, std::nullopt}};
  batch.architectures.push_back(arch);
  return batch;
}

// --- runs and projects --------------------------------------------------------------------------

TEST_P(StoreSuite, CreatesRunWithGeneratedIdAndProjectByName) {
  model::RunCreate req;
  req.project.name = "vision";
  req.name = "resnet";
  req.started_at = 1234.5;
  req.host = {{"hostname", "box"}};
  req.device = {{"gpus", 1}};
  req.framework = {{"torch", "2.3"}};
  req.config = {{"batch_size", 64}};
  model::CreateRunResult created = Unwrap(store_->CreateOrResumeRun(req));

  EXPECT_FALSE(created.resumed);
  const model::Run& run = created.run;
  ASSERT_EQ(run.id.size(), 32u);
  EXPECT_TRUE(std::all_of(run.id.begin(), run.id.end(),
                          [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }));
  EXPECT_EQ(run.project_name, "vision");
  EXPECT_EQ(run.name, "resnet");
  EXPECT_EQ(run.status, model::RunStatus::kRunning);
  EXPECT_EQ(run.started_at, 1234.5);
  EXPECT_EQ(run.created_at, now_.load());
  EXPECT_FALSE(run.finished_at.has_value());
  EXPECT_EQ(run.host, req.host);
  EXPECT_EQ(run.device, req.device);
  EXPECT_EQ(run.framework, req.framework);
  EXPECT_EQ(run.config, req.config);
  EXPECT_EQ(run.totals.step_records, 0);

  // Two generated ids differ.
  model::Run second = Unwrap(store_->CreateOrResumeRun(req)).run;
  EXPECT_NE(second.id, run.id);
  EXPECT_EQ(second.project_id, run.project_id);

  std::vector<model::Project> projects = Unwrap(store_->ListProjects());
  ASSERT_EQ(projects.size(), 1u);
  EXPECT_EQ(projects[0].id, run.project_id);
  EXPECT_EQ(projects[0].name, "vision");
  EXPECT_EQ(projects[0].created_at, now_.load());
  EXPECT_EQ(projects[0].run_count, 2);
}

TEST_P(StoreSuite, StartedAtDefaultsToServerClock) {
  model::RunCreate req;
  req.project.name = "p";
  model::Run run = Unwrap(store_->CreateOrResumeRun(req)).run;
  EXPECT_EQ(run.started_at, now_.load());
}

TEST_P(StoreSuite, ProjectsAreCreatedByIdAndByName) {
  model::RunCreate req;
  req.project.id = 7;
  EXPECT_EQ(Unwrap(store_->CreateOrResumeRun(req)).run.project_name, "project-7");

  // A name taken by another project gets a unique variant.
  req.project = {std::nullopt, "project-9"};
  const std::int64_t named_id = Unwrap(store_->CreateOrResumeRun(req)).run.project_id;
  EXPECT_EQ(named_id, 8);  // the next id after 7
  req.project = {9, std::nullopt};
  model::Run by_id = Unwrap(store_->CreateOrResumeRun(req)).run;
  EXPECT_EQ(by_id.project_id, 9);
  EXPECT_EQ(by_id.project_name, "project-9-2");

  // Existing projects are reused, by id and by name.
  req.project = {7, std::nullopt};
  EXPECT_EQ(Unwrap(store_->CreateOrResumeRun(req)).run.project_name, "project-7");
  req.project = {std::nullopt, "project-9"};
  EXPECT_EQ(Unwrap(store_->CreateOrResumeRun(req)).run.project_id, 8);
  req.project = {std::nullopt, "new"};
  EXPECT_EQ(Unwrap(store_->CreateOrResumeRun(req)).run.project_id, 10);

  std::vector<model::Project> projects = Unwrap(store_->ListProjects());
  ASSERT_EQ(projects.size(), 4u);
  EXPECT_EQ(projects[0].id, 7);
  EXPECT_EQ(projects[0].run_count, 2);
  EXPECT_EQ(projects[1].name, "project-9");
  EXPECT_EQ(projects[1].run_count, 2);
  EXPECT_EQ(projects[3].name, "new");
}

TEST_P(StoreSuite, ProjectReferenceMustBeExactlyOneValidValue) {
  model::RunCreate req;
  EXPECT_EQ(store_->CreateOrResumeRun(req).status().code(), StatusCode::kInvalidArgument);
  req.project = {1, "both"};
  EXPECT_EQ(store_->CreateOrResumeRun(req).status().code(), StatusCode::kInvalidArgument);
  req.project = {0, std::nullopt};
  EXPECT_EQ(store_->CreateOrResumeRun(req).status().code(), StatusCode::kInvalidArgument);
  req.project = {std::nullopt, ""};
  EXPECT_EQ(store_->CreateOrResumeRun(req).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Unwrap(store_->ListProjects()).empty());
}

TEST_P(StoreSuite, ClientRunIdsAreValidated) {
  model::RunCreate req;
  req.project.name = "p";
  for (const std::string& bad :
       {std::string(""), std::string("has space"), std::string("sl/ash"), std::string(65, 'a')}) {
    req.run_id = bad;
    EXPECT_EQ(store_->CreateOrResumeRun(req).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  req.run_id = "Ok.run_id-" + std::string(54, 'x');
  EXPECT_EQ(Unwrap(store_->CreateOrResumeRun(req)).run.id, *req.run_id);
}

TEST_P(StoreSuite, ExistingClientRunIdResumesTheRun) {
  const double created_at = now_.load();
  model::Run run = CreateRun("run-1", "first");
  model::RecordBatch finish;
  finish.finishes.push_back({1, 5000.0, model::RunStatus::kFailed, "oom", Json{{"sent", 3}}});
  ASSERT_TRUE(store_->Ingest("run-1", finish).ok());
  ASSERT_EQ(Unwrap(store_->GetRun("run-1")).status, model::RunStatus::kFailed);

  now_ = created_at + 100;
  model::RunCreate req;
  req.project.name = "p";
  req.name = "ignored on resume";
  req.run_id = "run-1";
  model::CreateRunResult resumed = Unwrap(store_->CreateOrResumeRun(req));
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.run.id, "run-1");
  EXPECT_EQ(resumed.run.name, "first");
  EXPECT_EQ(resumed.run.status, model::RunStatus::kRunning);
  EXPECT_EQ(resumed.run.status_reason, "");
  EXPECT_FALSE(resumed.run.finished_at.has_value());
  EXPECT_EQ(resumed.run.created_at, created_at);
  EXPECT_EQ(Unwrap(store_->GetRun("run-1")).status, model::RunStatus::kRunning);

  // The same project named by id resumes too.
  req.project = {run.project_id, std::nullopt};
  EXPECT_TRUE(Unwrap(store_->CreateOrResumeRun(req)).resumed);
}

TEST_P(StoreSuite, ResumingInAnotherProjectConflicts) {
  CreateRun("run-1");
  model::RunCreate req;
  req.project.name = "other";
  req.run_id = "run-1";
  Status status = store_->CreateOrResumeRun(req).status();
  EXPECT_EQ(status.code(), StatusCode::kConflict);
  EXPECT_NE(status.message().find("'p'"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("'other'"), std::string::npos) << status.message();
  // The conflicting request created nothing.
  EXPECT_EQ(Unwrap(store_->ListProjects()).size(), 1u);

  req.project = {42, std::nullopt};
  status = store_->CreateOrResumeRun(req).status();
  EXPECT_EQ(status.code(), StatusCode::kConflict);
  EXPECT_NE(status.message().find("42"), std::string::npos) << status.message();
}

TEST_P(StoreSuite, UnknownRunIsNotFoundEverywhere) {
  const std::string expected = "run 'nope' not found";
  auto check = [&](const Status& status, const char* what) {
    EXPECT_EQ(status.code(), StatusCode::kNotFound) << what;
    EXPECT_NE(status.message().find(expected), std::string::npos)
        << what << ": " << status.message();
  };
  check(store_->Ingest("nope", MixedBatch(0, 1)).status(), "Ingest");
  check(store_->GetRun("nope").status(), "GetRun");
  check(store_->ListSeries("nope").status(), "ListSeries");
  check(store_->ScanSeries("nope", Series("loss"), [](const SeriesPoint&) {}), "ScanSeries");
  check(store_->ListEpochs("nope").status(), "ListEpochs");
  check(store_->ListLayerStats("nope", {}).status(), "ListLayerStats");
  check(store_->ListEvents("nope", {}).status(), "ListEvents");
  check(store_->ListProfiles("nope").status(), "ListProfiles");
}

// --- record round trips -------------------------------------------------------------------------

TEST_P(StoreSuite, StepRecordsRoundTripWithNaNInfinityAndNulls) {
  CreateRun("r");
  model::RecordBatch batch;
  model::StepRecord a = MakeStep(1, 10, 100.5, kNaN);
  a.epoch = 2;
  a.at(model::StepField::kSamplesPerS) = kInf;
  a.at(model::StepField::kLearningRate) = 1e-3;
  a.metrics = {{"zeta", -kInf}, {"alpha", kNaN}};
  model::StepRecord b = MakeStep(2, 11, 101.5, 0.25);
  b.at(model::StepField::kSamplesPerS) = 400.0;
  b.metrics = {{"alpha", 3.0}};
  batch.steps = {a, b};
  model::IngestResult result = Unwrap(store_->Ingest("r", batch));
  EXPECT_EQ(result.accepted, 2);
  EXPECT_EQ(result.duplicates, 0);

  // Only fields with a value, in kStepFields order, then user metrics sorted by name.
  EXPECT_EQ(Unwrap(store_->ListSeries("r")),
            (std::vector<std::string>{"loss", "samples_per_s", "lr", "alpha", "zeta"}));

  // Every step field comes back exactly, absent ones as no point at all.
  for (const auto& info : model::kStepFields) {
    std::vector<SeriesPoint> points = Scan("r", Series(std::string(info.name)));
    std::vector<SeriesPoint> expected;
    for (const auto* record : {&a, &b}) {
      const auto& value = record->fields[FieldIndex(info.field)];
      if (value) expected.push_back({static_cast<double>(record->step), *value});
    }
    ASSERT_EQ(points.size(), expected.size()) << info.name;
    for (std::size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(points[i].x, expected[i].x) << info.name;
      EXPECT_TRUE(SameDouble(points[i].y, expected[i].y))
          << info.name << ": " << points[i].y << " vs " << expected[i].y;
    }
  }
  std::vector<SeriesPoint> alpha = Scan("r", Series("alpha"));
  ASSERT_EQ(alpha.size(), 2u);
  EXPECT_TRUE(std::isnan(alpha[0].y));
  EXPECT_EQ(alpha[1].y, 3.0);
  std::vector<SeriesPoint> zeta = Scan("r", Series("zeta", SeriesAxis::kTime));
  ASSERT_EQ(zeta.size(), 1u);
  EXPECT_EQ(zeta[0].x, 100.5);
  EXPECT_EQ(zeta[0].y, -kInf);

  // A NaN loss is the newest loss: the totals keep it.
  model::Run run = Unwrap(store_->GetRun("r"));
  ASSERT_TRUE(run.totals.last_loss.has_value());
  EXPECT_EQ(*run.totals.last_loss, 0.25);
  model::RecordBatch later;
  later.steps = {MakeStep(3, 12, 102.0, kNaN)};
  ASSERT_TRUE(store_->Ingest("r", later).ok());
  run = Unwrap(store_->GetRun("r"));
  ASSERT_TRUE(run.totals.last_loss.has_value());
  EXPECT_TRUE(std::isnan(*run.totals.last_loss));
}

TEST_P(StoreSuite, TotalsCountNewlyStoredRecords) {
  CreateRun("r");
  model::RecordBatch batch;
  for (int i = 0; i < 5; ++i) {
    model::StepRecord step = MakeStep(i, 100 + i, 1000.0 + i, 1.0 / (i + 1));
    step.at(model::StepField::kSamples) = 32;
    step.at(model::StepField::kTokens) = 1000;
    batch.steps.push_back(step);
  }
  // A step without loss, and an older step arriving late: neither moves last_loss.
  batch.steps.push_back(MakeStep(5, 105, 1005.0));
  batch.steps.push_back(MakeStep(6, 50, 1006.0, 9.0));
  batch.epochs = {MakeEpoch(10, 0, 2000.0), MakeEpoch(11, 1, 2001.0)};
  batch.layer_stats = {MakeLayerStats(12, 100, 1500.0, {"a", "b"})};
  batch.events = {MakeEvent(13, 1700.0, "log"), MakeEvent(14, 2500.0, "checkpoint")};
  batch.profiles = {{15, 100, 1800.0, Json::object()}};
  ASSERT_EQ(Unwrap(store_->Ingest("r", batch)).accepted, 13);

  model::RunTotals totals = Unwrap(store_->GetRun("r")).totals;
  EXPECT_EQ(totals.step_records, 7);
  EXPECT_EQ(totals.last_step, 105);
  EXPECT_EQ(totals.last_loss, 0.2);
  EXPECT_EQ(totals.epochs, 2);
  EXPECT_EQ(totals.samples, 160.0);
  EXPECT_EQ(totals.tokens, 5000.0);
  EXPECT_EQ(totals.energy_joules, 240.0);
  EXPECT_EQ(totals.layer_samples, 1);
  EXPECT_EQ(totals.events, 2);
  EXPECT_EQ(totals.last_ts, 2500.0);

  // A later batch adds to the totals.
  model::RecordBatch more;
  more.steps = {MakeStep(20, 200, 3000.0, 0.1)};
  ASSERT_TRUE(store_->Ingest("r", more).ok());
  totals = Unwrap(store_->GetRun("r")).totals;
  EXPECT_EQ(totals.step_records, 8);
  EXPECT_EQ(totals.last_step, 200);
  EXPECT_EQ(totals.last_loss, 0.1);
  EXPECT_EQ(totals.last_ts, 3000.0);
}

TEST_P(StoreSuite, EpochsRoundTripInEpochOrderWithEnergyMethods) {
  CreateRun("r");
  model::RecordBatch batch;
  model::EpochRecord late = MakeEpoch(5, 2, 300.0);
  late.duration_s = std::nullopt;
  late.train = {{"zz", kNaN}, {"aa", 1.0}};  // stored order, not sorted
  late.val.clear();
  late.energy.clear();
  model::EpochRecord early = MakeEpoch(6, 1, 200.0);
  early.energy.push_back({"ram", "", 3.5, "estimated:ram-model"});
  batch.epochs = {late, early};
  ASSERT_EQ(Unwrap(store_->Ingest("r", batch)).accepted, 2);

  std::vector<model::EpochRecord> epochs = Unwrap(store_->ListEpochs("r"));
  ASSERT_EQ(epochs.size(), 2u);
  const model::EpochRecord& first = epochs[0];
  EXPECT_EQ(first.seq, 6);
  EXPECT_EQ(first.epoch, 1);
  EXPECT_EQ(first.ts, 200.0);
  EXPECT_EQ(first.duration_s, 12.5);
  EXPECT_EQ(first.train, early.train);
  EXPECT_EQ(first.val, early.val);
  ASSERT_EQ(first.energy.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(first.energy[i].component, early.energy[i].component);
    EXPECT_EQ(first.energy[i].device, early.energy[i].device);
    EXPECT_EQ(first.energy[i].joules, early.energy[i].joules);
    EXPECT_EQ(first.energy[i].method, early.energy[i].method);
  }
  const model::EpochRecord& second = epochs[1];
  EXPECT_EQ(second.epoch, 2);
  EXPECT_FALSE(second.duration_s.has_value());
  ASSERT_EQ(second.train.size(), 2u);
  EXPECT_EQ(second.train[0].first, "zz");
  EXPECT_TRUE(std::isnan(second.train[0].second));
  EXPECT_EQ(second.train[1], (std::pair<std::string, double>{"aa", 1.0}));
  EXPECT_TRUE(second.val.empty());
  EXPECT_TRUE(second.energy.empty());
}

TEST_P(StoreSuite, LayerStatsRoundTripAndFilter) {
  CreateRun("r");
  model::RecordBatch batch;
  model::LayerStatsRecord first = MakeLayerStats(1, 10, 50.0, {"z.last", "a.first", "m"});
  first.epoch = 0;
  first.layers[0].values[0] = kNaN;
  first.layers[0].values[1] = std::nullopt;
  first.layers[0].values[2] = kInf;
  first.layers[1].extra = {{"unit_active_frac", {0.5, 1.0}}};
  batch.layer_stats = {MakeLayerStats(2, 20, 60.0, {"z.last", "a.first", "m"}), first};
  ASSERT_EQ(Unwrap(store_->Ingest("r", batch)).accepted, 2);

  std::vector<model::LayerStatsRecord> all = Unwrap(store_->ListLayerStats("r", {}));
  ASSERT_EQ(all.size(), 2u);
  const model::LayerStatsRecord& got = all[0];  // ordered by step
  EXPECT_EQ(got.seq, 1);
  EXPECT_EQ(got.step, 10);
  EXPECT_EQ(got.epoch, 0);
  EXPECT_EQ(got.ts, 50.0);
  ASSERT_EQ(got.layers.size(), 3u);
  for (std::size_t l = 0; l < 3; ++l) {
    EXPECT_EQ(got.layers[l].layer, first.layers[l].layer);  // sample order kept
    EXPECT_EQ(got.layers[l].extra, first.layers[l].extra);
    for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
      EXPECT_TRUE(SameOptional(got.layers[l].values[i], first.layers[l].values[i]))
          << first.layers[l].layer << "." << model::kLayerStatNames[i];
    }
  }
  EXPECT_FALSE(all[1].epoch.has_value());

  LayerStatsQuery query;
  query.layer = "m";
  std::vector<model::LayerStatsRecord> one_layer = Unwrap(store_->ListLayerStats("r", query));
  ASSERT_EQ(one_layer.size(), 2u);
  EXPECT_EQ(one_layer[0].layers.size(), 1u);
  EXPECT_EQ(one_layer[0].layers[0].layer, "m");

  query.layer.reset();
  query.from_step = 11;
  query.to_step = 20;
  std::vector<model::LayerStatsRecord> ranged = Unwrap(store_->ListLayerStats("r", query));
  ASSERT_EQ(ranged.size(), 1u);
  EXPECT_EQ(ranged[0].step, 20);

  // A limit that cuts the second sample returns only whole samples.
  query = {};
  query.limit = 4;
  std::vector<model::LayerStatsRecord> limited = Unwrap(store_->ListLayerStats("r", query));
  ASSERT_EQ(limited.size(), 1u);
  EXPECT_EQ(limited[0].layers.size(), 3u);
}

TEST_P(StoreSuite, ProfilesAndEventsRoundTrip) {
  CreateRun("r");
  model::RecordBatch batch;
  batch.profiles = {{1, 30, 10.0, Json{{"op", "b"}}}, {2, 20, 11.0, Json{{"op", "a"}}}};
  batch.events = {MakeEvent(5, 1.0, "log"), MakeEvent(3, 2.0, "checkpoint"),
                  MakeEvent(4, 3.0, "log")};
  batch.events[0].level = "warning";
  batch.events[0].data = Json::object();
  ASSERT_EQ(Unwrap(store_->Ingest("r", batch)).accepted, 5);

  std::vector<model::ProfileRecord> profiles = Unwrap(store_->ListProfiles("r"));
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(profiles[0].step, 20);
  EXPECT_EQ(profiles[0].seq, 2);
  EXPECT_EQ(profiles[0].ts, 11.0);
  EXPECT_EQ(profiles[0].data, (Json{{"op", "a"}}));
  EXPECT_EQ(profiles[1].step, 30);

  std::vector<model::EventRecord> events = Unwrap(store_->ListEvents("r", {}));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].seq, 3);
  EXPECT_EQ(events[0].type, "checkpoint");
  EXPECT_EQ(events[0].message, "event 3");
  EXPECT_EQ(events[0].data, (Json{{"seq", 3}}));
  EXPECT_EQ(events[2].seq, 5);
  EXPECT_EQ(events[2].level, "warning");
  EXPECT_EQ(events[2].ts, 1.0);
  EXPECT_EQ(events[2].data, Json::object());

  EventQuery logs;
  logs.type = "log";
  events = Unwrap(store_->ListEvents("r", logs));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].seq, 4);
  EXPECT_EQ(events[1].seq, 5);
  logs.limit = 1;
  events = Unwrap(store_->ListEvents("r", logs));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].seq, 4);
}

TEST_P(StoreSuite, HyperparametersMergeTopLevelKeys) {
  model::RunCreate req;
  req.project.name = "p";
  req.run_id = "r";
  req.config = {{"kept", true}};
  ASSERT_TRUE(store_->CreateOrResumeRun(req).ok());

  model::RecordBatch first;
  first.hyperparameters = {{2, Json{{"lr", 0.2}, {"opt", {{"name", "adam"}}}}},
                           {1, Json{{"lr", 0.1}, {"wd", 0.01}}}};
  ASSERT_EQ(Unwrap(store_->Ingest("r", first)).accepted, 2);
  model::Run run = Unwrap(store_->GetRun("r"));
  // Applied in seq order, so seq 2's lr wins.
  EXPECT_EQ(run.hyperparameters, (Json{{"lr", 0.2}, {"wd", 0.01}, {"opt", {{"name", "adam"}}}}));
  EXPECT_EQ(run.config, (Json{{"kept", true}}));

  model::RecordBatch second;
  second.hyperparameters = {{3, Json{{"opt", {{"betas", {0.9, 0.99}}}}}}};
  ASSERT_TRUE(store_->Ingest("r", second).ok());
  run = Unwrap(store_->GetRun("r"));
  // Top-level keys are replaced, not merged deeply.
  EXPECT_EQ(run.hyperparameters,
            (Json{{"lr", 0.2}, {"wd", 0.01}, {"opt", {{"betas", {0.9, 0.99}}}}}));

  // A replayed record is a duplicate and is not applied again.
  model::IngestResult replay = Unwrap(store_->Ingest("r", first));
  EXPECT_EQ(replay.accepted, 0);
  EXPECT_EQ(replay.duplicates, 2);
  EXPECT_EQ(Unwrap(store_->GetRun("r")).hyperparameters, run.hyperparameters);
}

TEST_P(StoreSuite, ArchitectureRoundTripsInRegistrationOrderAndIsReplaced) {
  CreateRun("r");
  model::ArchitectureRecord arch;
  arch.seq = 1;
  arch.modules = {
      {"", "Net", std::nullopt, 0, 0, nullptr, nullptr, std::nullopt},
      {"features", "Sequential", "", 0, 0, Json::array({64, 1, 8, 8}), nullptr, 1.5e6},
      {"features.0", "Conv2d", "features", 160, 160, Json::array({64, 1, 8, 8}),
       Json::array({64, 16, 8, 8}), 92160.0},
      {"classifier", "Linear", "", 1034, 0, nullptr, Json::array({64, 10}), kNaN},
  };
  model::RecordBatch batch;
  batch.architectures = {arch};
  ASSERT_EQ(Unwrap(store_->Ingest("r", batch)).accepted, 1);

  std::vector<model::ModuleInfo> got = Unwrap(store_->GetRun("r")).architecture;
  ASSERT_EQ(got.size(), arch.modules.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const model::ModuleInfo& want = arch.modules[i];
    EXPECT_EQ(got[i].name, want.name);
    EXPECT_EQ(got[i].type, want.type);
    EXPECT_EQ(got[i].parent, want.parent);
    EXPECT_EQ(got[i].params, want.params);
    EXPECT_EQ(got[i].trainable_params, want.trainable_params);
    EXPECT_EQ(got[i].input_shape, want.input_shape);
    EXPECT_EQ(got[i].output_shape, want.output_shape);
    EXPECT_TRUE(SameOptional(got[i].flops, want.flops)) << want.name;
  }

  model::ArchitectureRecord replacement;
  replacement.seq = 2;
  replacement.modules = {{"", "Tiny", std::nullopt, 5, 5, nullptr, nullptr, 10.0}};
  batch.architectures = {replacement};
  ASSERT_TRUE(store_->Ingest("r", batch).ok());
  got = Unwrap(store_->GetRun("r")).architecture;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, "Tiny");
}

TEST_P(StoreSuite, FinishRecordSetsStatusReasonTimeAndClientStats) {
  CreateRun("r");
  model::RecordBatch batch;
  batch.finishes = {{9, 4321.5, model::RunStatus::kStopped, "user asked",
                     Json{{"sent", 10}, {"dropped", {{"queue_full", 2}}}}}};
  ASSERT_EQ(Unwrap(store_->Ingest("r", batch)).accepted, 1);
  model::Run run = Unwrap(store_->GetRun("r"));
  EXPECT_EQ(run.status, model::RunStatus::kStopped);
  EXPECT_EQ(run.status_reason, "user asked");
  EXPECT_EQ(run.finished_at, 4321.5);
  EXPECT_EQ(run.client_stats, batch.finishes[0].client_stats);
  EXPECT_EQ(run.totals.last_ts, 4321.5);
}

// --- idempotency and atomicity ------------------------------------------------------------------

TEST_P(StoreSuite, ReingestingABatchStoresNothingTwice) {
  CreateRun("r");
  const model::RecordBatch batch = MixedBatch(0, 50);
  model::IngestResult first = Unwrap(store_->Ingest("r", batch));
  EXPECT_EQ(first.accepted, static_cast<std::int64_t>(batch.size()));
  EXPECT_EQ(first.duplicates, 0);
  const model::Run before = Unwrap(store_->GetRun("r"));

  model::IngestResult second = Unwrap(store_->Ingest("r", batch));
  EXPECT_EQ(second.accepted, 0);
  EXPECT_EQ(second.duplicates, static_cast<std::int64_t>(batch.size()));

  const model::Run after = Unwrap(store_->GetRun("r"));
  EXPECT_EQ(after.totals.step_records, 50);
  EXPECT_EQ(after.totals.step_records, before.totals.step_records);
  EXPECT_EQ(after.totals.samples, before.totals.samples);
  EXPECT_EQ(after.totals.epochs, before.totals.epochs);
  EXPECT_EQ(after.totals.energy_joules, before.totals.energy_joules);
  EXPECT_EQ(after.totals.layer_samples, before.totals.layer_samples);
  EXPECT_EQ(after.totals.events, before.totals.events);
  EXPECT_EQ(Scan("r", Series("loss")).size(), 50u);
  EXPECT_EQ(Scan("r", Series("grad_scale")).size(), 50u);
  EXPECT_EQ(Unwrap(store_->ListEpochs("r")).size(), 1u);
  EXPECT_EQ(Unwrap(store_->ListLayerStats("r", {})).size(), 1u);
  EXPECT_EQ(Unwrap(store_->ListProfiles("r")).size(), 1u);
  EXPECT_EQ(Unwrap(store_->ListEvents("r", {})).size(), 1u);

  // A batch half new, half replayed stores only the new half.
  model::RecordBatch overlap;
  for (int i = 40; i < 60; ++i) overlap.steps.push_back(MakeStep(i, i, 100.0 + i, 1.0));
  model::IngestResult mixed = Unwrap(store_->Ingest("r", overlap));
  EXPECT_EQ(mixed.accepted, 10);
  EXPECT_EQ(mixed.duplicates, 10);
  EXPECT_EQ(Unwrap(store_->GetRun("r")).totals.step_records, 60);
}

// batch_order numbers the batches that store something, in the order they are stored, and
// the run's batches_stored is the last of them: what a view rebuilt from ReplayRun holds.
TEST_P(StoreSuite, BatchesAreNumberedInTheOrderTheyAreStored) {
  CreateRun("r");
  EXPECT_EQ(Unwrap(store_->GetRun("r")).totals.batches_stored, 0);
  const model::RecordBatch later = MixedBatch(100, 5);
  const model::RecordBatch earlier = MixedBatch(0, 5);  // lower seqs, stored second
  EXPECT_EQ(Unwrap(store_->Ingest("r", later)).batch_order, 1);
  EXPECT_EQ(Unwrap(store_->Ingest("r", earlier)).batch_order, 2);
  EXPECT_EQ(Unwrap(store_->Ingest("r", later)).batch_order, 0);  // nothing new: no place
  EXPECT_EQ(Unwrap(store_->GetRun("r")).totals.batches_stored, 2);
  CreateRun("other");
  EXPECT_EQ(Unwrap(store_->Ingest("other", MixedBatch(0, 1))).batch_order, 1);  // per run
}

// Hands over the run with its totals, then every record kind in its documented order.
class RecordingReplay final : public RunReplay {
 public:
  void Run(const model::Run& run) override { seen.push_back(fmt::format("run {}", run.id)); }
  void Step(const model::StepRecord& step) override {
    seen.push_back(fmt::format("step {}", step.seq));
  }
  void Epoch(const model::EpochRecord& epoch) override {
    seen.push_back(fmt::format("epoch {}", epoch.seq));
  }
  void LayerStats(const model::LayerStatsRecord& sample) override {
    seen.push_back(fmt::format("layers {}", sample.seq));
  }
  void Profile(const model::ProfileRecord& profile) override {
    seen.push_back(fmt::format("profile {}", profile.seq));
  }
  void Event(const model::EventRecord& event) override {
    seen.push_back(fmt::format("event {}", event.seq));
  }
  std::vector<std::string> seen;
};

TEST_P(StoreSuite, ReplayRunHandsOverTheRunAndEveryRecordInOrder) {
  CreateRun("r");
  ASSERT_TRUE(store_->Ingest("r", MixedBatch(10, 2)).ok());
  model::RecordBatch steps_first_stored_last;
  steps_first_stored_last.steps = {MakeStep(0, 0, 90.0, 2.5), MakeStep(1, 1, 91.0, 2.4)};
  ASSERT_TRUE(store_->Ingest("r", steps_first_stored_last).ok());

  RecordingReplay replay;
  ASSERT_TRUE(store_->ReplayRun("r", {}, replay).ok());
  const std::vector<std::string> expected = {"run r",     "step 0",     "step 1",
                                             "step 10",   "step 11",    "epoch 12",
                                             "layers 13", "profile 14", "event 15"};
  EXPECT_EQ(replay.seen, expected);

  RecordingReplay none;
  EXPECT_EQ(store_->ReplayRun("nope", {}, none).code(), StatusCode::kNotFound);
  EXPECT_TRUE(none.seen.empty());
}

TEST_P(StoreSuite, DuplicateSeqWithinOneBatchIsStoredOnce) {
  CreateRun("r");
  model::RecordBatch batch;
  batch.steps = {MakeStep(1, 1, 1.0, 1.0), MakeStep(1, 1, 1.0, 1.0)};
  model::IngestResult result = Unwrap(store_->Ingest("r", batch));
  EXPECT_EQ(result.accepted, 1);
  EXPECT_EQ(result.duplicates, 1);
  EXPECT_EQ(Unwrap(store_->GetRun("r")).totals.step_records, 1);
}

// The second half of the batch breaks an invariant the store enforces (a layer named twice in
// one sample); nothing of the first half may remain.
TEST_P(StoreSuite, AFailingBatchIsStoredNotAtAll) {
  CreateRun("r");
  model::RecordBatch batch = MixedBatch(0, 100);
  batch.layer_stats.push_back(MakeLayerStats(1000, 5, 5.0, {"conv1", "fc", "conv1"}));
  Status status = store_->Ingest("r", batch).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("conv1"), std::string::npos) << status.message();

  model::Run run = Unwrap(store_->GetRun("r"));
  EXPECT_EQ(run.totals.step_records, 0);
  EXPECT_EQ(run.totals.epochs, 0);
  EXPECT_FALSE(run.totals.last_step.has_value());
  EXPECT_TRUE(run.hyperparameters.empty());
  EXPECT_TRUE(run.architecture.empty());
  EXPECT_TRUE(Unwrap(store_->ListSeries("r")).empty());
  EXPECT_TRUE(Scan("r", Series("loss")).empty());
  EXPECT_EQ(store_->ScanSeries("r", Series("grad_scale"), [](const SeriesPoint&) {}).code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(Unwrap(store_->ListEpochs("r")).empty());
  EXPECT_TRUE(Unwrap(store_->ListLayerStats("r", {})).empty());
  EXPECT_TRUE(Unwrap(store_->ListEvents("r", {})).empty());
  EXPECT_TRUE(Unwrap(store_->ListProfiles("r")).empty());

  // The same records without the bad one are then stored in full (nothing of the failed
  // attempt, such as a metric created in it, lingers).
  batch.layer_stats.pop_back();
  EXPECT_EQ(Unwrap(store_->Ingest("r", batch)).accepted, static_cast<std::int64_t>(batch.size()));
  EXPECT_EQ(Scan("r", Series("grad_scale")).size(), 100u);
  EXPECT_EQ(Unwrap(store_->GetRun("r")).totals.step_records, 100);
}

TEST_P(StoreSuite, UserMetricNamedLikeAStepFieldFailsTheBatch) {
  CreateRun("r");
  model::RecordBatch batch;
  batch.steps = {MakeStep(1, 1, 1.0, 1.0), MakeStep(2, 2, 2.0, 1.0)};
  batch.steps[1].metrics = {{"loss", 3.0}};
  EXPECT_EQ(store_->Ingest("r", batch).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Scan("r", Series("loss")).empty());
}

// --- listing and series -------------------------------------------------------------------------

TEST_P(StoreSuite, ListRunsFiltersSortsAndPages) {
  struct Spec {
    const char* id = "";
    const char* project = "";
    const char* name = "";
    model::RunStatus status = model::RunStatus::kRunning;
    std::optional<std::int64_t> last_step;
  };
  const Spec specs[] = {
      {"a", "vision", "ResNet-50", model::RunStatus::kCompleted, 300},
      {"b", "vision", "resnet-18", model::RunStatus::kRunning, 100},
      {"c", "vision", "vit", model::RunStatus::kFailed, std::nullopt},
      {"d", "nlp", "gpt-small", model::RunStatus::kRunning, 200},
      {"e", "nlp", "bert", model::RunStatus::kRunning, 100},
  };
  for (const Spec& spec : specs) {
    now_ = now_.load() + 10;
    model::RunCreate req;
    req.project.name = spec.project;
    req.run_id = spec.id;
    req.name = spec.name;
    req.config = {{"big", "config"}};
    ASSERT_TRUE(store_->CreateOrResumeRun(req).ok());
    model::RecordBatch batch;
    batch.hyperparameters = {{0, Json{{"lr", 1}}}};
    if (spec.last_step) batch.steps = {MakeStep(1, *spec.last_step, 1.0, 1.0)};
    if (spec.status != model::RunStatus::kRunning) {
      batch.finishes = {{2, 2.0, spec.status, "", Json::object()}};
    }
    ASSERT_TRUE(store_->Ingest(spec.id, batch).ok());
  }
  auto ids = [&](const model::RunQuery& query) {
    model::RunPage page = Unwrap(store_->ListRuns(query));
    std::string out;
    for (const auto& run : page.runs) out += run.id;
    return fmt::format("{}/{}", out, page.total);
  };

  model::RunQuery query;  // newest first by default
  EXPECT_EQ(ids(query), "edcba/5");
  query.descending = false;
  EXPECT_EQ(ids(query), "abcde/5");

  query.sort = model::RunSortKey::kName;
  EXPECT_EQ(ids(query), "edbac/5");  // bert, gpt-small, resnet-18, ResNet-50, vit (ignoring case)
  query.sort = model::RunSortKey::kStatus;
  EXPECT_EQ(ids(query), "acbde/5");  // completed, failed, running x3 by id
  query.descending = true;
  EXPECT_EQ(ids(query), "edbca/5");
  query.sort = model::RunSortKey::kLastStep;
  EXPECT_EQ(ids(query), "adebc/5");  // 300, 200, 100 (e, b by id desc), null last
  query.descending = false;
  EXPECT_EQ(ids(query), "cbeda/5");

  query = {};
  query.project_name = "vision";
  EXPECT_EQ(ids(query), "cba/3");
  const std::int64_t nlp = Unwrap(store_->GetRun("d")).project_id;
  query = {};
  query.project_id = nlp;
  EXPECT_EQ(ids(query), "ed/2");
  query = {};
  query.name_contains = "RESNET";
  EXPECT_EQ(ids(query), "ba/2");
  query.status = model::RunStatus::kRunning;
  EXPECT_EQ(ids(query), "b/1");
  query = {};
  query.status = model::RunStatus::kRunning;
  query.project_name = "nlp";
  query.name_contains = "T";
  EXPECT_EQ(ids(query), "ed/2");
  query.project_name = "nope";
  EXPECT_EQ(ids(query), "/0");

  query = {};
  query.limit = 2;
  EXPECT_EQ(ids(query), "ed/5");
  query.offset = 2;
  EXPECT_EQ(ids(query), "cb/5");
  query.offset = 4;
  EXPECT_EQ(ids(query), "a/5");
  query.offset = 10;
  EXPECT_EQ(ids(query), "/5");
  query.offset = -1;
  EXPECT_EQ(store_->ListRuns(query).status().code(), StatusCode::kInvalidArgument);

  // The list view carries totals and metadata but not the heavy parts.
  model::RunPage page = Unwrap(store_->ListRuns({}));
  ASSERT_EQ(page.runs.size(), 5u);
  const model::Run& listed = page.runs.back();
  EXPECT_EQ(listed.id, "a");
  EXPECT_EQ(listed.project_name, "vision");
  EXPECT_EQ(listed.status, model::RunStatus::kCompleted);
  EXPECT_EQ(listed.totals.last_step, 300);
  EXPECT_TRUE(listed.config.empty());
  EXPECT_TRUE(listed.hyperparameters.empty());
  EXPECT_TRUE(listed.architecture.empty());
  EXPECT_FALSE(Unwrap(store_->GetRun("a")).config.empty());
}

TEST_P(StoreSuite, ScanSeriesByStepAndTimeWithInclusiveRanges) {
  CreateRun("r");
  model::RecordBatch batch;
  // Steps arrive out of order; step 4 has no loss; time runs backwards against step for 5, 6.
  const std::tuple<std::int64_t, std::int64_t, double, std::optional<double>> rows[] = {
      {1, 3, 30.0, 0.3},          {2, 1, 10.0, 0.1}, {3, 2, 20.0, 0.2},
      {4, 4, 40.0, std::nullopt}, {5, 5, 60.0, 0.5}, {6, 6, 50.0, 0.6}};
  for (const auto& [seq, step, ts, loss] : rows) {
    model::StepRecord record = MakeStep(seq, step, ts, loss);
    record.metrics = {{"acc", static_cast<double>(step) / 10}};
    batch.steps.push_back(record);
  }
  ASSERT_TRUE(store_->Ingest("r", batch).ok());

  EXPECT_EQ(Xs(Scan("r", Series("loss"))), (std::vector<double>{1, 2, 3, 5, 6}));
  EXPECT_EQ(Xs(Scan("r", Series("loss", SeriesAxis::kStep, 2.0, 5.0))),
            (std::vector<double>{2, 3, 5}));
  EXPECT_EQ(Xs(Scan("r", Series("loss", SeriesAxis::kStep, 5.5, std::nullopt))),
            (std::vector<double>{6}));
  EXPECT_EQ(Xs(Scan("r", Series("loss", SeriesAxis::kStep, std::nullopt, 0.5))),
            (std::vector<double>{}));
  std::vector<SeriesPoint> by_time = Scan("r", Series("loss", SeriesAxis::kTime));
  EXPECT_EQ(Xs(by_time), (std::vector<double>{10, 20, 30, 50, 60}));
  EXPECT_EQ(by_time[3].y, 0.6);
  EXPECT_EQ(Xs(Scan("r", Series("loss", SeriesAxis::kTime, 20.0, 50.0))),
            (std::vector<double>{20, 30, 50}));

  // User metrics scan the same way.
  EXPECT_EQ(Xs(Scan("r", Series("acc", SeriesAxis::kStep, 4.0, 6.0))),
            (std::vector<double>{4, 5, 6}));
  std::vector<SeriesPoint> acc = Scan("r", Series("acc", SeriesAxis::kTime, 45.0, std::nullopt));
  EXPECT_EQ(Xs(acc), (std::vector<double>{50, 60}));
  EXPECT_EQ(acc[0].y, 0.6);

  // A step field with no values is an empty series; a name that is neither is not found.
  EXPECT_TRUE(Scan("r", Series("tokens")).empty());
  Status status = store_->ScanSeries("r", Series("bogus"), [](const SeriesPoint&) {});
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("bogus"), std::string::npos) << status.message();
}

// --- concurrency --------------------------------------------------------------------------------

TEST_P(StoreSuite, ConcurrentIngestIntoDifferentRunsLosesNothing) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 20;
  constexpr int kStepsPerBatch = 50;
  for (int t = 0; t < kThreads; ++t) CreateRun(fmt::format("run-{}", t));

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string run_id = fmt::format("run-{}", t);
      for (int b = 0; b < kBatches; ++b) {
        model::RecordBatch batch;
        for (int i = 0; i < kStepsPerBatch; ++i) {
          const int n = b * kStepsPerBatch + i;
          model::StepRecord step = MakeStep(n, n, n, 1.0);
          step.metrics = {{fmt::format("m{}", n % 3), n}};
          batch.steps.push_back(step);
        }
        batch.events = {MakeEvent(100000 + b, b, "log")};
        Result<model::IngestResult> result = store_->Ingest(run_id, batch);
        if (!result.ok() || result->accepted != kStepsPerBatch + 1) ++failures;
        // Reads run beside the writes.
        if (!store_->ListRuns({}).ok() || !store_->ListSeries(run_id).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  for (int t = 0; t < kThreads; ++t) {
    const std::string run_id = fmt::format("run-{}", t);
    model::Run run = Unwrap(store_->GetRun(run_id));
    EXPECT_EQ(run.totals.step_records, kBatches * kStepsPerBatch);
    EXPECT_EQ(run.totals.events, kBatches);
    std::vector<SeriesPoint> loss = Scan(run_id, Series("loss"));
    ASSERT_EQ(loss.size(), static_cast<std::size_t>(kBatches * kStepsPerBatch));
    for (std::size_t i = 0; i < loss.size(); ++i) EXPECT_EQ(loss[i].x, static_cast<double>(i));
    std::size_t metric_points = 0;
    for (const char* name : {"m0", "m1", "m2"}) metric_points += Scan(run_id, Series(name)).size();
    EXPECT_EQ(metric_points, static_cast<std::size_t>(kBatches * kStepsPerBatch));
  }
}

TEST_P(StoreSuite, ConcurrentIngestIntoOneRunStoresEachSeqOnce) {
  constexpr int kThreads = 4;
  constexpr int kRecords = 1000;
  constexpr int kBatch = 100;
  CreateRun("shared");

  // Every thread sends every record (a retry storm), in its own batch order.
  std::atomic<std::int64_t> accepted{0};
  std::atomic<std::int64_t> duplicates{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kRecords / kBatch; ++b) {
        const int first = ((b + t * 3) % (kRecords / kBatch)) * kBatch;
        model::RecordBatch batch;
        for (int n = first; n < first + kBatch; ++n) {
          model::StepRecord step = MakeStep(n, n, n, 0.5);
          step.at(model::StepField::kSamples) = 1;
          step.metrics = {{"acc", n}};
          batch.steps.push_back(step);
        }
        Result<model::IngestResult> result = store_->Ingest("shared", batch);
        if (!result.ok()) {
          ++failures;
          continue;
        }
        accepted += result->accepted;
        duplicates += result->duplicates;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(accepted.load(), kRecords);
  EXPECT_EQ(duplicates.load(), static_cast<std::int64_t>(kThreads - 1) * kRecords);

  model::Run run = Unwrap(store_->GetRun("shared"));
  EXPECT_EQ(run.totals.step_records, kRecords);
  EXPECT_EQ(run.totals.samples, kRecords);
  EXPECT_EQ(run.totals.last_step, kRecords - 1);
  std::vector<SeriesPoint> acc = Scan("shared", Series("acc"));
  ASSERT_EQ(acc.size(), static_cast<std::size_t>(kRecords));
  for (std::size_t i = 0; i < acc.size(); ++i) EXPECT_EQ(acc[i].x, static_cast<double>(i));
}

// --- lifecycle ----------------------------------------------------------------------------------

TEST_P(StoreSuite, DataSurvivesReopening) {
  CreateRun("r");
  ASSERT_TRUE(store_->Ingest("r", MixedBatch(0, 10)).ok());
  Reopen();
  model::Run run = Unwrap(store_->GetRun("r"));
  EXPECT_EQ(run.totals.step_records, 10);
  EXPECT_EQ(run.hyperparameters, (Json{{"lr", 0.1}}));
  EXPECT_EQ(run.architecture.size(), 1u);
  EXPECT_EQ(Scan("r", Series("grad_scale")).size(), 10u);
  // Replays after a restart are still recognised.
  EXPECT_EQ(Unwrap(store_->Ingest("r", MixedBatch(0, 10))).accepted, 0);
}

TEST_P(StoreSuite, CallsAfterCloseFailAsUnavailable) {
  CreateRun("r");
  ASSERT_TRUE(store_->Close().ok());
  auto unavailable = [](const Status& status) { return status.code() == StatusCode::kUnavailable; };
  model::RunCreate req;
  req.project.name = "p";
  EXPECT_TRUE(unavailable(store_->CreateOrResumeRun(req).status()));
  EXPECT_TRUE(unavailable(store_->Ingest("r", MixedBatch(0, 1)).status()));
  EXPECT_TRUE(unavailable(store_->ListProjects().status()));
  EXPECT_TRUE(unavailable(store_->ListRuns({}).status()));
  EXPECT_TRUE(unavailable(store_->GetRun("r").status()));
  EXPECT_TRUE(unavailable(store_->ListSeries("r").status()));
  EXPECT_TRUE(unavailable(store_->ScanSeries("r", Series("loss"), [](const SeriesPoint&) {})));
  EXPECT_TRUE(unavailable(store_->ListEpochs("r").status()));
  EXPECT_TRUE(unavailable(store_->ListLayerStats("r", {}).status()));
  EXPECT_TRUE(unavailable(store_->ListEvents("r", {}).status()));
  EXPECT_TRUE(unavailable(store_->ListProfiles("r").status()));
  EXPECT_TRUE(unavailable(store_->Close()));
}

}  // namespace atlas::store::testing
