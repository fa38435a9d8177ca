// The Client end to end, with a ManualClock (no test sleeps), a MemEnv (disk faults) and a
// recording FakeTransport (server behaviour).
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "atlas/client.hpp"
#include "atlas/spool_sync.hpp"
#include "spool/spool_writer.hpp"
#include "test_util.hpp"

namespace atlas::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSpoolPath[] = "/spool/run-1.atlas-spool";

Result<HttpResponse> Unreachable() { return Status::Unavailable("connection refused"); }

void RecordSteps(Client& client, std::int64_t first, std::int64_t n) {
  for (std::int64_t i = first; i < first + n; ++i) ASSERT_TRUE(client.Record(Step(i)));
}

TEST(Client, StartRejectsBadConfigs) {
  Harness h;
  ClientConfig no_project = h.Config();
  no_project.project.clear();
  EXPECT_EQ(Client::Start(no_project).status().code(), StatusCode::kInvalidArgument);
  ClientConfig both = h.Config();
  both.project_id = 3;
  EXPECT_EQ(Client::Start(both).status().code(), StatusCode::kInvalidArgument);
  ClientConfig bad_id = h.Config();
  bad_id.run_id = "has space";
  EXPECT_EQ(Client::Start(bad_id).status().code(), StatusCode::kInvalidArgument);
  ClientConfig bad_json = h.Config();
  bad_json.host_json = "[1]";
  EXPECT_EQ(Client::Start(bad_json).status().code(), StatusCode::kInvalidArgument);
  ClientConfig no_url = h.Config();
  no_url.server_url.clear();
  EXPECT_EQ(Client::Start(no_url).status().code(), StatusCode::kInvalidArgument);
}

TEST(Client, GeneratesARunIdWhenNoneIsGiven) {
  Harness h;
  ClientConfig config = h.Config();
  config.run_id.clear();
  auto client = h.Start(config);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->run_id().size(), 32u);
  EXPECT_EQ(client->run_id().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(NewRunId(), NewRunId());
}

TEST(Client, CreatesTheRunLazilyThenBatchesBySize) {
  Harness h;
  ClientConfig config = h.Config();
  config.host_json = R"({"hostname":"box"})";
  auto client = h.Start(config);
  ASSERT_TRUE(h.WaitIdle());
  EXPECT_EQ(h.transport.call_count(), 0u);  // nothing to send, so no run created yet

  RecordSteps(*client, 0, 25);
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  const auto calls = h.transport.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].request.url, std::string(kServer) + "/api/v1/runs");
  const auto create = nlohmann::json::parse(calls[0].json);
  EXPECT_EQ(create["run_id"], "run-1");
  EXPECT_EQ(create["project"], "tests");
  EXPECT_EQ(create["name"], "a run");
  EXPECT_EQ(create["host"]["hostname"], "box");
  std::vector<std::size_t> sizes;
  for (const auto& call : h.BatchCalls()) sizes.push_back(SeqsOf(call.json).size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5}));
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 25));
  const Stats stats = client->stats();
  EXPECT_EQ(stats.enqueued, 25u);
  EXPECT_EQ(stats.sent, 25u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_EQ(stats.requests, 4u);
  EXPECT_TRUE(client->Shutdown(seconds(10)).ok());
}

TEST(Client, BatchesByBytes) {
  Harness h;
  ClientConfig config = h.Config();
  config.batch_max_records = 1000;
  config.batch_max_bytes = 400;
  auto client = h.Start(config);
  RecordSteps(*client, 0, 30);
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  const auto batches = h.BatchCalls();
  EXPECT_GT(batches.size(), 3u);
  for (const auto& call : batches) EXPECT_LE(call.json.size(), 400u);
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 30));
}

// Below half a queue, records wait for the batch timer: nothing is sent until the clock passes
// batch_max_delay, then one batch holds them all.
TEST(Client, BatchesByTime) {
  Harness h;
  auto client = h.Start(h.Config());
  ASSERT_TRUE(h.WaitIdle());
  RecordSteps(*client, 0, 3);
  h.clock.Advance(milliseconds(100));
  EXPECT_EQ(h.transport.call_count(), 0u);
  h.clock.Advance(milliseconds(100));
  ASSERT_TRUE(h.transport.WaitForCalls(2));
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  const auto batches = h.BatchCalls();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(SeqsOf(batches[0].json), Iota(1, 3));
}

