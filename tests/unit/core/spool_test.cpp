#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "atlas/spool_sync.hpp"
#include "spool/log_format.hpp"
#include "spool/spool_writer.hpp"
#include "test_util.hpp"

namespace atlas::core::spool {
namespace {

using atlas::testing::EnvOp;
using atlas::testing::FakeTransport;
using atlas::testing::MemEnv;

constexpr char kPath[] = "/spool/run-1.atlas-spool";

Frame CreateFrame() {
  Frame f;
  f.type = FrameType::kRunCreate;
  f.path = "/api/v1/runs";
  f.body = R"({"project":"p","name":"n","run_id":"run-1"})";
  return f;
}

Frame BatchFrame(int first_seq, int n) {
  Frame f;
  f.type = FrameType::kRecords;
  f.path = "/api/v1/runs/run-1/records";
  f.records = static_cast<std::uint32_t>(n);
  f.body = R"({"records":[)";
  for (int i = 0; i < n; ++i) {
    if (i > 0) f.body += ',';
    f.body += R"({"kind":"step","seq":)" + std::to_string(first_seq + i) +
              R"(,"step":1,"ts":1700000000})";
  }
  f.body += "]}";
  return f;
}

// Reads every frame of the file at `path` in `env`; the result of the final Next.
ReadResult ReadAll(MemEnv& env, const std::string& path, std::vector<Frame>* frames,
                   std::string* problem = nullptr) {
  auto file = env.NewSequentialFile(path);
  EXPECT_TRUE(file.ok());
  LogReader reader(file->get(), 0);
  Frame frame;
  while (true) {
    const ReadResult r = reader.Next(&frame);
    if (r != ReadResult::kFrame) {
      if (problem != nullptr) *problem = reader.problem();
      return r;
    }
    frames->push_back(frame);
  }
}

SpoolWriter OpenWriter(MemEnv& env, std::uint64_t max_bytes = 1 << 20) {
  SpoolWriter writer(&env, "/spool", kPath, max_bytes);
  std::uint64_t skipped = 0;
  std::string problem;
  EXPECT_TRUE(writer.Open(CreateFrame(), &skipped, &problem).ok());
  EXPECT_EQ(skipped, 0u);
  return writer;
}

TEST(Spool, RoundTrip) {
  MemEnv env;
  SpoolWriter writer = OpenWriter(env);
  Status error;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(writer.Append(BatchFrame(1 + 5 * i, 5), &error), AppendResult::kAppended);
  }
  std::vector<Frame> frames;
  EXPECT_EQ(ReadAll(env, kPath, &frames), ReadResult::kEnd);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].type, FrameType::kRunCreate);
  EXPECT_EQ(frames[0].body, CreateFrame().body);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(frames[i + 1].type, FrameType::kRecords);
    EXPECT_EQ(frames[i + 1].records, 5u);
    EXPECT_EQ(frames[i + 1].path, "/api/v1/runs/run-1/records");
    EXPECT_EQ(frames[i + 1].body, BatchFrame(1 + 5 * i, 5).body);
  }
  EXPECT_EQ(writer.size(), env.Contents(kPath).size());
  EXPECT_GE(env.count(EnvOp::kSync), 4u);     // every frame synced
  EXPECT_EQ(env.count(EnvOp::kSyncDir), 1u);  // and the new file's directory entry
}

// A crash during a write leaves the last frame incomplete: every cut inside the last frame is
// read as the intact frames before it plus a reported torn tail.
TEST(Spool, TornTailIsSkippedAndReported) {
  MemEnv env;
  {
    SpoolWriter writer = OpenWriter(env);
    Status error;
    ASSERT_EQ(writer.Append(BatchFrame(1, 2), &error), AppendResult::kAppended);
    ASSERT_EQ(writer.Append(BatchFrame(3, 2), &error), AppendResult::kAppended);
  }
  const std::string whole = env.Contents(kPath);
  const std::size_t last_frame = EncodeFrame(BatchFrame(3, 2)).size();
  for (std::size_t cut = 1; cut < last_frame; ++cut) {
    env.SetContents(kPath, whole.substr(0, whole.size() - cut));
    std::vector<Frame> frames;
    std::string problem;
    EXPECT_EQ(ReadAll(env, kPath, &frames, &problem), ReadResult::kTorn) << "cut " << cut;
    ASSERT_EQ(frames.size(), 2u) << "cut " << cut;
    EXPECT_FALSE(problem.empty());

    auto scan = ScanFile(&env, kPath);
    ASSERT_TRUE(scan.ok());
    EXPECT_EQ(scan->frames, 2u);
    EXPECT_EQ(scan->skipped_bytes, last_frame - cut);
  }
}

