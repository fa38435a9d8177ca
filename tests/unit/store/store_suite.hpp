// The Store conformance suite: one set of tests every backend must pass.
//
// A backend joins by instantiating the suite with its factory, e.g.
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite, ::testing::Values(SqliteBackend()), ...);
// Each test gets a fresh temporary directory (removed afterwards) and a manual clock; the
// factory opens a store whose state lives in that directory, and opening it again on the same
// directory must see the same data.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/store.hpp"

namespace atlas::store::testing {

// Non-finite values, which every backend must store and give back as they were.
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();

struct StoreBackend {
  std::string name;
  std::function<Result<std::unique_ptr<Store>>(const std::filesystem::path& dir,
                                               std::function<double()> clock)>
      open;
};

// gtest prints the parameter of a failed test through this.
inline void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

// gtest names instantiations after the backend.
inline std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

// A directory under the system temp directory, unique to this process and call, removed with
// everything in it on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class StoreSuite : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens the backend on this test's directory; fails the test when it cannot.
  std::unique_ptr<Store> Open();
  // Closes and reopens store_ on the same directory.
  void Reopen();

  std::function<double()> Clock() {
    return [this] { return now_.load(); };
  }

  // Creates a run in project "p" (by name) with the given client id and name.
  model::Run CreateRun(const std::string& run_id, const std::string& name = "run");

  // Every point of a series, in the order ScanSeries gives them.
  std::vector<SeriesPoint> Scan(const std::string& run_id, const SeriesQuery& query);

  std::unique_ptr<TempDir> dir_;
  std::atomic<double> now_{1'700'000'000.0};
  std::unique_ptr<Store> store_;
};

// A series query (spelled out because SeriesQuery has optional members without defaults).
SeriesQuery Series(std::string metric, SeriesAxis axis = SeriesAxis::kStep,
                   std::optional<double> from = std::nullopt,
                   std::optional<double> to = std::nullopt);

// Record builders with the fields tests usually care about.
model::StepRecord MakeStep(std::int64_t seq, std::int64_t step, double ts,
                           std::optional<double> loss = std::nullopt);
model::EpochRecord MakeEpoch(std::int64_t seq, std::int64_t epoch, double ts);
model::LayerStatsRecord MakeLayerStats(std::int64_t seq, std::int64_t step, double ts,
                                       const std::vector<std::string>& layers);
model::EventRecord MakeEvent(std::int64_t seq, double ts, const std::string& type);

// A batch with records of every kind, seqs starting at `first_seq`.
model::RecordBatch MixedBatch(std::int64_t first_seq, int steps);

}  // namespace atlas::store::testing
