#include "client/fork_guard.hpp"

#include <pthread.h>

#include <atomic>
#include <mutex>

namespace atlas::core {
namespace {

std::atomic<std::uint64_t> g_fork_generation{0};

// Runs in the child right after fork(), with only the forking thread alive: it may only do
// async-signal-safe work, and a lock-free atomic increment is that.
void OnForkChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

void InstallForkHandler() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, &OnForkChild); });
}

std::uint64_t ForkGeneration() noexcept {
  return g_fork_generation.load(std::memory_order_relaxed);
}

}  // namespace atlas::core
