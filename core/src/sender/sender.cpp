#include "sender/sender.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>
#include <variant>

#include "codec/json_writer.hpp"

namespace atlas::core {
namespace {

constexpr std::string_view kRunsPath = "/api/v1/runs";

spool::Frame MakeCreateFrame(const SenderOptions& options) {
  spool::Frame frame;
  frame.type = spool::FrameType::kRunCreate;
  frame.path = std::string(kRunsPath);
  frame.body = options.create_json;
  return frame;
}

}  // namespace

Sender::Sender(SenderOptions options, RecordQueue* queue, Counters* counters, Env* env,
               Clock* clock, Transport* transport, ControlInbox* inbox)
    : options_(std::move(options)),
      queue_(queue),
      counters_(counters),
      env_(env),
      clock_(clock),
      transport_(transport),
      waker_(clock->NewWaker()),
      records_path_(std::string(kRunsPath) + "/" + options_.run_id + "/records"),
      create_frame_(MakeCreateFrame(options_)),
      inbox_(inbox),
      control_path_(std::string(kRunsPath) + "/" + options_.run_id + "/control"),
      backoff_(options_.backoff_base, options_.backoff_cap, options_.jitter_seed),
      spool_(env, options_.spool_dir, options_.spool_path, options_.spool_max_bytes) {}

// ----- control, called from any thread -----

void Sender::Wake() { waker_->Notify(); }

void Sender::NotifyPressure() {
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) waker_->Notify();
}

template <typename Done>
bool Sender::WaitFor(Waker* waker, TimePoint deadline, Done done) {
  {
    MutexLock lock(&mu_);
    waiters_.push_back(waker);
  }
  bool ok = false;
  while (true) {
    {
      MutexLock lock(&mu_);
      if (done()) {
        ok = true;
        break;
      }
    }
    if (clock_->Now() >= deadline) break;
    waker->WaitUntil(deadline);
  }
  MutexLock lock(&mu_);
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), waker));
  return ok;
}

bool Sender::WaitFlushed(TimePoint deadline) {
  const std::unique_ptr<Waker> waker = clock_->NewWaker();
  std::uint64_t generation = 0;
  {
    MutexLock lock(&mu_);
    generation = ++flush_requested_;
  }
  Wake();
  return WaitFor(waker.get(), deadline,
                 [&]() ATLAS_REQUIRES(mu_) { return flush_done_ >= generation || exited_; });
}

bool Sender::Stop(TimePoint deadline, std::optional<FinishMarker> finish) {
  const std::unique_ptr<Waker> waker = clock_->NewWaker();
  {
    MutexLock lock(&mu_);
    stop_ = true;
    stop_deadline_ = deadline;
    finish_ = std::move(finish);
  }
  Wake();
  return WaitFor(waker.get(), deadline, [&]() ATLAS_REQUIRES(mu_) { return exited_; });
}

void Sender::Abort() {
  abort_.store(true, std::memory_order_release);
  if (transport_ != nullptr) transport_->Cancel();  // offline clients have none
  Wake();
}

Sender::Control Sender::ReadControl() {
  MutexLock lock(&mu_);
  Control control;
  control.flush_requested = flush_requested_;
  control.stop = stop_;
  control.deadline = stop_deadline_;
  if (stop_) control.finish = std::move(finish_);
  finish_.reset();
  return control;
}

void Sender::CompleteFlushes(std::uint64_t generation) {
  MutexLock lock(&mu_);
  flush_done_ = std::max(flush_done_, generation);
  for (Waker* waiter : waiters_) waiter->Notify();
}

void Sender::MarkExited() {
  MutexLock lock(&mu_);
  exited_ = true;
  for (Waker* waiter : waiters_) waiter->Notify();
}

// ----- the thread -----

void Sender::Run() {
  try {
    Loop();
  } catch (const std::exception& e) {
    // Only allocation failures can get here. Stop cleanly rather than take the training process
    // down: what is still queued is counted as dropped by Shutdown.
    counters_->SetHealth(Status::Internal(std::string("the sender thread stopped: ") + e.what()));
  }
  MarkExited();
}

