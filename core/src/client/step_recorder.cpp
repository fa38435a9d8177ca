// StepRecorder (atlas/step_recorder.hpp) and the real ProcessProbe.
#include "atlas/step_recorder.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

namespace atlas {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

class RealProcessProbe final : public ProcessProbe {
 public:
  RealProcessProbe() : page_bytes_(static_cast<double>(sysconf(_SC_PAGESIZE))) {}
  ~RealProcessProbe() override { CloseFd(); }
  RealProcessProbe(const RealProcessProbe&) = delete;
  RealProcessProbe& operator=(const RealProcessProbe&) = delete;
  RealProcessProbe(RealProcessProbe&&) = delete;
  RealProcessProbe& operator=(RealProcessProbe&&) = delete;

  double CpuSeconds() override {
    timespec now{};
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) != 0) return 0;
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
  }

  std::optional<double> RssBytes() override {
    if (pid_ != getpid()) Reopen();
    if (fd_ < 0) return std::nullopt;
    // statm: "size resident shared text lib data dt", in pages.
    std::array<char, 128> text{};
    const ssize_t got = pread(fd_, text.data(), text.size() - 1, 0);
    if (got <= 0) return std::nullopt;
    const std::string_view line(text.data(), static_cast<std::size_t>(got));
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const char* p = line.data() + space + 1;
    const char* end = line.data() + line.size();
    long long pages = 0;
    const auto [next, error] = std::from_chars(p, end, pages);
    if (error != std::errc() || next == p) return std::nullopt;
    return static_cast<double>(pages) * page_bytes_;
  }

 private:
  void Reopen() {
    CloseFd();
    pid_ = getpid();
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): open(2) is variadic
    fd_ = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  }
  void CloseFd() {
    // After a fork the descriptor is the parent's copy: closing ours is still right.
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  double page_bytes_;
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<ProcessProbe> NewRealProcessProbe() { return std::make_unique<RealProcessProbe>(); }

StepRecorder::StepRecorder(StepRecorderOptions options, Clock* clock, ProcessProbe* probe)
    : options_(options), clock_(clock), probe_(probe) {
  options_.resources_every = std::max<std::int64_t>(1, options_.resources_every);
  options_.usable_cpus = std::max(1.0, options_.usable_cpus);
  const TimePoint now = clock_->Now();
  energy_base_.at = now;
  last_resources_ = now;
  if (probe_ != nullptr) last_cpu_s_ = probe_->CpuSeconds();
}

void StepRecorder::SetEnergySource(EnergySource source) {
  energy_ = std::move(source);
  energy_counter_ = nullptr;
  energy_base_ = EnergyPoint{0, clock_->Now()};
  energy_mark_.reset();
}

void StepRecorder::SetEnergyCounter(const std::atomic<double>* counter) {
  SetEnergySource({});
  energy_counter_ = counter;
}

double StepRecorder::ReadEnergy() const {
  return energy_counter_ != nullptr ? energy_counter_->load(std::memory_order_acquire) : energy_();
}

void StepRecorder::Begin() { call_ = clock_->Now(); }
void StepRecorder::ForwardStart() { forward_start_ = clock_->Now(); }
void StepRecorder::ForwardEnd() { forward_end_ = clock_->Now(); }
void StepRecorder::BackwardStart() { backward_start_ = clock_->Now(); }

void StepRecorder::End(const StepEnd& end) {
  const TimePoint now = clock_->Now();
  OpenStep step;
  step.step = end.step;
  step.epoch = end.epoch;
  step.loss = end.loss;
  step.samples = end.samples;
  step.tokens = end.tokens;
  step.timing = end.timing;
  if (call_ && last_end_) step.data_ms = Seconds(*call_ - *last_end_) * 1000.0;
  if (end.timing == StepTiming::kHost) {
    step.forward_ms = Seconds(forward_end_ - forward_start_) * 1000.0;
    step.backward_ms = Seconds(now - backward_start_) * 1000.0;
  }
  step.window_start = last_end_ ? *last_end_ : (call_ ? *call_ : now);
  open_ = step;
  call_.reset();
  last_end_ = now;
  // Once the loop's optimizer steps are seen, OptimizerEnd marks each step's end; a step
  // without one is closed by its reading when the next step begins, so no joules go uncounted.
  if (!optimizer_seen_) MarkEnergy(now);
}

void StepRecorder::OptimizerBegin() { optimizer_started_ = clock_->Now(); }

void StepRecorder::OptimizerEnd(std::optional<double> lr) {
  const TimePoint now = clock_->Now();
  if (optimizer_started_) {
    optimizer_s_ += Seconds(now - *optimizer_started_);
    optimizer_started_.reset();
  }
  lr_ = lr;
  optimizer_seen_ = true;
  if (open_) {
    last_end_ = now;
    MarkEnergy(now);
  }
}

void StepRecorder::MarkIdle() { last_end_ = clock_->Now(); }

void StepRecorder::EnergyEpochEnd(double joules) {
  const EnergyPoint point{joules, clock_->Now()};
  if (open_) {
    energy_mark_ = point;  // the open step's window runs to the epoch's end
  } else {
    energy_base_ = point;  // the next step starts from here
  }
}

void StepRecorder::MarkEnergy(TimePoint now) {
  if (HasEnergy()) energy_mark_ = EnergyPoint{ReadEnergy(), now};
}

std::optional<StepRecord> StepRecorder::Close() {
  if (!open_) return std::nullopt;
  const OpenStep step = *open_;
  open_.reset();
  const TimePoint now = clock_->Now();
  const TimePoint end = last_end_.value_or(now);

  StepRecord record;
  record.step = step.step;
  record.epoch = step.epoch;
  record.ts = clock_->UnixSeconds() - Seconds(now - end);
  if (step.loss) record.Set(StepField::kLoss, *step.loss);
  if (step.data_ms) record.Set(StepField::kDataMs, *step.data_ms);
  if (step.forward_ms) record.Set(StepField::kForwardMs, *step.forward_ms);
  if (step.backward_ms) record.Set(StepField::kBackwardMs, *step.backward_ms);
  const double optimizer_s = std::exchange(optimizer_s_, 0.0);
  if (optimizer_s > 0 && step.timing != StepTiming::kDevice) {
    record.Set(StepField::kOptimizerMs, optimizer_s * 1000.0);
  }
  if (lr_) record.Set(StepField::kLearningRate, *lr_);
  const double step_s = Seconds(end - step.window_start);
  if (step_s > 0) record.Set(StepField::kStepMs, step_s * 1000.0);
  if (step.samples) record.Set(StepField::kSamples, *step.samples);
  if (step.tokens) record.Set(StepField::kTokens, *step.tokens);
  if (options_.throughput && step_s > 0) {
    if (step.samples) record.Set(StepField::kSamplesPerS, *step.samples / step_s);
    if (step.tokens) record.Set(StepField::kTokensPerS, *step.tokens / step_s);
  }
  AddEnergy(record, now);
  if (step.step % options_.resources_every == 0 && ResourcesDue(step.epoch, now)) {
    AddResources(record, now);
  }
  return record;
}

void StepRecorder::AddEnergy(StepRecord& record, TimePoint now) {
  if (!HasEnergy()) return;
  const EnergyPoint end = energy_mark_ ? *energy_mark_ : EnergyPoint{ReadEnergy(), now};
  energy_mark_.reset();
  // max(0, NaN) is 0: an unreadable counter reads as no energy, as in the epoch entries.
  const double joules = std::max(0.0, end.joules - energy_base_.joules);
  const double seconds = Seconds(end.at - energy_base_.at);
  energy_base_ = end;
  record.Set(StepField::kEnergyJ, joules);
  if (seconds > 0) record.Set(StepField::kPowerW, joules / seconds);
}

bool StepRecorder::ResourcesDue(std::optional<std::int64_t> epoch, TimePoint now) const {
  return !resources_read_ || epoch != resources_epoch_ ||
         now - last_resources_ >= options_.resources_interval;
}

void StepRecorder::AddResources(StepRecord& record, TimePoint now) {
  if (probe_ == nullptr) return;
  resources_read_ = true;
  resources_epoch_ = record.epoch;
  if (options_.cpu) {
    const double cpu_s = probe_->CpuSeconds();
    const double wall_s = Seconds(now - last_resources_);
    if (wall_s > 0) {
      record.Set(StepField::kCpuPercent,
                 std::max(0.0, 100.0 * (cpu_s - last_cpu_s_) / (wall_s * options_.usable_cpus)));
    }
    last_cpu_s_ = cpu_s;
  }
  last_resources_ = now;
  if (options_.memory) {
    if (const std::optional<double> rss = probe_->RssBytes()) {
      record.Set(StepField::kRssBytes, *rss);
    }
  }
}

void StepRecorder::AddEpochLoss(std::int64_t epoch, double loss) {
  auto& [sum, count] = epoch_loss_[epoch];
  sum += loss;
  ++count;
}

std::pair<double, std::int64_t> StepRecorder::TakeEpochLoss(std::int64_t epoch) {
  const auto found = epoch_loss_.find(epoch);
  if (found == epoch_loss_.end()) return {0.0, 0};
  const std::pair<double, std::int64_t> out = found->second;
  epoch_loss_.erase(found);
  return out;
}

}  // namespace atlas
