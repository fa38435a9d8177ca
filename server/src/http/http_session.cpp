#include "http/http_session.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "fmt/format.h"
#include "http/decode.hpp"
#include "http/stream_session.hpp"
#include "http/url.hpp"
#include "spdlog/spdlog.h"

namespace atlas::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using Message = bhttp::request<bhttp::string_body>;

// How much the idle wait reads at once; the header read continues from what it got.
constexpr std::size_t kFirstReadSize = 16u << 10;
// After an error answer, unread input is drained for at most this long so that closing the
// socket does not reset the connection before the client has read the answer.
constexpr std::chrono::milliseconds kMaxLinger{5000};

std::string EndpointText(const tcp::socket& socket) {
  beast::error_code ec;
  const tcp::endpoint endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  const net::ip::address address = endpoint.address();
  if (address.is_v6()) return fmt::format("[{}]:{}", address.to_string(), endpoint.port());
  return fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// The media type of a Content-Type value, lower-cased and without parameters.
std::string MediaType(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t')) {
    content_type.remove_prefix(1);
  }
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t')) {
    content_type.remove_suffix(1);
  }
  std::string out(content_type);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

std::string_view StdView(beast::string_view view) { return {view.data(), view.size()}; }

bool IsParseError(beast::error_code ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

// A handler's response must have a status we can put on the wire and, for 204 and 304, no body.
Response Sanitised(Response response, const std::string& method, const std::string& target) {
  if (response.status < 200 || response.status > 599) {
    spdlog::error("handler for {} {} returned status {}; answering 500", method, target,
                  response.status);
    return ErrorResponse(500, "internal", "", "the request handler returned an invalid status");
  }
  if ((response.status == 204 || response.status == 304) && !response.body.empty()) {
    spdlog::warn("handler for {} {} returned a body with status {}; dropping it", method, target,
                 response.status);
    response.body.clear();
  }
  return response;
}

// The head of a streaming response: no Content-Length, so the body runs until the connection
// closes (RFC 9112 6.3), which is how Server-Sent Events are served over HTTP/1.1 without
// chunked framing.
std::string StreamHead(const Response& response, unsigned version) {
  std::string head = fmt::format(
      "HTTP/{}.{} 200 OK\r\nServer: atlasd\r\nContent-Type: {}\r\nConnection: close\r\n",
      version / 10, version % 10, response.content_type);
  for (const auto& [name, value] : response.headers) {
    head += fmt::format("{}: {}\r\n", name, value);
  }
  head += "\r\n";
  head += response.body;
  return head;
}

}  // namespace

HttpSession::HttpSession(tcp::socket&& socket, ServerState& state)
    : state_(state), stream_(std::move(socket)), remote_(EndpointText(stream_.socket())) {}

HttpSession::~HttpSession() {
  if (in_flight_) state_.RequestEnded();
  state_.RemoveConnection(this);
}

void HttpSession::Start() {
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&HttpSession::WaitForRequest, shared_from_this()));
}

void HttpSession::OnServerStop() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    // A busy session sees stopping() when it answers, and closes after that response.
    if (self->phase_ == Phase::kIdle) self->Close();
  });
}

void HttpSession::WaitForRequest() {
  if (state_.stopping()) return Close();
  phase_ = Phase::kIdle;
  method_ = "-";
  target_ = "-";
  head_ = false;
  parser_.emplace();
  parser_->body_limit(static_cast<std::uint64_t>(state_.options().body_limit));
  // Pipelined bytes of the next request may already be buffered.
  if (buffer_.size() > 0) return ReadHeader();
  // A new connection gets read_timeout to start its first request; a kept-alive one waits for
  // the next request for idle_timeout.
  stream_.expires_after(first_request_ ? state_.options().read_timeout
                                       : state_.options().idle_timeout);
  stream_.async_read_some(
      buffer_.prepare(kFirstReadSize),
      beast::bind_front_handler(&HttpSession::OnFirstBytes, shared_from_this()));
}

void HttpSession::OnFirstBytes(beast::error_code ec, std::size_t bytes) {
  // End of stream, a timeout or a stop while idle: there is no request to answer.
  if (ec) return Close();
  buffer_.commit(bytes);
  ReadHeader();
}

