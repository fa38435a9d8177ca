// Fork detection without a system call on the hot path: a pthread_atfork child handler bumps a
// process-wide generation counter, and a Client remembers the generation it started in. In a
// child of fork() the generations differ, so the Client knows its sender thread and any mutex a
// parent thread held are not there, and touches neither.
#pragma once

#include <cstdint>

namespace atlas::core {

// Installs the atfork handler (once per process; later calls do nothing).
void InstallForkHandler();
// The number of fork()s this process descends from since the handler was installed.
std::uint64_t ForkGeneration() noexcept;

}  // namespace atlas::core