// A queue half full wakes the sender without waiting for the timer.
TEST(Client, HalfFullQueueWakesTheSender) {
  Harness h;
  ClientConfig config = h.Config();
  config.queue_capacity = 16;
  config.batch_max_records = 100;
  auto client = h.Start(config);
  ASSERT_TRUE(h.WaitIdle());
  RecordSteps(*client, 0, 8);
  ASSERT_TRUE(h.transport.WaitForCalls(2));  // no clock advance, no Flush
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 8));
}

TEST(Client, CompressesBodies) {
  for (const Compression c : {Compression::kGzip, Compression::kZstd}) {
    Harness h;
    ClientConfig config = h.Config();
    config.compression = c;
    auto client = h.Start(config);
    RecordSteps(*client, 0, 5);
    ASSERT_TRUE(client->Flush(seconds(10)).ok());
    const auto batches = h.BatchCalls();
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0].request.content_encoding, c == Compression::kGzip ? "gzip" : "zstd");
    EXPECT_EQ(SeqsOf(batches[0].json), Iota(1, 5));
  }
}

TEST(Client, RareRecordsTravelAsGivenAndBadOnesAreDroppedAlone) {
  Harness h;
  auto client = h.Start(h.Config());
  EXPECT_FALSE(client->RecordJson("finish", "{}"));  // finish goes through Finish()
  EXPECT_FALSE(client->RecordJson("nonsense", "{}"));
  ASSERT_TRUE(client->RecordJson("event", R"({"ts":1700000000,"level":"info","type":"log",
                                              "message":"hello"})"));
  ASSERT_TRUE(client->RecordJson("event", "not json"));  // accepted, then dropped on the thread
  StepRecord negative = Step(1);
  negative.Set(StepField::kSamples, -5);
  ASSERT_TRUE(client->Record(negative));
  ASSERT_TRUE(client->Record(Step(2)));
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  const auto batches = h.BatchCalls();
  ASSERT_EQ(batches.size(), 1u);
  const auto body = nlohmann::json::parse(batches[0].json);
  ASSERT_EQ(body["records"].size(), 2u);
  EXPECT_EQ(body["records"][0]["kind"], "event");
  EXPECT_EQ(body["records"][0]["seq"], 1);
  EXPECT_EQ(body["records"][1]["kind"], "step");
  EXPECT_EQ(body["records"][1]["seq"], 4);  // seqs 2 and 3 were dropped: a counted gap
  const Stats stats = client->stats();
  EXPECT_EQ(stats.dropped_by_reason.at("invalid"), 2u);
  EXPECT_FALSE(stats.last_error.empty());
}

TEST(Client, ServerErrorsThenRecoveryDeliversEverythingOnceInOrder) {
  Harness h;
  std::atomic<int> failures_left{3};
  h.transport.SetResponder([&](std::size_t, const std::string& url, const std::string& json) {
    if (url.find("/records") != std::string::npos && failures_left.fetch_sub(1) > 0) {
      return Result<HttpResponse>(HttpResponse{503, R"({"error":"busy"})"});
    }
    return FakeTransport::ServerAnswer(url, json);
  });
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 30);
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  EXPECT_EQ(client->stats().spooled, 30u);  // after the first 503, batches wait on disk
  ASSERT_TRUE(h.DriveUntil(*client, [&] { return h.transport.delivered_seqs().size() >= 30; }));
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 30));
  const Stats stats = client->stats();
  EXPECT_EQ(stats.sent, 30u);
  EXPECT_EQ(stats.retries, 3u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_TRUE(client->health().ok());
  EXPECT_FALSE(h.env.FileExists(kSpoolPath));  // a fully replayed spool is deleted
}

