// Energy: what the machine's devices use while a run trains, measured where the hardware allows
// and estimated (and labelled as such) where it does not. docs/energy.md documents every method
// and constant.
//
//   atlas::energy::EnergyConfig config;                     // defaults: the real machine
//   auto monitor = atlas::energy::EnergyMonitor::Create(config);
//   (void)monitor.value()->Start();                          // its own sampler thread
//   double j = monitor.value()->TotalJoules();               // lock-free, any thread
//   atlas::energy::Snapshot s = monitor.value()->SampleNow(); // an exact reading, per device
//   monitor.value()->Stop();
//
// Sources, in order of preference per component:
//   GPU  NVML (dlopen of libnvidia-ml.so.1, no build-time dependency): the total-energy counter
//        (`measured:nvml-counter`), else power readings integrated with the trapezoid rule at
//        the sampling rate (`measured:nvml-power`); a GPU with neither reports NaN joules and a
//        degraded reason, never a silent 0.
//   CPU  RAPL package domains through powercap sysfs (`measured:rapl`), else utilisation x TDP
//        (`estimated:cpu-model`).
//   RAM  RAPL dram domains (`measured:rapl`), else resident memory x W per GB
//        (`estimated:ram-model`).
//
// All OS access goes through the FileReader and LibraryLoader interfaces below and the Clock of
// atlas/clock.hpp, so tests run the monitor on a fake sysfs tree, a fake NVML library and a
// ManualClock.
//
// Threading: Create, Start, Stop and the destructor are called from one owning thread. Start
// launches one sampler thread that samples every source at `sample_hz`; it never calls back into
// user code. TotalJoules and ComponentJoules are lock-free (atomic loads) and safe from any
// thread at any time; SampleNow, Readings and Notes take a short internal lock (the sampler
// holds it only while it reads the devices) and are safe from any thread.
//
// Ownership: the monitor owns its sampler thread and its sources (including the loaded NVML
// library, unloaded after nvmlShutdown in the destructor). The Clock, FileReader and
// LibraryLoader in EnergyConfig, when given, are borrowed and must outlive the monitor.
//
// Errors: no exception leaves this API. A bad configuration makes Create fail; a device that
// cannot be read makes its figure fall back (and say why in `degraded`), never the monitor.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atlas/clock.hpp"
#include "atlas/status.hpp"

namespace atlas::energy {

// ----- OS access -----

// How reading a file failed, so that "permission denied" can be told apart from "absent".
enum class ReadError { kNone, kNotFound, kPermissionDenied, kOther };

struct FileRead {
  ReadError error = ReadError::kNone;
  std::string text;     // the file's contents when error == kNone
  std::string message;  // "<path>: <strerror>" otherwise
  bool ok() const { return error == ReadError::kNone; }
};

// Small text files (sysfs, procfs). Paths are absolute; the monitor prefixes its configured
// roots. Implementations are safe to call from any thread.
class FileReader {
 public:
  virtual ~FileReader() = default;
  // The whole file, at most 1 MiB.
  virtual FileRead Read(const std::string& path) = 0;
  // The entry names of a directory without "." and ".."; an error when it cannot be listed.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;

  // The POSIX implementation (never deleted).
  static FileReader* Default();
};

// A loaded shared library. Symbol returns nullptr when the symbol is absent.
class SharedLibrary {
 public:
  virtual ~SharedLibrary() = default;
  virtual void* Symbol(const char* name) = 0;
};

// Loads shared libraries by name or path (dlopen).
class LibraryLoader {
 public:
  virtual ~LibraryLoader() = default;
  // Fails with kNotFound and the loader's message (dlerror) when the library cannot be loaded.
  virtual Result<std::unique_ptr<SharedLibrary>> Load(const std::string& name) = 0;

