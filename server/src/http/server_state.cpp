#include "http/server_state.hpp"

#include <utility>
#include <vector>

namespace atlas::http {

ServerState::ServerState(ServerOptions options, Router router)
    : options_(std::move(options)), router_(std::move(router)) {}

bool ServerState::AddConnection(const std::shared_ptr<Connection>& connection) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (stopping()) return false;
  connections_.emplace(connection.get(), connection);
  return true;
}

void ServerState::RemoveConnection(const Connection* connection) {
  std::function<void()> drained;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    connections_.erase(connection);
    if (stopping() && connections_.empty()) drained = std::exchange(on_drained_, nullptr);
  }
  if (drained) drained();
}

std::size_t ServerState::connections() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return connections_.size();
}

void ServerState::BeginStop(std::function<void()> on_drained) {
  std::vector<std::shared_ptr<Connection>> live;
  std::function<void()> drained_now;  // set when there is no connection to wait for
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (stopping()) return;
    stopping_.store(true, std::memory_order_release);
    if (connections_.empty()) {
      drained_now = std::move(on_drained);
    } else {
      on_drained_ = std::move(on_drained);
      live.reserve(connections_.size());
      for (const auto& [raw, weak] : connections_) {
        if (std::shared_ptr<Connection> connection = weak.lock()) live.push_back(connection);
      }
    }
  }
  // Called without the lock: a connection may remove itself from the registry meanwhile.
  for (const std::shared_ptr<Connection>& connection : live) connection->OnServerStop();
  if (drained_now) drained_now();
}

void ServerState::Detach() {
  const std::lock_guard<std::mutex> lock(mutex_);
  on_drained_ = nullptr;
}

}  // namespace atlas::http
