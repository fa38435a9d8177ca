// Server: the HTTP/1.1 listener of atlasd (Boost.Beast over Asio).
//
// Threading: Run() drives one io_context on `threads` threads; each connection runs on its own
// strand, so a handler may block (a database write) without stalling other connections beyond
// the pool size. Every connection has read/write timeouts and a body limit. Request bodies with
// Content-Encoding gzip or zstd are decompressed (with a limit on the decompressed size) before
// the handler sees them; other encodings get 415. Each request is logged with its method,
// target, status, size and duration.
//
// Stop() is graceful: the listener closes, requests in flight finish and their responses are
// written, idle keep-alive connections and streams (Server-Sent Events) are closed, then Run()
// returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "atlas/status.hpp"
#include "http/http.hpp"

namespace atlas::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;              // 0 picks a free port; see Server::port()
  int threads = 0;                     // 0: std::thread::hardware_concurrency(), at least 2
  std::size_t body_limit = 32u << 20;  // bytes on the wire; larger -> 413
  std::size_t decompressed_limit = 256u << 20;     // bytes after gzip/zstd; larger -> 413
  std::chrono::milliseconds read_timeout{30000};   // per request, header and body
  std::chrono::milliseconds write_timeout{30000};  // per response
  std::chrono::milliseconds idle_timeout{60000};   // keep-alive connection without a request
  std::chrono::milliseconds drain_timeout{10000};  // Stop() waits this long for in-flight work
  bool log_requests = true;
  // Streaming responses (http.hpp, Response::on_stream): the unwritten chunks a stream may hold
  // before its client counts as too slow and is closed, and the silence after which its
  // heartbeat is written.
  std::size_t stream_queue_limit = 256;
  std::chrono::milliseconds stream_heartbeat{15000};
};

class Server {
 public:
  Server(ServerOptions options, Router router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; after it returns ok, port() is the bound port.
  Status Listen();
  std::uint16_t port() const;

  // Serves until Stop(); blocks the calling thread (which joins the pool).
  void Run();

  // Graceful stop; thread-safe and async-signal-safe to request from a signal handler via
  // Asio's signal_set (see RunUntilSignal).
  void Stop();

  // Listen() must have succeeded. Serves until SIGINT or SIGTERM, then stops gracefully.
  void RunUntilSignal();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atlas::http