// Between retries the sender waits a backoff that grows (full jitter keeps it under its
// ceiling), measured here on the manual clock: no retry happens before its earliest time.
TEST(Client, RetriesWaitForTheirBackoff) {
  Harness h;
  h.transport.SetResponder([](std::size_t index, const std::string& url, const std::string& json) {
    if (index < 6) return Unreachable();
    return FakeTransport::ServerAnswer(url, json);
  });
  ClientConfig config = h.Config();
  config.backoff_base = seconds(1);
  config.backoff_cap = seconds(1000);
  auto client = h.Start(config);
  RecordSteps(*client, 0, 1);
  ASSERT_TRUE(client->Flush(seconds(1)).ok());
  ASSERT_EQ(h.transport.call_count(), 1u);
  // Advance in small steps and note how long each call came after the one before. A retry may
  // come at once (full jitter can draw 0), so several calls can share one step.
  std::vector<double> waited;
  double since_last = 0;
  while (h.transport.call_count() < 8 && since_last < 1000) {
    // Counted before the advance: the sender's own timer may fire the retry during it.
    const std::size_t before = h.transport.call_count();
    h.clock.Advance(milliseconds(250));
    since_last += 0.25;
    ASSERT_TRUE(client->Flush(seconds(1)).ok());
    for (std::size_t k = before; k < h.transport.call_count(); ++k) {
      waited.push_back(k == before ? since_last : 0);
      since_last = 0;
    }
  }
  // Calls 1..6 are retries after failures 0..5 (call 7, the batch, follows the create at once).
  ASSERT_EQ(waited.size(), 7u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_LE(waited[i], static_cast<double>(1 << i) + 0.25) << "retry " << i;
  }
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 1));
  EXPECT_EQ(client->stats().retries, 6u);
}

TEST(Client, RejectedBatchesAreDroppedNotRetried) {
  Harness h;
  h.transport.SetResponder([](std::size_t, const std::string& url, const std::string& json) {
    if (url.find("/records") != std::string::npos) {
      return Result<HttpResponse>(HttpResponse{
          413, R"({"error":"payload_too_large","field":"records","reason":"too many"})"});
    }
    return FakeTransport::ServerAnswer(url, json);
  });
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 15);
  ASSERT_FALSE(client->Flush(seconds(10)).ok());  // the health error
  for (int i = 0; i < 5; ++i) {
    h.clock.Advance(seconds(60));
    (void)client->Flush(seconds(10));
  }
  EXPECT_EQ(h.BatchCalls().size(), 2u);  // each batch tried once
  const Stats stats = client->stats();
  EXPECT_EQ(stats.dropped_by_reason.at("rejected"), 15u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_NE(stats.last_error.find("HTTP 413: records: too many"), std::string::npos);
  EXPECT_EQ(client->health().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(h.env.FileExists(kSpoolPath));
}

// The server refuses a whole batch for one bad record and names it; the client drops that record
// alone and sends the others again, on the direct path and on spool replay alike.
TEST(Client, ARecordTheServerRefusesIsDroppedAlone) {
  for (const bool via_spool : {false, true}) {
    Harness h;
    std::atomic<bool> down{via_spool};
    h.transport.SetResponder([&](std::size_t, const std::string& url, const std::string& json) {
      if (down.load()) return Unreachable();
      if (url.find("/records") != std::string::npos) {
        const auto records = nlohmann::json::parse(json)["records"];
        for (std::size_t i = 0; i < records.size(); ++i) {
          if (records[i]["step"] == 13 || records[i]["step"] == 17) {
            const std::string field = "records[" + std::to_string(i) + "].step";
            return Result<HttpResponse>(HttpResponse{
                422, R"({"error":"invalid","field":")" + field + R"(","reason":"unlucky"})"});
          }
        }
      }
      return FakeTransport::ServerAnswer(url, json);
    });
    auto client = h.Start(h.Config());
    RecordSteps(*client, 0, 20);
    (void)client->Flush(seconds(10));
    down = false;
    ASSERT_TRUE(h.DriveUntil(*client, [&] { return h.transport.delivered_seqs().size() >= 18; }));
    std::vector<std::int64_t> expected;
    for (std::int64_t seq = 1; seq <= 20; ++seq) {
      if (seq != 14 && seq != 18) expected.push_back(seq);  // steps 13 and 17
    }
    EXPECT_EQ(h.transport.delivered_seqs(), expected) << "via_spool " << via_spool;
    EXPECT_EQ(client->stats().dropped_by_reason.at("rejected"), 2u);
    EXPECT_EQ(client->stats().sent, 18u);
    EXPECT_NE(client->stats().last_error.find("unlucky"), std::string::npos);
  }
}

TEST(Client, RejectedRunCreateDropsEverything) {
  Harness h;
  h.transport.SetResponder([](std::size_t, const std::string&, const std::string&) {
    return Result<HttpResponse>(HttpResponse{422, R"({"error":"invalid","field":"project"})"});
  });
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 12);
  EXPECT_FALSE(client->Flush(seconds(10)).ok());
  EXPECT_EQ(h.transport.call_count(), 1u);
  EXPECT_EQ(client->stats().dropped_by_reason.at("rejected"), 12u);
  EXPECT_EQ(client->health().code(), StatusCode::kInvalidArgument);
}

