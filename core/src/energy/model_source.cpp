#include "energy/model_source.hpp"

#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <utility>

#include "energy/text.hpp"

namespace atlas::energy {
namespace {

constexpr double kBytesPerGib = 1024.0 * 1024.0 * 1024.0;
constexpr std::size_t kMaxTreeSize = 4096;  // a safety bound on the descendants walked

// utime + stime in clock ticks from /proc/<pid>/stat's text. The command name (field 2) may
// hold spaces and parentheses, so fields are counted after its last ')'.
std::optional<double> ProcessTicks(std::string_view stat) {
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  const std::vector<std::string_view> fields = Words(stat.substr(paren + 1));
  // After ')': state(3) ppid(4) ... utime(14) stime(15), so utime is the 12th word.
  constexpr std::size_t kUtime = 11;
  if (fields.size() <= kUtime + 1) return std::nullopt;
  const auto utime = ParseU64(fields[kUtime]);
  const auto stime = ParseU64(fields[kUtime + 1]);
  if (!utime || !stime) return std::nullopt;
  return static_cast<double>(*utime + *stime);
}

}  // namespace

CpuInfo ParseCpuInfo(std::string_view text) {
  CpuInfo info;
  std::set<std::string, std::less<>> sockets;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (key == "processor") ++info.logical;
    if (key == "model name" && info.model.empty()) info.model = std::string(value);
    if (key == "physical id") sockets.emplace(value);
  }
  info.sockets = sockets.empty() ? 1 : static_cast<int>(sockets.size());
  return info;
}

TdpChoice ChooseTdp(const CpuInfo& cpu, std::optional<double> user_tdp_w) {
  if (user_tdp_w) return {*user_tdp_w, "user setting"};
  if (const std::optional<CpuTdp> row = FindCpuTdp(cpu.model)) {
    return {row->tdp_w * cpu.sockets, "table: " + std::string(row->model) + " " +
                                          std::to_string(static_cast<int>(row->tdp_w)) + " W x " +
                                          std::to_string(cpu.sockets) + " socket(s) (" +
                                          std::string(row->source) + ")"};
  }
  const int threads = cpu.logical > 0 ? cpu.logical : 1;
  return {kWattsPerThreadFallback * threads,
          "fallback: CPU model " +
              (cpu.model.empty() ? std::string("unknown") : "'" + cpu.model + "'") +
              " not in the TDP table, " + std::to_string(threads) + " logical CPUs x 3.5 W"};
}

std::unique_ptr<ModelSource> ModelSource::Open(FileReader& files, Options options) {
  if (!options.cpu && !options.ram) return nullptr;
  const FileRead cpuinfo = files.Read(options.procfs_root + "/cpuinfo");
  CpuInfo cpu = cpuinfo.ok() ? ParseCpuInfo(cpuinfo.text) : CpuInfo{};
  if (cpu.logical == 0) cpu.logical = 1;
  if (options.pid == 0) {
    // The pid behind /proc/self, so the children files (task/<pid>/children) can be found.
    const FileRead self = files.Read(options.procfs_root + "/self/stat");
    const std::vector<std::string_view> words =
        self.ok() ? Words(self.text) : std::vector<std::string_view>{};
    const auto pid = words.empty() ? std::nullopt : ParseU64(words[0]);
    options.pid = pid ? static_cast<int>(*pid) : 0;
  }
  TdpChoice tdp = ChooseTdp(cpu, options.cpu_tdp_w);
  return std::unique_ptr<ModelSource>(
      new ModelSource(files, std::move(options), std::move(cpu), std::move(tdp)));
}

