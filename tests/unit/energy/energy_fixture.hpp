// Shared helpers of the energy tests: a temporary directory holding a fake sysfs and procfs,
// the fake NVML library (loaded through the real dlopen loader, so the monitor and the test
// share one instance), and a wait for the sampler thread's n-th sample.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "atlas/energy.hpp"
#include "testing/manual_clock.hpp"

namespace atlas::energy::testing {

// A temporary directory, removed with everything in it when the object dies.
class TempTree {
 public:
  TempTree();
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::string& root() const { return root_; }
  std::string sys() const { return root_ + "/sys"; }
  std::string proc() const { return root_ + "/proc"; }
  // Writes `text` to root/relative, creating the parent directories.
  void Write(const std::string& relative, const std::string& text) const;
  void Remove(const std::string& relative) const;
  void Chmod(const std::string& relative, unsigned mode) const;

  // A RAPL zone: <sys>/class/powercap/<zone>/{name,energy_uj,max_energy_range_uj}.
  void Zone(const std::string& zone, const std::string& name, std::uint64_t energy_uj,
            std::uint64_t max_range_uj = 262143328850ULL) const;
  void SetEnergy(const std::string& zone, std::uint64_t energy_uj) const;
  // A process: <proc>/<pid>/stat with utime and stime ticks, status with VmRSS, children.
  void Process(int pid, std::uint64_t utime, std::uint64_t stime, std::uint64_t rss_kb,
               const std::string& children = "") const;
  // /proc/cpuinfo with `logical` processors of one model on `sockets` sockets.
  void CpuInfo(const std::string& model, int logical, int sockets) const;

 private:
  std::string root_;
};

// The fake NVML library's control functions.
class FakeNvml {
 public:
  FakeNvml();
  void Reset(int init_error = 0) const;
  void AddDevice(const std::string& name, int energy_error = 0, int power_error = 0) const;
  void SetEnergyMj(unsigned index, std::uint64_t mj) const;
  void SetPowerMw(unsigned index, unsigned mw) const;
  void SetPowerError(unsigned index, int error) const;
  int Shutdowns() const;
  static std::string Path() { return FAKE_NVML_PATH; }

 private:
  std::unique_ptr<SharedLibrary> library_;
};

inline constexpr int kNotSupported = 3;
inline constexpr int kFakePid = 4242;

// A config over `tree`: no NVML unless `nvml` is set, the fake pid, and `clock`.
EnergyConfig Config(const TempTree& tree, atlas::testing::ManualClock* clock, bool nvml = false);

// Waits (with a 30 s safety limit, never a timed assertion) until the monitor has taken `n`
// samples; false when the limit passes first.
bool WaitForSample(EnergyMonitor& monitor, std::uint64_t n);

// Advances the clock by one 100 ms period and waits for the sampler's next sample.
bool Tick(atlas::testing::ManualClock& clock, EnergyMonitor& monitor);

// A copy of the first reading of `device`, or nullopt.
std::optional<DeviceReading> Find(const Snapshot& s, const std::string& device);

// A FileReader that answers EACCES for paths ending in `suffix` and reads the rest from disk.
class DenyingReader final : public FileReader {
 public:
  explicit DenyingReader(std::string suffix) : suffix_(std::move(suffix)) {}
  FileRead Read(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;

 private:
  std::string suffix_;
};

}  // namespace atlas::energy::testing
