// ModelSource: the estimates used where RAPL gives no figure.
//
// CPU: utilisation x TDP. Utilisation is the CPU time of this process and its descendants over
// wall time and every logical CPU (ModelScope::kProcess), or the busy share of /proc/stat
// (kMachine). TDP: the user's value, else the table's (per socket, times the sockets), else
// kWattsPerThreadFallback per logical CPU. CPU time is a cumulative counter, so the estimate
// between two samples is exact for the model whatever the sampling rate.
// RAM: resident memory (this process and its descendants, or the machine's used memory) times
// kRamWattsPerGb per GiB, integrated with the trapezoid rule.
// docs/energy.md gives every constant's source. Threading: see source.hpp.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atlas/energy.hpp"
#include "energy/source.hpp"

namespace atlas::energy {

struct CpuInfo {
  std::string model;  // "model name" of /proc/cpuinfo, "" when unknown
  int logical = 0;    // logical CPUs ("processor" lines)
  int sockets = 1;    // distinct "physical id" values
};
// Parses /proc/cpuinfo's text.
CpuInfo ParseCpuInfo(std::string_view text);

// The TDP the CPU model uses for the whole machine, and where it comes from.
struct TdpChoice {
  double watts = 0;
  std::string source;  // "user setting", "table: EPYC 7742 x 2 sockets (AMD)", "fallback ..."
};
TdpChoice ChooseTdp(const CpuInfo& cpu, std::optional<double> user_tdp_w);

class ModelSource final : public Source {
 public:
  struct Options {
    bool cpu = false;        // estimate the CPU (RAPL gave no package figure)
    bool ram = false;        // estimate RAM (RAPL gave no dram figure)
    std::string cpu_reason;  // why the CPU is estimated, shown as `degraded`
    std::string ram_reason;
    ModelScope scope = ModelScope::kProcess;
    std::optional<double> cpu_tdp_w;
    std::optional<double> ram_w_per_gb;
    std::string procfs_root;
    int pid = 0;                   // 0: self
    long clock_ticks_per_s = 100;  // NOLINT(google-runtime-int): sysconf's type
  };

  // nullptr when neither model is wanted.
  static std::unique_ptr<ModelSource> Open(FileReader& files, Options options);

  void Begin(TimePoint now) override;
  void Sample(TimePoint now) override;
  const std::vector<DeviceReading>& devices() const override { return readings_; }

 private:
  ModelSource(FileReader& files, Options options, CpuInfo cpu, TdpChoice tdp);
  std::string ProcDir(int pid) const;
  // The pids of the tracked process tree (the process, then its descendants).
  std::vector<int> ProcessTree();
  // CPU seconds per pid of the tree, and its resident bytes.
  void ReadTree(std::map<int, double>* cpu_s, double* rss_bytes);
  // Busy and total jiffies of the machine (/proc/stat), or nullopt.
  std::optional<std::pair<double, double>> ReadMachineCpu();
  std::optional<double> ReadMachineUsedBytes();
  void SampleCpu(DeviceReading& reading, double dt, const std::map<int, double>& cpu_s,
                 bool baseline);
  void SampleRam(DeviceReading& reading, double dt, double rss_bytes, bool baseline);

  FileReader& files_;
  Options options_;
  CpuInfo cpu_;
  TdpChoice tdp_;
  std::vector<DeviceReading> readings_;
  std::map<int, double> last_cpu_s_;                       // process scope
  std::optional<std::pair<double, double>> last_machine_;  // machine scope: busy, total
  std::optional<double> last_ram_w_;
  TimePoint last_time_{};
};

}  // namespace atlas::energy