void HttpSession::ReadHeader() {
  phase_ = Phase::kBusy;
  started_ = std::chrono::steady_clock::now();
  in_flight_ = true;
  state_.RequestBegan();
  stream_.expires_after(state_.options().read_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
}

void HttpSession::OnHeader(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) return OnReadError(ec);
  const Message& message = parser_->get();
  method_ = std::string(StdView(message.method_string()));
  target_ = std::string(StdView(message.target()));
  head_ = message.method() == bhttp::verb::head;
  const bool expects_continue =
      message.version() >= 11 && beast::iequals(message[bhttp::field::expect], "100-continue");
  if (!expects_continue || parser_->is_done()) return ReadBody();
  // The client waits for this interim answer before it sends the body (curl does for large
  // bodies), so it goes out before the body is read.
  continue_ = {};
  continue_.version(message.version());
  continue_.result(bhttp::status::continue_);
  bhttp::async_write(
      stream_, continue_,
      beast::bind_front_handler(&HttpSession::OnContinueWritten, shared_from_this()));
}

void HttpSession::OnContinueWritten(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) return Close();
  ReadBody();
}

void HttpSession::ReadBody() {
  if (parser_->is_done()) return OnBody({}, 0);
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&HttpSession::OnBody, shared_from_this()));
}

void HttpSession::OnBody(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) return OnReadError(ec);
  Message message = parser_->release();
  const unsigned version = message.version();
  const bool keep_alive = message.keep_alive();
  Response response = Handle(message);
  if (response.on_stream && response.status == 200 && !head_ && !state_.stopping()) {
    return StartStream(std::move(response), version);
  }
  // A stopping server answers the request in hand, then closes the connection.
  const After after = keep_alive && !state_.stopping() ? After::kNextRequest : After::kClose;
  Send(std::move(response), version, after);
}

void HttpSession::OnReadError(beast::error_code ec) {
  // A header that was read whole but refused (a body over the limit) still names the request.
  const Message& partial = parser_->get();
  if (method_ == "-" && !partial.method_string().empty()) {
    method_ = std::string(StdView(partial.method_string()));
    target_ = std::string(StdView(partial.target()));
  }
  if (ec == bhttp::error::body_limit) {
    const std::string reason =
        fmt::format("body exceeds the limit of {} bytes", state_.options().body_limit);
    return Send(ErrorResponse(413, "payload_too_large", "body", reason), 11, After::kLinger);
  }
  if (ec == bhttp::error::header_limit) {
    return Send(ErrorResponse(431, "headers_too_large", "headers", "request headers are too large"),
                11, After::kLinger);
  }
  // A malformed message, or one the peer cut short (it may still read after a half-close).
  if (IsParseError(ec) && ec != bhttp::error::end_of_stream) {
    spdlog::debug("{}: malformed request: {}", remote_, ec.message());
    return Send(ErrorResponse(400, "bad_request", "", ec.message()), 11, After::kLinger);
  }
  // Timeouts, resets and stops leave nobody to answer.
  spdlog::debug("{}: connection closed while reading: {}", remote_, ec.message());
  EndRequest();
  Close();
}

Response HttpSession::Handle(Message& message) {
  try {
    return Sanitised(BuildAndDispatch(message), method_, target_);
  } catch (const std::exception& e) {
    spdlog::error("{} {} {}: failed: {}", remote_, method_, target_, e.what());
  } catch (...) {
    spdlog::error("{} {} {}: failed with a non-standard exception", remote_, method_, target_);
  }
  return ErrorResponse(500, "internal", "", "the request could not be handled");
}