TEST(Spool, ChecksumMismatchIsDetected) {
  MemEnv env;
  {
    SpoolWriter writer = OpenWriter(env);
    Status error;
    ASSERT_EQ(writer.Append(BatchFrame(1, 3), &error), AppendResult::kAppended);
  }
  std::string bytes = env.Contents(kPath);
  bytes[bytes.size() - 10] ^= 0x20;  // a flipped bit inside the batch's JSON
  env.SetContents(kPath, bytes);
  std::vector<Frame> frames;
  std::string problem;
  EXPECT_EQ(ReadAll(env, kPath, &frames, &problem), ReadResult::kCorrupt);
  EXPECT_EQ(frames.size(), 1u);
  EXPECT_EQ(problem, "checksum mismatch");
}

TEST(Spool, NotASpoolIsRefused) {
  MemEnv env;
  env.SetContents(kPath, "hello, this is not a spool at all");
  std::vector<Frame> frames;
  EXPECT_EQ(ReadAll(env, kPath, &frames), ReadResult::kCorrupt);
  EXPECT_TRUE(frames.empty());
}

TEST(Spool, SizeCapRefusesFramesThatDoNotFit) {
  MemEnv env;
  const std::uint64_t cap =
      kMagic.size() + EncodeFrame(CreateFrame()).size() + 2 * EncodeFrame(BatchFrame(1, 4)).size();
  SpoolWriter writer = OpenWriter(env, cap);
  Status error;
  EXPECT_EQ(writer.Append(BatchFrame(1, 4), &error), AppendResult::kAppended);
  EXPECT_EQ(writer.Append(BatchFrame(5, 4), &error), AppendResult::kAppended);
  EXPECT_EQ(writer.Append(BatchFrame(9, 4), &error), AppendResult::kFull);
  EXPECT_EQ(writer.size(), cap);
  EXPECT_EQ(env.Contents(kPath).size(), cap);
}

// ENOSPC in the middle of a write leaves half a frame on disk; the writer cuts it off, so the
// file stays readable and later appends land after the last intact frame.
TEST(Spool, FailedAppendIsCutOffAndTheFileStaysReadable) {
  MemEnv env;
  SpoolWriter writer = OpenWriter(env);
  Status error;
  ASSERT_EQ(writer.Append(BatchFrame(1, 2), &error), AppendResult::kAppended);
  env.InjectFault(EnvOp::kAppend, ENOSPC, 1, 0, /*partial=*/true);
  EXPECT_EQ(writer.Append(BatchFrame(3, 2), &error), AppendResult::kFailed);
  EXPECT_EQ(error.code(), StatusCode::kIoError);
  EXPECT_NE(error.message().find("No space left on device"), std::string::npos);
  env.InjectFault(EnvOp::kSync, EIO);
  EXPECT_EQ(writer.Append(BatchFrame(3, 2), &error), AppendResult::kFailed);
  EXPECT_EQ(writer.Append(BatchFrame(5, 2), &error), AppendResult::kAppended);

  std::vector<Frame> frames;
  EXPECT_EQ(ReadAll(env, kPath, &frames), ReadResult::kEnd);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1].body, BatchFrame(1, 2).body);
  EXPECT_EQ(frames[2].body, BatchFrame(5, 2).body);
}

TEST(Spool, WriterStopsWhenAFailedAppendCannotBeCutOff) {
  MemEnv env;
  SpoolWriter writer = OpenWriter(env);
  Status error;
  env.InjectFault(EnvOp::kAppend, EIO, 1, 0, /*partial=*/true);
  env.InjectFault(EnvOp::kTruncate, EIO);
  EXPECT_EQ(writer.Append(BatchFrame(1, 2), &error), AppendResult::kFailed);
  EXPECT_FALSE(writer.is_open());
  EXPECT_EQ(writer.Append(BatchFrame(3, 2), &error), AppendResult::kFailed);
  std::uint64_t skipped = 0;
  std::string problem;
  EXPECT_FALSE(writer.Open(CreateFrame(), &skipped, &problem).ok());
  std::vector<Frame> frames;  // the intact prefix is still readable
  EXPECT_EQ(ReadAll(env, kPath, &frames), ReadResult::kTorn);
  EXPECT_EQ(frames.size(), 1u);
}