TEST(Client, ServerDownFromTheStartSpoolsThenReplaysBeforeNewData) {
  Harness h;
  std::atomic<bool> down{true};
  h.transport.SetResponder([&](std::size_t, const std::string& url, const std::string& json) {
    if (down.load()) return Unreachable();
    return FakeTransport::ServerAnswer(url, json);
  });
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 20);
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  for (int i = 0; i < 3; ++i) {  // still down: retries keep failing, nothing piles up in memory
    h.clock.Advance(seconds(60));
    ASSERT_TRUE(client->Flush(seconds(10)).ok());
  }
  EXPECT_EQ(client->stats().spooled, 20u);
  EXPECT_EQ(client->stats().sent, 0u);
  auto scan = core::spool::ScanFile(&h.env, kSpoolPath);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->starts_with_create);  // the spool can create the run by itself
  EXPECT_EQ(scan->frames, 3u);

  down = false;
  RecordSteps(*client, 20, 10);
  ASSERT_TRUE(h.DriveUntil(*client, [&] { return h.transport.delivered_seqs().size() >= 30; }));
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 30));
  EXPECT_FALSE(h.env.FileExists(kSpoolPath));
  EXPECT_EQ(client->stats().sent, 30u);
  // Once the spool is gone, new records go straight to the server.
  RecordSteps(*client, 30, 1);
  const std::uint64_t spooled = client->stats().spooled;
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  EXPECT_EQ(client->stats().spooled, spooled);
  EXPECT_EQ(h.transport.delivered_seqs().back(), 31);
}

// The server comes back while the sender is still backing off, and the training ends before
// the backoff would have run out: Shutdown still replays the spool, its last chance.
TEST(Client, ShutdownReplaysTheSpoolEvenDuringABackoff) {
  Harness h;
  std::atomic<bool> down{true};
  h.transport.SetResponder([&](std::size_t, const std::string& url, const std::string& json) {
    if (down.load()) return Unreachable();
    return FakeTransport::ServerAnswer(url, json);
  });
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 20);
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  ASSERT_EQ(client->stats().spooled, 20u);

  down = false;  // no clock advance: the backoff has not expired
  ASSERT_TRUE(client->Shutdown(seconds(10)).ok());
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 20));
  EXPECT_FALSE(h.env.FileExists(kSpoolPath));
}

// Beast's fail_count idea: fail the n-th transport call, for every n up to past the last call
// of a clean run, and check that every record still arrives, once and in order.
TEST(Client, FailingAnyOneCallStillDeliversEverything) {
  constexpr int kRecords = 35;
  for (std::size_t fail_at = 0; fail_at <= 8; ++fail_at) {
    for (const bool network_error : {true, false}) {
      Harness h;
      h.transport.SetResponder(
          [&](std::size_t index, const std::string& url, const std::string& json) {
            if (index == fail_at) {
              if (network_error) return Unreachable();
              return Result<HttpResponse>(HttpResponse{500, R"({"error":"internal"})"});
            }
            return FakeTransport::ServerAnswer(url, json);
          });
      auto client = h.Start(h.Config());
      RecordSteps(*client, 0, 12);
      ASSERT_TRUE(client->Flush(seconds(10)).ok());
      RecordSteps(*client, 12, kRecords - 12);
      ASSERT_TRUE(h.DriveUntil(*client,
                               [&] {
                                 return h.transport.delivered_seqs().size() >=
                                        static_cast<std::size_t>(kRecords);
                               }))
          << "fail_at " << fail_at;
      EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, kRecords)) << "fail_at " << fail_at;
      EXPECT_TRUE(client->Shutdown(seconds(10)).ok());
      EXPECT_EQ(client->stats().dropped, 0u);
      EXPECT_FALSE(h.env.FileExists(kSpoolPath));
    }
  }
}

