// EnergyMonitor: probes the sources, then samples them on its own thread (atlas/energy.hpp).
#include <unistd.h>

#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "atlas/energy.hpp"
#include "energy/model_source.hpp"
#include "energy/nvml_source.hpp"
#include "energy/rapl_source.hpp"
#include "energy/source.hpp"
#include "util/mutex.hpp"

namespace atlas::energy {

std::string_view ToString(Component c) {
  switch (c) {
    case Component::kGpu:
      return "gpu";
    case Component::kCpu:
      return "cpu";
    case Component::kRam:
      return "ram";
    case Component::kCount:
      break;
  }
  return "other";
}

class EnergyMonitor::Impl {
 public:
  Impl(EnergyConfig config, std::vector<std::unique_ptr<Source>> sources,
       std::vector<std::string> notes)
      : config_(std::move(config)),
        clock_(config_.clock != nullptr ? config_.clock : Clock::Real()),
        period_(std::chrono::duration_cast<Duration>(
            std::chrono::duration<double>(1.0 / config_.sample_hz))),
        sources_(std::move(sources)),
        notes_(std::move(notes)) {
    for (auto& c : component_) c.store(0.0, std::memory_order_relaxed);
    const core::MutexLock lock(&mu_);
    Publish(/*seconds=*/0);
  }

  ~Impl() { Stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Start() {
    {
      const core::MutexLock lock(&mu_);
      if (started_) return Status::Conflict("the energy monitor was already started");
      started_ = true;
      start_ = clock_->Now();
      for (auto& source : sources_) source->Begin(start_);
      Publish(0);
    }
    waker_ = clock_->NewWaker();
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::exception& e) {
      const core::MutexLock lock(&mu_);
      stopped_ = true;
      return Status::Internal(std::string("cannot start the energy sampler thread: ") + e.what());
    }
    return Status::Ok();
  }

  void Stop() {
    stop_.store(true, std::memory_order_release);
    if (waker_) waker_->Notify();
    if (thread_.joinable()) thread_.join();
    const core::MutexLock lock(&mu_);
    if (started_ && !stopped_) SampleLocked();
    stopped_ = true;
  }

  double Total() const { return total_.load(std::memory_order_acquire); }
  const std::atomic<double>& TotalCounter() const { return total_; }
  double Component(energy::Component c) const {
    return component_.at(static_cast<std::size_t>(c)).load(std::memory_order_acquire);
  }

  Snapshot SampleNow() {
    const core::MutexLock lock(&mu_);
    if (started_ && !stopped_) SampleLocked();
    return latest_;
  }

  Snapshot Latest() {
    const core::MutexLock lock(&mu_);
    return latest_;
  }

  const std::vector<std::string>& notes() const { return notes_; }

 private:
  // The sampler thread: one sample per period, on the configured clock, until Stop.
  void Run() {
    TimePoint next = start_ + period_;
    while (!stop_.load(std::memory_order_acquire)) {
      waker_->WaitUntil(next);
      if (stop_.load(std::memory_order_acquire)) break;
      const TimePoint now = clock_->Now();
      if (now < next) continue;  // woken early (a notification), not yet due
      {
        const core::MutexLock lock(&mu_);
        SampleLocked();
      }
      next += period_;
      // Fell behind (a suspended process, a slow device): resume the cadence from now.
      if (next <= now) next = now + period_;
    }
  }

  void SampleLocked() ATLAS_REQUIRES(mu_) {
    const TimePoint now = clock_->Now();
    for (auto& source : sources_) source->Sample(now);
    ++samples_;
    Publish(SecondsBetween(start_, now));
  }

  // Rebuilds the latest snapshot from the sources and publishes the lock-free totals.
  void Publish(double seconds) ATLAS_REQUIRES(mu_) {
    Snapshot s;
    s.seconds = seconds;
    s.sample = samples_;
    std::array<double, kComponentCount> by_component{};
    for (const auto& source : sources_) {
      for (const DeviceReading& d : source->devices()) {
        s.devices.push_back(d);
        if (std::isfinite(d.joules)) {
          s.total_joules += d.joules;
          by_component.at(static_cast<std::size_t>(d.component)) += d.joules;
        }
      }
    }
    for (std::size_t i = 0; i < kComponentCount; ++i) {
      component_.at(i).store(by_component.at(i), std::memory_order_release);
    }
    total_.store(s.total_joules, std::memory_order_release);
    latest_ = std::move(s);
  }

  const EnergyConfig config_;
  Clock* const clock_;
  const Duration period_;
  std::unique_ptr<Waker> waker_;  // set by Start before the thread exists
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<double> total_{0.0};
  std::array<std::atomic<double>, kComponentCount> component_;