Response HttpSession::BuildAndDispatch(Message& message) {
  Request request;
  request.method = method_;
  request.target = target_;
  request.remote = remote_;
  const std::optional<TargetParts> parts = SplitTarget(request.target);
  if (!parts) return ErrorResponse(400, "bad_request", "target", "the target must start with '/'");
  std::optional<std::string> path = DecodePath(parts->path);
  if (!path) return ErrorResponse(400, "bad_request", "path", "malformed percent-escape in path");
  request.path = std::move(*path);
  auto query = ParseQuery(parts->query);
  if (!query)
    return ErrorResponse(400, "bad_request", "query", "malformed percent-escape in query");
  request.query = std::move(*query);
  request.content_type = MediaType(StdView(message[bhttp::field::content_type]));
  for (const auto& field : message) {
    std::string name(StdView(field.name_string()));
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    request.headers[std::move(name)] = std::string(StdView(field.value()));
  }

  DecodedBody decoded = DecodeBody(StdView(message[bhttp::field::content_encoding]),
                                   std::move(message.body()), state_.options().decompressed_limit);
  if (!decoded.ok()) return DecodeErrorResponse(*decoded.error);
  request.body = std::move(decoded.body);
  return state_.router().Dispatch(request);
}

void HttpSession::Send(Response response, unsigned version, After after) {
  if (after != After::kNextRequest) phase_ = Phase::kClosing;
  response_ = {};
  response_.version(version);
  response_.result(response.status);
  response_.set(bhttp::field::server, "atlasd");
  response_.set(bhttp::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) response_.set(name, value);
  response_.body() = std::move(response.body);
  response_.keep_alive(after == After::kNextRequest);
  response_.prepare_payload();
  if (head_) {
    // Routes need not handle HEAD, but whatever the answer, it goes out without a body (RFC 9110
    // 9.3.2) so that no stray bytes reach the next response on this connection.
    const std::size_t size = response_.body().size();
    response_.body().clear();
    response_.content_length(size);
  }
  stream_.expires_after(state_.options().write_timeout);
  bhttp::async_write(stream_, response_,
                     beast::bind_front_handler(&HttpSession::OnWritten, shared_from_this(), after));
}

void HttpSession::StartStream(Response response, unsigned version) {
  phase_ = Phase::kClosing;
  LogRequest(200, 0);
  EndRequest();
  std::string head = StreamHead(response, version);
  auto stream = std::make_shared<StreamSession>(stream_.release_socket(), state_, remote_,
                                                std::move(response.heartbeat));
  if (!state_.AddConnection(stream)) return;  // stopping: the socket closes with `stream`
  stream->Start(std::move(head), response.on_stream);
}

void HttpSession::OnWritten(After after, beast::error_code ec, std::size_t bytes) {
  LogRequest(response_.result_int(), ec ? 0 : bytes);
  EndRequest();
  if (ec) {
    spdlog::debug("{}: writing the response failed: {}", remote_, ec.message());
    return Close();
  }
  switch (after) {
    case After::kNextRequest:
      first_request_ = false;
      return WaitForRequest();
    case After::kClose:
      return HalfClose();
    case After::kLinger:
      return Linger();
  }
}

void HttpSession::LogRequest(unsigned status, std::size_t bytes) const {
  if (!state_.options().log_requests) return;
  const std::chrono::duration<double, std::milli> elapsed =
      std::chrono::steady_clock::now() - started_;
  spdlog::info("{} {} {} {} {}B {:.1f}ms", remote_, method_, target_, status, bytes,
               elapsed.count());
}

void HttpSession::EndRequest() {
  if (!in_flight_) return;
  in_flight_ = false;
  state_.RequestEnded();
}

void HttpSession::Linger() {
  HalfClose();
  stream_.expires_after(
      std::min<std::chrono::milliseconds>(state_.options().read_timeout, kMaxLinger));
  buffer_.clear();
  stream_.async_read_some(
      buffer_.prepare(kFirstReadSize),
      beast::bind_front_handler(&HttpSession::OnLingerRead, shared_from_this()));
}

void HttpSession::OnLingerRead(beast::error_code ec, std::size_t /*bytes*/) {
  // The end of the client's input (or the linger deadline) ends the session.
  if (ec) return Close();
  stream_.async_read_some(
      buffer_.prepare(kFirstReadSize),
      beast::bind_front_handler(&HttpSession::OnLingerRead, shared_from_this()));
}

void HttpSession::HalfClose() {
  phase_ = Phase::kClosing;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

void HttpSession::Close() {
  phase_ = Phase::kClosing;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

}  // namespace atlas::http