// A reply lost after the server stored the batch: the batch is sent again, and the server's
// idempotence on (run, seq) absorbs the duplicate.
TEST(Client, LostReplyResendsTheBatch) {
  Harness h;
  h.transport.SetResponder([](std::size_t index, const std::string& url, const std::string& json) {
    if (index == 1) return Unreachable();  // pretend the reply to the first batch was lost
    return FakeTransport::ServerAnswer(url, json);
  });
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 10);
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  ASSERT_TRUE(h.DriveUntil(*client, [&] { return h.BatchCalls().size() >= 2; }));
  const auto batches = h.BatchCalls();
  EXPECT_EQ(SeqsOf(batches[0].json), SeqsOf(batches[1].json));
}

TEST(Client, QueueFullDropsAreCounted) {
  Harness h;
  h.transport.SetBlocking(true);
  ClientConfig config = h.Config();
  config.queue_capacity = 4;
  auto client = h.Start(config);
  ASSERT_TRUE(h.WaitIdle());
  RecordSteps(*client, 0, 2);                // half full: the sender wakes and takes both
  ASSERT_TRUE(h.transport.WaitForCalls(1));  // ... and blocks creating the run
  RecordSteps(*client, 2, 4);                // fills the queue again
  int refused = 0;
  for (int i = 6; i < 16; ++i) refused += client->Record(Step(i)) ? 0 : 1;
  EXPECT_EQ(refused, 10);
  const Stats stats = client->stats();
  EXPECT_EQ(stats.enqueued, 6u);
  EXPECT_EQ(stats.dropped_by_reason.at("queue_full"), 10u);
  h.transport.Release();
  ASSERT_TRUE(client->Shutdown(seconds(10)).ok());
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 6));  // seqs count accepted records only
}

TEST(Client, FlushAndShutdownReturnWhenTheServerNeverAnswers) {
  Harness h;
  h.transport.SetBlocking(true);  // never released by this test
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 3);

  Status flushed = Status::Ok();
  std::thread flusher([&] { flushed = client->Flush(seconds(5)); });
  ASSERT_TRUE(h.transport.WaitForCalls(1));  // the sender is stuck in the run create
  ASSERT_TRUE(h.clock.WaitForSleepers(1));   // the flusher waits for its deadline
  h.clock.Advance(seconds(6));
  flusher.join();
  EXPECT_EQ(flushed.code(), StatusCode::kUnavailable);

  Status shut = Status::Ok();
  std::thread stopper([&] { shut = client->Shutdown(seconds(5)); });
  ASSERT_TRUE(h.clock.WaitForSleepers(1));
  h.clock.Advance(seconds(6));
  stopper.join();
  EXPECT_EQ(shut.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(h.transport.cancelled());
  // The sender thread is joined and what it could not send is on disk.
  EXPECT_EQ(client->stats().spooled, 3u);
  auto scan = core::spool::ScanFile(&h.env, kSpoolPath);
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->frames, 2u);
  EXPECT_FALSE(client->Record(Step(9)));
  EXPECT_EQ(client->stats().dropped_by_reason.at("closed"), 1u);
  EXPECT_EQ(client->Shutdown(seconds(1)).code(), StatusCode::kUnavailable);  // the first result
}

TEST(Client, FinishSendsClientStatsLast) {
  Harness h;
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 4);
  ASSERT_TRUE(client->Record(Step(-1)));  // accepted, then dropped as invalid by the sender
  ASSERT_TRUE(client->Finish(FinishStatus::kCompleted, "done", seconds(10)).ok());
  const auto batches = h.BatchCalls();
  ASSERT_FALSE(batches.empty());
  const auto body = nlohmann::json::parse(batches.back().json);
  const auto& finish = body["records"].back();
  EXPECT_EQ(finish["kind"], "finish");
  EXPECT_EQ(finish["seq"], 6);
  EXPECT_EQ(finish["status"], "completed");
  EXPECT_EQ(finish["reason"], "done");
  EXPECT_EQ(finish["client_stats"]["enqueued"], 5);
  EXPECT_EQ(finish["client_stats"]["dropped"]["invalid"], 1);
  EXPECT_FALSE(client->Record(Step(10)));
}