void Sender::Loop() {
  // A spool left by an earlier process for this run is replayed before anything new is sent.
  spool_pending_ = env_->FileExists(options_.spool_path);
  while (true) {
    wake_pending_.store(false, std::memory_order_release);
    Control control = ReadControl();
    DrainQueue();
    if (control.stop) {
      // Acknowledgements first, so the audit log says an action was applied before the run
      // ends (a stop's acknowledgement must precede the finish it causes).
      if (inbox_ != nullptr && inbox_->has_outgoing()) {
        DeliverBatch();
        MaybeExchangeControl();
      }
      if (control.finish) DeliverFinish(*control.finish);  // in the last batch when it fits
      DeliverBatch();
      MaybeReplay(control.deadline, /*last_chance=*/true);
      CompleteFlushes(control.flush_requested);
      break;
    }
    DeliverBatch();  // what the timer, a flush or the pressure wake-up found
    MaybeReplay(TimePoint::max());
    MaybeExchangeControl();
    CompleteFlushes(control.flush_requested);
    waker_->WaitUntil(NextWake());
  }
}

TimePoint Sender::NextWake() const {
  TimePoint next = clock_->Now() + options_.batch_max_delay;
  if (spool_pending_ && backing_off_ && !options_.offline) next = std::min(next, next_attempt_);
  if (inbox_ != nullptr && run_created_ && options_.control_poll_interval.count() > 0) {
    next = std::min(next, last_reply_ + options_.control_poll_interval);
  }
  return next;
}

void Sender::DrainQueue() {
  QueuedRecord record;
  std::uint64_t ticket = 0;
  while (queue_->TryPop(record, ticket)) {
    AddRecord(record, options_.first_seq + static_cast<std::int64_t>(ticket));
  }
}

void Sender::AddRecord(const QueuedRecord& record, std::int64_t seq) {
  scratch_.clear();
  Status status = Status::Ok();
  if (const auto* step = std::get_if<StepRecord>(&record)) {
    status = json::AppendStepRecord(scratch_, *step, seq);
  } else if (const auto* rare = std::get_if<JsonRecord>(&record)) {
    status = json::AppendJsonRecord(scratch_, rare->kind, rare->json, seq);
  } else {
    status = Status::Internal("a finish marker in the queue");
  }
  if (!status.ok()) {
    counters_->Drop(DropReason::kInvalid);
    counters_->SetLastError("dropped record seq " + std::to_string(seq) + ": " + status.message());
    return;
  }
  AddSerialized(scratch_);
}

void Sender::AddSerialized(const std::string& json) {
  const std::size_t envelope = json::kBatchPrefix.size() + json::kBatchSuffix.size();
  if (batch_.records > 0 &&
      batch_.body.size() + 1 + json.size() + envelope > options_.batch_max_bytes) {
    DeliverBatch();
  }
  batch_.body += batch_.records == 0 ? json::kBatchPrefix : std::string_view(",");
  batch_.body += json;
  ++batch_.records;
  if (batch_.records >= options_.batch_max_records) DeliverBatch();
}

void Sender::DeliverBatch() {
  if (batch_.records == 0) return;
  batch_.body += json::kBatchSuffix;
  const Batch batch = std::exchange(batch_, Batch{});
  Deliver(batch);
}

void Sender::DeliverFinish(const FinishMarker& finish) {
  // The finish takes the seq after every ticket handed out: records claimed after the final
  // drain are dropped as kClosed, so no delivered record shares it.
  const auto seq = options_.first_seq + static_cast<std::int64_t>(queue_->Claimed());
  scratch_.clear();
  json::AppendFinishRecord(scratch_, finish.status, finish.reason, finish.ts, counters_->ToJson(),
                           seq);
  AddSerialized(scratch_);
}

// ----- delivery -----

void Sender::Deliver(const Batch& batch) {
  if (run_rejected_) {
    counters_->Drop(DropReason::kRejected, batch.records);
    return;
  }
  const bool network_off = options_.offline || abort_.load(std::memory_order_acquire);
  if (network_off || spool_pending_ || backing_off_ || !EnsureRunCreated()) {
    if (run_rejected_) {
      counters_->Drop(DropReason::kRejected, batch.records);
    } else {
      SpoolBatch(batch);
    }
    return;
  }
  if (PostRecords(records_path_, batch.body, batch.records) == Outcome::kRetryable) {
    SpoolBatch(batch);
  }
}