TEST(Spool, OpenFailuresAreReported) {
  for (const EnvOp op : {EnvOp::kCreateDirs, EnvOp::kOpenAppend, EnvOp::kAppend, EnvOp::kSync}) {
    MemEnv env;
    env.InjectFault(op, EACCES);
    SpoolWriter writer(&env, "/spool", kPath, 1 << 20);
    std::uint64_t skipped = 0;
    std::string problem;
    const Status opened = writer.Open(CreateFrame(), &skipped, &problem);
    EXPECT_FALSE(opened.ok()) << static_cast<int>(op);
    EXPECT_NE(opened.message().find("Permission denied"), std::string::npos);
    EXPECT_FALSE(writer.is_open());
  }
}

// A spool left by a crashed process is reopened: its torn tail is cut off and reported, and
// new frames follow the intact ones.
TEST(Spool, ReopeningCutsATornTail) {
  MemEnv env;
  {
    SpoolWriter writer = OpenWriter(env);
    Status error;
    ASSERT_EQ(writer.Append(BatchFrame(1, 2), &error), AppendResult::kAppended);
  }
  const std::string intact = env.Contents(kPath);
  env.SetContents(kPath, intact + EncodeFrame(BatchFrame(3, 2)).substr(0, 11));
  SpoolWriter writer(&env, "/spool", kPath, 1 << 20);
  std::uint64_t skipped = 0;
  std::string problem;
  ASSERT_TRUE(writer.Open(CreateFrame(), &skipped, &problem).ok());
  EXPECT_EQ(skipped, 11u);
  EXPECT_FALSE(problem.empty());
  Status error;
  ASSERT_EQ(writer.Append(BatchFrame(5, 2), &error), AppendResult::kAppended);
  std::vector<Frame> frames;
  EXPECT_EQ(ReadAll(env, kPath, &frames), ReadResult::kEnd);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[2].body, BatchFrame(5, 2).body);
}

TEST(Spool, ReopeningMovesAForeignFileAside) {
  MemEnv env;
  env.SetContents(kPath, "garbage garbage garbage");
  SpoolWriter writer(&env, "/spool", kPath, 1 << 20);
  std::uint64_t skipped = 0;
  std::string problem;
  ASSERT_TRUE(writer.Open(CreateFrame(), &skipped, &problem).ok());
  EXPECT_EQ(skipped, 23u);
  EXPECT_EQ(env.Contents(std::string(kPath) + ".corrupt"), "garbage garbage garbage");
  std::vector<Frame> frames;
  EXPECT_EQ(ReadAll(env, kPath, &frames), ReadResult::kEnd);
  EXPECT_EQ(frames.size(), 1u);
}

// ----- SyncSpool -----

void WriteSpool(MemEnv& env, int batches) {
  SpoolWriter writer = OpenWriter(env);
  Status error;
  for (int i = 0; i < batches; ++i) {
    ASSERT_EQ(writer.Append(BatchFrame(1 + 3 * i, 3), &error), AppendResult::kAppended);
  }
}

TEST(SyncSpool, UploadsInOrderThenRemovesTheFile) {
  MemEnv env;
  WriteSpool(env, 3);
  FakeTransport transport;
  SyncReport report;
  SyncOptions options;
  options.env = &env;
  options.compression = Compression::kGzip;
  ASSERT_TRUE(SyncSpool(kPath, transport, "http://h:1/", &report, options).ok());
  const auto calls = transport.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].request.url, "http://h:1/api/v1/runs");
  EXPECT_EQ(calls[0].json, CreateFrame().body);
  EXPECT_EQ(calls[1].request.url, "http://h:1/api/v1/runs/run-1/records");
  EXPECT_EQ(calls[1].request.content_encoding, "gzip");
  EXPECT_EQ(transport.delivered_seqs(), atlas::testing::Iota(1, 9));
  EXPECT_EQ(report.frames, 4u);
  EXPECT_EQ(report.records_sent, 9u);
  EXPECT_TRUE(report.removed);
  EXPECT_FALSE(env.FileExists(kPath));
}

