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
#include "kernels.hpp"
#include "py_client.hpp"
#include "step_binding.hpp"

namespace nb = nanobind;
using atlas_python::PyClient;

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
      .def_prop_ro(
          "has_actions", [](PyClient& self) { return self.client().HasActions(); },
          "Whether poll_actions would return any (an atomic load).")
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

}  // namespace

NB_MODULE(_atlas, m) {
  m.doc() = "libatlas (the Atlas observer core) for Python; see atlas_observatory/_atlas.pyi.";
  RegisterErrors(m);
  BindConfig(m);
  BindClient(m);
  atlas_python::BindLayerStats(m);
  atlas_python::BindEnergy(m);
  atlas_python::BindStepRecorder(m);
  m.def("sync", &Sync, nb::arg("path"), nb::arg("server_url"), nb::arg("remove_when_done") = true,
        nb::arg("timeout_s") = 30.0, nb::arg("compression") = "zstd",
        "Uploads a spool file (`atlas sync`); returns the report, raises with it on failure.");
  m.def("list_spool_files", &ListSpoolFiles, nb::arg("dir"));
  m.def("spool_path_for", &atlas::SpoolPathFor, nb::arg("dir"), nb::arg("run_id"));
  m.def("new_run_id", &atlas::NewRunId);
  m.attr("STEP_FIELDS") = Names(atlas::kStepFieldNames);
  m.attr("JSON_RECORD_KINDS") = Names(atlas::kJsonRecordKinds);
}
