// StreamSession: one streaming response (Server-Sent Events) on a connection taken over from an
// HttpSession, as Beast's examples hand a socket to a websocket session.
//
// Ownership: the session keeps itself alive through the shared_ptr bound into each pending
// completion handler (a write, the read that watches for the client going away, the heartbeat
// timer); it dies, closing the socket, when none is pending. Whoever pushes to it holds it as a
// StreamSink, usually through a weak_ptr. It holds a reference to the ServerState, which
// outlives every session.
//
// Threading: socket and timer work runs on the connection's strand. Push, Close and
// OnServerStop may be called from any thread: they take `mutex_` to touch the queue and post to
// the strand. Writes go out one at a time, each under write_timeout; a client whose unwritten
// chunks reach stream_queue_limit is closed instead of letting the queue grow.
#pragma once

#include <array>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "http/asio.hpp"
#include "http/http.hpp"
#include "http/server_state.hpp"

namespace atlas::http {

class StreamSession : public Connection,
                      public StreamSink,
                      public std::enable_shared_from_this<StreamSession> {
 public:
  // `socket` runs on the connection's strand; `heartbeat` is written after each silent
  // stream_heartbeat (none when empty).
  StreamSession(boost::asio::ip::tcp::socket&& socket, ServerState& state, std::string remote,
                std::string heartbeat);
  ~StreamSession() override;
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  // Queues `head`, starts watching the socket and the heartbeat, then calls `on_stream`.
  // Call once, after the session is registered with the ServerState.
  void Start(std::string head,
             const std::function<void(const std::shared_ptr<StreamSink>&)>& on_stream);

  // StreamSink.
  bool Push(std::shared_ptr<const std::string> chunk) override;
  void Close() override;
  bool closed() const override;

  // Connection.
  void OnServerStop() override;

 private:
  void WriteNext();
  void OnWritten(boost::beast::error_code ec, std::size_t bytes);
  void WatchPeer();
  void OnPeerRead(boost::beast::error_code ec, std::size_t bytes);
  void ArmHeartbeat();
  void OnHeartbeat(boost::beast::error_code ec);
  // On the strand: closes the socket and cancels the timers.
  void Shutdown();

  ServerState& state_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer write_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  const std::string remote_;
  const std::shared_ptr<const std::string> heartbeat_;  // null when there is none
  std::array<char, 512> discard_{};  // what the client sends after its request is ignored

  mutable std::mutex mutex_;
  // Guarded by mutex_.
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;           // guarded by mutex_: a write is in flight (front of queue_)
  bool closing_ = false;           // guarded by mutex_: no more pushes; close when the queue drains
  bool shut_ = false;              // on the strand: the socket is closed
  bool wrote_since_beat_ = false;  // guarded by mutex_
};

}  // namespace atlas::http
