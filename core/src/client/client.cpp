// Client (atlas/client.hpp): configuration checks, the producer side of the queue, and the
// lifecycle of the sender thread.
#include "atlas/client.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <exception>
#include <random>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "atlas/spool_sync.hpp"
#include "client/fork_guard.hpp"
#include "sender/sender.hpp"

namespace atlas {
namespace {

constexpr std::size_t kMaxRunIdChars = 64;
constexpr std::chrono::milliseconds kDestructorTimeout{1000};

bool IsValidRunId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRunIdChars) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Parses the JSON object text of a create-request field ("" means {}).
Result<nlohmann::json> ParseObjectField(std::string_view name, const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::InvalidArgument(std::string(name) + " must be the text of a JSON object");
  }
  return parsed;
}

std::string DefaultSpoolDir() {
  // getenv is only racy against setenv from another thread; Start is not on a hot path.
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
  const std::string base = home != nullptr && *home != '\0' ? home : ".";
  return base + "/.atlas/spool";
}

Status CheckConfig(const ClientConfig& c) {
  if (c.project.empty() == !c.project_id.has_value()) {
    return Status::InvalidArgument("give either project (a name) or project_id");
  }
  if (c.project_id && *c.project_id < 1) return Status::InvalidArgument("project_id must be >= 1");
  if (!c.offline && c.server_url.empty()) {
    return Status::InvalidArgument("server_url is required unless offline");
  }
  if (!c.run_id.empty() && !IsValidRunId(c.run_id)) {
    return Status::InvalidArgument(
        "run_id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'");
  }
  if (c.first_seq < 0) return Status::InvalidArgument("first_seq must be >= 0");
  if (c.queue_capacity == 0 || c.batch_max_records == 0 || c.batch_max_bytes == 0) {
    return Status::InvalidArgument(
        "queue_capacity, batch_max_records and batch_max_bytes must be > 0");
  }
  if (c.batch_max_delay.count() <= 0 || c.request_timeout.count() <= 0) {
    return Status::InvalidArgument("batch_max_delay and request_timeout must be > 0");
  }
  return Status::Ok();
}

