// Shared helpers of the core tests: a Client wired to a ManualClock, a MemEnv and a
// FakeTransport, and record builders.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "atlas/client.hpp"
#include "testing/fake_transport.hpp"
#include "testing/manual_clock.hpp"
#include "testing/mem_env.hpp"

namespace atlas::testing {

inline constexpr char kSpoolDir[] = "/spool";
inline constexpr char kServer[] = "http://atlasd.test:8787";

// A valid step record number `i`.
StepRecord Step(std::int64_t i);

// 1, 2, ..., n (the seqs a fresh client assigns).
std::vector<std::int64_t> Iota(std::int64_t first, std::int64_t n);

struct Harness {
  ManualClock clock;
  MemEnv env;
  FakeTransport transport;

  // A config for run "run-1" with small batches, no compression (readable bodies), and this
  // harness's clock, env and transport.
  ClientConfig Config();
  std::unique_ptr<Client> Start(const ClientConfig& config);
  // Waits until the sender sleeps with nothing to do (it has finished its start-up pass).
  bool WaitIdle();
  // Moves time past any backoff and flushes, up to `rounds` times, until `done()` holds.
  template <typename Done>
  bool DriveUntil(Client& client, Done done, int rounds = 100) {
    for (int i = 0; i < rounds; ++i) {
      if (done()) return true;
      clock.Advance(std::chrono::seconds(60));
      (void)client.Flush(std::chrono::seconds(10));
    }
    return done();
  }
  // The record-batch calls (not run creates) received so far.
  std::vector<FakeTransport::Call> BatchCalls();
  std::size_t CreateCalls();
};

}  // namespace atlas::testing
