#include "test_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <string>

namespace atlas::http::testing {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

}  // namespace

TestClient::TestClient(std::uint16_t port) : stream_(ioc_) {
  beast::error_code result = net::error::would_block;
  stream_.expires_after(kSafetyTimeout);
  stream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                        [&](beast::error_code ec) { result = ec; });
  ioc_.run();
  connect_error_ = result;
}

beast::error_code TestClient::Write(std::string_view bytes) {
  beast::error_code result = net::error::would_block;
  stream_.expires_after(kSafetyTimeout);
  net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                   [&](beast::error_code ec, std::size_t) { result = ec; });
  ioc_.restart();
  ioc_.run();
  return result;
}

beast::error_code TestClient::Read(ClientResponse& response, bool to_head) {
  beast::error_code result = net::error::would_block;
  // A parser of our own (rather than reading into `response`) keeps the message in one place.
  beast::http::response_parser<beast::http::string_body> parser;
  parser.skip(to_head);
  stream_.expires_after(kSafetyTimeout);
  beast::http::async_read(stream_, buffer_, parser,
                          [&](beast::error_code ec, std::size_t) { result = ec; });
  ioc_.restart();
  ioc_.run();
  response = parser.release();
  return result;
}

beast::error_code TestClient::ReadUntilClosed() {
  // Bytes already buffered (none expected after a complete response) are discarded.
  buffer_.clear();
  stream_.expires_after(kSafetyTimeout);
  while (true) {
    beast::error_code result = net::error::would_block;
    stream_.async_read_some(buffer_.prepare(4096),
                            [&](beast::error_code ec, std::size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    if (result) return result;
  }
}

ClientResponse TestClient::RoundTrip(std::string_view raw_request) {
  ClientResponse response;
  EXPECT_FALSE(connect_error_) << "connect: " << connect_error_.message();
  const beast::error_code write_ec = Write(raw_request);
  EXPECT_FALSE(write_ec) << "write: " << write_ec.message();
  const beast::error_code read_ec = Read(response);
  EXPECT_FALSE(read_ec) << "read: " << read_ec.message();
  return response;
}

void TestClient::ShutdownSend() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

void TestClient::Close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

std::string Get(std::string_view target, std::string_view extra_headers) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" +
         std::string(extra_headers) + "\r\n";
}

std::string Post(std::string_view target, std::string_view body, std::string_view extra_headers) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}

}  // namespace atlas::http::testing