  core::Mutex mu_;
  std::vector<std::unique_ptr<Source>> sources_ ATLAS_GUARDED_BY(mu_);
  const std::vector<std::string> notes_;
  Snapshot latest_ ATLAS_GUARDED_BY(mu_);
  TimePoint start_ ATLAS_GUARDED_BY(mu_){};
  std::uint64_t samples_ ATLAS_GUARDED_BY(mu_) = 0;
  bool started_ ATLAS_GUARDED_BY(mu_) = false;
  bool stopped_ ATLAS_GUARDED_BY(mu_) = false;
};

namespace {

Status CheckConfig(const EnergyConfig& config) {
  if (!(config.sample_hz >= 10.0 && config.sample_hz <= 1000.0)) {
    return Status::InvalidArgument(
        "sample_hz must be between 10 and 1000 (power integration needs 10 Hz or more)");
  }
  if (config.cpu_tdp_w && !(*config.cpu_tdp_w > 0 && std::isfinite(*config.cpu_tdp_w))) {
    return Status::InvalidArgument("cpu_tdp_w must be a positive number of watts");
  }
  if (config.ram_w_per_gb && !(*config.ram_w_per_gb >= 0 && std::isfinite(*config.ram_w_per_gb))) {
    return Status::InvalidArgument("ram_w_per_gb must be a non-negative number of watts");
  }
  if (config.pid < 0) return Status::InvalidArgument("pid must be >= 0");
  return Status::Ok();
}

std::vector<std::unique_ptr<Source>> OpenSources(const EnergyConfig& config,
                                                 std::vector<std::string>* notes) {
  FileReader& files = config.files != nullptr ? *config.files : *FileReader::Default();
  LibraryLoader& libraries =
      config.libraries != nullptr ? *config.libraries : *LibraryLoader::Default();
  std::vector<std::unique_ptr<Source>> sources;
  if (auto gpu = NvmlSource::Open(libraries, config.nvml_library, config.gpu_indices, notes)) {
    sources.push_back(std::move(gpu));
  }
  RaplSource::Probe rapl;
  if (config.rapl) {
    rapl = RaplSource::Open(files, config.sysfs_root, notes);
  } else {
    rapl.cpu_unavailable = "RAPL turned off in the configuration";
    rapl.ram_unavailable = rapl.cpu_unavailable;
  }
  if (rapl.source) sources.push_back(std::move(rapl.source));
  ModelSource::Options options;
  options.cpu = !rapl.has_package;
  options.ram = !rapl.has_dram;
  options.cpu_reason = rapl.cpu_unavailable;
  options.ram_reason = rapl.ram_unavailable;
  options.scope = config.model_scope;
  options.cpu_tdp_w = config.cpu_tdp_w;
  options.ram_w_per_gb = config.ram_w_per_gb;
  options.procfs_root = config.procfs_root;
  options.pid = config.pid;
  const long ticks = ::sysconf(_SC_CLK_TCK);  // NOLINT(google-runtime-int): sysconf's type
  if (ticks > 0) options.clock_ticks_per_s = ticks;
  if (auto model = ModelSource::Open(files, std::move(options)))
    sources.push_back(std::move(model));
  return sources;
}

}  // namespace

Result<std::unique_ptr<EnergyMonitor>> EnergyMonitor::Create(EnergyConfig config) noexcept {
  try {
    if (Status s = CheckConfig(config); !s.ok()) return s;
    std::vector<std::string> notes;
    std::vector<std::unique_ptr<Source>> sources = OpenSources(config, &notes);
    auto impl = std::make_unique<Impl>(std::move(config), std::move(sources), std::move(notes));
    return std::unique_ptr<EnergyMonitor>(new EnergyMonitor(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("energy monitor set-up failed: ") + e.what());
  }
}

EnergyMonitor::EnergyMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EnergyMonitor::~EnergyMonitor() = default;

Status EnergyMonitor::Start() noexcept {
  try {
    return impl_->Start();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("energy monitor start failed: ") + e.what());
  }
}

void EnergyMonitor::Stop() noexcept { impl_->Stop(); }
double EnergyMonitor::TotalJoules() const noexcept { return impl_->Total(); }
const std::atomic<double>& EnergyMonitor::TotalJoulesCounter() const noexcept {
  return impl_->TotalCounter();
}
double EnergyMonitor::ComponentJoules(energy::Component c) const noexcept {
  if (c == energy::Component::kCount) return 0;
  return impl_->Component(c);
}
Snapshot EnergyMonitor::SampleNow() noexcept { return impl_->SampleNow(); }
Snapshot EnergyMonitor::Latest() const noexcept { return impl_->Latest(); }
std::vector<std::string> EnergyMonitor::Notes() const noexcept { return impl_->notes(); }

}  // namespace atlas::energy
