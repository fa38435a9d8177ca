// RaplSource: CPU package and DRAM energy from RAPL counters through powercap sysfs
// (<sysfs>/class/powercap/intel-rapl:*; AMD CPUs appear under the same name).
//
// Each kept domain's energy_uj counter is read at every sample; a counter that went back
// wrapped around at max_energy_range_uj. Domains are counted once: a second zone with the same
// domain name and package (intel-rapl-mmio duplicating intel-rapl, or one zone per die all
// reading the same package counter) is skipped, core/uncore sit inside their package and are
// skipped, and psys (the whole platform, which contains the packages) is used only when no
// package domain is readable. Threading: see source.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "atlas/energy.hpp"
#include "energy/source.hpp"

namespace atlas::energy {

class RaplSource final : public Source {
 public:
  struct Probe {
    std::unique_ptr<RaplSource> source;  // null when no domain is readable
    bool has_package = false;            // a CPU figure is measured
    bool has_dram = false;               // a RAM figure is measured
    // Why RAPL gives no CPU (RAM) figure, e.g. "RAPL permission denied: <path>"; "" otherwise.
    std::string cpu_unavailable;
    std::string ram_unavailable;
  };

  // Discovers and test-reads the domains under `sysfs_root`; `notes` gets the skipped duplicates.
  static Probe Open(FileReader& files, const std::string& sysfs_root,
                    std::vector<std::string>* notes);

  void Begin(TimePoint now) override;
  void Sample(TimePoint now) override;
  const std::vector<DeviceReading>& devices() const override { return readings_; }

 private:
  struct Zone {
    std::string energy_path;
    std::uint64_t max_range_uj = 0;  // 0 when unknown
    std::uint64_t last_uj = 0;
    TimePoint last_time{};
    std::uint64_t readings = 0;
    std::uint64_t failures = 0;
  };

  RaplSource(FileReader& files, std::vector<Zone> zones, std::vector<DeviceReading> readings);
  void Read(Zone& zone, DeviceReading& reading, TimePoint now, bool baseline);

  FileReader& files_;
  std::vector<Zone> zones_;
  std::vector<DeviceReading> readings_;
};

// The change of a RAPL counter from `last` to `now`, in microjoules, wraparound-safe: a counter
// that went back wrapped at `max_range` (when known, else it is taken to have restarted at 0).
std::uint64_t RaplDelta(std::uint64_t last, std::uint64_t now, std::uint64_t max_range);

}  // namespace atlas::energy
