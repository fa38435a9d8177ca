// A fake NVML library for the energy tests: the NVML functions the GPU source uses, answering
// from devices and values that the test sets through the fake_nvml_* control functions.
// Guarded by one mutex: the monitor's sampler thread and the test's thread both call in.
#include "fake_nvml.hpp"

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "energy/nvml_api.hpp"

namespace {

struct Device {
  std::string name;
  int energy_error = 0;
  int power_error = 0;
  unsigned long long energy_mj = 0;  // NOLINT(google-runtime-int)
  unsigned power_mw = 0;
};

struct State {
  std::mutex mu;
  int init_error = 0;
  int shutdowns = 0;
  std::vector<Device> devices;
};

State& state() {
  static State* s = new State();  // NOLINT(cppcoreguidelines-owning-memory): lives forever
  return *s;
}

// A handle is index + 1 as a pointer, so 0 stays invalid.
nvmlDevice_t Handle(unsigned index) {
  return reinterpret_cast<nvmlDevice_t>(static_cast<std::uintptr_t>(index) + 1);  // NOLINT
}

Device* Find(nvmlDevice_t handle) {
  const auto index = reinterpret_cast<std::uintptr_t>(handle) - 1;  // NOLINT
  auto& devices = state().devices;
  return index < devices.size() ? &devices[index] : nullptr;
}

constexpr nvmlReturn_t kInvalidArgument = 2;

}  // namespace

extern "C" {

void fake_nvml_reset(int init_error) {
  const std::lock_guard<std::mutex> lock(state().mu);
  state().devices.clear();
  state().init_error = init_error;
  state().shutdowns = 0;
}

void fake_nvml_add_device(const char* name, int energy_error, int power_error) {
  const std::lock_guard<std::mutex> lock(state().mu);
  state().devices.push_back(Device{name, energy_error, power_error, 0, 0});
}

void fake_nvml_set_energy_mj(unsigned index, unsigned long long mj) {  // NOLINT
  const std::lock_guard<std::mutex> lock(state().mu);
  state().devices.at(index).energy_mj = mj;
}

void fake_nvml_set_power_mw(unsigned index, unsigned mw) {
  const std::lock_guard<std::mutex> lock(state().mu);
  state().devices.at(index).power_mw = mw;
}

void fake_nvml_set_power_error(unsigned index, int error) {
  const std::lock_guard<std::mutex> lock(state().mu);
  state().devices.at(index).power_error = error;
}

int fake_nvml_shutdowns() {
  const std::lock_guard<std::mutex> lock(state().mu);
  return state().shutdowns;
}

nvmlReturn_t nvmlInit_v2() {
  const std::lock_guard<std::mutex> lock(state().mu);
  return state().init_error;
}

nvmlReturn_t nvmlShutdown() {
  const std::lock_guard<std::mutex> lock(state().mu);
  ++state().shutdowns;
  return 0;
}

const char* nvmlErrorString(nvmlReturn_t code) {
  switch (code) {
    case 0:
      return "Success";
    case 3:
      return "Not Supported";
    case 4:
      return "Insufficient Permissions";
    case 9:
      return "Driver Not Loaded";
    default:
      return "Unknown Error";
  }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  const std::lock_guard<std::mutex> lock(state().mu);
  *count = static_cast<unsigned>(state().devices.size());
  return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  const std::lock_guard<std::mutex> lock(state().mu);
  if (index >= state().devices.size()) return kInvalidArgument;
  *device = Handle(index);
  return 0;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  const std::lock_guard<std::mutex> lock(state().mu);
  const Device* d = Find(device);
  if (d == nullptr || length == 0) return kInvalidArgument;
  std::strncpy(name, d->name.c_str(), length - 1);
  name[length - 1] = '\0';
  return 0;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                 unsigned long long* mj) {  // NOLINT
  const std::lock_guard<std::mutex> lock(state().mu);
  const Device* d = Find(device);
  if (d == nullptr) return kInvalidArgument;
  if (d->energy_error != 0) return d->energy_error;
  *mj = d->energy_mj;
  return 0;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* mw) {
  const std::lock_guard<std::mutex> lock(state().mu);
  const Device* d = Find(device);
  if (d == nullptr) return kInvalidArgument;
  if (d->power_error != 0) return d->power_error;
  *mw = d->power_mw;
  return 0;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t* u) {
  const std::lock_guard<std::mutex> lock(state().mu);
  if (Find(device) == nullptr) return kInvalidArgument;
  *u = nvmlUtilization_t{87, 40};
  return 0;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  const std::lock_guard<std::mutex> lock(state().mu);
  if (Find(device) == nullptr) return kInvalidArgument;
  *memory = nvmlMemory_t{80ull << 30, 60ull << 30, 20ull << 30};
  return 0;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int* mw) {
  const std::lock_guard<std::mutex> lock(state().mu);
  if (Find(device) == nullptr) return kInvalidArgument;
  *mw = 700000;
  return 0;
}

}  // extern "C"