ModelSource::ModelSource(FileReader& files, Options options, CpuInfo cpu, TdpChoice tdp)
    : files_(files), options_(std::move(options)), cpu_(std::move(cpu)), tdp_(std::move(tdp)) {
  const char* scope = options_.scope == ModelScope::kProcess ? "this process and its children"
                                                             : "the whole machine";
  if (options_.cpu) {
    DeviceReading r;
    r.component = Component::kCpu;
    r.device = "cpu";
    r.name = cpu_.model.empty() ? "unknown CPU" : cpu_.model;
    r.method = std::string(kMethodCpuModel);
    r.degraded = options_.cpu_reason + "; estimated as utilisation of " + scope + " x TDP " +
                 std::to_string(static_cast<int>(std::lround(tdp_.watts))) + " W (" + tdp_.source +
                 ")";
    readings_.push_back(std::move(r));
  }
  if (options_.ram) {
    const double w_per_gb = options_.ram_w_per_gb.value_or(kRamWattsPerGb);
    DeviceReading r;
    r.component = Component::kRam;
    r.device = "ram";
    r.name = "resident memory of " + std::string(scope);
    r.method = std::string(kMethodRamModel);
    char watts[32];
    std::snprintf(watts, sizeof watts, "%g", w_per_gb);
    r.degraded = options_.ram_reason + "; estimated as " + watts + " W per GiB of " +
                 (options_.scope == ModelScope::kProcess ? "resident memory"
                                                         : "used memory (MemTotal - MemAvailable)");
    readings_.push_back(std::move(r));
  }
}

std::string ModelSource::ProcDir(int pid) const {
  return options_.procfs_root + "/" + std::to_string(pid);
}

std::vector<int> ModelSource::ProcessTree() {
  std::vector<int> tree;
  if (options_.pid <= 0) return tree;
  std::set<int> seen{options_.pid};
  tree.push_back(options_.pid);
  // Children of each process's main thread: DataLoader workers and other subprocesses.
  for (std::size_t i = 0; i < tree.size() && tree.size() < kMaxTreeSize; ++i) {
    const int pid = tree[i];
    const FileRead children =
        files_.Read(ProcDir(pid) + "/task/" + std::to_string(pid) + "/children");
    if (!children.ok()) continue;
    for (std::string_view word : Words(children.text)) {
      const auto child = ParseU64(word);
      if (child && seen.insert(static_cast<int>(*child)).second) {
        tree.push_back(static_cast<int>(*child));
      }
    }
  }
  return tree;
}

void ModelSource::ReadTree(std::map<int, double>* cpu_s, double* rss_bytes) {
  *rss_bytes = 0;
  bool root_rss = false;
  for (const int pid : ProcessTree()) {
    const std::string dir = ProcDir(pid);
    if (options_.cpu) {
      const FileRead stat = files_.Read(dir + "/stat");
      const std::optional<double> ticks = stat.ok() ? ProcessTicks(stat.text) : std::nullopt;
      if (ticks) (*cpu_s)[pid] = *ticks / static_cast<double>(options_.clock_ticks_per_s);
    }
    if (options_.ram) {
      const FileRead status = files_.Read(dir + "/status");
      const auto rss = status.ok() ? KeyValue(status.text, "VmRSS") : std::nullopt;
      const auto kb = rss ? ParseU64(Words(*rss).empty() ? "" : Words(*rss)[0]) : std::nullopt;
      if (kb) *rss_bytes += static_cast<double>(*kb) * 1024.0;
      if (kb && pid == options_.pid) root_rss = true;
    }
  }
  if (!root_rss) *rss_bytes = std::nan("");  // the process itself is unreadable: no figure
}

std::optional<std::pair<double, double>> ModelSource::ReadMachineCpu() {
  const FileRead stat = files_.Read(options_.procfs_root + "/stat");
  if (!stat.ok()) return std::nullopt;
  const std::string_view text = stat.text;
  const std::vector<std::string_view> words = Words(text.substr(0, text.find('\n')));
  // cpu user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // inside user and nice, so only the first eight count.
  if (words.size() < 9 || words[0] != "cpu") return std::nullopt;
  double total = 0;
  double idle = 0;
  for (std::size_t i = 1; i <= 8; ++i) {
    const auto v = ParseU64(words[i]);
    if (!v) return std::nullopt;
    total += static_cast<double>(*v);
    if (i == 4 || i == 5) idle += static_cast<double>(*v);  // idle, iowait
  }
  return std::make_pair(total - idle, total);
}