Outcome Sender::PostRecords(const std::string& path, std::string body, std::uint32_t records) {
  // Each pass that isolates a bad record costs a request; past this many, the rest of the batch
  // is dropped with it rather than spending hundreds of requests on a batch of bad records.
  constexpr int kMaxIsolations = 16;
  for (int isolated = 0;; ++isolated) {
    const PostResult result = Post(path, body);
    if (result.outcome == Outcome::kDelivered) {
      OnReply(result);
      counters_->sent.fetch_add(records, std::memory_order_relaxed);
      counters_->duplicates.fetch_add(static_cast<std::uint64_t>(result.duplicates),
                                      std::memory_order_relaxed);
      OnDelivered();
      return Outcome::kDelivered;
    }
    if (result.outcome == Outcome::kRetryable) {
      OnRetryableFailure(result.error);
      return Outcome::kRetryable;
    }
    // The server stores a batch whole or not at all; when it names the record it refused, drop
    // that one alone and send its neighbours again.
    std::optional<std::string> rest;
    const auto index = json::RecordIndexOf(result.field);
    if (records > 1 && index && isolated < kMaxIsolations) rest = json::WithoutRecord(body, *index);
    if (!rest) {
      OnRejected(records, result.error);
      return Outcome::kRejected;
    }
    OnRejected(1, result.error);
    body = std::move(*rest);
    --records;
  }
}

bool Sender::EnsureRunCreated() {
  if (run_created_) return true;
  const PostResult result = Post(create_frame_.path, create_frame_.body);
  switch (result.outcome) {
    case Outcome::kDelivered:
      run_created_ = true;
      OnDelivered();
      return true;
    case Outcome::kRejected:
      run_rejected_ = true;
      counters_->SetHealth(Status::InvalidArgument("the server refused to create run " +
                                                   options_.run_id + ": " + result.error));
      return false;
    case Outcome::kRetryable:
      OnRetryableFailure(result.error);
      return false;
  }
  return false;
}

void Sender::SpoolBatch(const Batch& batch) {
  if (!EnsureSpoolOpen()) {
    counters_->Drop(DropReason::kSpoolError, batch.records);
    return;
  }
  spool::Frame frame;
  frame.type = spool::FrameType::kRecords;
  frame.records = batch.records;
  frame.path = records_path_;
  frame.body = batch.body;
  Status error = Status::Ok();
  switch (spool_.Append(frame, &error)) {
    case spool::AppendResult::kAppended:
      counters_->spooled.fetch_add(batch.records, std::memory_order_relaxed);
      spool_pending_ = true;
      return;
    case spool::AppendResult::kFull:
      counters_->Drop(DropReason::kSpoolFull, batch.records);
      counters_->SetLastError("spool " + spool_.path() + " is full (spool_max_bytes)");
      return;
    case spool::AppendResult::kFailed:
      counters_->Drop(DropReason::kSpoolError, batch.records);
      counters_->SetHealth(error);
      return;
  }
}

bool Sender::EnsureSpoolOpen() {
  if (spool_.is_open()) return true;
  std::uint64_t skipped = 0;
  std::string problem;
  Status opened = spool_.Open(create_frame_, &skipped, &problem);
  if (skipped > 0) {
    counters_->spool_bytes_skipped.fetch_add(skipped, std::memory_order_relaxed);
    counters_->SetLastError("spool " + spool_.path() + ": skipped " + std::to_string(skipped) +
                            " bytes: " + problem);
  }
  if (!opened.ok()) {
    counters_->SetHealth(opened);
    return false;
  }
  spool_pending_ = true;
  return true;
}

// ----- replay -----

void Sender::MaybeReplay(TimePoint deadline, bool last_chance) {
  if (options_.offline || !spool_pending_ || abort_.load(std::memory_order_acquire)) return;
  if (!last_chance && backing_off_ && clock_->Now() < next_attempt_) return;
  Replay(deadline);
}

