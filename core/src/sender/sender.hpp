// The sender: the one background thread of a Client.
//
// Each time it wakes (every batch_max_delay, when the queue is half full, on Flush or on
// Shutdown) it drains the queue, serialises the records into batches of at most
// batch_max_records records and batch_max_bytes bytes, and delivers each batch:
//   - to the server (POST, compressed) when it is reachable and nothing waits in the spool;
//   - to the spool when the server failed recently (backing off), when the spool holds earlier
//     batches (order is kept), or in offline mode;
//   - nowhere when the server rejected it (4xx): the records are counted as dropped.
// The run is created lazily, before the first batch is sent; a spool starts with the run-create
// request, so it can be replayed (or uploaded by `atlas sync`) with no other state. After a
// retryable failure the sender backs off (exponential, full jitter) and then replays the spool
// in order; a fully replayed spool is deleted and batches go straight to the server again.
//
// Threading: Run() is the thread body; all delivery state is owned by that thread and is
// unsynchronised. The control methods (Wake, NotifyPressure, WaitFlushed, Stop, Abort) may be
// called from any thread; the control state they share with the thread is guarded by mu_.
// Waiting callers are woken through Wakers of the injected Clock, so tests drive every wait with
// a manual clock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atlas/client.hpp"
#include "control/inbox.hpp"
#include "queue/mpmc_ring.hpp"
#include "queue/queued_record.hpp"
#include "sender/backoff.hpp"
#include "sender/counters.hpp"
#include "spool/spool_writer.hpp"
#include "transport/poster.hpp"
#include "util/mutex.hpp"

namespace atlas::core {

using RecordQueue = MpmcRing<QueuedRecord>;

struct SenderOptions {
  std::string server_url;
  std::string run_id;
  std::string create_json;  // the POST /api/v1/runs body
  std::int64_t first_seq = 1;
  std::size_t batch_max_records = 1000;
  std::size_t batch_max_bytes = 1u << 20;
  Duration batch_max_delay = std::chrono::milliseconds(200);
  std::chrono::milliseconds request_timeout{10000};
  Duration backoff_base = std::chrono::milliseconds(500);
  Duration backoff_cap = std::chrono::seconds(30);
  std::uint64_t jitter_seed = 1;
  Compression compression = Compression::kZstd;
  bool offline = false;
  std::string spool_dir;
  std::string spool_path;
  std::uint64_t spool_max_bytes = 256ull << 20;
  // Control: poll when no request reached the server for this long; zero: never poll.
  Duration control_poll_interval{0};
};

class Sender {
 public:
  // Borrows everything; all must outlive the Sender. `inbox` may be null (no control).
  Sender(SenderOptions options, RecordQueue* queue, Counters* counters, Env* env, Clock* clock,
         Transport* transport, ControlInbox* inbox = nullptr);

  // The thread body: returns after Stop (or Abort) once the queue is drained.
  void Run();

  // Wakes the thread now.
  void Wake();
  // Called by producers after a push that left the queue at least half full: wakes the thread
  // once until it has drained the queue (a single atomic exchange when a wake is pending).
  void NotifyPressure();
  // Waits until every record pushed before the call has been delivered, spooled or dropped,
  // or until `deadline`. Returns false on timeout.
  bool WaitFlushed(TimePoint deadline) ATLAS_EXCLUDES(mu_);
  // Asks the thread to deliver what is queued (then `finish`, when given) and exit; waits until
  // it has exited or `deadline` passes. Returns false on timeout.
  bool Stop(TimePoint deadline, std::optional<FinishMarker> finish) ATLAS_EXCLUDES(mu_);
  // Makes the thread stop using the network at once: the request in flight is cancelled and
  // everything else goes to the spool. Then Run() returns promptly.
  void Abort();

 private:
  struct Batch {
    std::string body;
    std::uint32_t records = 0;
  };

  struct Control {
    std::uint64_t flush_requested = 0;
    bool stop = false;
    TimePoint deadline = TimePoint::max();
    std::optional<FinishMarker> finish;
  };