std::optional<double> ModelSource::ReadMachineUsedBytes() {
  const FileRead meminfo = files_.Read(options_.procfs_root + "/meminfo");
  if (!meminfo.ok()) return std::nullopt;
  const auto total = KeyValue(meminfo.text, "MemTotal");
  const auto available = KeyValue(meminfo.text, "MemAvailable");
  if (!total || !available || Words(*total).empty() || Words(*available).empty()) {
    return std::nullopt;
  }
  const auto t = ParseU64(Words(*total)[0]);
  const auto a = ParseU64(Words(*available)[0]);
  if (!t || !a || *a > *t) return std::nullopt;
  return static_cast<double>(*t - *a) * 1024.0;
}

void ModelSource::Begin(TimePoint now) {
  last_cpu_s_.clear();
  last_machine_.reset();
  last_ram_w_.reset();
  for (DeviceReading& r : readings_) {
    r.joules = 0;
    r.power_w = std::nan("");
  }
  last_time_ = now;
  Sample(now);  // the baseline: no energy for a zero interval
  // A model whose inputs cannot be read says so, rather than counting a silent 0.
  const bool cpu_read =
      options_.scope == ModelScope::kProcess ? !last_cpu_s_.empty() : last_machine_.has_value();
  for (DeviceReading& r : readings_) {
    const bool read = r.component == Component::kCpu ? cpu_read : last_ram_w_.has_value();
    if (read) continue;
    r.joules = std::nan("");
    r.method = std::string(kMethodUnavailable);
    r.degraded =
        "cannot read " +
        (options_.scope == ModelScope::kProcess
             ? ProcDir(options_.pid) + (r.component == Component::kCpu ? "/stat" : "/status")
             : options_.procfs_root + (r.component == Component::kCpu ? "/stat" : "/meminfo")) +
        ": this " + std::string(ToString(r.component)) + " energy is unknown";
  }
}

void ModelSource::Sample(TimePoint now) {
  const double dt = SecondsBetween(last_time_, now);
  const bool baseline = dt <= 0;
  std::map<int, double> cpu_s;
  double rss = 0;
  if (options_.scope == ModelScope::kProcess) ReadTree(&cpu_s, &rss);
  if (options_.scope == ModelScope::kMachine) rss = ReadMachineUsedBytes().value_or(NAN);
  for (DeviceReading& r : readings_) {
    if (std::isnan(r.joules)) continue;  // unreadable since Begin
    if (r.component == Component::kCpu) SampleCpu(r, dt, cpu_s, baseline);
    if (r.component == Component::kRam) SampleRam(r, dt, rss, baseline);
  }
  last_time_ = now;
}

void ModelSource::SampleCpu(DeviceReading& reading, double dt, const std::map<int, double>& cpu_s,
                            bool baseline) {
  double fraction = 0;  // of all logical CPUs, over dt
  if (options_.scope == ModelScope::kProcess) {
    // A process seen for the first time counts from now; one that exited takes its last
    // interval with it (at most one sampling period of its CPU time).
    double busy_s = 0;
    for (const auto& [pid, seconds] : cpu_s) {
      const auto last = last_cpu_s_.find(pid);
      if (last != last_cpu_s_.end() && seconds > last->second) busy_s += seconds - last->second;
    }
    last_cpu_s_ = cpu_s;
    if (!baseline) fraction = busy_s / (dt * cpu_.logical);
  } else {
    const auto now = ReadMachineCpu();
    if (now && last_machine_ && now->second > last_machine_->second) {
      fraction = (now->first - last_machine_->first) / (now->second - last_machine_->second);
    }
    if (now) last_machine_ = now;
  }
  if (baseline) return;
  const double watts = tdp_.watts * fraction;
  reading.joules += watts * dt;
  reading.power_w = watts;
}

void ModelSource::SampleRam(DeviceReading& reading, double dt, double rss_bytes, bool baseline) {
  if (!std::isfinite(rss_bytes)) return;
  const double watts = options_.ram_w_per_gb.value_or(kRamWattsPerGb) * rss_bytes / kBytesPerGib;
  if (!baseline && last_ram_w_) {
    const double mean = (*last_ram_w_ + watts) / 2.0;
    reading.joules += mean * dt;
    reading.power_w = mean;
  }
  last_ram_w_ = watts;
}

}  // namespace atlas::energy
