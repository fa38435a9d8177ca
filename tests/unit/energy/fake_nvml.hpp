// The control functions of the fake NVML library (fake_nvml.cpp), which tests look up with
// dlsym on the same handle the monitor loads: one library instance, one set of devices.
#pragma once

extern "C" {
// Forgets every device and call count; `init_error` != 0 makes nvmlInit_v2 fail with it.
void fake_nvml_reset(int init_error);
// Adds a device. `energy_error` != 0 makes nvmlDeviceGetTotalEnergyConsumption fail with it
// (3 = NVML_ERROR_NOT_SUPPORTED), likewise `power_error` for nvmlDeviceGetPowerUsage.
void fake_nvml_add_device(const char* name, int energy_error, int power_error);
// The values the next calls return (current values, not queues).
void fake_nvml_set_energy_mj(unsigned index, unsigned long long mj);  // NOLINT(google-runtime-int)
void fake_nvml_set_power_mw(unsigned index, unsigned mw);
void fake_nvml_set_power_error(unsigned index, int error);
// How many times nvmlShutdown was called.
int fake_nvml_shutdowns();
}
