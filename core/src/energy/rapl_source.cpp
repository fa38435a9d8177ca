#include "energy/rapl_source.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "energy/text.hpp"

namespace atlas::energy {
namespace {

constexpr std::string_view kMsrPrefix = "intel-rapl:";
constexpr std::string_view kMmioPrefix = "intel-rapl-mmio:";

// A powercap zone found on disk, before deduplication.
struct Found {
  std::string dir;         // <root>/class/powercap/intel-rapl:0:1
  std::string domain;      // its `name`: "package-0", "dram", "psys", ...
  std::string package;     // the package it belongs to ("package-0"); itself for a package
  bool top_level = false;  // intel-rapl:N rather than intel-rapl:N:M
};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "intel-rapl:0" before "intel-rapl-mmio:0": the MSR interface wins over its MMIO duplicate.
bool ZoneOrder(const std::string& a, const std::string& b) {
  const bool a_msr = StartsWith(a, kMsrPrefix);
  const bool b_msr = StartsWith(b, kMsrPrefix);
  if (a_msr != b_msr) return a_msr;
  if (a.size() != b.size()) return a.size() < b.size();  // intel-rapl:2 before intel-rapl:10
  return a < b;
}

std::vector<Found> Discover(FileReader& files, const std::string& base,
                            std::vector<std::string> names) {
  std::sort(names.begin(), names.end(), ZoneOrder);
  std::vector<Found> found;
  for (const std::string& zone : names) {
    const std::string_view prefix = StartsWith(zone, kMsrPrefix)    ? kMsrPrefix
                                    : StartsWith(zone, kMmioPrefix) ? kMmioPrefix
                                                                    : std::string_view();
    if (prefix.empty()) continue;
    std::string dir = base;
    dir += "/";
    dir += zone;
    const FileRead name = files.Read(dir + "/name");
    if (!name.ok()) continue;
    Found f;
    f.dir = dir;
    f.domain = std::string(Trim(name.text));
    const std::string_view rest = std::string_view{zone}.substr(prefix.size());
    f.top_level = rest.find(':') == std::string_view::npos;
    if (f.top_level) {
      f.package = f.domain;
    } else {
      const std::string parent = base + "/" + zone.substr(0, zone.rfind(':'));
      const FileRead parent_name = files.Read(parent + "/name");
      f.package = parent_name.ok() ? std::string(Trim(parent_name.text)) : parent;
    }
    found.push_back(std::move(f));
  }
  return found;
}

// "package-0" -> "0", "package-1-die-0" -> "1-die-0"; other names unchanged.
std::string PackageSuffix(const std::string& package) {
  constexpr std::string_view kPackage = "package-";
  return StartsWith(package, kPackage) ? package.substr(kPackage.size()) : package;
}

}  // namespace

std::uint64_t RaplDelta(std::uint64_t last, std::uint64_t now, std::uint64_t max_range) {
  if (now >= last) return now - last;
  if (max_range >= last) return (max_range - last) + now;
  return now;
}

RaplSource::Probe RaplSource::Open(FileReader& files, const std::string& sysfs_root,
                                   std::vector<std::string>* notes) {
  Probe probe;
  const std::string base = sysfs_root + "/class/powercap";
  Result<std::vector<std::string>> names = files.List(base);
  if (!names.ok()) {
    probe.cpu_unavailable = "RAPL not available: " + names.status().message();
    probe.ram_unavailable = probe.cpu_unavailable;
    return probe;
  }
  const std::vector<Found> found = Discover(files, base, std::move(*names));
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<Zone> zones;
  std::vector<DeviceReading> readings;
  std::vector<Found> psys;
  std::string denied;
  for (const Found& f : found) {
    const bool package = f.top_level && StartsWith(f.domain, "package");
    const bool dram = !f.top_level && f.domain == "dram";
    if (f.top_level && f.domain == "psys") psys.push_back(f);
    if (!package && !dram) continue;  // core and uncore are parts of their package
    if (!seen.insert({f.domain, f.package}).second) {
      notes->push_back("RAPL: " + f.dir + " duplicates " + f.package + "/" + f.domain +
                       " and is not counted twice");
      continue;
    }
    Zone zone;
    zone.energy_path = f.dir + "/energy_uj";
    const FileRead energy = files.Read(zone.energy_path);
    if (!energy.ok() || !ParseU64(energy.text)) {
      const std::string why =
          energy.error == ReadError::kPermissionDenied
              ? "RAPL permission denied: " + zone.energy_path
              : "RAPL unreadable: " + (energy.ok() ? zone.energy_path : energy.message);
      if (denied.empty()) denied = why;
      if (package && probe.cpu_unavailable.empty()) probe.cpu_unavailable = why;
      if (dram && probe.ram_unavailable.empty()) probe.ram_unavailable = why;
      continue;
    }
    const FileRead range = files.Read(f.dir + "/max_energy_range_uj");
    zone.max_range_uj = range.ok() ? ParseU64(range.text).value_or(0) : 0;
    DeviceReading reading;
    reading.component = package ? Component::kCpu : Component::kRam;
    reading.device = package ? f.domain : "dram-" + PackageSuffix(f.package);
    reading.name = package ? f.domain : f.package + "/dram";
    reading.method = std::string(kMethodRapl);
    if (zone.max_range_uj == 0) {
      reading.degraded = "max_energy_range_uj unreadable: a wraparound counts as a restart";
    }
    probe.has_package = probe.has_package || package;
    probe.has_dram = probe.has_dram || dram;
    zones.push_back(std::move(zone));
    readings.push_back(std::move(reading));
  }
  // psys covers the whole platform (packages, memory, more): counted only without packages.
  if (!probe.has_package && !psys.empty()) {
    const Found& f = psys.front();
    Zone zone;
    zone.energy_path = f.dir + "/energy_uj";
    const FileRead energy = files.Read(zone.energy_path);
    if (energy.ok() && ParseU64(energy.text)) {
      const FileRead range = files.Read(f.dir + "/max_energy_range_uj");
      zone.max_range_uj = range.ok() ? ParseU64(range.text).value_or(0) : 0;
      DeviceReading reading;
      reading.component = Component::kCpu;
      reading.device = "psys";
      reading.name = "psys (the whole platform)";
      reading.method = std::string(kMethodRapl);
      reading.degraded =
          "only the psys domain (the whole platform) is readable: it includes more than the CPU";
      probe.has_package = true;
      probe.cpu_unavailable.clear();
      zones.push_back(std::move(zone));
      readings.push_back(std::move(reading));
    }
  } else if (probe.has_package && !psys.empty()) {
    notes->push_back("RAPL: psys (the whole platform) not counted: it contains the packages");
  }
  if (!probe.has_package && probe.cpu_unavailable.empty()) {
    probe.cpu_unavailable = "RAPL not available: no package domain under " + base;
  }
  if (!probe.has_dram && probe.ram_unavailable.empty()) {
    probe.ram_unavailable = "RAPL has no dram domain under " + base;
  }
  if (probe.has_package) probe.cpu_unavailable.clear();
  if (probe.has_dram) probe.ram_unavailable.clear();
  if (!zones.empty()) {
    probe.source.reset(new RaplSource(files, std::move(zones), std::move(readings)));
  }
  return probe;
}

RaplSource::RaplSource(FileReader& files, std::vector<Zone> zones,
                       std::vector<DeviceReading> readings)
    : files_(files), zones_(std::move(zones)), readings_(std::move(readings)) {}

void RaplSource::Begin(TimePoint now) {
  for (std::size_t i = 0; i < zones_.size(); ++i) {
    zones_[i].readings = 0;
    zones_[i].failures = 0;
    readings_[i].joules = 0;
    readings_[i].power_w = std::nan("");
    Read(zones_[i], readings_[i], now, true);
  }
}

void RaplSource::Sample(TimePoint now) {
  for (std::size_t i = 0; i < zones_.size(); ++i) Read(zones_[i], readings_[i], now, false);
}

void RaplSource::Read(Zone& zone, DeviceReading& reading, TimePoint now, bool baseline) {
  ++zone.readings;
  const FileRead read = files_.Read(zone.energy_path);
  const std::optional<std::uint64_t> uj = read.ok() ? ParseU64(read.text) : std::nullopt;
  if (!uj) {
    // The next good reading covers the gap: the counter kept counting meanwhile.
    ++zone.failures;
    reading.degraded = std::to_string(zone.failures) + " of " + std::to_string(zone.readings) +
                       " readings failed (last: " +
                       (read.ok() ? zone.energy_path + ": not a number" : read.message) + ")";
    return;
  }
  if (!baseline) {
    const double joules =
        static_cast<double>(RaplDelta(zone.last_uj, *uj, zone.max_range_uj)) / 1e6;
    reading.joules += joules;
    const double dt = SecondsBetween(zone.last_time, now);
    if (dt > 0) reading.power_w = joules / dt;
  }
  zone.last_uj = *uj;
  zone.last_time = now;
}

}  // namespace atlas::energy
