#include "energy_fixture.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace atlas::energy::testing {
namespace fs = std::filesystem;

TempTree::TempTree() {
  std::string pattern = (fs::temp_directory_path() / "atlas-energy-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
}

TempTree::~TempTree() {
  std::error_code ec;
  // Permission bits a test removed would stop remove_all: give them back first.
  for (const auto& entry : fs::recursive_directory_iterator(root_, ec)) {
    fs::permissions(entry.path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(root_, ec);
}

void TempTree::Write(const std::string& relative, const std::string& text) const {
  const fs::path path = fs::path(root_) / relative;
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

void TempTree::Remove(const std::string& relative) const { fs::remove(fs::path(root_) / relative); }

void TempTree::Chmod(const std::string& relative, unsigned mode) const {
  ::chmod((fs::path(root_) / relative).c_str(), mode);
}

void TempTree::Zone(const std::string& zone, const std::string& name, std::uint64_t energy_uj,
                    std::uint64_t max_range_uj) const {
  const std::string dir = "sys/class/powercap/" + zone;
  Write(dir + "/name", name + "\n");
  Write(dir + "/energy_uj", std::to_string(energy_uj) + "\n");
  Write(dir + "/max_energy_range_uj", std::to_string(max_range_uj) + "\n");
}

void TempTree::SetEnergy(const std::string& zone, std::uint64_t energy_uj) const {
  Write("sys/class/powercap/" + zone + "/energy_uj", std::to_string(energy_uj) + "\n");
}

void TempTree::Process(int pid, std::uint64_t utime, std::uint64_t stime, std::uint64_t rss_kb,
                       const std::string& children) const {
  const std::string dir = "proc/" + std::to_string(pid);
  // Fields 1-13, then utime(14) and stime(15), then more; the name holds a space and a ')'.
  Write(dir + "/stat", std::to_string(pid) + " (python3 x) y) S 1 1 1 0 -1 4194560 100 0 0 0 " +
                           std::to_string(utime) + " " + std::to_string(stime) +
                           " 0 0 20 0 8 0 100 1000000 500\n");
  Write(dir + "/status", "Name:\tpython3\nVmPeak:\t 99 kB\nVmRSS:\t " + std::to_string(rss_kb) +
                             " kB\nThreads:\t8\n");
  Write(dir + "/task/" + std::to_string(pid) + "/children", children);
}

void TempTree::CpuInfo(const std::string& model, int logical, int sockets) const {
  std::string text;
  for (int i = 0; i < logical; ++i) {
    text += "processor\t: " + std::to_string(i) + "\nmodel name\t: " + model +
            "\nphysical id\t: " + std::to_string(i % sockets) + "\n\n";
  }
  Write("proc/cpuinfo", text);
}

FakeNvml::FakeNvml() {
  Result<std::unique_ptr<SharedLibrary>> lib = LibraryLoader::Default()->Load(Path());
  if (!lib.ok()) throw std::runtime_error(lib.status().message());
  library_ = std::move(*lib);
}

namespace {
template <typename Fn>
Fn Sym(SharedLibrary& lib, const char* name) {
  void* symbol = lib.Symbol(name);
  if (symbol == nullptr) throw std::runtime_error(std::string("fake NVML lacks ") + name);
  return reinterpret_cast<Fn>(symbol);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}
}  // namespace

void FakeNvml::Reset(int init_error) const {
  Sym<void (*)(int)>(*library_, "fake_nvml_reset")(init_error);
}
void FakeNvml::AddDevice(const std::string& name, int energy_error, int power_error) const {
  Sym<void (*)(const char*, int, int)>(*library_, "fake_nvml_add_device")(
      name.c_str(), energy_error, power_error);
}
void FakeNvml::SetEnergyMj(unsigned index, std::uint64_t mj) const {
  Sym<void (*)(unsigned, unsigned long long)>(*library_, "fake_nvml_set_energy_mj")(  // NOLINT
      index, mj);
}
void FakeNvml::SetPowerMw(unsigned index, unsigned mw) const {
  Sym<void (*)(unsigned, unsigned)>(*library_, "fake_nvml_set_power_mw")(index, mw);
}
void FakeNvml::SetPowerError(unsigned index, int error) const {
  Sym<void (*)(unsigned, int)>(*library_, "fake_nvml_set_power_error")(index, error);
}
int FakeNvml::Shutdowns() const { return Sym<int (*)()>(*library_, "fake_nvml_shutdowns")(); }

EnergyConfig Config(const TempTree& tree, atlas::testing::ManualClock* clock, bool nvml) {
  EnergyConfig config;
  config.sysfs_root = tree.sys();
  config.procfs_root = tree.proc();
  config.nvml_library = nvml ? FakeNvml::Path() : "";
  config.pid = kFakePid;
  config.clock = clock;
  return config;
}

bool WaitForSample(EnergyMonitor& monitor, std::uint64_t n) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (monitor.Latest().sample < n) {
    if (std::chrono::steady_clock::now() > limit) return false;
    std::this_thread::yield();
  }
  return true;
}

bool Tick(atlas::testing::ManualClock& clock, EnergyMonitor& monitor) {
  const std::uint64_t next = monitor.Latest().sample + 1;
  // The sampler must be asleep on the clock before time moves, or it would miss the deadline.
  if (!clock.WaitForSleepers(1)) return false;
  clock.Advance(std::chrono::milliseconds(100));
  return WaitForSample(monitor, next);
}

std::optional<DeviceReading> Find(const Snapshot& s, const std::string& device) {
  for (const DeviceReading& d : s.devices) {
    if (d.device == device) return d;
  }
  return std::nullopt;
}

FileRead DenyingReader::Read(const std::string& path) {
  if (path.size() >= suffix_.size() &&
      path.compare(path.size() - suffix_.size(), suffix_.size(), suffix_) == 0) {
    FileRead denied;
    denied.error = ReadError::kPermissionDenied;
    denied.message = path + ": Permission denied";
    return denied;
  }
  return FileReader::Default()->Read(path);
}

Result<std::vector<std::string>> DenyingReader::List(const std::string& dir) {
  return FileReader::Default()->List(dir);
}

}  // namespace atlas::energy::testing