TEST(SyncSpool, ServerDownKeepsTheFileAndRerunningIsSafe) {
  MemEnv env;
  WriteSpool(env, 2);
  FakeTransport transport;
  transport.SetResponder([](std::size_t index, const std::string& url, const std::string& json) {
    if (index == 2) return Result<HttpResponse>(Status::Unavailable("connection refused"));
    return FakeTransport::ServerAnswer(url, json);
  });
  SyncReport report;
  SyncOptions options;
  options.env = &env;
  const Status first = SyncSpool(kPath, transport, "http://h:1", &report, options);
  EXPECT_EQ(first.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(env.FileExists(kPath));
  ASSERT_TRUE(SyncSpool(kPath, transport, "http://h:1", &report, options).ok());
  EXPECT_FALSE(env.FileExists(kPath));
  // The first batch went twice; the server's idempotence on (run, seq) absorbs that.
  EXPECT_EQ(transport.delivered_seqs(), (std::vector<std::int64_t>{1, 2, 3, 1, 2, 3, 4, 5, 6}));
}

TEST(SyncSpool, RejectedBatchesAndATornTailAreReported) {
  MemEnv env;
  WriteSpool(env, 2);
  env.SetContents(kPath, env.Contents(kPath) + "\x01\x02\x03");
  FakeTransport transport;
  transport.SetResponder([](std::size_t index, const std::string& url, const std::string& json) {
    if (index == 1) return Result<HttpResponse>(HttpResponse{422, R"({"error":"invalid"})"});
    return FakeTransport::ServerAnswer(url, json);
  });
  SyncReport report;
  SyncOptions options;
  options.env = &env;
  options.remove_when_done = false;
  ASSERT_TRUE(SyncSpool(kPath, transport, "http://h:1", &report, options).ok());
  EXPECT_EQ(report.records_rejected, 3u);
  EXPECT_EQ(report.records_sent, 3u);
  EXPECT_EQ(report.bytes_skipped, 3u);
  EXPECT_FALSE(report.skipped_reason.empty());
  EXPECT_FALSE(report.removed);
  EXPECT_TRUE(env.FileExists(kPath));
}

TEST(SyncSpool, ListsSpoolFiles) {
  MemEnv env;
  env.SetContents("/spool/b.atlas-spool", "");
  env.SetContents("/spool/a.atlas-spool", "");
  env.SetContents("/spool/a.atlas-spool.corrupt", "");
  env.SetContents("/spool/notes.txt", "");
  auto files = ListSpoolFiles("/spool", &env);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(*files, (std::vector<std::string>{"/spool/a.atlas-spool", "/spool/b.atlas-spool"}));
}

// The POSIX Env under the same writer and reader, in a fresh temporary directory.
TEST(PosixEnv, SpoolRoundTripOnDisk) {
  char dir_template[] = "/tmp/atlas-core-test-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  ASSERT_NE(dir, nullptr);
  Env* env = Env::Default();
  const std::string spool_dir = std::string(dir) + "/nested/spool";
  const std::string path = SpoolPathFor(spool_dir, "run-1");
  {
    SpoolWriter writer(env, spool_dir, path, 1 << 20);
    std::uint64_t skipped = 0;
    std::string problem;
    ASSERT_TRUE(writer.Open(CreateFrame(), &skipped, &problem).ok()) << problem;
    Status error;
    ASSERT_EQ(writer.Append(BatchFrame(1, 2), &error), AppendResult::kAppended);
  }
  auto scan = ScanFile(env, path);
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->frames, 2u);
  EXPECT_TRUE(scan->starts_with_create);
  ASSERT_TRUE(env->TruncateFile(path, scan->good_bytes - 1).ok());
  scan = ScanFile(env, path);
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->frames, 1u);
  auto files = ListSpoolFiles(spool_dir);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(*files, std::vector<std::string>{path});
  EXPECT_TRUE(env->RemoveFile(path).ok());
  EXPECT_EQ(env->GetFileSize(path).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(std::system(("rm -rf " + std::string(dir)).c_str()), 0);  // NOLINT
}

}  // namespace
}  // namespace atlas::core::spool
