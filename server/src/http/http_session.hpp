// HttpSession: one HTTP/1.1 connection, in the shape of Beast's async server examples.
//
// Ownership: a session owns its socket and keeps itself alive through the shared_ptr bound into
// each pending completion handler; it dies (closing the socket) when no operation is pending.
// It holds a reference to the ServerState, which outlives every session.
//
// Threading: all of a session's work runs on its own strand (the socket's executor), including
// the request handler, so a session needs no locks; OnServerStop() is the one entry point from
// other threads and only posts to the strand.
//
// One request is served at a time (pipelined requests wait in the read buffer). Each request is
// read under read_timeout (header and body), its response written under write_timeout, and a
// keep-alive connection waits idle_timeout for the next request; a new connection waits
// read_timeout for its first byte. A streaming response (Server-Sent Events) hands the socket to a
// StreamSession at the point where the response would be sent, as Beast's examples hand a socket
// to a websocket session.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "http/asio.hpp"
#include "http/http.hpp"
#include "http/server_state.hpp"

namespace atlas::http {

class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket&& socket, ServerState& state);
  ~HttpSession() override;
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Starts serving; call once, after the session is registered with the ServerState.
  void Start();

  void OnServerStop() override;

 private:
  enum class Phase {
    kIdle,     // waiting for the first byte of a request
    kBusy,     // reading, handling or answering a request
    kClosing,  // answered for the last time; draining or closed
  };
  // What happens after a response has been written.
  enum class After {
    kNextRequest,  // keep-alive: wait for another request
    kClose,        // the request was read whole: half-close and let the session end
    kLinger,       // unread input may follow: half-close, then read and discard it for a while
  };

  using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

  void WaitForRequest();
  void OnFirstBytes(boost::beast::error_code ec, std::size_t bytes);
  void ReadHeader();
  void OnHeader(boost::beast::error_code ec, std::size_t bytes);
  void OnContinueWritten(boost::beast::error_code ec, std::size_t bytes);
  void ReadBody();
  void OnBody(boost::beast::error_code ec, std::size_t bytes);
  void OnReadError(boost::beast::error_code ec);

  // Builds the Request, decodes the body and runs the Router; never throws.
  Response Handle(boost::beast::http::request<boost::beast::http::string_body>& message);
  Response BuildAndDispatch(boost::beast::http::request<boost::beast::http::string_body>& message);

  void Send(Response response, unsigned version, After after);
  // Hands the socket to a StreamSession for a streaming response (Response::on_stream).
  void StartStream(Response response, unsigned version);
  void OnWritten(After after, boost::beast::error_code ec, std::size_t bytes);
  void LogRequest(unsigned status, std::size_t bytes) const;
  void EndRequest();

  void Linger();
  void OnLingerRead(boost::beast::error_code ec, std::size_t bytes);
  void HalfClose();
  void Close();

  ServerState& state_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  boost::beast::http::response<boost::beast::http::empty_body> continue_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  std::string remote_;

  Phase phase_ = Phase::kIdle;
  bool first_request_ = true;
  bool in_flight_ = false;  // this session counts one request in ServerState::in_flight()
  // The request being served, for the log line; "-" until its header has been read.
  std::string method_ = "-";
  std::string target_ = "-";
  bool head_ = false;  // the request is a HEAD: its answer has no body
  std::chrono::steady_clock::time_point started_;
};

}  // namespace atlas::http
