// NvmlSource: the GPUs of this machine through NVML, loaded at run time (nvml_api.hpp).
//
// Per GPU, the total-energy counter (millijoules, Volta and newer) where the GPU has one,
// else power readings (milliwatts) integrated with the trapezoid rule between samples. A GPU
// with neither reports NaN joules and says why. Utilisation, memory and the enforced power
// limit are read at every sample. Threading: see source.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atlas/energy.hpp"
#include "energy/nvml_api.hpp"
#include "energy/source.hpp"

namespace atlas::energy {

class NvmlSource final : public Source {
 public:
  // Loads `library` and opens its GPUs (those in `indices`, or all when empty). Returns nullptr
  // and appends a note when NVML cannot be loaded or initialised, or reports no GPU.
  static std::unique_ptr<NvmlSource> Open(LibraryLoader& loader, const std::string& library,
                                          const std::vector<unsigned>& indices,
                                          std::vector<std::string>* notes);
  // Calls nvmlShutdown, then unloads the library.
  ~NvmlSource() override;
  NvmlSource(const NvmlSource&) = delete;
  NvmlSource& operator=(const NvmlSource&) = delete;

  void Begin(TimePoint now) override;
  void Sample(TimePoint now) override;
  const std::vector<DeviceReading>& devices() const override { return readings_; }

 private:
  struct Api {
    nvml::InitFn init = nullptr;
    nvml::ShutdownFn shutdown = nullptr;
    nvml::ErrorStringFn error_string = nullptr;
    nvml::GetCountFn get_count = nullptr;
    nvml::GetHandleByIndexFn get_handle = nullptr;
    nvml::GetNameFn get_name = nullptr;
    nvml::GetTotalEnergyConsumptionFn get_energy = nullptr;
    nvml::GetPowerUsageFn get_power = nullptr;
    nvml::GetUtilizationRatesFn get_utilization = nullptr;
    nvml::GetMemoryInfoFn get_memory = nullptr;
    nvml::GetEnforcedPowerLimitFn get_power_limit = nullptr;
  };
  enum class Path { kCounter, kPower, kNone };
  struct Gpu {
    nvmlDevice_t handle = nullptr;
    Path path = Path::kNone;
    std::string why_not_counter;     // NVML's error when the counter is not used
    std::uint64_t last_counter = 0;  // millijoules
    std::optional<double> last_power_w;
    TimePoint last_time{};
    std::uint64_t readings = 0;
    std::uint64_t failures = 0;
    std::string last_error;
  };

  NvmlSource(std::unique_ptr<SharedLibrary> library, Api api);
  std::string ErrorText(nvmlReturn_t code) const;
  void Probe(Gpu& gpu, DeviceReading& reading);
  void ReadCounter(Gpu& gpu, DeviceReading& reading, TimePoint now, bool baseline);
  void ReadPower(Gpu& gpu, DeviceReading& reading, TimePoint now, bool baseline);
  void ReadExtras(const Gpu& gpu, DeviceReading& reading) const;
  static void NoteFailures(const Gpu& gpu, DeviceReading& reading);

  std::unique_ptr<SharedLibrary> library_;
  Api api_;
  std::vector<Gpu> gpus_;
  std::vector<DeviceReading> readings_;
};

}  // namespace atlas::energy
