// The records a training loop hands to libatlas (protocol v1, docs/protocol.md).
//
// A StepRecord is a plain value of fixed numeric fields, cheap to build on the training thread:
// no allocation unless user metrics are added, no JSON. The client serialises it later on its
// sender thread. Every other record kind is rare and is handed over as the JSON text of its
// fields (see Client::RecordJson). These types hold no behaviour beyond field access and are not
// synchronised: build one on one thread, then move it into Client::Record.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atlas {

// The numeric fields a step record may carry besides step/epoch/ts. The order and names mirror
// the server's model::kStepFields exactly (a unit test checks this); the name is the JSON key.
enum class StepField : std::uint8_t {
  kLoss,
  kSamples,
  kTokens,
  kDataMs,
  kForwardMs,
  kBackwardMs,
  kOptimizerMs,
  kStepMs,
  kSamplesPerS,
  kTokensPerS,
  kRssBytes,
  kCudaAllocatedBytes,
  kCudaReservedBytes,
  kCudaPeakBytes,
  kCpuPercent,
  kGpuUtilPercent,
  kLearningRate,
  kEnergyJ,
  kPowerW,
  kCount,
};

inline constexpr std::size_t kStepFieldCount = static_cast<std::size_t>(StepField::kCount);

inline constexpr std::array<std::string_view, kStepFieldCount> kStepFieldNames = {
    "loss",
    "samples",
    "tokens",
    "data_ms",
    "forward_ms",
    "backward_ms",
    "optimizer_ms",
    "step_ms",
    "samples_per_s",
    "tokens_per_s",
    "rss_bytes",
    "cuda_allocated_bytes",
    "cuda_reserved_bytes",
    "cuda_peak_bytes",
    "cpu_percent",
    "gpu_util_percent",
    "lr",
    "energy_j",
    "power_w"};

// Whether a negative value of the field is invalid (the server rejects it). NaN is always
// allowed: a failed measurement is data to show, not invalid input.
inline constexpr bool StepFieldIsNonNegative(StepField f) { return f != StepField::kLoss; }

// The step field called `name`, or nullopt.
std::optional<StepField> FindStepField(std::string_view name);

// A user-defined value of a step (log_step(**kwargs)); its name must not be a step field name.
struct Metric {
  std::string name;
  double value = 0;
};

// One training step. Fields not Set are absent from the record. Non-finite values are allowed
// and travel as "NaN", "Infinity" and "-Infinity".
struct StepRecord {
  std::int64_t step = 0;
  std::optional<std::int64_t> epoch;
  double ts = 0;  // Unix seconds; 0 means "when Client::Record accepted it"
  std::array<double, kStepFieldCount> values{};
  std::uint32_t present = 0;  // bit i set when values[i] was given
  std::vector<Metric> metrics;

  StepRecord& Set(StepField f, double v) noexcept {
    values[Index(f)] = v;
    present |= Bit(f);
    return *this;
  }
  void Clear(StepField f) noexcept { present &= ~Bit(f); }
  bool Has(StepField f) const noexcept { return (present & Bit(f)) != 0; }
  // The value of `f`, or NaN when it is absent.
  double Get(StepField f) const noexcept { return Has(f) ? values[Index(f)] : std::nan(""); }

 private:
  static constexpr std::size_t Index(StepField f) { return static_cast<std::size_t>(f); }
  static constexpr std::uint32_t Bit(StepField f) { return std::uint32_t{1} << Index(f); }
};

static_assert(kStepFieldCount <= 32, "StepRecord::present has one bit per step field");

// The rare record kinds a caller hands over as JSON text (Client::RecordJson).
inline constexpr std::array<std::string_view, 6> kJsonRecordKinds = {
    "epoch", "layer_stats", "profile", "event", "hyperparameters", "architecture"};

// How a run ended (the "status" of a finish record).
enum class FinishStatus { kCompleted, kFailed, kStopped };
std::string_view ToString(FinishStatus s);

}  // namespace atlas
