// atlas_observatory._atlas.StepRecorder: the Observer's per-step bookkeeping in libatlas
// (atlas/step_recorder.hpp), so that a training step costs the Python side a few calls.
//
// A closed step whose values are all known goes straight from the recorder into the Client
// (close_and_send): no Python dict, no Python float per field. A step that still waits for a
// value on an accelerator, or carries user metrics, is handed back as (step, epoch, ts, fields)
// (close_fields) for the Observer's deferred path (deferred.py).
//
// Threading: the training thread only, with the GIL held (the energy reader may call Python).
#include "step_binding.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string_view.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "atlas/clock.hpp"
#include "atlas/record.hpp"
#include "atlas/status.hpp"
#include "atlas/step_recorder.hpp"
#include "energy_binding.hpp"
#include "py_client.hpp"

namespace nb = nanobind;

namespace atlas_python {
namespace {

atlas::StepTiming ParseTiming(std::string_view name) {
  if (name == "host") return atlas::StepTiming::kHost;
  if (name == "device") return atlas::StepTiming::kDevice;
  if (name == "none") return atlas::StepTiming::kNone;
  throw nb::value_error(("timing must be host, device or none, not " + std::string(name)).c_str());
}

class PyStepRecorder {
 public:
  PyStepRecorder(bool throughput, bool cpu, bool memory, std::int64_t resources_every,
                 double usable_cpus)
      : probe_(atlas::NewRealProcessProbe()),
        recorder_(atlas::StepRecorderOptions{throughput, cpu, memory, resources_every, usable_cpus},
                  atlas::Clock::Real(), probe_.get()) {}

  void SetEnergy(nb::handle monitor) {
    recorder_.SetEnergySource(monitor.is_none() ? atlas::StepRecorder::EnergySource{}
                                                : TotalJoulesReader(monitor));
  }

  void End(std::int64_t step, std::optional<std::int64_t> epoch, std::optional<double> loss,
           std::optional<double> samples, std::optional<double> tokens, std::string_view timing) {
    recorder_.End(atlas::StepEnd{step, epoch, loss, samples, tokens, ParseTiming(timing)});
  }

  // Closes the open step and enqueues its record; false when none was open.
  bool CloseAndSend(PyClient& client) {
    std::optional<atlas::StepRecord> record = recorder_.Close();
    if (!record) return false;
    if (record->epoch && record->Has(atlas::StepField::kLoss)) {
      recorder_.AddEpochLoss(*record->epoch, record->Get(atlas::StepField::kLoss));
    }
    client.client().Record(std::move(*record));
    return true;
  }

  // Closes the open step and returns (step, epoch, ts, fields), or None when none was open.
  nb::object CloseFields() {
    const std::optional<atlas::StepRecord> record = recorder_.Close();
    if (!record) return nb::none();
    nb::dict fields;
    for (std::size_t i = 0; i < atlas::kStepFieldCount; ++i) {
      const auto field = static_cast<atlas::StepField>(i);
      if (!record->Has(field)) continue;
      const std::string_view name = atlas::kStepFieldNames.at(i);
      fields[nb::str(name.data(), name.size())] = record->Get(field);
    }
    nb::object epoch = record->epoch ? nb::cast(*record->epoch) : nb::none();
    return nb::make_tuple(record->step, epoch, record->ts, fields);
  }

  atlas::StepRecorder& recorder() { return recorder_; }

 private:
  std::unique_ptr<atlas::ProcessProbe> probe_;
  atlas::StepRecorder recorder_;
};

}  // namespace

void BindStepRecorder(nb::module_& m) {
  using R = PyStepRecorder;
  nb::class_<R>(m, "StepRecorder",
                "libatlas's StepRecorder (atlas/step_recorder.hpp): the per-step fields of the "
                "Observer's step records.")
      .def(nb::init<bool, bool, bool, std::int64_t, double>(), nb::arg("throughput") = true,
           nb::arg("cpu") = true, nb::arg("memory") = true, nb::arg("resources_every") = 1,
           nb::arg("usable_cpus") = 1.0)
      .def("set_energy", &R::SetEnergy, nb::arg("monitor").none(),
           "Energy windows from this monitor's total_joules() (None: no energy fields).")
      .def("begin", [](R& self) { self.recorder().Begin(); })
      .def("forward_start", [](R& self) { self.recorder().ForwardStart(); })
      .def("forward_end", [](R& self) { self.recorder().ForwardEnd(); })
      .def("backward_start", [](R& self) { self.recorder().BackwardStart(); })
      .def("end", &R::End, nb::arg("step"), nb::arg("epoch").none(), nb::arg("loss").none(),
           nb::arg("samples").none(), nb::arg("tokens").none(), nb::arg("timing"))
      .def("optimizer_begin", [](R& self) { self.recorder().OptimizerBegin(); })
      .def(
          "optimizer_end",
          [](R& self, std::optional<double> lr) { self.recorder().OptimizerEnd(lr); },
          nb::arg("lr").none())
      .def("mark_idle", [](R& self) { self.recorder().MarkIdle(); })
      .def(
          "energy_epoch_end",
          [](R& self, double joules) { self.recorder().EnergyEpochEnd(joules); }, nb::arg("joules"))
      .def_prop_ro("open", [](R& self) { return self.recorder().open(); })
      .def_prop_ro("open_step", [](R& self) { return self.recorder().open_step(); })
      .def("close_and_send", &R::CloseAndSend, nb::arg("client"))
      .def("close_fields", &R::CloseFields)
      .def(
          "add_epoch_loss",
          [](R& self, std::int64_t epoch, double loss) {
            self.recorder().AddEpochLoss(epoch, loss);
          },
          nb::arg("epoch"), nb::arg("loss"))
      .def(
          "take_epoch_loss",
          [](R& self, std::int64_t epoch) { return self.recorder().TakeEpochLoss(epoch); },
          nb::arg("epoch"));
}

}  // namespace atlas_python