  // The dlopen implementation (never deleted).
  static LibraryLoader* Default();
};

// ----- what is measured -----

enum class Component : std::uint8_t { kGpu, kCpu, kRam, kCount };
inline constexpr std::size_t kComponentCount = static_cast<std::size_t>(Component::kCount);
// "gpu", "cpu", "ram": the protocol's energy entry component names.
std::string_view ToString(Component c);

// The method labels (docs/energy.md says what each means and how accurate it is).
inline constexpr std::string_view kMethodNvmlCounter = "measured:nvml-counter";
inline constexpr std::string_view kMethodNvmlPower = "measured:nvml-power";
inline constexpr std::string_view kMethodRapl = "measured:rapl";
inline constexpr std::string_view kMethodCpuModel = "estimated:cpu-model";
inline constexpr std::string_view kMethodRamModel = "estimated:ram-model";
inline constexpr std::string_view kMethodUnavailable = "unavailable";

// One device's figures at one reading.
struct DeviceReading {
  Component component = Component::kCpu;
  std::string device;  // "gpu-0" (NVML index), "package-0", "dram-0", "cpu", "ram"
  std::string name;    // "NVIDIA H100 80GB HBM3", "package-0", the CPU model, ...
  std::string method;  // one of the kMethod* labels
  // Energy since Start, in joules; NaN when the device cannot be measured at all.
  double joules = 0;
  // Mean power over the last sampling interval, in watts (NaN before the second sample).
  double power_w = 0;
  // What makes the figure weaker than the best method, or "" (e.g. "RAPL permission denied:
  // /sys/class/powercap/intel-rapl:0/energy_uj", "3 of 120 power readings failed").
  std::string degraded;
  // GPU only, when NVML answers.
  std::optional<double> utilization_percent;
  std::optional<double> memory_used_bytes;
  std::optional<double> memory_total_bytes;
  std::optional<double> power_limit_w;
};

// A consistent reading of every device, taken at one instant.
struct Snapshot {
  double seconds = 0;        // since Start, on the monitor's clock
  double total_joules = 0;   // the sum of the finite device figures
  std::uint64_t sample = 0;  // how many samples have been taken (the sampler's and SampleNow's)
  std::vector<DeviceReading> devices;
};

// CPU utilisation scope of the CPU and RAM models.
enum class ModelScope {
  kProcess,  // this process and its descendants (the run's own work)
  kMachine,  // every CPU of the machine (/proc/stat), and the machine's used memory
};

struct EnergyConfig {
  // Samples per second; at least 10 (power integration needs it), at most 1000.
  double sample_hz = 10.0;
  // Where sysfs and procfs are mounted; tests point these at a fake tree.
  std::string sysfs_root = "/sys";
  std::string procfs_root = "/proc";
  // The process whose CPU time and memory the models attribute (ModelScope::kProcess); 0 means
  // "self" (procfs_root + "/self").
  int pid = 0;
  // The NVML library to load; "" disables NVML.
  std::string nvml_library = "libnvidia-ml.so.1";
  // NVML device indices to measure; empty means every GPU NVML reports.
  std::vector<unsigned> gpu_indices;
  bool rapl = true;  // false skips RAPL (the models are used)
  ModelScope model_scope = ModelScope::kProcess;
  // Overrides of the model constants (docs/energy.md): the CPU's TDP in watts for the whole
  // machine (all sockets), and RAM watts per GB.
  std::optional<double> cpu_tdp_w;
  std::optional<double> ram_w_per_gb;

  // Borrowed; null means Clock::Real(), FileReader::Default() and LibraryLoader::Default().
  Clock* clock = nullptr;
  FileReader* files = nullptr;
  LibraryLoader* libraries = nullptr;
};

// The model constants (docs/energy.md gives their sources).
inline constexpr double kWattsPerThreadFallback = 3.5;  // per logical CPU, unknown CPU model
inline constexpr double kRamWattsPerGb = 0.375;         // 3 W per 8 GB

// A CPU's TDP from the table, by a substring of its model name ("EPYC 7742"), per socket.
struct CpuTdp {
  std::string_view model;
  double tdp_w;
  std::string_view source;
};
// The TDP table, and the row whose model occurs in `model_name` (the longest match), if any.
const std::vector<CpuTdp>& CpuTdpTable();
std::optional<CpuTdp> FindCpuTdp(std::string_view model_name);

class EnergyMonitor {
 public:
  // Probes the sources (loads NVML, discovers RAPL domains, reads the CPU model) without
  // starting the thread. Fails with kInvalidArgument on a bad configuration only; missing or
  // unreadable hardware is reported in the readings' `degraded` and in Notes().
  static Result<std::unique_ptr<EnergyMonitor>> Create(EnergyConfig config) noexcept;

  // Stops the sampler when the caller did not.
  ~EnergyMonitor();
  EnergyMonitor(const EnergyMonitor&) = delete;
  EnergyMonitor& operator=(const EnergyMonitor&) = delete;

  // Takes the baseline reading (time zero, 0 J) and starts the sampler thread. kInternal when
  // the thread cannot start; a second call returns kConflict.
  Status Start() noexcept;
  // Takes a last sample and joins the thread. Idempotent. The figures stay readable.
  void Stop() noexcept;

  // The cumulative energy since Start of every device (finite figures), and of one component,
  // as of the latest sample. Lock-free; never blocks.
  double TotalJoules() const noexcept;
  double ComponentJoules(Component c) const noexcept;
  // The counter TotalJoules() loads, for a reader at every training step that cannot afford a
  // call (StepRecorder::SetEnergyCounter). Valid as long as the monitor.
  const std::atomic<double>& TotalJoulesCounter() const noexcept;

  // Samples every device now (on the caller's thread) and returns the reading. Before Start or
  // after Stop it returns the latest reading without sampling.
  Snapshot SampleNow() noexcept;
  // The latest reading, without sampling.
  Snapshot Latest() const noexcept;
  // What the monitor found out about the machine while probing, for the run's device info:
  // e.g. "NVML not loaded: libnvidia-ml.so.1: cannot open shared object file".
  std::vector<std::string> Notes() const noexcept;

  class Impl;

 private:
  explicit EnergyMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace atlas::energy
