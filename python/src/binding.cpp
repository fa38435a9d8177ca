// atlas_observatory._atlas: libatlas's Client and SyncSpool for Python (nanobind).
//
// This module is the only place where a libatlas Status becomes a Python exception: each
// StatusCode maps to one subclass of AtlasError (the hierarchy is documented in
// atlas_observatory/_atlas.pyi). Everything else is a thin, typed pass-through.
//
// Threading and the GIL: record() and record_json() only enqueue and never block, so they keep
// the GIL (dropping and re-taking it would cost more than the call). Every call that may wait --
// flush, shutdown, finish, sync and the destruction of a Client -- releases the GIL while it
// waits, so the training thread's Python keeps running and the sender can never deadlock on it.
// The sender thread is plain C++: it never touches a Python object or the GIL.
//
// Ownership: a Python Client object owns its atlas::Client (and so its sender thread). The
// module-level exception types live as long as the process.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "atlas/client.hpp"
#include "atlas/record.hpp"
#include "atlas/spool_sync.hpp"
#include "atlas/status.hpp"
#include "atlas/transport.hpp"
#include "energy_binding.hpp"

namespace nb = nanobind;

namespace {

// ----- Status -> exception -----

constexpr std::size_t kStatusCodeCount = 7;

// The Python exception type of each StatusCode (index = the code's value); kOk has none. Set
// once at import and never released: module state that lives as long as the interpreter.
std::array<PyObject*, kStatusCodeCount> g_error_types{};  // NOLINT(*-avoid-non-const-global-*)

std::size_t CodeIndex(atlas::StatusCode code) { return static_cast<std::size_t>(code); }

std::string_view CodeName(atlas::StatusCode code) {
  switch (code) {
    case atlas::StatusCode::kOk:
      return "ok";
    case atlas::StatusCode::kInvalidArgument:
      return "invalid_argument";
    case atlas::StatusCode::kNotFound:
      return "not_found";
    case atlas::StatusCode::kConflict:
      return "conflict";
    case atlas::StatusCode::kUnavailable:
      return "unavailable";
    case atlas::StatusCode::kInternal:
      return "internal";
    case atlas::StatusCode::kIoError:
      return "io_error";
  }
  return "internal";
}

// Raises the exception of `status` (which must not be ok), with `report` (when given) as the
// exception's `report` attribute. Needs the GIL.
[[noreturn]] void Raise(const atlas::Status& status, nb::object report = nb::none()) {
  PyObject* type = g_error_types.at(CodeIndex(status.code()));
  if (type == nullptr) type = g_error_types.at(CodeIndex(atlas::StatusCode::kInternal));
  nb::object error = nb::borrow(type)(nb::str(status.message().c_str()));
  error.attr("code") = nb::str(CodeName(status.code()).data(), CodeName(status.code()).size());
  error.attr("report") = std::move(report);
  PyErr_SetObject(type, error.ptr());
  throw nb::python_error();
}

void RaiseIfError(const atlas::Status& status) {
  if (!status.ok()) Raise(status);
}

[[noreturn]] void RaiseInvalid(const std::string& message) {
  Raise(atlas::Status::InvalidArgument(message));
}

PyObject* NewErrorType(nb::module_& m, const char* name, PyObject* bases, const char* doc) {
  const std::string qualified = std::string("atlas_observatory._atlas.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (type == nullptr) throw nb::python_error();
  m.attr(name) = nb::borrow(type);
  return type;
}

void RegisterErrors(nb::module_& m) {
  PyObject* base = NewErrorType(m, "AtlasError", PyExc_Exception,
                                "A libatlas operation failed; `code` names the libatlas status.");
  const auto with = [base](PyObject* other) { return nb::steal(PyTuple_Pack(2, base, other)); };
  using atlas::StatusCode;
  g_error_types.at(CodeIndex(StatusCode::kInvalidArgument)) =
      NewErrorType(m, "InvalidArgumentError", with(PyExc_ValueError).ptr(),
                   "The caller's input is wrong; the message names the problem.");
  g_error_types.at(CodeIndex(StatusCode::kNotFound)) =
      NewErrorType(m, "NotFoundError", with(PyExc_LookupError).ptr(),
                   "The named thing (a spool file, a directory) does not exist.");
  g_error_types.at(CodeIndex(StatusCode::kConflict)) =
      NewErrorType(m, "ConflictError", base, "The request contradicts stored state.");
  g_error_types.at(CodeIndex(StatusCode::kUnavailable)) =
      NewErrorType(m, "UnavailableError", base,
                   "A transient failure (timeout, server unreachable); retrying may succeed.");
  g_error_types.at(CodeIndex(StatusCode::kInternal)) =
      NewErrorType(m, "InternalError", base, "A bug or an unexpected failure of a dependency.");
  g_error_types.at(CodeIndex(StatusCode::kIoError)) =
      NewErrorType(m, "IoError", with(PyExc_OSError).ptr(), "The disk failed.");
}

// ----- conversions -----

std::chrono::milliseconds ToMillis(double seconds, const char* what) {
  if (!(seconds >= 0) || !std::isfinite(seconds) || seconds > 1e9) {
    RaiseInvalid(std::string(what) + " must be a finite number of seconds >= 0");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

double ToSeconds(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

atlas::Compression ParseCompression(std::string_view name) {
  if (name == "none") return atlas::Compression::kNone;
  if (name == "gzip") return atlas::Compression::kGzip;
  if (name == "zstd") return atlas::Compression::kZstd;
  RaiseInvalid("compression must be one of: none, gzip, zstd");
}

std::string CompressionName(atlas::Compression c) {
  switch (c) {
    case atlas::Compression::kNone:
      return "none";
    case atlas::Compression::kGzip:
      return "gzip";
    case atlas::Compression::kZstd:
      return "zstd";
  }
  return "zstd";
}

atlas::FinishStatus ParseFinishStatus(std::string_view name) {
  if (name == "completed") return atlas::FinishStatus::kCompleted;
  if (name == "failed") return atlas::FinishStatus::kFailed;
  if (name == "stopped") return atlas::FinishStatus::kStopped;
  RaiseInvalid("status must be one of: completed, failed, stopped");
}

nb::dict StatsToDict(const atlas::Stats& s) {
  nb::dict by_reason;
  for (const auto& [reason, n] : s.dropped_by_reason) by_reason[reason.c_str()] = n;
  nb::dict d;
  d["enqueued"] = s.enqueued;
  d["sent"] = s.sent;
  d["duplicates"] = s.duplicates;
  d["spooled"] = s.spooled;
  d["dropped"] = s.dropped;
  d["dropped_by_reason"] = by_reason;
  d["requests"] = s.requests;
  d["retries"] = s.retries;
  d["spool_bytes_skipped"] = s.spool_bytes_skipped;
  d["last_error"] = s.last_error;
  return d;
}

nb::dict ReportToDict(const atlas::SyncReport& r) {
  nb::dict d;
  d["frames"] = r.frames;
  d["requests"] = r.requests;
  d["records_sent"] = r.records_sent;
  d["records_rejected"] = r.records_rejected;
  d["bytes_skipped"] = r.bytes_skipped;
  d["run_rejected"] = r.run_rejected;
  d["removed"] = r.removed;
  d["skipped_reason"] = r.skipped_reason;
  return d;
}

// Fills `record` from a mapping of step-field names to numbers (None values are skipped).
void FillFields(atlas::StepRecord& record, nb::handle fields) {
  if (fields.is_none()) return;
  if (!nb::isinstance<nb::dict>(fields)) RaiseInvalid("fields must be a dict of name -> number");
  for (auto [key, value] : nb::borrow<nb::dict>(fields)) {
    if (value.is_none()) continue;
    const std::string name = nb::cast<std::string>(key);
    const std::optional<atlas::StepField> field = atlas::FindStepField(name);
    if (!field) RaiseInvalid("\"" + name + "\" is not a step field; user values go in metrics");
    record.Set(*field, nb::cast<double>(value));
  }
}

void FillMetrics(atlas::StepRecord& record, nb::handle metrics) {
  if (metrics.is_none()) return;
  if (!nb::isinstance<nb::dict>(metrics)) RaiseInvalid("metrics must be a dict of name -> number");
  const auto items = nb::borrow<nb::dict>(metrics);
  record.metrics.reserve(items.size());
  for (auto [key, value] : items) {
    if (value.is_none()) continue;
    record.metrics.push_back(atlas::Metric{nb::cast<std::string>(key), nb::cast<double>(value)});
  }
}

// ----- Client -----

// Owns an atlas::Client. Destroying one may wait for the sender thread (up to libatlas's short
// destructor timeout), so the GIL is released for it unless the interpreter is shutting down.
class PyClient {
 public:
  explicit PyClient(std::unique_ptr<atlas::Client> client) : client_(std::move(client)) {}
  ~PyClient() {
    if (client_ == nullptr) return;
    if (PyGILState_Check() != 0 && !Finalizing()) {
      nb::gil_scoped_release release;
      client_.reset();
    } else {
      client_.reset();
    }
  }
  PyClient(const PyClient&) = delete;
  PyClient& operator=(const PyClient&) = delete;
  PyClient(PyClient&&) = delete;
  PyClient& operator=(PyClient&&) = delete;

  atlas::Client& client() { return *client_; }

 private:
  static bool Finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing() != 0;
#else
    return _Py_IsFinalizing() != 0;
#endif
  }

  std::unique_ptr<atlas::Client> client_;
};

std::unique_ptr<PyClient> StartClient(const atlas::ClientConfig& config) {
  atlas::Result<std::unique_ptr<atlas::Client>> started = atlas::Client::Start(config);
  if (!started.ok()) Raise(started.status());
  return std::make_unique<PyClient>(std::move(started).value());
}

bool Record(PyClient& self, std::int64_t step, nb::handle fields, nb::handle metrics,
            std::optional<std::int64_t> epoch, double ts) {
  atlas::StepRecord record;
  record.step = step;
  record.epoch = epoch;
  record.ts = ts;
  FillFields(record, fields);
  FillMetrics(record, metrics);
  return self.client().Record(std::move(record));
}

void Flush(PyClient& self, double timeout_s) {
  const auto timeout = ToMillis(timeout_s, "timeout_s");
  atlas::Status status;
  {
    nb::gil_scoped_release release;
    status = self.client().Flush(timeout);
  }
  RaiseIfError(status);
}

void Shutdown(PyClient& self, double timeout_s) {
  const auto timeout = ToMillis(timeout_s, "timeout_s");
  atlas::Status status;
  {
    nb::gil_scoped_release release;
    status = self.client().Shutdown(timeout);
  }
  RaiseIfError(status);
}

void Finish(PyClient& self, std::string_view status_name, std::string reason, double timeout_s) {
  const atlas::FinishStatus finish_status = ParseFinishStatus(status_name);
  const auto timeout = ToMillis(timeout_s, "timeout_s");
  atlas::Status status;
  {
    nb::gil_scoped_release release;
    status = self.client().Finish(finish_status, std::move(reason), timeout);
  }
  RaiseIfError(status);
}

nb::list PollActions(PyClient& self) {
  nb::list out;
  for (const atlas::ControlAction& action : self.client().PollActions()) {
    nb::dict item;
    item["id"] = action.id;
    item["action"] = action.action;
    item["mode"] = action.mode;
    item["params_json"] = action.params_json;
    item["reason"] = action.reason;
    item["actor"] = action.actor;
    out.append(item);
  }
  return out;
}

nb::tuple Health(PyClient& self) {
  const atlas::Status status = self.client().health();
  const std::string_view code = CodeName(status.code());
  return nb::make_tuple(nb::str(code.data(), code.size()), nb::str(status.message().c_str()));
}

// ----- spool upload -----

nb::dict Sync(const std::string& path, const std::string& server_url, bool remove_when_done,
              double timeout_s, std::string_view compression) {
  atlas::SyncOptions options;
  options.remove_when_done = remove_when_done;
  options.request_timeout = ToMillis(timeout_s, "timeout_s");
  options.compression = ParseCompression(compression);
  atlas::SyncReport report;
  atlas::Status status;
  {
    nb::gil_scoped_release release;
    const std::unique_ptr<atlas::Transport> transport = atlas::NewCurlTransport();
    status = atlas::SyncSpool(path, *transport, server_url, &report, options);
  }
  nb::dict out = ReportToDict(report);
  if (!status.ok()) Raise(status, out);
  return out;
}

std::vector<std::string> ListSpoolFiles(const std::string& dir) {
  atlas::Result<std::vector<std::string>> files = atlas::ListSpoolFiles(dir);
  if (!files.ok()) Raise(files.status());
  return std::move(files).value();
}

// ----- ClientConfig properties with units in their names -----

template <typename Member>
void DurationProperty(nb::class_<atlas::ClientConfig>& cls, const char* name, Member member) {
  cls.def_prop_rw(
      name, [member](const atlas::ClientConfig& c) { return ToSeconds(c.*member); },
      [member, name](atlas::ClientConfig& c, double seconds) {
        c.*member = ToMillis(seconds, name);
      });
}

void BindConfig(nb::module_& m) {
  nb::class_<atlas::ClientConfig> cls(m, "ClientConfig",
                                      "libatlas's ClientConfig (atlas/client.hpp).");
  cls.def(nb::init<>())
      .def_rw("server_url", &atlas::ClientConfig::server_url)
      .def_rw("project", &atlas::ClientConfig::project)
      .def_rw("project_id", &atlas::ClientConfig::project_id, nb::arg("project_id").none())
      .def_rw("run_name", &atlas::ClientConfig::run_name)
      .def_rw("run_id", &atlas::ClientConfig::run_id)
      .def_rw("first_seq", &atlas::ClientConfig::first_seq)
      .def_rw("host_json", &atlas::ClientConfig::host_json)
      .def_rw("device_json", &atlas::ClientConfig::device_json)
      .def_rw("framework_json", &atlas::ClientConfig::framework_json)
      .def_rw("config_json", &atlas::ClientConfig::config_json)
      .def_rw("spool_dir", &atlas::ClientConfig::spool_dir)
      .def_rw("spool_max_bytes", &atlas::ClientConfig::spool_max_bytes)
      .def_rw("offline", &atlas::ClientConfig::offline)
      .def_rw("queue_capacity", &atlas::ClientConfig::queue_capacity)
      .def_rw("batch_max_records", &atlas::ClientConfig::batch_max_records)
      .def_rw("batch_max_bytes", &atlas::ClientConfig::batch_max_bytes)
      .def_prop_rw(
          "compression",
          [](const atlas::ClientConfig& c) { return CompressionName(c.compression); },
          [](atlas::ClientConfig& c, std::string_view name) {
            c.compression = ParseCompression(name);
          });
  DurationProperty(cls, "batch_max_delay_s", &atlas::ClientConfig::batch_max_delay);
  DurationProperty(cls, "request_timeout_s", &atlas::ClientConfig::request_timeout);
  DurationProperty(cls, "backoff_base_s", &atlas::ClientConfig::backoff_base);
  DurationProperty(cls, "backoff_cap_s", &atlas::ClientConfig::backoff_cap);
  DurationProperty(cls, "control_poll_interval_s", &atlas::ClientConfig::control_poll_interval);
}

void BindClient(nb::module_& m) {
  nb::class_<PyClient>(m, "Client", "A running libatlas Client: one run, one sender thread.")
      .def_static("start", &StartClient, nb::arg("config"),
                  "Validates the config and starts the sender thread.")
      .def("record", &Record, nb::arg("step"), nb::arg("fields") = nb::none(),
           nb::arg("metrics") = nb::none(), nb::kw_only(), nb::arg("epoch") = nb::none(),
           nb::arg("ts") = 0.0,
           "Enqueues a step record; never blocks. False when it was dropped (and counted).")
      .def(
          "record_json",
          [](PyClient& self, std::string_view kind, std::string json) {
            return self.client().RecordJson(kind, std::move(json));
          },
          nb::arg("kind"), nb::arg("json"),
          "Enqueues a record of a rare kind as the JSON text of its fields; never blocks.")
      .def("flush", &Flush, nb::arg("timeout_s"))
      .def("shutdown", &Shutdown, nb::arg("timeout_s"))
      .def("finish", &Finish, nb::arg("status"), nb::arg("reason"), nb::arg("timeout_s"))
      .def("stats", [](PyClient& self) { return StatsToDict(self.client().stats()); })
      .def("health", &Health)
      // Control (docs/control.md): none of these waits for the network, so they keep the GIL.
      .def("poll_actions", &PollActions,
           "Takes the control actions that arrived (dicts, oldest first); [] when none.")
      .def(
          "ack_action",
          [](PyClient& self, std::int64_t id, bool applied, std::string detail) {
            self.client().AckAction(id, applied, std::move(detail));
          },
          nb::arg("id"), nb::arg("applied"), nb::arg("detail") = "")
      .def(
          "report_decision",
          [](PyClient& self, std::string action, std::string mode, std::string actor,
             std::string reason) {
            self.client().ReportDecision(std::move(action), std::move(mode), std::move(actor),
                                         std::move(reason));
          },
          nb::arg("action"), nb::arg("mode"), nb::arg("actor"), nb::arg("reason"))
      .def(
          "set_control_registration",
          [](PyClient& self, std::string json) {
            self.client().SetControlRegistration(std::move(json));
          },
          nb::arg("json"))
      .def_prop_ro("run_id", [](PyClient& self) { return self.client().run_id(); })
      .def_prop_ro("spool_path", [](PyClient& self) { return self.client().spool_path(); });
}

nb::tuple Names(const auto& names) {
  nb::list out;
  for (const std::string_view name : names) out.append(nb::str(name.data(), name.size()));
  return nb::tuple(out);
}

// ----- layer statistics kernels (atlas_observatory/layer_health.py's CPU fast path) -----
//
// Layer health reduces every watched activation, weight and gradient of a sampled step. With
// torch operations that is several passes per tensor (sum, |a|, a > 0, norm, ...) and many small
// calls; these kernels take each statistic of a tensor in one pass over its memory. They run on
// the training thread, on CPU float32 data the caller keeps alive for the call, and release the
// GIL while they work (they touch no Python object then).

using FloatIn = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;  // any shape
using DoubleOut = nb::ndarray<double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using DoubleIn = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

enum class Saturation : std::uint8_t { kNone = 0, kTanh = 1, kSigmoid = 2 };

// Independent accumulators per lane let the compiler vectorise the loops without reordering any
// addition (which it may not do for floats); lanes are flushed into doubles every kChunk values
// so that float accumulation error stays small on long runs.
constexpr std::size_t kLanes = 8;
constexpr std::size_t kChunk = 4096;
constexpr float kSparseEps = 1e-8F;

template <Saturation kSat>
float SaturatedOne(float v) {
  if constexpr (kSat == Saturation::kTanh) {
    return std::fabs(v) > 0.99F ? 1.0F : 0.0F;
  } else if constexpr (kSat == Saturation::kSigmoid) {
    return (v < 0.01F || v > 0.99F) ? 1.0F : 0.0F;
  } else {
    return 0.0F;
  }
}

// kLanes float accumulators of each statistic. Kernels copy one into a local variable, add to
// it and store it back: a local cannot alias the input, so the compiler keeps it in vector
// registers.
struct Lanes {
  std::array<float, kLanes> sum{};
  std::array<float, kLanes> abs{};
  std::array<float, kLanes> active{};
  std::array<float, kLanes> saturated{};
  std::array<float, kLanes> squares{};
};

// Adds x[0 .. count) (count <= kLanes) to lanes 0 .. count.
template <Saturation kSat>
void AddToLanes(const float* x, std::size_t count, Lanes& lanes) {
  if (count == kLanes) {  // the common case, with a constant trip count: vectorised
    for (std::size_t j = 0; j < kLanes; ++j) {
      const float v = x[j];
      lanes.sum[j] += v;
      lanes.abs[j] += std::fabs(v);
      lanes.active[j] += v > 0.0F ? 1.0F : 0.0F;
      if constexpr (kSat != Saturation::kNone) lanes.saturated[j] += SaturatedOne<kSat>(v);
      lanes.squares[j] += v * v;
    }
    return;
  }
  for (std::size_t j = 0; j < count; ++j) {
    const float v = x[j];
    lanes.sum[j] += v;
    lanes.abs[j] += std::fabs(v);
    lanes.active[j] += v > 0.0F ? 1.0F : 0.0F;
    if constexpr (kSat != Saturation::kNone) lanes.saturated[j] += SaturatedOne<kSat>(v);
    lanes.squares[j] += v * v;
  }
}

// The layout of AccumulateUnits' accumulator: four per-unit blocks, then two scalars.
enum Block : std::size_t { kSum = 0, kAbs = 1, kActive = 2, kSaturated = 3 };

float LaneTotal(const std::array<float, kLanes>& lanes) {
  float total = 0.0F;
  for (const float v : lanes) total += v;
  return total;
}

// x viewed as (outer, units, inner) with inner > 1: each (row, unit) is one contiguous run, and
// each unit has its own lanes (lane j takes the run's positions j, j + kLanes, ...).
template <Saturation kSat>
double AccumulateRuns(const float* x, std::size_t outer, std::size_t units, std::size_t inner,
                      double* acc) {
  std::vector<Lanes> lanes(units);
  double squares = 0.0;
  const std::size_t rows_per_flush = std::max<std::size_t>(1, kChunk / inner);
  for (std::size_t row = 0; row < outer; ++row) {
    for (std::size_t unit = 0; unit < units; ++unit) {
      const float* run = x + (((row * units) + unit) * inner);
      Lanes local = lanes[unit];
      for (std::size_t i = 0; i < inner; i += kLanes) {
        AddToLanes<kSat>(run + i, std::min(kLanes, inner - i), local);
      }
      lanes[unit] = local;
    }
    if ((row + 1) % rows_per_flush == 0 || row + 1 == outer) {
      for (std::size_t unit = 0; unit < units; ++unit) {
        Lanes& l = lanes[unit];
        acc[(kSum * units) + unit] += LaneTotal(l.sum);
        acc[(kAbs * units) + unit] += LaneTotal(l.abs);
        acc[(kActive * units) + unit] += LaneTotal(l.active);
        acc[(kSaturated * units) + unit] += LaneTotal(l.saturated);
        squares += LaneTotal(l.squares);
        l = Lanes{};
      }
    }
  }
  return squares;
}

// x viewed as (outer, units) (units last): lane j of block b is unit b * kLanes + j, so a row
// adds elementwise, vectorised across units.
template <Saturation kSat>
double AccumulateRows(const float* x, std::size_t outer, std::size_t units, double* acc) {
  const std::size_t blocks = (units + kLanes - 1) / kLanes;
  std::vector<Lanes> lanes(blocks);
  double squares = 0.0;
  for (std::size_t row = 0; row < outer; ++row) {
    const float* r = x + (row * units);
    for (std::size_t block = 0; block < blocks; ++block) {
      Lanes local = lanes[block];
      AddToLanes<kSat>(r + (block * kLanes), std::min(kLanes, units - (block * kLanes)), local);
      lanes[block] = local;
    }
    if ((row + 1) % kChunk == 0 || row + 1 == outer) {
      for (std::size_t unit = 0; unit < units; ++unit) {
        Lanes& l = lanes[unit / kLanes];
        const std::size_t j = unit % kLanes;
        acc[(kSum * units) + unit] += l.sum[j];
        acc[(kAbs * units) + unit] += l.abs[j];
        acc[(kActive * units) + unit] += l.active[j];
        acc[(kSaturated * units) + unit] += l.saturated[j];
      }
      for (Lanes& l : lanes) {
        squares += LaneTotal(l.squares);
        l = Lanes{};
      }
    }
  }
  return squares;
}

double CountNonFinite(const float* x, std::size_t n) {
  double count = 0.0;
  for (std::size_t i = 0; i < n; ++i) count += std::isfinite(x[i]) ? 0.0 : 1.0;
  return count;
}

template <Saturation kSat>
void AccumulateUnitsAs(const float* x, std::size_t n, std::size_t units, std::size_t inner,
                       double* acc) {
  const std::size_t outer = n / (units * inner);
  const double squares = inner == 1 ? AccumulateRows<kSat>(x, outer, units, acc)
                                    : AccumulateRuns<kSat>(x, outer, units, inner, acc);
  acc[4 * units] += squares;
  // The sum of squares is finite exactly when every value is: the counting pass runs only then.
  acc[(4 * units) + 1] += std::isfinite(squares) ? 0.0 : CountNonFinite(x, n);
}

// Adds one activation's statistics to `acc` (see layer_health.py, _HostUnits).
void AccumulateUnits(const FloatIn& a, std::size_t units, std::size_t inner, int saturation,
                     DoubleOut& acc) {
  const std::size_t n = a.size();
  if (units == 0 || inner == 0 || n % (units * inner) != 0) {
    throw nb::value_error("accumulate_units: size is not a multiple of units * inner");
  }
  if (acc.shape(0) != (4 * units) + 2) {
    throw nb::value_error("accumulate_units: the accumulator must hold 4 * units + 2 values");
  }
  const float* x = a.data();
  double* out = acc.data();
  const nb::gil_scoped_release release;
  switch (static_cast<Saturation>(saturation)) {
    case Saturation::kTanh:
      AccumulateUnitsAs<Saturation::kTanh>(x, n, units, inner, out);
      break;
    case Saturation::kSigmoid:
      AccumulateUnitsAs<Saturation::kSigmoid>(x, n, units, inner, out);
      break;
    default:
      AccumulateUnitsAs<Saturation::kNone>(x, n, units, inner, out);
      break;
  }
}

// [sum of squares, sum of |x|, count of |x| < 1e-8, non-finite count] of one tensor.
std::array<double, 4> TensorStats(const float* x, std::size_t n) {
  std::array<double, 4> out{};
  for (std::size_t start = 0; start < n; start += kChunk) {
    const std::size_t end = std::min(n, start + kChunk);
    std::array<float, kLanes> squares{};
    std::array<float, kLanes> abs{};
    std::array<float, kLanes> small{};
    std::size_t i = start;
    for (; i + kLanes <= end; i += kLanes) {
      for (std::size_t j = 0; j < kLanes; ++j) {
        const float v = x[i + j];
        squares[j] += v * v;
        abs[j] += std::fabs(v);
        small[j] += std::fabs(v) < kSparseEps ? 1.0F : 0.0F;
      }
    }
    for (std::size_t j = 0; i < end; ++i, ++j) {
      const float v = x[i];
      squares[j] += v * v;
      abs[j] += std::fabs(v);
      small[j] += std::fabs(v) < kSparseEps ? 1.0F : 0.0F;
    }
    for (std::size_t j = 0; j < kLanes; ++j) {
      out[0] += squares[j];
      out[1] += abs[j];
      out[2] += small[j];
    }
  }
  out[3] = std::isfinite(out[0]) ? 0.0 : CountNonFinite(x, n);
  return out;
}

// TensorStats of each tensor, into out[4 * i .. 4 * i + 3].
void TensorsStats(const std::vector<FloatIn>& tensors, DoubleOut& out) {
  if (out.shape(0) != 4 * tensors.size()) {
    throw nb::value_error("tensor_stats: out must hold 4 values per tensor");
  }
  const nb::gil_scoped_release release;
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const std::array<double, 4> stats = TensorStats(tensors[t].data(), tensors[t].size());
    std::copy(stats.begin(), stats.end(), out.data() + (4 * t));
  }
}

// ||a_i - b_i||^2 of each pair, into out[i]: the update of each parameter, without a temporary.
void SquaredDistances(const std::vector<FloatIn>& a, const std::vector<FloatIn>& b,
                      DoubleOut& out) {
  if (a.size() != b.size() || out.shape(0) != a.size()) {
    throw nb::value_error("squared_distances: a, b and out must have one entry per pair");
  }
  for (std::size_t t = 0; t < a.size(); ++t) {
    if (a[t].size() != b[t].size()) {
      throw nb::value_error("squared_distances: the tensors of a pair differ in size");
    }
  }
  const nb::gil_scoped_release release;
  for (std::size_t t = 0; t < a.size(); ++t) {
    const float* x = a[t].data();
    const float* y = b[t].data();
    const std::size_t n = a[t].size();
    double total = 0.0;
    for (std::size_t start = 0; start < n; start += kChunk) {
      const std::size_t end = std::min(n, start + kChunk);
      std::array<float, kLanes> lanes{};
      std::size_t i = start;
      for (; i + kLanes <= end; i += kLanes) {
        for (std::size_t j = 0; j < kLanes; ++j) {
          const float d = x[i + j] - y[i + j];
          lanes[j] += d * d;
        }
      }
      for (std::size_t j = 0; i < end; ++i, ++j) {
        const float d = x[i] - y[i];
        lanes[j] += d * d;
      }
      for (const float l : lanes) total += l;
    }
    out.data()[t] = total;
  }
}

// ----- layer_stats JSON -----

void AppendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "\"NaN\"";
  } else if (std::isinf(value)) {
    out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    std::array<char, 32> buffer{};
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    out.append(buffer.data(), result.ptr);
  }
}

void AppendString(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      std::array<char, 8> escape{};
      std::snprintf(escape.data(), escape.size(), "\\u%04x", static_cast<unsigned>(c));
      out += escape.data();
    } else {
      out += c;
    }
  }
  out += '"';
}

