// atlas_observatory._atlas.StepRecorder: the Observer's per-step bookkeeping in libatlas
// (atlas/step_recorder.hpp), so that a training step costs the Python side a few calls.
//
// A closed step whose values are all known goes straight from the recorder into the Client
// (close_and_send): no Python dict, no Python float per field. A step that still waits for a
// value on an accelerator, or carries user metrics, is handed back as (step, epoch, ts, fields)
// (close_fields) for the Observer's deferred path (deferred.py).
//
// The optimizer hooks (optimizer_pre_hook, optimizer_post_hook) are registered with torch as
// they are: on the common step they time the optimizer step and read its learning rate here,
// without a Python frame; they call the Observer's Python hooks only for the optimizers they do
// not know yet and for steps that need more (a layer-health sample, a gradient-noise window, a
// profiler window, CUDA timing, steps run outside observer.step): every step from
// `python_from` on, as the Observer plans it.
//
// Threading: the training thread only, with the GIL held (the energy reader and the hooks'
// callbacks call Python).
#include "step_binding.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string_view.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
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
#include "tensor_probe.hpp"

namespace nb = nanobind;

namespace atlas_python {
namespace {

atlas::StepTiming ParseTiming(std::string_view name) {
  if (name == "host") return atlas::StepTiming::kHost;
  if (name == "device") return atlas::StepTiming::kDevice;
  if (name == "none") return atlas::StepTiming::kNone;
  throw nb::value_error(("timing must be host, device or none, not " + std::string(name)).c_str());
}

// The first parameter group's learning rate when it is a plain number; nullopt otherwise (a
// tensor learning rate goes to the Python reader, which knows when reading it is free).
std::optional<double> PlainLearningRate(nb::handle optimizer, bool& plain) {
  plain = false;
  PyObject* groups = PyObject_GetAttrString(optimizer.ptr(), "param_groups");
  if (groups == nullptr) {
    PyErr_Clear();
    return std::nullopt;
  }
  const nb::object owned = nb::steal(groups);
  if (!PyList_Check(groups)) return std::nullopt;
  plain = true;
  if (PyList_GET_SIZE(groups) == 0) return std::nullopt;
  PyObject* first = PyList_GET_ITEM(groups, 0);
  if (!PyDict_Check(first)) {
    plain = false;
    return std::nullopt;
  }
  PyObject* lr = PyDict_GetItemString(first, "lr");  // borrowed
  if (lr == nullptr) return std::nullopt;
  if (PyFloat_CheckExact(lr)) return PyFloat_AS_DOUBLE(lr);
  if (PyLong_CheckExact(lr)) {
    const double value = PyLong_AsDouble(lr);
    if (value == -1.0 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      return std::nullopt;
    }
    return value;
  }
  plain = false;
  return std::nullopt;
}

class PyStepRecorder {
 public:
  PyStepRecorder(bool throughput, bool cpu, bool memory, std::int64_t resources_every,
                 double resources_interval_s, double usable_cpus)
      : probe_(atlas::NewRealProcessProbe()),
        recorder_(
            atlas::StepRecorderOptions{
                .throughput = throughput,
                .cpu = cpu,
                .memory = memory,
                .resources_every = resources_every,
                .resources_interval = std::chrono::duration_cast<atlas::Duration>(
                    std::chrono::duration<double>(std::max(0.0, resources_interval_s))),
                .usable_cpus = usable_cpus},
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

  // The fast path of Observer.step in three calls (enter, loss_ready, leave): between a model's
  // forward and backward each call's code and data are cold, and every call into the extension
  // costs microseconds then, not tens of nanoseconds.

  // Before the forward: the call's time, the previous step's record sent, the forward's start.
  void Enter(PyClient& client) {
    recorder_.Begin();
    CloseAndSend(client);
    recorder_.ForwardStart();
  }

  // The loss is computed: the forward (model and loss function) ends, the backward starts.
  void LossReady() {
    recorder_.ForwardEnd();
    recorder_.BackwardStart();
  }

  // After the backward: opens the step's record with the loss's value and the batch's counts
  // and counts its samples for the noise scale. False, with nothing recorded, when the loss or
  // the batch needs the Observer's Python readers (TensorProbe declines them).
  bool Leave(std::int64_t step, std::optional<std::int64_t> epoch, nb::handle loss,
             nb::handle batch) {
    double value = 0;
    std::optional<double> samples;
    std::optional<double> tokens;
    if (!tensors_.ReadCpuScalar(loss, value) || !tensors_.ReadBatchCounts(batch, samples, tokens)) {
      return false;
    }
    recorder_.End(atlas::StepEnd{step, epoch, value, samples, tokens, atlas::StepTiming::kHost});
    AddNoiseSamples(static_cast<std::int64_t>(samples.value_or(0)));
    return true;
  }

  void SetTensorTypes(nb::handle tensor_type, nb::handle bool_dtype, nb::handle float32_dtype,
                      nb::handle float64_dtype) {
    tensors_.Configure(tensor_type, bool_dtype, float32_dtype, float64_dtype);
  }

  // Samples since the last optimizer step of the model's optimizers, for the noise scale:
  // micro-steps add up until the optimizer step (gradient accumulation), and the count starts
  // again after it (counted here, as most optimizer steps never reach Python).
  void AddNoiseSamples(std::int64_t samples) {
    if (noise_counted_from_ != optimizer_steps_) {
      noise_counted_from_ = optimizer_steps_;
      noise_samples_ = 0;
    }
    noise_samples_ += samples;
  }
  std::int64_t TakeNoiseSamples() { return std::exchange(noise_samples_, 0); }

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

  // The Observer's side of the optimizer hooks: is_mine(optimizer) -> bool, before(optimizer)
  // and after(optimizer) (the work beyond timing; they contain their own errors) and
  // learning_rate(optimizer) -> float | None for the rates read in Python.
  void SetOptimizerCallbacks(nb::object is_mine, nb::object before, nb::object after,
                             nb::object learning_rate) {
    const auto unless_none = [](nb::object callback) {
      return callback.is_none() ? nb::object() : std::move(callback);
    };
    is_mine_ = unless_none(std::move(is_mine));
    before_ = unless_none(std::move(before));
    after_ = unless_none(std::move(after));
    learning_rate_ = unless_none(std::move(learning_rate));
    last_optimizer_ = nb::object();
    last_mine_ = false;
  }

  void SetPythonFrom(std::int64_t step) { python_from_ = step; }
  void SetNoiseWindows(std::int64_t every, std::int64_t window) {
    noise_every_ = every;
    noise_window_ = window;
  }
  bool optimizer_seen() const { return optimizer_seen_; }
  std::int64_t optimizer_steps() const { return optimizer_steps_; }

  void PreHook(nb::handle optimizer, nb::handle /*args*/, nb::handle /*kwargs*/) {
    if (!Mine(optimizer)) return;
    ++optimizer_steps_;
    recorder_.OptimizerBegin();
    if (NeedsPython()) Call(before_, optimizer);
  }

  void PostHook(nb::handle optimizer, nb::handle /*args*/, nb::handle /*kwargs*/) {
    if (!Mine(optimizer)) return;
    optimizer_seen_ = true;
    const bool python = NeedsPython();
    recorder_.OptimizerEnd(LearningRate(optimizer, python));
    if (python) Call(after_, optimizer);
  }

 private:
  bool Mine(nb::handle optimizer) {
    if (last_optimizer_.is_valid()) {
      const nb::object last = last_optimizer_();  // a weak reference: None once collected
      if (last.ptr() == optimizer.ptr()) return last_mine_;
    }
    if (!is_mine_.is_valid()) return false;
    bool mine = false;
    try {
      mine = nb::cast<bool>(is_mine_(optimizer));
      last_optimizer_ = nb::weakref(optimizer);
    } catch (const std::exception&) {
      return false;  // is_mine contains its errors; anything else: not ours to time
    }
    last_mine_ = mine;
    return mine;
  }

  bool NeedsPython() const {
    if (!recorder_.open()) return true;  // a step outside observer.step (log_step, track_step)
    const std::int64_t step = recorder_.open_step();
    if (step >= python_from_) return true;
    if (noise_every_ <= 0) return false;
    // gradient_noise.in_window: the `window` steps ending at each multiple of `every`.
    const std::int64_t phase = step % noise_every_;
    return phase == 0 || phase > noise_every_ - std::min(noise_window_, noise_every_);
  }

  // Read here when it is a plain number, unless the step goes through Python anyway (then
  // the Observer's reader, which contains its errors, reads it).
  std::optional<double> LearningRate(nb::handle optimizer, bool python) {
    if (!python) {
      bool plain = false;
      const std::optional<double> lr = PlainLearningRate(optimizer, plain);
      if (plain || !learning_rate_.is_valid()) return lr;
    }
    if (!learning_rate_.is_valid()) return std::nullopt;
    try {
      const nb::object value = learning_rate_(optimizer);
      if (value.is_none()) return std::nullopt;
      return nb::cast<double>(value);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  // The Observer's callbacks contain their own errors; this is the last line of defence, so
  // that nothing ever raises from an optimizer hook into the training loop.
  static void Call(const nb::object& callback, nb::handle optimizer) {
    if (!callback.is_valid()) return;
    try {
      callback(optimizer);
    } catch (nb::python_error& error) {
      error.discard_as_unraisable("atlas_observatory optimizer hook");
    } catch (const std::exception&) {  // a cast failure: nothing to report
    }
  }

  std::unique_ptr<atlas::ProcessProbe> probe_;
  atlas::StepRecorder recorder_;
  TensorProbe tensors_;
  nb::object is_mine_;
  nb::object before_;
  nb::object after_;
  nb::object learning_rate_;
  nb::object last_optimizer_;  // a weakref.ref of the last optimizer asked about
  bool last_mine_ = false;
  bool optimizer_seen_ = false;
  std::int64_t optimizer_steps_ = 0;  // of the model's optimizers, counted before each
  std::int64_t python_from_ = 0;
  std::int64_t noise_every_ = 0;
  std::int64_t noise_window_ = 0;
  std::int64_t noise_samples_ = 0;
  std::int64_t noise_counted_from_ = 0;  // optimizer_steps_ when noise_samples_ began
};

}  // namespace

void BindStepRecorder(nb::module_& m) {
  using R = PyStepRecorder;
  nb::class_<R>(m, "StepRecorder",
                "libatlas's StepRecorder (atlas/step_recorder.hpp): the per-step fields of the "
                "Observer's step records.")
      .def(nb::init<bool, bool, bool, std::int64_t, double, double>(), nb::arg("throughput") = true,
           nb::arg("cpu") = true, nb::arg("memory") = true, nb::arg("resources_every") = 1,
           nb::arg("resources_interval_s") = 0.0, nb::arg("usable_cpus") = 1.0)
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
      .def("set_optimizer_callbacks", &R::SetOptimizerCallbacks, nb::arg("is_mine").none(),
           nb::arg("before").none(), nb::arg("after").none(), nb::arg("learning_rate").none())
      .def("set_python_from", &R::SetPythonFrom, nb::arg("step"),
           "The optimizer hooks call the Python callbacks for steps from this one on.")
      .def("set_noise_windows", &R::SetNoiseWindows, nb::arg("every"), nb::arg("window"),
           "Steps in these windows call the Python callbacks too (every 0: none).")
      .def_prop_ro("optimizer_seen", &R::optimizer_seen)
      .def_prop_ro("optimizer_steps", &R::optimizer_steps,
                   "Optimizer steps of the model's optimizers so far (counted as they begin).")
      .def("optimizer_pre_hook", &R::PreHook, nb::arg("optimizer"), nb::arg("args").none(),
           nb::arg("kwargs").none())
      .def("optimizer_post_hook", &R::PostHook, nb::arg("optimizer"), nb::arg("args").none(),
           nb::arg("kwargs").none())
      .def("enter", &R::Enter, nb::arg("client"),
           "Before the forward: begin, close_and_send and forward_start in one call.")
      .def("loss_ready", &R::LossReady, "The loss is computed: forward_end and backward_start.")
      .def("leave", &R::Leave, nb::arg("step"), nb::arg("epoch").none(), nb::arg("loss"),
           nb::arg("batch"),
           "After the backward: end() with the loss and the batch's counts read here, and "
           "add_noise_samples; False, with nothing done, when they need Python's readers.")
      .def("set_tensor_types", &R::SetTensorTypes, nb::arg("tensor"), nb::arg("bool_dtype"),
           nb::arg("float32_dtype"), nb::arg("float64_dtype"),
           "torch.Tensor, torch.bool, torch.float32 and torch.float64, for leave().")
      .def("add_noise_samples", &R::AddNoiseSamples, nb::arg("samples"))
      .def("take_noise_samples", &R::TakeNoiseSamples,
           "The samples counted since the last optimizer step (or take); the count restarts.")
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