void Sender::Replay(TimePoint deadline) {
  auto file = env_->NewSequentialFile(options_.spool_path);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound && !spool_.is_open()) {
      spool_pending_ = false;  // removed behind our back (e.g. by `atlas sync`)
      return;
    }
    OnRetryableFailure(file.status().message());
    return;
  }
  if (replay_offset_ > 0 && !(*file)->Skip(replay_offset_).ok()) {
    replay_offset_ = 0;
  }
  spool::LogReader reader(file->get(), replay_offset_);
  spool::Frame frame;
  while (!abort_.load(std::memory_order_acquire) && clock_->Now() < deadline) {
    const spool::ReadResult result = reader.Next(&frame);
    if (result == spool::ReadResult::kIoError) {
      OnRetryableFailure(reader.status().message());
      return;
    }
    if (result != spool::ReadResult::kFrame) {
      if (result != spool::ReadResult::kEnd) {
        auto size = env_->GetFileSize(options_.spool_path);
        const std::uint64_t skipped =
            size.ok() && *size > reader.offset() ? *size - reader.offset() : 0;
        counters_->spool_bytes_skipped.fetch_add(skipped, std::memory_order_relaxed);
        counters_->SetLastError("spool " + options_.spool_path + ": skipped " +
                                std::to_string(skipped) + " bytes: " + reader.problem());
      }
      file->reset();
      FinishReplay();
      return;
    }
    if (!ReplayFrame(frame)) return;
    replay_offset_ = reader.offset();
  }
}

bool Sender::ReplayFrame(const spool::Frame& frame) {
  if (frame.type == spool::FrameType::kRunCreate) {
    if (run_created_ || run_rejected_) return true;
    // A refused create still moves the replay on: the records after it are then dropped.
    return EnsureRunCreated() || run_rejected_;
  }
  if (run_rejected_) {
    counters_->Drop(DropReason::kRejected, frame.records);
    return true;
  }
  return PostRecords(frame.path, frame.body, frame.records) != Outcome::kRetryable;
}

void Sender::FinishReplay() {
  Status removed = spool_.Remove();
  if (!removed.ok()) counters_->SetHealth(removed);
  spool_pending_ = false;
  replay_offset_ = 0;
}

// ----- control -----

void Sender::MaybeExchangeControl() {
  if (inbox_ == nullptr || options_.offline || !run_created_ || run_rejected_ ||
      abort_.load(std::memory_order_acquire)) {
    return;
  }
  const TimePoint now = clock_->Now();
  if (backing_off_ && now < next_attempt_) return;  // the server failed recently
  const bool poll_due = options_.control_poll_interval.count() > 0 &&
                        now >= last_reply_ + options_.control_poll_interval;
  if (inbox_->has_outgoing() || poll_due) ExchangeControl();
}

void Sender::ExchangeControl() {
  ControlInbox::Outgoing outgoing = inbox_->TakeOutgoing();
  const PostResult result = Post(control_path_, inbox_->RequestBody(outgoing));
  switch (result.outcome) {
    case Outcome::kDelivered:
      OnReply(result);
      OnDelivered();
      return;
    case Outcome::kRetryable:
      inbox_->Restore(std::move(outgoing));
      OnRetryableFailure(result.error);
      return;
    case Outcome::kRejected:
      // A refused acknowledgement or registration would be refused again: drop it, say why.
      // The poll itself is tried again after the interval, like any other.
      counters_->SetLastError("atlas: the server refused a control request: " + result.error);
      last_reply_ = clock_->Now();
      return;
  }
}

void Sender::OnReply(const PostResult& result) {
  last_reply_ = clock_->Now();
  if (inbox_ != nullptr && !result.reply.empty()) inbox_->DeliverReply(result.reply);
}

// ----- outcomes -----

PostResult Sender::Post(const std::string& path, std::string_view body) {
  counters_->requests.fetch_add(1, std::memory_order_relaxed);
  return PostJson(*transport_, JoinUrl(options_.server_url, path), body, options_.compression,
                  options_.request_timeout);
}

void Sender::OnRetryableFailure(const std::string& error) {
  counters_->retries.fetch_add(1, std::memory_order_relaxed);
  counters_->SetLastError(error);
  backing_off_ = true;
  next_attempt_ = clock_->Now() + backoff_.Next();
}

void Sender::OnDelivered() {
  backing_off_ = false;
  backoff_.Reset();
}

void Sender::OnRejected(std::uint32_t records, const std::string& error) {
  counters_->Drop(DropReason::kRejected, records);
  const std::string message = "atlas: the server rejected " + std::to_string(records) +
                              (records == 1 ? " record: " : " records: ") + error;
  counters_->SetHealth(Status::InvalidArgument(message));
  if (!rejection_logged_) {
    rejection_logged_ = true;
    std::fprintf(stderr, "%s\n", message.c_str());  // NOLINT(cppcoreguidelines-pro-type-vararg)
  }
  OnDelivered();  // the server answered: it is up
}

}  // namespace atlas::core