using Scalars = std::vector<std::tuple<std::string, double>>;
using Arrays = std::vector<std::tuple<std::string, DoubleIn, double>>;
using LayerEntry = std::tuple<std::string, Scalars, Scalars, Arrays>;

void AppendFields(std::string& out, const Scalars& scalars) {
  for (const auto& [key, value] : scalars) {
    out += ',';
    AppendString(out, key);
    out += ':';
    AppendNumber(out, value);
  }
}

void AppendEntry(std::string& out, const LayerEntry& entry) {
  const auto& [name, scalars, extra, arrays] = entry;
  out += "{\"layer\":";
  AppendString(out, name);
  AppendFields(out, scalars);
  if (!extra.empty() || !arrays.empty()) {
    out += ",\"extra\":{";
    std::string fields;
    AppendFields(fields, extra);
    for (const auto& [key, values, scale] : arrays) {
      fields += ',';
      AppendString(fields, key);
      fields += ":[";
      for (std::size_t i = 0; i < values.shape(0); ++i) {
        if (i > 0) fields += ',';
        AppendNumber(fields, values.data()[i] * scale);
      }
      fields += ']';
    }
    out.append(fields, fields.empty() ? 0 : 1);  // without the leading comma
    out += '}';
  }
  out += '}';
}

// The text of a layer_stats record: {"step", "ts", "epoch"?, "layers": [entries]}. Entries are
// (name, fields, extra fields, extra arrays as (key, values, scale): each value is written times
// scale, which turns per-unit counts into fractions without a pass in Python); non-finite
// numbers become the protocol's strings.
std::string LayerStatsJson(std::int64_t step, std::optional<std::int64_t> epoch, double ts,
                           const std::vector<LayerEntry>& layers) {
  std::string out = "{\"step\":" + std::to_string(step) + ",\"ts\":";
  AppendNumber(out, ts);
  if (epoch) out += ",\"epoch\":" + std::to_string(*epoch);
  out += ",\"layers\":[";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (i > 0) out += ',';
    AppendEntry(out, layers[i]);
  }
  out += "]}";
  return out;
}

