// Source: one kind of energy reading (NVML, RAPL, a model) behind one interface, so the monitor
// samples them all alike. Private to libatlas's energy component.
//
// Threading: a Source is used by one thread at a time; the monitor serialises Begin and Sample
// under its mutex (the sampler thread and SampleNow callers take turns).
#pragma once

#include <string>
#include <vector>

#include "atlas/clock.hpp"
#include "atlas/energy.hpp"

namespace atlas::energy {

class Source {
 public:
  virtual ~Source() = default;
  // Takes the baseline reading at `now`: every device's joules restart at 0.
  virtual void Begin(TimePoint now) = 0;
  // Reads the devices at `now` (after Begin) and updates their cumulative joules.
  virtual void Sample(TimePoint now) = 0;
  // The devices of this source as of the last Begin or Sample.
  virtual const std::vector<DeviceReading>& devices() const = 0;
};

// Seconds between two time points.
inline double SecondsBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace atlas::energy