  void Loop();
  Control ReadControl() ATLAS_EXCLUDES(mu_);
  void CompleteFlushes(std::uint64_t generation) ATLAS_EXCLUDES(mu_);
  void MarkExited() ATLAS_EXCLUDES(mu_);
  // Waits on `waker` until `done` holds (checked under mu_) or `deadline` passes.
  template <typename Done>
  bool WaitFor(Waker* waker, TimePoint deadline, Done done) ATLAS_EXCLUDES(mu_);
  TimePoint NextWake() const;

  // Moves every visible record into batch_, delivering each batch that fills up; the last,
  // partial batch stays in batch_ for the caller to deliver (or to add the finish to).
  void DrainQueue();
  // Serialises `record` into batch_ (sending batch_ first when it would overflow).
  void AddRecord(const QueuedRecord& record, std::int64_t seq);
  void AddSerialized(const std::string& json);
  void DeliverBatch();
  void DeliverFinish(const FinishMarker& finish);

  void Deliver(const Batch& batch);
  bool EnsureRunCreated();
  void SpoolBatch(const Batch& batch);
  bool EnsureSpoolOpen();
  // Replays the spool unless offline, nothing is spooled, or (unless `last_chance`) a backoff
  // is still running. At shutdown the backoff is ignored: the server may have come back within
  // the last backoff interval, and this is the spool's last chance before the process ends.
  void MaybeReplay(TimePoint deadline, bool last_chance = false);
  void Replay(TimePoint deadline);
  // Sends one spooled frame; false when it must be retried later.
  bool ReplayFrame(const spool::Frame& frame);
  void FinishReplay();

  // Control: exchanges acks, decisions and the registration for pending actions when the inbox
  // has something to send, or when no request reached the server for control_poll_interval.
  void MaybeExchangeControl();
  void ExchangeControl();
  // Hands the actions of a 2xx reply to the inbox; notes that the server was reached.
  void OnReply(const PostResult& result);

  PostResult Post(const std::string& path, std::string_view body);
  // POSTs a batch of `records` records and counts the outcome (sent, dropped, or a retry to
  // come); a record the server names as invalid is dropped alone and the rest sent again.
  Outcome PostRecords(const std::string& path, std::string body, std::uint32_t records);
  void OnRetryableFailure(const std::string& error);
  void OnDelivered();
  void OnRejected(std::uint32_t records, const std::string& error);

  const SenderOptions options_;
  RecordQueue* const queue_;
  Counters* const counters_;
  Env* const env_;
  Clock* const clock_;
  Transport* const transport_;
  const std::unique_ptr<Waker> waker_;
  const std::string records_path_;
  const spool::Frame create_frame_;
  ControlInbox* const inbox_;
  const std::string control_path_;

  // Control state, shared with callers of the control methods.
  Mutex mu_;
  std::uint64_t flush_requested_ ATLAS_GUARDED_BY(mu_) = 0;
  std::uint64_t flush_done_ ATLAS_GUARDED_BY(mu_) = 0;
  bool stop_ ATLAS_GUARDED_BY(mu_) = false;
  bool exited_ ATLAS_GUARDED_BY(mu_) = false;
  TimePoint stop_deadline_ ATLAS_GUARDED_BY(mu_) = TimePoint::max();
  std::optional<FinishMarker> finish_ ATLAS_GUARDED_BY(mu_);
  std::vector<Waker*> waiters_ ATLAS_GUARDED_BY(mu_);  // callers blocked in WaitFor
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> abort_{false};

  // Delivery state, owned by the sender thread.
  Batch batch_;
  std::string scratch_;
  Backoff backoff_;
  bool backing_off_ = false;
  TimePoint next_attempt_{};
  bool run_created_ = false;
  bool run_rejected_ = false;
  bool rejection_logged_ = false;
  spool::SpoolWriter spool_;
  bool spool_pending_ = false;  // the spool file holds frames not yet replayed
  std::uint64_t replay_offset_ = 0;
  TimePoint last_reply_{};  // the last 2xx answer from the server (control poll timing)
};

}  // namespace atlas::core