void BindLayerStats(nb::module_& m) {
  m.def("accumulate_units", &AccumulateUnits, nb::arg("a"), nb::arg("units"), nb::arg("inner"),
        nb::arg("saturation"), nb::arg("acc"),
        "Adds one activation's per-unit sums to acc, in one pass (layer_health.py).");
  m.def("tensor_stats", &TensorsStats, nb::arg("tensors"), nb::arg("out"),
        "[sum of squares, sum |x|, count |x| < 1e-8, non-finite count] of each tensor.");
  m.def("squared_distances", &SquaredDistances, nb::arg("a"), nb::arg("b"), nb::arg("out"),
        "||a_i - b_i||^2 of each pair of tensors.");
  m.def("layer_stats_json", &LayerStatsJson, nb::arg("step"), nb::arg("epoch"), nb::arg("ts"),
        nb::arg("layers"), "The JSON text of a layer_stats record.");
}

}  // namespace

NB_MODULE(_atlas, m) {
  m.doc() = "libatlas (the Atlas observer core) for Python; see atlas_observatory/_atlas.pyi.";
  RegisterErrors(m);
  BindConfig(m);
  BindClient(m);
  BindLayerStats(m);
  atlas_python::BindEnergy(m);
  m.def("sync", &Sync, nb::arg("path"), nb::arg("server_url"), nb::arg("remove_when_done") = true,
        nb::arg("timeout_s") = 30.0, nb::arg("compression") = "zstd",
        "Uploads a spool file (`atlas sync`); returns the report, raises with it on failure.");
  m.def("list_spool_files", &ListSpoolFiles, nb::arg("dir"));
  m.def("spool_path_for", &atlas::SpoolPathFor, nb::arg("dir"), nb::arg("run_id"));
  m.def("new_run_id", &atlas::NewRunId);
  m.attr("STEP_FIELDS") = Names(atlas::kStepFieldNames);
  m.attr("JSON_RECORD_KINDS") = Names(atlas::kJsonRecordKinds);
}
