// The part of NVML's C ABI (nvml.h) that the GPU source calls. Declared here rather than
// included, because libatlas has no build-time dependency on the CUDA toolkit: the library is
// loaded at run time with dlopen("libnvidia-ml.so.1"). The layouts and values below are NVML's
// documented, stable ABI; the test suite's fake NVML library implements the same functions.
#pragma once

#include <cstdint>

extern "C" {

typedef int nvmlReturn_t;                    // NOLINT(modernize-use-using): a C ABI
typedef struct nvmlDevice_st* nvmlDevice_t;  // NOLINT(modernize-use-using)

struct nvmlUtilization_t {
  unsigned int gpu;     // percent of time a kernel ran over the last sample period
  unsigned int memory;  // percent of time memory was read or written
};

struct nvmlMemory_t {
  unsigned long long total;  // NOLINT(google-runtime-int): NVML's types
  unsigned long long free;   // NOLINT(google-runtime-int)
  unsigned long long used;   // NOLINT(google-runtime-int)
};

}  // extern "C"

namespace atlas::energy::nvml {

inline constexpr nvmlReturn_t kSuccess = 0;
inline constexpr nvmlReturn_t kErrorNotSupported = 3;
inline constexpr nvmlReturn_t kErrorNoPermission = 4;
inline constexpr unsigned kDeviceNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

// The function types, named like the symbols.
using InitFn = nvmlReturn_t (*)();
using ShutdownFn = nvmlReturn_t (*)();
using ErrorStringFn = const char* (*)(nvmlReturn_t);
using GetCountFn = nvmlReturn_t (*)(unsigned int*);
using GetHandleByIndexFn = nvmlReturn_t (*)(unsigned int, nvmlDevice_t*);
using GetNameFn = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned int);
// Millijoules since the driver was last reloaded (Volta and newer).
using GetTotalEnergyConsumptionFn =
    nvmlReturn_t (*)(nvmlDevice_t,
                     unsigned long long*);  // NOLINT(google-runtime-int)
// Milliwatts.
using GetPowerUsageFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
using GetUtilizationRatesFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t*);
using GetMemoryInfoFn = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*);
// Milliwatts.
using GetEnforcedPowerLimitFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);

}  // namespace atlas::energy::nvml
