// TestClient: a small HTTP/1.1 client over one TCP connection, for tests of the Server.
//
// Every operation is asynchronous under a generous deadline (kSafetyTimeout) and then run to
// completion on the client's own io_context, so a misbehaving server fails a test instead of
// hanging it. The deadline is a safety net, never what a test asserts. Not thread-safe: one
// thread uses a client at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/asio.hpp"

namespace atlas::http::testing {

using ClientResponse = boost::beast::http::response<boost::beast::http::string_body>;

inline constexpr std::chrono::seconds kSafetyTimeout{20};

class TestClient {
 public:
  // Connects to 127.0.0.1:port; see connect_error() for the outcome.
  explicit TestClient(std::uint16_t port);

  // Writes raw bytes.
  boost::beast::error_code Write(std::string_view bytes);
  // Reads one response (a "100 Continue" counts as one). With `to_head`, the response answers a
  // HEAD request and so has no body whatever its Content-Length says.
  boost::beast::error_code Read(ClientResponse& response, bool to_head = false);
  // Reads until the server closes the connection: returns eof (or a reset) when it does, and
  // beast::error::timeout when the safety deadline passed first.
  boost::beast::error_code ReadUntilClosed();

  // Sends a request and reads its response; fails the test on an I/O error.
  ClientResponse RoundTrip(std::string_view raw_request);

  void ShutdownSend();
  void Close();
  boost::beast::error_code connect_error() const { return connect_error_; }

 private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  boost::beast::error_code connect_error_;
};

// "GET <target> HTTP/1.1" with Host and the extra header lines given (each ending in "\r\n").
std::string Get(std::string_view target, std::string_view extra_headers = "");
// A POST with a Content-Length body and the extra header lines given.
std::string Post(std::string_view target, std::string_view body,
                 std::string_view extra_headers = "");

}  // namespace atlas::http::testing
