// ServerState: what the listener and every connection of one Server share.
//
// Ownership: Server::Impl owns the ServerState and keeps it alive until after its io_context is
// destroyed, so a connection may hold a plain reference to it. Threading: every member function
// is thread-safe; connections call in from their own strands and Stop() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "http/http.hpp"
#include "http/server.hpp"

namespace atlas::http {

// A connection the server asks to wind down when it stops: an HTTP session today, a live-push
// (SSE) session later. Each one registers itself with ServerState while it is alive.
class Connection {
 public:
  virtual ~Connection() = default;

  // Called at most once, from any thread, when the server begins to stop. Implementations post
  // to their own strand: an idle connection closes at once; a busy one finishes the request in
  // hand, answers it with "Connection: close", and then closes.
  virtual void OnServerStop() = 0;
};

class ServerState {
 public:
  ServerState(ServerOptions options, Router router);

  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Registers a live connection. Returns false, registering nothing, once stopping has begun;
  // the caller then closes the connection instead of serving it.
  bool AddConnection(const std::shared_ptr<Connection>& connection);
  // Called from a connection's destructor.
  void RemoveConnection(const Connection* connection);
  std::size_t connections() const;

  // A request counts as in flight from its first byte until its response is written.
  void RequestBegan() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void RequestEnded() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  std::size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // Marks the server as stopping and tells every live connection. `on_drained` runs once, on
  // whichever thread removes the last connection (at once when there is none). Only the first
  // call has an effect.
  void BeginStop(std::function<void()> on_drained);

  // Drops `on_drained` so that it is not called while the server is being torn down.
  void Detach();

 private:
  const ServerOptions options_;
  const Router router_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> in_flight_{0};

  mutable std::mutex mutex_;
  // Guarded by mutex_.
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> connections_;
  // Guarded by mutex_.
  std::function<void()> on_drained_;
};

}  // namespace atlas::http