Result<std::string> BuildCreateJson(const ClientConfig& c, double started_at) {
  nlohmann::json body = nlohmann::json::object();
  if (c.project_id) {
    body["project_id"] = *c.project_id;
  } else {
    body["project"] = c.project;
  }
  body["name"] = c.run_name;
  body["run_id"] = c.run_id;
  body["started_at"] = started_at;
  const std::array<std::pair<const char*, const std::string*>, 4> fields = {{
      {"host", &c.host_json},
      {"device", &c.device_json},
      {"framework", &c.framework_json},
      {"config", &c.config_json},
  }};
  for (const auto& [name, text] : fields) {
    auto parsed = ParseObjectField(name, *text);
    if (!parsed.ok()) return parsed.status();
    body[name] = std::move(parsed).value();
  }
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

std::string_view ToString(DropReason reason) {
  switch (reason) {
    case DropReason::kQueueFull:
      return "queue_full";
    case DropReason::kForkChild:
      return "fork_child";
    case DropReason::kClosed:
      return "closed";
    case DropReason::kInvalid:
      return "invalid";
    case DropReason::kRejected:
      return "rejected";
    case DropReason::kSpoolFull:
      return "spool_full";
    case DropReason::kSpoolError:
      return "spool_error";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

std::string NewRunId() {
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::random_device device;
  std::string id;
  id.reserve(32);
  for (int word = 0; word < 4; ++word) {
    std::uint32_t bits = device();
    for (int i = 0; i < 8; ++i, bits >>= 4) id += kHex[bits & 0xfu];
  }
  return id;
}

// ----- Impl -----

class Client::Impl {
 public:
  Impl(ClientConfig config, std::unique_ptr<Transport> owned_transport, core::SenderOptions options)
      : config_(std::move(config)),
        owned_transport_(std::move(owned_transport)),
        env_(config_.env != nullptr ? config_.env : Env::Default()),
        clock_(config_.clock != nullptr ? config_.clock : Clock::Real()),
        transport_(config_.transport != nullptr ? config_.transport : owned_transport_.get()),
        spool_path_(options.spool_path),
        queue_(config_.queue_capacity),
        half_capacity_(queue_.capacity() / 2),
        sender_(std::move(options), &queue_, &counters_, env_, clock_, transport_, &inbox_),
        fork_generation_(core::ForkGeneration()) {}

  void StartThread() {
    thread_ = std::make_unique<std::thread>([this] { sender_.Run(); });
  }

  bool InOwnerProcess() const noexcept { return core::ForkGeneration() == fork_generation_; }

  // Checks shared by Record and RecordJson; false (counted) when the record must be dropped.
  bool Admit() noexcept {
    if (!InOwnerProcess()) {
      counters_.Drop(DropReason::kForkChild);
      return false;
    }
    if (!accepting_.load(std::memory_order_acquire)) {
      counters_.Drop(DropReason::kClosed);
      return false;
    }
    return true;
  }

  bool Push(core::QueuedRecord& record) noexcept {
    if (!queue_.TryPush(record)) {
      counters_.Drop(DropReason::kQueueFull);
      return false;
    }
    counters_.enqueued.fetch_add(1, std::memory_order_relaxed);
    if (queue_.ApproxSize() >= half_capacity_) sender_.NotifyPressure();
    return true;
  }

  bool Record(StepRecord&& record) noexcept {
    if (!Admit()) return false;
    if (record.ts <= 0) record.ts = clock_->UnixSeconds();
    core::QueuedRecord item(std::in_place_type<StepRecord>, std::move(record));
    return Push(item);
  }

  bool RecordJson(std::string_view kind, std::string&& json) noexcept {
    if (std::find(kJsonRecordKinds.begin(), kJsonRecordKinds.end(), kind) ==
        kJsonRecordKinds.end()) {
      return false;
    }
    if (!Admit()) return false;
    try {
      core::QueuedRecord item(std::in_place_type<core::JsonRecord>,
                              core::JsonRecord{std::string(kind), std::move(json)});
      return Push(item);
    } catch (...) {  // allocation failure: drop, never throw into the training loop
      counters_.Drop(DropReason::kInvalid);
      return false;
    }
  }

  Status Flush(std::chrono::milliseconds timeout) noexcept {
    if (!InOwnerProcess()) return Status::Ok();
    try {
      if (!sender_.WaitFlushed(clock_->Now() + timeout)) {
        return Status::Unavailable("Flush timed out; the records stay queued");
      }
    } catch (const std::exception& e) {
      return Status::Internal(std::string("Flush: ") + e.what());
    }
    return counters_.health();
  }

  Status Shutdown(std::chrono::milliseconds timeout,
                  std::optional<core::FinishMarker> finish) noexcept {
    if (!InOwnerProcess()) return Status::Ok();
    core::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return shutdown_status_;
    accepting_.store(false, std::memory_order_release);
    if (thread_ == nullptr) {  // Start failed before the thread ran
      shut_down_ = true;
      shutdown_status_ = Status::Internal("the sender thread never started");
      return shutdown_status_;
    }
    bool stopped = false;
    try {
      stopped = sender_.Stop(clock_->Now() + timeout, std::move(finish));
      if (!stopped) sender_.Abort();
      thread_->join();
    } catch (const std::exception& e) {  // allocation or thread errors: report, never throw
      shut_down_ = true;
      shutdown_status_ = Status::Internal(std::string("Shutdown: ") + e.what());
      return shutdown_status_;
    }
    DropLeftovers();
    shut_down_ = true;
    shutdown_status_ = stopped ? counters_.health()
                               : Status::Unavailable(
                                     "Shutdown timed out; the request in flight was cancelled "
                                     "and unsent records were spooled");
    return shutdown_status_;
  }

  // Leaks this object in a fork()ed child: its thread does not exist there, and destroying its
  // mutexes and condition variables, which a vanished parent thread may hold, could deadlock.
  bool NeedsShutdown() noexcept {
    core::MutexLock lock(&shutdown_mu_);
    return !shut_down_;
  }

  core::Counters& counters() { return counters_; }
  Clock* clock() { return clock_; }
  core::ControlInbox& inbox() { return inbox_; }
  void WakeSender() { sender_.Wake(); }
  const std::string& run_id() const { return config_.run_id; }
  const std::string& spool_path() const { return spool_path_; }

 private:
  // Records that producers pushed after the sender's final drain (they raced Shutdown).
  void DropLeftovers() {
    core::QueuedRecord record;
    std::uint64_t ticket = 0;
    while (queue_.TryPop(record, ticket)) counters_.Drop(DropReason::kClosed);
  }

  const ClientConfig config_;
  const std::unique_ptr<Transport> owned_transport_;
  Env* const env_;
  Clock* const clock_;
  Transport* const transport_;
  const std::string spool_path_;
  core::RecordQueue queue_;
  const std::size_t half_capacity_;
  core::Counters counters_;
  core::ControlInbox inbox_;  // before sender_, which borrows it
  core::Sender sender_;
  const std::uint64_t fork_generation_;
  std::atomic<bool> accepting_{true};
  std::unique_ptr<std::thread> thread_;

  core::Mutex shutdown_mu_;  // serialises Shutdown calls; held while the thread stops
  bool shut_down_ ATLAS_GUARDED_BY(shutdown_mu_) = false;
  Status shutdown_status_ ATLAS_GUARDED_BY(shutdown_mu_);
};

// ----- Client -----

Result<std::unique_ptr<Client>> Client::Start(ClientConfig config) noexcept {
  try {
    Status valid = CheckConfig(config);
    if (!valid.ok()) return valid;
    if (config.run_id.empty()) config.run_id = NewRunId();
    if (config.run_name.empty()) config.run_name = config.run_id;
    if (config.spool_dir.empty()) config.spool_dir = DefaultSpoolDir();
    Clock* clock = config.clock != nullptr ? config.clock : Clock::Real();
    auto create_json = BuildCreateJson(config, clock->UnixSeconds());
    if (!create_json.ok()) return create_json.status();

    core::SenderOptions options;
    options.server_url = config.server_url;
    options.run_id = config.run_id;
    options.create_json = std::move(create_json).value();
    options.first_seq = config.first_seq;
    options.batch_max_records = config.batch_max_records;
    options.batch_max_bytes = config.batch_max_bytes;
    options.batch_max_delay = config.batch_max_delay;
    options.request_timeout = config.request_timeout;
    options.backoff_base = config.backoff_base;
    options.backoff_cap = config.backoff_cap;
    options.jitter_seed = config.jitter_seed != 0 ? config.jitter_seed : RandomSeed();
    options.compression = config.compression;
    options.offline = config.offline;
    options.spool_dir = config.spool_dir;
    options.spool_path = SpoolPathFor(config.spool_dir, config.run_id);
    options.spool_max_bytes = config.spool_max_bytes;
    options.control_poll_interval = config.control_poll_interval;

    std::unique_ptr<Transport> owned;
    if (config.transport == nullptr && !config.offline) owned = NewCurlTransport();
    core::InstallForkHandler();
    auto impl = std::make_unique<Impl>(std::move(config), std::move(owned), std::move(options));
    // The Client exists before its thread, so nothing can throw while a thread runs unowned.
    std::unique_ptr<Client> client(new Client(std::move(impl)));
    client->impl_->StartThread();
    return client;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("Client::Start: ") + e.what());
  } catch (...) {
    return Status::Internal("Client::Start: unknown exception");
  }
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  if (!impl_->InOwnerProcess()) {
    (void)impl_.release();  // see Impl::NeedsShutdown: leaking is the safe choice in a child
    return;
  }
  if (impl_->NeedsShutdown()) (void)impl_->Shutdown(kDestructorTimeout, std::nullopt);
}

bool Client::Record(StepRecord record) noexcept { return impl_->Record(std::move(record)); }

bool Client::RecordJson(std::string_view kind, std::string json) noexcept {
  return impl_->RecordJson(kind, std::move(json));
}

Status Client::Flush(std::chrono::milliseconds timeout) noexcept { return impl_->Flush(timeout); }

Status Client::Shutdown(std::chrono::milliseconds timeout) noexcept {
  return impl_->Shutdown(timeout, std::nullopt);
}

Status Client::Finish(FinishStatus status, std::string reason,
                      std::chrono::milliseconds timeout) noexcept {
  if (!impl_->InOwnerProcess()) return Status::Ok();
  core::FinishMarker finish;
  finish.status = status;
  finish.reason = std::move(reason);  // a moved string cannot throw
  finish.ts = impl_->clock()->UnixSeconds();
  return impl_->Shutdown(timeout, std::move(finish));
}

bool Client::HasActions() const noexcept {
  return impl_->InOwnerProcess() && impl_->inbox().has_actions();
}

std::vector<ControlAction> Client::PollActions() noexcept {
  if (!impl_->InOwnerProcess() || !impl_->inbox().has_actions()) return {};
  try {
    return impl_->inbox().Take();
  } catch (const std::exception&) {
    return {};  // only allocation can fail here; the actions stay for the next call
  }
}

void Client::AckAction(std::int64_t id, bool applied, std::string detail) noexcept {
  if (!impl_->InOwnerProcess()) return;
  try {
    impl_->inbox().Ack(id, applied, std::move(detail));
    impl_->WakeSender();
  } catch (const std::exception&) {
    impl_->counters().SetLastError("atlas: could not queue a control acknowledgement");
  }
}

void Client::ReportDecision(std::string action, std::string mode, std::string actor,
                            std::string reason) noexcept {
  if (!impl_->InOwnerProcess()) return;
  try {
    impl_->inbox().Decide(std::move(action), std::move(mode), std::move(actor), std::move(reason));
    impl_->WakeSender();
  } catch (const std::exception&) {
    impl_->counters().SetLastError("atlas: could not queue a control decision");
  }
}

void Client::SetControlRegistration(std::string json) noexcept {
  if (!impl_->InOwnerProcess()) return;
  try {
    impl_->inbox().Register(std::move(json));
    impl_->WakeSender();
  } catch (const std::exception&) {
    impl_->counters().SetLastError("atlas: could not queue the control registration");
  }
}

Stats Client::stats() const noexcept {
  // In a fork()ed child only the atomic counts are read: the error text's mutex may have been
  // held by a parent thread at the fork.
  return impl_->counters().Snapshot(/*with_text=*/impl_->InOwnerProcess());
}

Status Client::health() const noexcept {
  if (!impl_->InOwnerProcess()) return Status::Ok();
  return impl_->counters().health();
}

const std::string& Client::run_id() const noexcept { return impl_->run_id(); }

const std::string& Client::spool_path() const noexcept { return impl_->spool_path(); }

}  // namespace atlas
