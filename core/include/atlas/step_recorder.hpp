// StepRecorder: the per-step bookkeeping of an observer, so that a training step costs its
// language binding a handful of calls and no work of its own.
//
// A training loop tells the recorder when things happen (the step began, the forward started
// and ended, the backward started, the step's work ended, the optimizer started and ended). The
// recorder keeps the moments and, when the step is closed, turns them into a StepRecord: the
// phase times (data wait, forward, backward, optimizer), the step's wall time and throughput,
// the process's CPU use and resident memory, and the step's energy window. The Python Observer
// and the LibTorch observer both drive one; docs/observer.md says what each field means.
//
// A step stays open after End() until Close(): the optimizer step that follows it (seen by a
// hook) still belongs to it. Close() happens when the next step begins, at an epoch's end and
// at finish.
//
// Threading: one recorder per observer, used by the training thread only (not synchronised).
// The energy source is called on that thread too.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

#include "atlas/clock.hpp"
#include "atlas/record.hpp"

namespace atlas {

// The process's CPU time and resident memory. NewRealProcessProbe() reads the OS; tests give
// their own.
class ProcessProbe {
 public:
  virtual ~ProcessProbe() = default;
  // CPU seconds used by every thread of this process so far.
  virtual double CpuSeconds() = 0;
  // Resident set size in bytes, or nullopt where it cannot be read.
  virtual std::optional<double> RssBytes() = 0;
};

// Linux: CLOCK_PROCESS_CPUTIME_ID and one pread of /proc/self/statm on a kept descriptor
// (reopened after a fork, since /proc/self names the opening process). Elsewhere RSS is nullopt.
std::unique_ptr<ProcessProbe> NewRealProcessProbe();

struct StepRecorderOptions {
  bool throughput = true;  // samples_per_s, tokens_per_s
  bool cpu = true;         // cpu_percent
  bool memory = true;      // rss_bytes
  // cpu_percent and rss_bytes go on steps whose number is a multiple of this (>= 1), at most
  // once per `resources_interval` of wall time, and on the first such step of each epoch: they
  // change slowly, and reading them (a /proc read, a process CPU clock) costs a step that is
  // cold between a model's backward and the next forward some 10-20 us.
  std::int64_t resources_every = 1;
  Duration resources_interval{0};
  // The CPUs this process may use: cpu_percent is of all of them (100 = every one busy).
  double usable_cpus = 1;
};

// How a step's phases were timed.
enum class StepTiming : std::uint8_t {
  kHost,    // forward and backward by this recorder's clock (ForwardStart ... End)
  kDevice,  // by the caller (CUDA events): no phase times here, optimizer_ms included
  kNone,    // a step the caller ran itself: only its wall time and data wait
};

struct StepEnd {
  std::int64_t step = 0;
  std::optional<std::int64_t> epoch;
  std::optional<double> loss;  // absent while the caller still has to read it (device tensors)
  std::optional<double> samples;
  std::optional<double> tokens;
  StepTiming timing = StepTiming::kHost;
};

class StepRecorder {
 public:
  // `clock` and `probe` must outlive the recorder; `probe` may be null (no resources).
  StepRecorder(StepRecorderOptions options, Clock* clock, ProcessProbe* probe);

  // Total joules measured so far (any origin); the step's energy is the difference across its
  // window. Null: no energy fields.
  using EnergySource = std::function<double()>;
  // Starts the energy windows now, at 0 J.
  void SetEnergySource(EnergySource source);
  // The same from a lock-free counter of total joules, loaded in place at every step: after a
  // model's backward a call through an EnergySource costs microseconds of cold code. The
  // counter (EnergyMonitor::TotalJoulesCounter()) must outlive its use; null: no energy.
  void SetEnergyCounter(const std::atomic<double>* counter);

  // The step function was entered (its data wait ends here).
  void Begin();
  void ForwardStart();
  void ForwardEnd();
  void BackwardStart();
  // The step's own work is done: opens its record (closing one still open first is the
  // caller's job: Close()). With kHost timing the backward ends now.
  void End(const StepEnd& end);

  void OptimizerBegin();
  // `lr`: the optimizer's learning rate now, or nullopt when it cannot be read.
  void OptimizerEnd(std::optional<double> lr);

  // Time from now on is not data wait (a pause the user asked for ended now).
  void MarkIdle();
  // An epoch ends with the energy counter at `joules`: the open step's window runs to here, or
  // the next step's window starts here.
  void EnergyEpochEnd(double joules);

  bool open() const { return open_.has_value(); }
  // The open step's number (meaningful only while open()).
  std::int64_t open_step() const { return open_ ? open_->step : -1; }

  // Completes the open step's record, or nullopt when none is open.
  std::optional<StepRecord> Close();

  // The per-epoch sums of step losses (for the epoch record's default train loss).
  void AddEpochLoss(std::int64_t epoch, double loss);
  // Returns and forgets (sum, count) of `epoch`.
  std::pair<double, std::int64_t> TakeEpochLoss(std::int64_t epoch);

 private:
  struct OpenStep {
    std::int64_t step = 0;
    std::optional<std::int64_t> epoch;
    std::optional<double> loss;
    std::optional<double> samples;
    std::optional<double> tokens;
    std::optional<double> data_ms;
    std::optional<double> forward_ms;
    std::optional<double> backward_ms;
    StepTiming timing = StepTiming::kHost;
    TimePoint window_start;
  };
  struct EnergyPoint {
    double joules = 0;
    TimePoint at;
  };

  void MarkEnergy(TimePoint now);
  void AddEnergy(StepRecord& record, TimePoint now);
  bool ResourcesDue(std::optional<std::int64_t> epoch, TimePoint now) const;
  void AddResources(StepRecord& record, TimePoint now);

  StepRecorderOptions options_;
  Clock* clock_;
  ProcessProbe* probe_;

  std::optional<TimePoint> last_end_;  // the previous step's end (its optimizer step's, if any)
  std::optional<TimePoint> call_;      // Begin() of the step in progress
  TimePoint forward_start_{};
  TimePoint forward_end_{};
  TimePoint backward_start_{};
  std::optional<OpenStep> open_;

  std::optional<TimePoint> optimizer_started_;
  double optimizer_s_ = 0;  // optimizer time since the last Close()
  std::optional<double> lr_;
  bool optimizer_seen_ = false;

  bool HasEnergy() const { return energy_counter_ != nullptr || static_cast<bool>(energy_); }
  double ReadEnergy() const;

  EnergySource energy_;
  const std::atomic<double>* energy_counter_ = nullptr;
  EnergyPoint energy_base_;
  std::optional<EnergyPoint> energy_mark_;

  double last_cpu_s_ = 0;
  TimePoint last_resources_{};
  bool resources_read_ = false;                  // since construction
  std::optional<std::int64_t> resources_epoch_;  // of the last reading

  std::unordered_map<std::int64_t, std::pair<double, std::int64_t>> epoch_loss_;
};

}  // namespace atlas
