#include "test_util.hpp"

#include <gtest/gtest.h>

namespace atlas::testing {

StepRecord Step(std::int64_t i) {
  StepRecord r;
  r.step = i;
  r.ts = 1700000000.0 + static_cast<double>(i);
  r.Set(StepField::kLoss, 1.0 / static_cast<double>(i + 1));
  return r;
}

std::vector<std::int64_t> Iota(std::int64_t first, std::int64_t n) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(first + i);
  return out;
}

ClientConfig Harness::Config() {
  ClientConfig c;
  c.server_url = kServer;
  c.project = "tests";
  c.run_name = "a run";
  c.run_id = "run-1";
  c.spool_dir = kSpoolDir;
  c.queue_capacity = 1024;
  c.batch_max_records = 10;
  c.backoff_base = std::chrono::milliseconds(100);
  c.backoff_cap = std::chrono::seconds(10);
  c.compression = Compression::kNone;
  c.env = &env;
  c.clock = &clock;
  c.transport = &transport;
  c.jitter_seed = 42;
  return c;
}

std::unique_ptr<Client> Harness::Start(const ClientConfig& config) {
  auto client = Client::Start(config);
  EXPECT_TRUE(client.ok()) << client.status().message();
  if (!client.ok()) return nullptr;
  return std::move(client).value();
}

bool Harness::WaitIdle() { return clock.WaitForSleepers(1); }

std::vector<FakeTransport::Call> Harness::BatchCalls() {
  std::vector<FakeTransport::Call> out;
  for (auto& call : transport.calls()) {
    if (call.request.url.find("/records") != std::string::npos) out.push_back(call);
  }
  return out;
}

std::size_t Harness::CreateCalls() {
  std::size_t n = 0;
  for (const auto& call : transport.calls()) {
    if (call.request.url == std::string(kServer) + "/api/v1/runs") ++n;
  }
  return n;
}

}  // namespace atlas::testing
