// Client: the in-process observer core. The training loop records; a sender thread delivers.
//
//   auto client = atlas::Client::Start(config);      // Result<std::unique_ptr<Client>>
//   atlas::StepRecord r; r.step = 7; r.Set(atlas::StepField::kLoss, 0.42);
//   client.value()->Record(std::move(r));            // never blocks; false when dropped
//   client.value()->Finish(atlas::FinishStatus::kCompleted, "", std::chrono::seconds(5));
//
// Threading: Record, RecordJson, stats, health and run_id may be called from any number of
// threads at once. Record and RecordJson never block (a lock-free queue; a full queue drops and
// counts); stats and health take a short internal lock that no I/O is done under. Flush,
// Shutdown and Finish may be called from any thread and return by their timeout, measured on the
// configured Clock; concurrent Shutdown calls run one after the other. One sender thread per
// Client batches, serialises, compresses and POSTs records, retries with backoff, and spools to
// disk while the server is unreachable; it is joined by Shutdown (or by the destructor, which
// shuts down with a 1 s timeout on the configured Clock).
//
// Ownership: the Client owns its sender thread, its queue and its spool writer. The Env, Clock
// and Transport in ClientConfig, when given, are borrowed and must outlive the Client.
//
// Errors: no exception leaves this API. A configuration error makes Start fail; everything that
// goes wrong later is counted in stats() and the first lasting failure is kept as health().
//
// fork(): in a child process (e.g. a DataLoader worker) the sender thread does not exist. Every
// call on a Client inherited through fork() is then a no-op: Record returns false and counts a
// drop by reason "fork_child"; Flush/Shutdown return at once; nothing locks a mutex that a
// parent thread may have held at the fork.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atlas/clock.hpp"
#include "atlas/env.hpp"
#include "atlas/record.hpp"
#include "atlas/status.hpp"
#include "atlas/transport.hpp"

namespace atlas {

enum class Compression { kNone, kGzip, kZstd };

struct ClientConfig {
  // Where atlasd listens, e.g. "http://127.0.0.1:8787". Not needed when offline.
  std::string server_url;
  // The project, by name or by id (exactly one).
  std::string project;
  std::optional<std::int64_t> project_id;
  std::string run_name;  // the run_id when empty
  // Client-chosen run id (1-64 of [A-Za-z0-9._-]); 32 random hex digits when empty. Starting a
  // Client with the id of an existing run resumes that run.
  std::string run_id;
  // The seq of the first record. A process resuming a run must start past the seqs it already
  // used, since the server ignores a record whose (run, seq) it has stored.
  std::int64_t first_seq = 1;
  // JSON object texts sent with the run-create request ("" means {}).
  std::string host_json;
  std::string device_json;
  std::string framework_json;
  std::string config_json;

  // Spool: one file per run under spool_dir ("" means $HOME/.atlas/spool, or ./.atlas/spool
  // without HOME), at most spool_max_bytes; batches that do not fit are dropped ("spool_full").
  std::string spool_dir;
  std::uint64_t spool_max_bytes = 256ull << 20;
  // When true, nothing is sent: every record goes to the spool, for `atlas sync` later.
  bool offline = false;

  std::size_t queue_capacity = 8192;  // rounded up to a power of two
  std::size_t batch_max_records = 1000;
  std::size_t batch_max_bytes = 1u << 20;  // of uncompressed JSON
  std::chrono::milliseconds batch_max_delay{200};
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{30000};
  Compression compression = Compression::kZstd;
  // Control (docs/control.md): actions for the run arrive on every ingest reply; when no request
  // reached atlasd for this long (nothing to send, or the training is paused), the sender asks
  // for them with a light poll (POST /api/v1/runs/{id}/control). Zero turns the poll off.
  std::chrono::milliseconds control_poll_interval{0};

