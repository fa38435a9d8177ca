#include "ingest/bench_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace atlas::bench {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct BenchClient::Impl {
  boost::asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::string host;
};

BenchClient::BenchClient(const std::string& host, std::uint16_t port) : impl_(new Impl) {
  impl_->host = host;
  tcp::resolver resolver(impl_->ioc);
  impl_->stream.connect(resolver.resolve(host, std::to_string(port)));
  impl_->stream.socket().set_option(tcp::no_delay(true));
}

BenchClient::~BenchClient() {
  beast::error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

unsigned BenchClient::Post(const std::string& target, const std::string& json, std::string& body) {
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, impl_->host);
  request.set(http::field::content_type, "application/json");
  request.keep_alive(true);
  request.body() = json;
  request.prepare_payload();
  http::write(impl_->stream, request);
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  http::read(impl_->stream, impl_->buffer, parser);
  body = std::move(parser.get().body());
  return parser.get().result_int();
}

}  // namespace atlas::bench
