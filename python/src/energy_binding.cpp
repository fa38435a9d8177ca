// atlas_observatory._atlas.EnergyMonitor: libatlas's energy monitor (atlas/energy.hpp).
//
// Threading and the GIL: total_joules and component_joules are lock-free reads and keep the GIL
// (cheaper than releasing it). sample_now, start and stop release the GIL while they read the
// devices or join the sampler thread. The sampler thread is plain C++ and never touches Python.
// Ownership: a Python EnergyMonitor owns its atlas::energy::EnergyMonitor and so its thread;
// destroying it stops the thread.
#include "energy_binding.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "atlas/energy.hpp"

namespace nb = nanobind;
using atlas::energy::Component;
using atlas::energy::DeviceReading;
using atlas::energy::EnergyConfig;
using atlas::energy::EnergyMonitor;
using atlas::energy::Snapshot;

namespace atlas_python {
namespace {

// A Status becomes the module's exception of its code (binding.cpp's mapping, looked up by name
// so the two files share no state).
[[noreturn]] void RaiseStatus(const atlas::Status& status) {
  const char* name = status.code() == atlas::StatusCode::kInvalidArgument ? "InvalidArgumentError"
                     : status.code() == atlas::StatusCode::kConflict      ? "ConflictError"
                                                                          : "InternalError";
  nb::object type = nb::module_::import_("atlas_observatory._atlas").attr(name);
  PyErr_SetString(type.ptr(), status.message().c_str());
  throw nb::python_error();
}

Component ParseComponent(const std::string& name) {
  if (name == "gpu") return Component::kGpu;
  if (name == "cpu") return Component::kCpu;
  if (name == "ram") return Component::kRam;
  RaiseStatus(atlas::Status::InvalidArgument("component must be gpu, cpu or ram, got " + name));
}

nb::dict DeviceDict(const DeviceReading& d) {
  nb::dict out;
  out["component"] = std::string(atlas::energy::ToString(d.component));
  out["device"] = d.device;
  out["name"] = d.name;
  out["method"] = d.method;
  out["joules"] = d.joules;
  out["power_w"] = d.power_w;
  out["degraded"] = d.degraded;
  if (d.utilization_percent) out["utilization_percent"] = *d.utilization_percent;
  if (d.memory_used_bytes) out["memory_used_bytes"] = *d.memory_used_bytes;
  if (d.memory_total_bytes) out["memory_total_bytes"] = *d.memory_total_bytes;
  if (d.power_limit_w) out["power_limit_w"] = *d.power_limit_w;
  return out;
}

nb::dict SnapshotDict(const Snapshot& s) {
  nb::dict out;
  out["seconds"] = s.seconds;
  out["total_joules"] = s.total_joules;
  out["sample"] = s.sample;
  nb::list devices;
  for (const DeviceReading& d : s.devices) devices.append(DeviceDict(d));
  out["devices"] = devices;
  return out;
}

// The Python object: the monitor, created by create() and started by start().
class PyEnergyMonitor {
 public:
  explicit PyEnergyMonitor(std::unique_ptr<EnergyMonitor> monitor) : monitor_(std::move(monitor)) {}

  static std::unique_ptr<PyEnergyMonitor> Create(
      double sample_hz, std::vector<unsigned> gpu_indices, bool rapl, const std::string& scope,
      std::optional<double> cpu_tdp_w, std::optional<double> ram_w_per_gb, std::string nvml_library,
      std::string sysfs_root, std::string procfs_root, int pid) {
    EnergyConfig config;
    config.sample_hz = sample_hz;
    config.gpu_indices = std::move(gpu_indices);
    config.rapl = rapl;
    if (scope == "process") {
      config.model_scope = atlas::energy::ModelScope::kProcess;
    } else if (scope == "machine") {
      config.model_scope = atlas::energy::ModelScope::kMachine;
    } else {
      RaiseStatus(atlas::Status::InvalidArgument("model_scope must be process or machine"));
    }
    config.cpu_tdp_w = cpu_tdp_w;
    config.ram_w_per_gb = ram_w_per_gb;
    config.nvml_library = std::move(nvml_library);
    config.sysfs_root = std::move(sysfs_root);
    config.procfs_root = std::move(procfs_root);
    config.pid = pid;
    atlas::Result<std::unique_ptr<EnergyMonitor>> monitor = [&] {
      const nb::gil_scoped_release release;  // loading NVML may take a while
      return EnergyMonitor::Create(std::move(config));
    }();
    if (!monitor.ok()) RaiseStatus(monitor.status());
    return std::make_unique<PyEnergyMonitor>(std::move(*monitor));
  }

  void Start() {
    atlas::Status status = [&] {
      const nb::gil_scoped_release release;
      return monitor_->Start();
    }();
    if (!status.ok()) RaiseStatus(status);
  }

  void Stop() {
    const nb::gil_scoped_release release;
    monitor_->Stop();
  }

  double Total() const { return monitor_->TotalJoules(); }
  const EnergyMonitor& monitor() const { return *monitor_; }
  double ComponentJoules(const std::string& name) const {
    return monitor_->ComponentJoules(ParseComponent(name));
  }

  nb::dict SampleNow() {
    Snapshot s = [&] {
      const nb::gil_scoped_release release;
      return monitor_->SampleNow();
    }();
    return SnapshotDict(s);
  }

  nb::dict Latest() const { return SnapshotDict(monitor_->Latest()); }
  std::vector<std::string> Notes() const { return monitor_->Notes(); }

 private:
  std::unique_ptr<EnergyMonitor> monitor_;
};

}  // namespace

std::function<double()> TotalJoulesReader(nb::handle monitor) {
  PyEnergyMonitor* native = nullptr;
  if (nb::try_cast<PyEnergyMonitor*>(monitor, native) && native != nullptr) {
    return [keep = nb::borrow(monitor), native] { return native->Total(); };
  }
  return [total = nb::getattr(monitor, "total_joules")] { return nb::cast<double>(total()); };
}

const std::atomic<double>* TotalJoulesCounter(nb::handle monitor) {
  PyEnergyMonitor* native = nullptr;
  if (nb::try_cast<PyEnergyMonitor*>(monitor, native) && native != nullptr) {
    return &native->monitor().TotalJoulesCounter();
  }
  return nullptr;
}

void BindEnergy(nb::module_& m) {
  nb::class_<PyEnergyMonitor>(m, "EnergyMonitor",
                              "libatlas's energy monitor: NVML, RAPL and the CPU/RAM models "
                              "sampled on a C++ thread (docs/energy.md).")
      .def_static("create", &PyEnergyMonitor::Create, nb::arg("sample_hz") = 10.0,
                  nb::arg("gpu_indices") = std::vector<unsigned>{}, nb::arg("rapl") = true,
                  nb::arg("model_scope") = "process", nb::arg("cpu_tdp_w") = nb::none(),
                  nb::arg("ram_w_per_gb") = nb::none(),
                  nb::arg("nvml_library") = "libnvidia-ml.so.1", nb::arg("sysfs_root") = "/sys",
                  nb::arg("procfs_root") = "/proc", nb::arg("pid") = 0)
      .def("start", &PyEnergyMonitor::Start)
      .def("stop", &PyEnergyMonitor::Stop)
      .def("total_joules", &PyEnergyMonitor::Total)
      .def("component_joules", &PyEnergyMonitor::ComponentJoules, nb::arg("component"))
      .def("sample_now", &PyEnergyMonitor::SampleNow)
      .def("latest", &PyEnergyMonitor::Latest)
      .def("notes", &PyEnergyMonitor::Notes);
}

}  // namespace atlas_python