TEST(Client, OfflineSpoolsEverythingForSyncLater) {
  Harness h;
  ClientConfig config = h.Config();
  config.offline = true;
  config.transport = nullptr;
  auto client = h.Start(config);
  RecordSteps(*client, 0, 25);
  ASSERT_TRUE(client->Finish(FinishStatus::kStopped, "", seconds(10)).ok());
  EXPECT_EQ(client->stats().spooled, 26u);
  EXPECT_EQ(h.transport.call_count(), 0u);

  SyncReport report;
  SyncOptions options;
  options.env = &h.env;
  ASSERT_TRUE(SyncSpool(client->spool_path(), h.transport, kServer, &report, options).ok());
  EXPECT_EQ(h.CreateCalls(), 1u);
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 26));
  EXPECT_EQ(report.records_sent, 26u);
  EXPECT_FALSE(h.env.FileExists(kSpoolPath));
}

// A later process resuming the run (same run_id) finds the earlier spool and replays it before
// its own records.
TEST(Client, ResumingReplaysAnEarlierProcessesSpool) {
  Harness h;
  {
    ClientConfig config = h.Config();
    config.offline = true;
    auto first = h.Start(config);
    RecordSteps(*first, 0, 7);
    ASSERT_TRUE(first->Shutdown(seconds(10)).ok());
  }
  ClientConfig config = h.Config();
  config.first_seq = 100;
  auto second = h.Start(config);
  RecordSteps(*second, 7, 3);
  ASSERT_TRUE(second->Flush(seconds(10)).ok());
  std::vector<std::int64_t> expected = Iota(1, 7);
  for (const std::int64_t seq : Iota(100, 3)) expected.push_back(seq);
  EXPECT_EQ(h.transport.delivered_seqs(), expected);
  EXPECT_EQ(h.CreateCalls(), 1u);
  EXPECT_FALSE(h.env.FileExists(kSpoolPath));
}

TEST(Client, FullSpoolDropsAreCounted) {
  Harness h;
  h.transport.SetResponder(
      [](std::size_t, const std::string&, const std::string&) { return Unreachable(); });
  ClientConfig config = h.Config();
  config.spool_max_bytes = 1200;
  auto client = h.Start(config);
  RecordSteps(*client, 0, 40);
  ASSERT_TRUE(client->Flush(seconds(10)).ok());
  const Stats stats = client->stats();
  EXPECT_GT(stats.spooled, 0u);
  EXPECT_GT(stats.dropped_by_reason.at("spool_full"), 0u);
  EXPECT_EQ(stats.spooled + stats.dropped, 40u);
  EXPECT_LE(h.env.Contents(kSpoolPath).size(), 1200u);
}

TEST(Client, DiskFaultsWhileSpoolingAreCountedNotFatal) {
  struct Case {
    EnvOp op;
    int err;
  };
  for (const Case c : {Case{EnvOp::kAppend, ENOSPC}, Case{EnvOp::kSync, EIO},
                       Case{EnvOp::kOpenAppend, EACCES}, Case{EnvOp::kCreateDirs, EACCES}}) {
    Harness h;
    std::atomic<bool> down{true};
    h.transport.SetResponder([&](std::size_t, const std::string& url, const std::string& json) {
      if (down.load()) return Unreachable();
      return FakeTransport::ServerAnswer(url, json);
    });
    h.env.InjectFault(c.op, c.err, /*times=*/1);
    auto client = h.Start(h.Config());
    RecordSteps(*client, 0, 10);
    EXPECT_FALSE(client->Flush(seconds(10)).ok());  // the sticky health error
    EXPECT_EQ(client->stats().dropped_by_reason.at("spool_error"), 10u);
    EXPECT_EQ(client->health().code(), StatusCode::kIoError);
    EXPECT_GE(h.env.faults_fired(), 1u);

    RecordSteps(*client, 10, 10);  // the fault has passed: spooling works again
    (void)client->Flush(seconds(10));
    down = false;
    ASSERT_TRUE(h.DriveUntil(*client, [&] { return h.transport.delivered_seqs().size() >= 10; }));
    EXPECT_EQ(h.transport.delivered_seqs(), Iota(11, 10));
    EXPECT_TRUE(client->Shutdown(seconds(10)).code() == StatusCode::kIoError);
  }
}

