#include "energy/nvml_source.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

namespace atlas::energy {
namespace {

// Casts a symbol to its function type; POSIX guarantees data and function pointers convert.
template <typename Fn>
bool Bind(SharedLibrary& library, const char* name, Fn* out) {
  void* symbol = library.Symbol(name);
  *out = reinterpret_cast<Fn>(symbol);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  return symbol != nullptr;
}

}  // namespace

std::unique_ptr<NvmlSource> NvmlSource::Open(LibraryLoader& loader, const std::string& library,
                                             const std::vector<unsigned>& indices,
                                             std::vector<std::string>* notes) {
  if (library.empty()) return nullptr;
  Result<std::unique_ptr<SharedLibrary>> loaded = loader.Load(library);
  if (!loaded.ok()) {
    notes->push_back("NVML not loaded: " + loaded.status().message());
    return nullptr;
  }
  SharedLibrary& lib = **loaded;
  Api api;
  const bool complete = Bind(lib, "nvmlInit_v2", &api.init) &&
                        Bind(lib, "nvmlShutdown", &api.shutdown) &&
                        Bind(lib, "nvmlErrorString", &api.error_string) &&
                        Bind(lib, "nvmlDeviceGetCount_v2", &api.get_count) &&
                        Bind(lib, "nvmlDeviceGetHandleByIndex_v2", &api.get_handle) &&
                        Bind(lib, "nvmlDeviceGetName", &api.get_name) &&
                        Bind(lib, "nvmlDeviceGetTotalEnergyConsumption", &api.get_energy) &&
                        Bind(lib, "nvmlDeviceGetPowerUsage", &api.get_power) &&
                        Bind(lib, "nvmlDeviceGetUtilizationRates", &api.get_utilization) &&
                        Bind(lib, "nvmlDeviceGetMemoryInfo", &api.get_memory) &&
                        Bind(lib, "nvmlDeviceGetEnforcedPowerLimit", &api.get_power_limit);
  if (!complete) {
    notes->push_back("NVML not used: " + library + " lacks a function Atlas needs");
    return nullptr;
  }
  if (const nvmlReturn_t rc = api.init(); rc != nvml::kSuccess) {
    notes->push_back("NVML not initialised: " + std::string(api.error_string(rc)));
    return nullptr;
  }
  std::unique_ptr<NvmlSource> source(new NvmlSource(std::move(*loaded), api));
  unsigned count = 0;
  if (const nvmlReturn_t rc = api.get_count(&count); rc != nvml::kSuccess) {
    notes->push_back("NVML device count failed: " + source->ErrorText(rc));
    return nullptr;
  }
  for (unsigned i = 0; i < count; ++i) {
    if (!indices.empty() && std::find(indices.begin(), indices.end(), i) == indices.end()) {
      continue;
    }
    Gpu gpu;
    if (const nvmlReturn_t rc = api.get_handle(i, &gpu.handle); rc != nvml::kSuccess) {
      notes->push_back("NVML device " + std::to_string(i) + " skipped: " + source->ErrorText(rc));
      continue;
    }
    DeviceReading reading;
    reading.component = Component::kGpu;
    reading.device = "gpu-" + std::to_string(i);
    char name[nvml::kDeviceNameBufferSize] = {};
    if (api.get_name(gpu.handle, name, sizeof name) == nvml::kSuccess) reading.name = name;
    source->Probe(gpu, reading);
    source->gpus_.push_back(std::move(gpu));
    source->readings_.push_back(std::move(reading));
  }
  if (source->gpus_.empty()) {
    notes->push_back("NVML reports no GPU to measure");
    return nullptr;
  }
  return source;
}

NvmlSource::NvmlSource(std::unique_ptr<SharedLibrary> library, Api api)
    : library_(std::move(library)), api_(api) {}

NvmlSource::~NvmlSource() { api_.shutdown(); }

std::string NvmlSource::ErrorText(nvmlReturn_t code) const {
  const char* text = api_.error_string(code);
  return text != nullptr ? text : "NVML error " + std::to_string(code);
}

// Chooses the GPU's method: the counter when it answers, else power readings, else none.
void NvmlSource::Probe(Gpu& gpu, DeviceReading& reading) {
  unsigned long long mj = 0;  // NOLINT(google-runtime-int): NVML's type
  const nvmlReturn_t counter = api_.get_energy(gpu.handle, &mj);
  if (counter == nvml::kSuccess) {
    gpu.path = Path::kCounter;
    reading.method = std::string(kMethodNvmlCounter);
    return;
  }
  gpu.why_not_counter = ErrorText(counter);
  unsigned mw = 0;
  const nvmlReturn_t power = api_.get_power(gpu.handle, &mw);
  if (power == nvml::kSuccess) {
    gpu.path = Path::kPower;
    reading.method = std::string(kMethodNvmlPower);
    return;
  }
  gpu.path = Path::kNone;
  reading.method = std::string(kMethodUnavailable);
  reading.joules = std::nan("");
  reading.power_w = std::nan("");
  reading.degraded = "no energy counter (NVML: " + gpu.why_not_counter +
                     ") and no power readings (NVML: " + ErrorText(power) +
                     "): this GPU's energy is unknown";
}

void NvmlSource::Begin(TimePoint now) {
  for (std::size_t i = 0; i < gpus_.size(); ++i) {
    Gpu& gpu = gpus_[i];
    DeviceReading& reading = readings_[i];
    gpu.readings = 0;
    gpu.failures = 0;
    if (gpu.path == Path::kNone) continue;
    reading.joules = 0;
    reading.power_w = std::nan("");
    if (gpu.path == Path::kCounter) ReadCounter(gpu, reading, now, true);
    if (gpu.path == Path::kPower) ReadPower(gpu, reading, now, true);
    ReadExtras(gpu, reading);
  }
}

void NvmlSource::Sample(TimePoint now) {
  for (std::size_t i = 0; i < gpus_.size(); ++i) {
    Gpu& gpu = gpus_[i];
    DeviceReading& reading = readings_[i];
    if (gpu.path == Path::kCounter) ReadCounter(gpu, reading, now, false);
    if (gpu.path == Path::kPower) ReadPower(gpu, reading, now, false);
    if (gpu.path != Path::kNone) ReadExtras(gpu, reading);
  }
}

void NvmlSource::ReadCounter(Gpu& gpu, DeviceReading& reading, TimePoint now, bool baseline) {
  unsigned long long mj = 0;  // NOLINT(google-runtime-int): NVML's type
  ++gpu.readings;
  if (const nvmlReturn_t rc = api_.get_energy(gpu.handle, &mj); rc != nvml::kSuccess) {
    ++gpu.failures;
    gpu.last_error = ErrorText(rc);
    NoteFailures(gpu, reading);
    return;
  }
  if (!baseline) {
    // The counter only goes back when the driver was reloaded; count from zero then.
    const std::uint64_t delta = mj >= gpu.last_counter ? mj - gpu.last_counter : mj;
    const double joules = static_cast<double>(delta) / 1000.0;
    reading.joules += joules;
    const double dt = SecondsBetween(gpu.last_time, now);
    if (dt > 0) reading.power_w = joules / dt;
  }
  gpu.last_counter = mj;
  gpu.last_time = now;
}

void NvmlSource::ReadPower(Gpu& gpu, DeviceReading& reading, TimePoint now, bool baseline) {
  unsigned mw = 0;
  ++gpu.readings;
  if (const nvmlReturn_t rc = api_.get_power(gpu.handle, &mw); rc != nvml::kSuccess) {
    // The next good reading integrates across the gap (a straight line between the two).
    ++gpu.failures;
    gpu.last_error = ErrorText(rc);
    NoteFailures(gpu, reading);
    return;
  }
  const double watts = static_cast<double>(mw) / 1000.0;
  if (!baseline && gpu.last_power_w.has_value()) {
    const double dt = SecondsBetween(gpu.last_time, now);
    const double mean = (*gpu.last_power_w + watts) / 2.0;  // the trapezoid rule
    if (dt > 0) {
      reading.joules += mean * dt;
      reading.power_w = mean;
    }
  }
  gpu.last_power_w = watts;
  gpu.last_time = now;
  if (reading.degraded.empty() || gpu.failures == 0) {
    reading.degraded = "no energy counter on this GPU (NVML: " + gpu.why_not_counter +
                       "): power readings integrated between samples";
  }
}

void NvmlSource::NoteFailures(const Gpu& gpu, DeviceReading& reading) {
  reading.degraded = std::to_string(gpu.failures) + " of " + std::to_string(gpu.readings) +
                     " readings failed (last: " + gpu.last_error + ")";
}

void NvmlSource::ReadExtras(const Gpu& gpu, DeviceReading& reading) const {
  nvmlUtilization_t utilization{};
  if (api_.get_utilization(gpu.handle, &utilization) == nvml::kSuccess) {
    reading.utilization_percent = utilization.gpu;
  }
  nvmlMemory_t memory{};
  if (api_.get_memory(gpu.handle, &memory) == nvml::kSuccess) {
    reading.memory_used_bytes = static_cast<double>(memory.used);
    reading.memory_total_bytes = static_cast<double>(memory.total);
  }
  unsigned limit_mw = 0;
  if (api_.get_power_limit(gpu.handle, &limit_mw) == nvml::kSuccess) {
    reading.power_limit_w = limit_mw / 1000.0;
  }
}

}  // namespace atlas::energy
