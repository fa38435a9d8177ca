// atlas_observatory._atlas.StepRecorder: the Observer's per-step bookkeeping in libatlas
// (atlas/step_recorder.hpp), so that a training step costs the Python side a few calls.
//
// Observer.step's fast path is one call, fast_step: the forward, the loss and the backward are
// called from here, between the moments the recorder keeps. Its loss tensor is read a few steps
// later with others (DeferredLosses, deferred_losses.hpp): every record still waiting goes to
// the client before anything else this recorder or the Observer sends (flush_losses).
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
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "atlas/clock.hpp"
#include "atlas/record.hpp"
#include "atlas/status.hpp"
#include "atlas/step_recorder.hpp"
#include "deferred_losses.hpp"
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
// `param_groups` and `lr_name` are the strings, made once: the hook runs at every optimizer step.
std::optional<double> PlainLearningRate(nb::handle optimizer, const nb::str& param_groups,
                                        const nb::str& lr_name, bool& plain) {
  plain = false;
  PyObject* groups = PyObject_GetAttr(optimizer.ptr(), param_groups.ptr());
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
  PyObject* lr = PyDict_GetItemWithError(first, lr_name.ptr());  // borrowed
  if (lr == nullptr) {
    PyErr_Clear();
    return std::nullopt;
  }
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
  // fast_step's status bits.
  static constexpr int kReadInPython = 1;
  static constexpr int kErrorsKept = 2;

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

  // libatlas's monitor is read at its counter, in place. Any other object's total_joules() is
  // called; one that raises reads as NaN, no energy, with its error kept: the recorder reads
  // energy in the optimizer hooks too, which must never raise into the loop.
  void SetEnergy(nb::handle monitor) {
    energy_monitor_ = nb::object();
    if (monitor.is_none()) {
      recorder_.SetEnergySource({});
      return;
    }
    if (const std::atomic<double>* counter = TotalJoulesCounter(monitor)) {
      energy_monitor_ = nb::borrow(monitor);  // keeps the counter alive
      recorder_.SetEnergyCounter(counter);
      return;
    }
    recorder_.SetEnergySource([this, read = TotalJoulesReader(monitor)] {
      double joules = std::numeric_limits<double>::quiet_NaN();
      Contain("energy.read", [&] { joules = read(); });
      return joules;
    });
  }

  void End(std::int64_t step, std::optional<std::int64_t> epoch, std::optional<double> loss,
           std::optional<double> samples, std::optional<double> tokens, std::string_view timing) {
    recorder_.End(atlas::StepEnd{step, epoch, loss, samples, tokens, ParseTiming(timing)});
  }

  // The client the step records go to (before any step).
  void SetClient(nb::handle client) {
    client_ = nb::cast<PyClient*>(client);
    client_object_ = nb::borrow(client);
  }

  // Closes the open step and enqueues its record, after every record still waiting for its
  // loss; false when no step was open.
  bool CloseAndSend() {
    const bool closed = CloseKeepingLoss();
    FlushLosses();
    return closed;
  }

  // Sends the records waiting for their loss (DeferredLosses), losses read: before anything
  // else goes to the client.
  void FlushLosses() {
    if (deferred_.empty()) return;
    for (DeferredLosses::Waiting& waiting : deferred_.Take()) {
      Contain("step.loss", [&] { SetLoss(waiting.record, deferred_.Read(waiting.loss)); });
      Send(std::move(waiting.record));
    }
  }

  // The three parts of fast_step (the full path calls loss_ready too).

  // Before the forward: the call's time, the previous step's record sent or kept with its
  // loss (the waiting records sent when due), the forward's start.
  void Enter() {
    recorder_.Begin();
    CloseKeepingLoss();
    if (deferred_.Due(clock_->Now())) FlushLosses();
    recorder_.ForwardStart();
  }

  // The loss is computed: the forward (model and loss function) ends, the backward starts.
  void LossReady() {
    recorder_.ForwardEnd();
    recorder_.BackwardStart();
  }

  // After the backward: opens the step's record with the batch's counts and the loss (a
  // tensor's is read later, with other steps' losses: DeferredLosses) and counts its samples
  // for the noise scale. False, with nothing recorded, when the loss or the batch needs the
  // Observer's Python readers (TensorProbe declines them).
  bool Leave(std::int64_t step, std::optional<std::int64_t> epoch, nb::handle loss,
             nb::handle batch) {
    std::optional<double> samples;
    std::optional<double> tokens;
    if (!tensors_.ReadBatchCounts(batch, samples, tokens)) return false;
    std::optional<double> value;
    if (deferred_.accepting() && tensors_.IsExactTensor(loss)) {
      open_loss_ = nb::borrow(loss);
    } else {
      double read = 0;
      if (!tensors_.ReadCpuScalar(loss, read)) return false;
      value = read;
    }
    recorder_.End(atlas::StepEnd{step, epoch, value, samples, tokens, atlas::StepTiming::kHost});
    AddNoiseSamples(static_cast<std::int64_t>(samples.value_or(0)));
    return true;
  }

  // How a fast step calls the model and finds its loss (Observer._call_model, _split and
  // default_loss): model(x, **{keyword: y}) when `keyword` is a name, else model(x, y) when
  // `positional`, else model(x); the loss is the model's own when it returns (logits, loss)
  // (split by `split`, modelinfo.split_output, unless it is an exact pair), else loss_fn(logits,
  // y).
  void SetFastForward(std::optional<std::string> keyword, bool positional, nb::object loss_fn,
                      nb::object split) {
    targets_keyword_ = keyword ? nb::make_tuple(nb::str(keyword->c_str())) : nb::object();
    targets_positional_ = positional;
    loss_fn_ = std::move(loss_fn);
    split_ = std::move(split);
  }

  // Observer.step's fast path in one call, from the forward's start to the step record: after
  // a model's forward and backward every call from Python into the extension, and every
  // Python frame, costs microseconds (their code is cold), so the step makes one.
  //
  // `entered`: the Observer has already begun the step (closing the full path's step itself).
  // The model's, the loss function's and the backward's errors propagate unchanged; the
  // telemetry's are kept for take_errors(). Returns (logits, loss, status): status is 0 when the
  // step is recorded, with kReadInPython set when the loss or the batch needs the Observer's
  // Python readers (nothing recorded yet) and kErrorsKept when take_errors() has errors.
  nb::tuple FastStep(nb::handle model, nb::handle x, nb::handle y, std::int64_t step,
                     std::optional<std::int64_t> epoch, bool entered) {
    if (!entered) Contain("step.begin", [&] { Enter(); });
    std::pair<nb::object, nb::object> output = Split(CallModel(model, x, y));
    nb::object logits = std::move(output.first);
    nb::object loss = std::move(output.second);
    if (loss.is_none()) {
      if (!loss_fn_.is_valid()) throw nb::type_error("fast_step before set_fast_forward");
      loss = loss_fn_(logits, y);
    }
    LossReady();
    PyObject* done = PyObject_CallMethodNoArgs(loss.ptr(), backward_.ptr());
    if (done == nullptr) throw nb::python_error();
    Py_DECREF(done);
    int status = 0;
    Contain("step.end", [&] {
      if (!Leave(step, epoch, loss, x)) status |= kReadInPython;
    });
    if (!errors_.empty()) status |= kErrorsKept;
    return nb::make_tuple(std::move(logits), std::move(loss), status);
  }

  // The telemetry errors fast_step kept, as (site, exception) pairs, and forgets them.
  nb::list TakeErrors() { return std::exchange(errors_, nb::list()); }

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
    FlushLosses();
    std::optional<atlas::StepRecord> record = recorder_.Close();
    if (!record) return nb::none();
    if (open_loss_.is_valid()) {
      const nb::object loss = std::exchange(open_loss_, nb::object());
      Contain("step.loss", [&] { SetLoss(*record, deferred_.Read(loss)); });
    }
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
      // A weak reference: None once collected. (Read without calling it: a call's machinery
      // is cold code at every optimizer step.)
      if (PyWeakref_GetObject(last_optimizer_.ptr()) == optimizer.ptr()) return last_mine_;
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
      const std::optional<double> lr = PlainLearningRate(optimizer, param_groups_, lr_, plain);
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

  // Closes the open step: its record goes to the client, or waits in deferred_ while its loss
  // is a tensor not read yet. False when no step was open.
  bool CloseKeepingLoss() {
    std::optional<atlas::StepRecord> record = recorder_.Close();
    if (!record) return false;
    if (open_loss_.is_valid()) {
      deferred_.Add(std::move(*record), std::exchange(open_loss_, nb::object()), clock_->Now());
    } else {
      FlushLosses();  // the records before this one go first
      Send(std::move(*record));
    }
    return true;
  }

  void Send(atlas::StepRecord&& record) {
    if (record.epoch && record.Has(atlas::StepField::kLoss)) {
      recorder_.AddEpochLoss(*record.epoch, record.Get(atlas::StepField::kLoss));
    }
    if (client_ != nullptr) client_->client().Record(std::move(record));
  }

  static void SetLoss(atlas::StepRecord& record, double loss) {
    record.Set(atlas::StepField::kLoss, loss);
  }

  nb::object CallModel(nb::handle model, nb::handle x, nb::handle y) const {
    PyObject* output = nullptr;
    PyObject* arguments[] = {x.ptr(), y.ptr()};
    if (targets_keyword_.is_valid()) {
      output = PyObject_Vectorcall(model.ptr(), arguments, 1, targets_keyword_.ptr());
    } else if (targets_positional_) {
      output = PyObject_Vectorcall(model.ptr(), arguments, 2, nullptr);
    } else {
      output = PyObject_CallOneArg(model.ptr(), x.ptr());
    }
    if (output == nullptr) throw nb::python_error();
    return nb::steal(output);
  }

  // (logits, loss or None) from the model's output, as Observer._split gives them.
  std::pair<nb::object, nb::object> Split(nb::object output) {
    if (tensors_.IsExactTensor(output)) return {std::move(output), nb::none()};
    PyObject* pair = output.ptr();
    if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2 &&
        tensors_.IsLossTensor(PyTuple_GET_ITEM(pair, 1))) {
      return {nb::borrow(PyTuple_GET_ITEM(pair, 0)), nb::borrow(PyTuple_GET_ITEM(pair, 1))};
    }
    std::pair<nb::object, nb::object> split{output, nb::none()};
    Contain("step.split_output", [&] {
      if (!split_.is_valid()) return;
      const nb::object parts = split_(output);
      if (PyTuple_Check(parts.ptr()) && PyTuple_GET_SIZE(parts.ptr()) == 2) {
        split = {nb::borrow(PyTuple_GET_ITEM(parts.ptr(), 0)),
                 nb::borrow(PyTuple_GET_ITEM(parts.ptr(), 1))};
      }
    });
    return split;
  }

  // Runs telemetry work, keeping its errors (an Exception's; anything else, such as
  // KeyboardInterrupt, propagates) for the Observer's containment: never the training's failure.
  template <class Work>
  void Contain(const char* site, Work&& work) {
    try {
      std::forward<Work>(work)();
    } catch (nb::python_error& error) {
      if (!error.matches(PyExc_Exception)) throw;
      Keep(site, nb::borrow(error.value()));
    } catch (const std::exception& error) {
      Keep(site, nb::handle(PyExc_RuntimeError)(error.what()));
    }
  }

  // At most kKeptErrors wait for take_errors(), which the Observer calls after every step that
  // kept one; beyond that they go uncounted, so that a failure repeating in every hook of a long
  // stretch without a take cannot grow the list.
  void Keep(const char* site, nb::object error) {
    if (errors_.size() < kKeptErrors) errors_.append(nb::make_tuple(site, std::move(error)));
  }
  static constexpr std::size_t kKeptErrors = 32;

  std::unique_ptr<atlas::ProcessProbe> probe_;
  nb::object energy_monitor_;  // the EnergyMonitor whose counter recorder_ reads
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
  DeferredLosses deferred_{tensors_};
  nb::object open_loss_;  // the open step's loss tensor, when deferred_ will read it
  PyClient* client_ = nullptr;
  nb::object client_object_;  // keeps client_ alive
  atlas::Clock* clock_ = atlas::Clock::Real();
  nb::object targets_keyword_;  // (name,): the forward's keyword for the targets
  bool targets_positional_ = false;
  nb::object loss_fn_;
  nb::object split_;
  nb::list errors_;
  nb::str backward_{"backward"};
  nb::str param_groups_{"param_groups"};
  nb::str lr_{"lr"};
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
      .def("set_fast_forward", &R::SetFastForward, nb::arg("keyword").none(), nb::arg("positional"),
           nb::arg("loss_fn").none(), nb::arg("split").none(),
           "How fast_step calls the model and finds its loss.")
      .def("fast_step", &R::FastStep, nb::arg("model"), nb::arg("x"), nb::arg("y"), nb::arg("step"),
           nb::arg("epoch").none(), nb::arg("entered"),
           "Observer.step's fast path: forward, loss, backward and the step record; returns "
           "(logits, loss, status).")
      .def("take_errors", &R::TakeErrors,
           "The (site, exception) pairs of the telemetry errors fast_step kept.")
      .def("loss_ready", &R::LossReady, "The loss is computed: forward_end and backward_start.")
      .def("leave", &R::Leave, nb::arg("step"), nb::arg("epoch").none(), nb::arg("loss"),
           nb::arg("batch"),
           "fast_step's end: end() with the batch's counts read here and the loss (a tensor "
           "is kept and read when the step's record goes), and add_noise_samples; False, "
           "with nothing done, when they need Python's readers.")
      .def("set_tensor_types", &R::SetTensorTypes, nb::arg("tensor"), nb::arg("bool_dtype"),
           nb::arg("float32_dtype"), nb::arg("float64_dtype"),
           "torch.Tensor, torch.bool, torch.float32 and torch.float64, for leave().")
      .def("add_noise_samples", &R::AddNoiseSamples, nb::arg("samples"))
      .def("take_noise_samples", &R::TakeNoiseSamples,
           "The samples counted since the last optimizer step (or take); the count restarts.")
      .def("set_client", &R::SetClient, nb::arg("client"),
           "The client the step records go to; before the first step.")
      .def("close_and_send", &R::CloseAndSend,
           "Closes the open step and sends its record after every record waiting for its "
           "loss; False when no step was open.")
      .def("flush_losses", &R::FlushLosses,
           "Sends the records of fast steps still waiting for their loss, losses read.")
      .def("close_fields", &R::CloseFields)
      .def(
          "add_epoch_loss",
          [](R& self, std::int64_t epoch, double loss) {
            self.recorder().AddEpochLoss(epoch, loss);
          },
          nb::arg("epoch"), nb::arg("loss"))
      .def(
          "take_epoch_loss",
          [](R& self, std::int64_t epoch) {
            self.FlushLosses();
            return self.recorder().TakeEpochLoss(epoch);
          },
          nb::arg("epoch"));
  m.attr("FAST_STEP_READ_IN_PYTHON") = R::kReadInPython;
  m.attr("FAST_STEP_ERRORS_KEPT") = R::kErrorsKept;
}

}  // namespace atlas_python