TEST(Client, ManyProducerThreads) {
  Harness h;
  ClientConfig config = h.Config();
  config.queue_capacity = 1 << 16;
  config.batch_max_records = 500;
  auto client = h.Start(config);
  constexpr int kThreads = 4;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) (void)client->Record(Step(t * kEach + i));
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(client->Shutdown(seconds(30)).ok());
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, std::int64_t{kThreads} * kEach));
  std::set<std::int64_t> steps;
  for (const auto& call : h.BatchCalls()) {
    const auto body = nlohmann::json::parse(call.json);
    for (const auto& record : body["records"]) {
      steps.insert(record["step"].get<std::int64_t>());
    }
  }
  EXPECT_EQ(steps.size(), static_cast<std::size_t>(kThreads * kEach));
}

// In a fork()ed child (a DataLoader worker), recording is a counted no-op and nothing touches
// the parent's thread or locks; the child exits cleanly.
TEST(Client, ForkedChildDropsRecordsWithoutDeadlock) {
  Harness h;
  auto client = h.Start(h.Config());
  RecordSteps(*client, 0, 5);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool ok = !client->Record(Step(100)) && !client->RecordJson("event", "{}");
    ok = ok && client->stats().dropped_by_reason.count("fork_child") == 1 &&
         client->stats().dropped_by_reason.at("fork_child") == 2;
    ok = ok && client->Flush(seconds(1)).ok() && client->Shutdown(seconds(1)).ok();
    client.reset();  // leaks the child's copy instead of joining a thread that is not there
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_TRUE(client->Shutdown(seconds(10)).ok());
  EXPECT_EQ(h.transport.delivered_seqs(), Iota(1, 5));
  EXPECT_EQ(client->stats().dropped, 0u);
}

// With the real clock and the destructor doing the shutdown.
TEST(Client, RealClockAndDestructorShutdown) {
  FakeTransport transport;
  MemEnv env;
  {
    ClientConfig config;
    config.server_url = kServer;
    config.project_id = 4;
    config.spool_dir = kSpoolDir;
    config.env = &env;
    config.transport = &transport;
    auto client = Client::Start(config);
    ASSERT_TRUE(client.ok());
    StepRecord r;
    r.step = 1;
    r.Set(StepField::kLoss, 2.0);  // ts left 0: stamped from the clock
    EXPECT_TRUE((*client)->Record(r));
  }
  const auto seqs = transport.delivered_seqs();
  EXPECT_EQ(seqs, Iota(1, 1));
  const auto calls = transport.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(calls[0].json)["project_id"], 4);
  EXPECT_GT(nlohmann::json::parse(calls[1].json)["records"][0]["ts"].get<double>(), 1.6e9);
}

TEST(CurlTransport, UnreachableServerIsRetryable) {
  auto transport = NewCurlTransport();
  HttpRequest request;
  request.url = "http://127.0.0.1:9/api/v1/runs";  // the discard port: nothing listens
  request.body = "{}";
  const auto result = transport->Post(request, seconds(5));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Classify(result), Outcome::kRetryable);
  transport->Cancel();
  EXPECT_FALSE(transport->Post(request, seconds(5)).ok());
}

TEST(Transport, Classification) {
  const auto answer = [](long status) {  // NOLINT(google-runtime-int)
    return Classify(Result<HttpResponse>(HttpResponse{status, ""}));
  };
  EXPECT_EQ(answer(200), Outcome::kDelivered);
  EXPECT_EQ(answer(201), Outcome::kDelivered);
  EXPECT_EQ(answer(408), Outcome::kRetryable);
  EXPECT_EQ(answer(429), Outcome::kRetryable);
  EXPECT_EQ(answer(500), Outcome::kRetryable);
  EXPECT_EQ(answer(503), Outcome::kRetryable);
  EXPECT_EQ(answer(400), Outcome::kRejected);
  EXPECT_EQ(answer(404), Outcome::kRejected);
  EXPECT_EQ(answer(413), Outcome::kRejected);
  EXPECT_EQ(answer(422), Outcome::kRejected);
  EXPECT_EQ(Classify(Result<HttpResponse>(Status::Unavailable("x"))), Outcome::kRetryable);
}

}  // namespace
}  // namespace atlas::testing