  // Borrowed; null means Env::Default(), Clock::Real() and a libcurl transport of the client's
  // own. Tests inject fakes here.
  Env* env = nullptr;
  Clock* clock = nullptr;
  Transport* transport = nullptr;
  // Seeds the backoff jitter; 0 means a random seed.
  std::uint64_t jitter_seed = 0;
};

// Why records were lost. Losses are data: they travel with the run (client_stats).
enum class DropReason {
  kQueueFull,   // the training thread outran the sender
  kForkChild,   // recorded in a fork()ed child process
  kClosed,      // recorded after Shutdown/Finish began
  kInvalid,     // a record the server would refuse (e.g. a negative sample count, bad JSON)
  kRejected,    // the server answered a 4xx other than 408/429
  kSpoolFull,   // the server was unreachable and the spool had reached spool_max_bytes
  kSpoolError,  // the server was unreachable and the spool could not be written
  kCount,
};
std::string_view ToString(DropReason reason);

struct Stats {
  std::uint64_t enqueued = 0;    // records accepted by Record/RecordJson
  std::uint64_t sent = 0;        // records the server acknowledged (2xx), replays included
  std::uint64_t duplicates = 0;  // of those, records the server already had
  std::uint64_t spooled = 0;     // records written to the spool
  std::uint64_t dropped = 0;     // the sum of dropped_by_reason
  std::map<std::string, std::uint64_t> dropped_by_reason;  // only reasons with a count
  std::uint64_t requests = 0;                              // HTTP requests attempted
  std::uint64_t retries = 0;  // failed attempts that will be retried (408/429/5xx/network)
  std::uint64_t spool_bytes_skipped = 0;  // torn or corrupt spool bytes found and skipped
  std::string last_error;                 // the most recent failure, "" when none
};

// An action atlasd delivered for the run (docs/control.md): "stop" (mode "step" or "epoch"),
// "pause", "resume", "adjust" (params {"lr": {"multiply": 0.5}} or {"name": {"set": v}}) or
// "hold" (hold at the epoch's end until a decision). Acknowledge each with AckAction.
struct ControlAction {
  std::int64_t id = 0;  // per run, increasing
  std::string action;
  std::string mode;
  std::string params_json = "{}";  // a JSON object's text
  std::string reason;
  std::string actor;
};

class Client {
 public:
  // Validates `config`, starts the sender thread and returns the client. Fails with
  // kInvalidArgument on a bad configuration, kInternal when the thread cannot start.
  static Result<std::unique_ptr<Client>> Start(ClientConfig config) noexcept;

  // Shuts down with a short timeout (1 s) when the caller did not.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Hands a step record to the sender and assigns it the run's next seq. Never blocks; returns
  // false when the record was dropped (and counted).
  bool Record(StepRecord record) noexcept;
  // Hands over a record of a rare kind (one of kJsonRecordKinds) as the JSON text of an object
  // of its fields without "kind" and "seq", e.g. RecordJson("event", R"({"ts":..,"level":..})").
  // The text is checked on the sender thread; invalid text is dropped as kInvalid. Returns false
  // for an unknown kind or when the record was dropped at once.
  bool RecordJson(std::string_view kind, std::string json) noexcept;

  // Waits until every record accepted before the call has been sent, spooled or dropped.
  // Returns kUnavailable when `timeout` passes first (the records stay queued and are handled
  // later), the health() error when one is set, else ok.
  Status Flush(std::chrono::milliseconds timeout) noexcept;
  // Stops accepting records, delivers what is queued (sending it when the server is up, else
  // spooling it), and joins the sender thread. When `timeout` passes first, the request in
  // flight is cancelled and whatever is unsent goes to the spool; the call then returns
  // kUnavailable. Later calls return the first call's result.
  Status Shutdown(std::chrono::milliseconds timeout) noexcept;
  // Records a finish record (with client_stats: these Stats, taken when it is serialised), then
  // Shutdown(timeout).
  Status Finish(FinishStatus status, std::string reason,
                std::chrono::milliseconds timeout) noexcept;

  // ----- control (docs/control.md) -----
  // Takes the actions that arrived since the last call, oldest first. Any thread; returns at
  // once (one atomic load) when none is waiting, and never waits for the network.
  std::vector<ControlAction> PollActions() noexcept;
  // Whether PollActions would return any (one atomic load: cheap enough for every step).
  bool HasActions() const noexcept;
  // Tells atlasd that action `id` was applied (or refused: `applied` false), with what applying
  // it did. Sent by the sender thread on its next control request, which this call hastens.
  void AckAction(std::int64_t id, bool applied, std::string detail) noexcept;
  // Records a decision this process took itself on a held run: `action` "resume" or "stop"
  // (`mode` for stop), `actor` e.g. "terminal" or "timeout", and why.
  void ReportDecision(std::string action, std::string mode, std::string actor,
                      std::string reason) noexcept;
  // The run's control registration, a JSON object's text ({"pause_on", "adjustable",
  // "decision_timeout_s", "decision_default"}), sent with the next control request.
  void SetControlRegistration(std::string json) noexcept;

  Stats stats() const noexcept;
  // The first lasting background failure (the run was rejected, the spool failed), or ok.
  Status health() const noexcept;
  const std::string& run_id() const noexcept;
  // The spool file of this run (it may not exist).
  const std::string& spool_path() const noexcept;

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// 32 random lower-case hex digits.
std::string NewRunId();

}  // namespace atlas
