#include "http/stream_session.hpp"

#include <utility>

#include "spdlog/spdlog.h"

namespace atlas::http {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

}  // namespace

StreamSession::StreamSession(tcp::socket&& socket, ServerState& state, std::string remote,
                             std::string heartbeat)
    : state_(state),
      socket_(std::move(socket)),
      write_timer_(socket_.get_executor()),
      heartbeat_timer_(socket_.get_executor()),
      remote_(std::move(remote)),
      heartbeat_(heartbeat.empty() ? nullptr
                                   : std::make_shared<const std::string>(std::move(heartbeat))) {}

StreamSession::~StreamSession() {
  spdlog::debug("{}: stream closed", remote_);
  state_.RemoveConnection(this);
}

void StreamSession::Start(
    std::string head, const std::function<void(const std::shared_ptr<StreamSink>&)>& on_stream) {
  Push(std::make_shared<const std::string>(std::move(head)));
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    self->WatchPeer();
    self->ArmHeartbeat();
  });
  if (on_stream) on_stream(shared_from_this());
}

bool StreamSession::Push(std::shared_ptr<const std::string> chunk) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return false;
    if (queue_.size() >= state_.options().stream_queue_limit) {
      // A client this far behind would only fall further behind; it reconnects and resumes.
      spdlog::info("{}: stream closed: the client reads too slowly ({} chunks queued)", remote_,
                   queue_.size());
      closing_ = true;
      queue_.clear();
      net::post(socket_.get_executor(), [self = shared_from_this()] { self->Shutdown(); });
      return false;
    }
    queue_.push_back(std::move(chunk));
    wrote_since_beat_ = true;
    if (writing_) return true;
    writing_ = true;
  }
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->WriteNext(); });
  return true;
}

void StreamSession::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closing_) return;
  closing_ = true;
  // With a write in flight, OnWritten closes once the queue has drained.
  if (!writing_) {
    net::post(socket_.get_executor(), [self = shared_from_this()] { self->Shutdown(); });
  }
}

bool StreamSession::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closing_;
}

void StreamSession::OnServerStop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    queue_.clear();
  }
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->Shutdown(); });
}

void StreamSession::WriteNext() {
  std::shared_ptr<const std::string> chunk;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.empty() || shut_) {
      writing_ = false;
      if (closing_ && !shut_) {
        net::post(socket_.get_executor(), [self = shared_from_this()] { self->Shutdown(); });
      }
      return;
    }
    chunk = queue_.front();
  }
  write_timer_.expires_after(state_.options().write_timeout);
  write_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    // Cancelled when the write completed; otherwise the client stopped reading.
    if (ec) return;
    spdlog::info("{}: stream closed: a write timed out", self->remote_);
    self->Shutdown();
  });
  // The chunk stays alive in the handler until the write completes.
  net::async_write(socket_, net::buffer(*chunk),
                   [self = shared_from_this(), chunk](beast::error_code ec, std::size_t bytes) {
                     self->OnWritten(ec, bytes);
                   });
}

void StreamSession::OnWritten(beast::error_code ec, std::size_t /*bytes*/) {
  write_timer_.cancel();
  if (ec) {
    spdlog::debug("{}: stream write failed: {}", remote_, ec.message());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
      writing_ = false;
      queue_.clear();
    }
    return Shutdown();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!queue_.empty()) queue_.pop_front();
  }
  WriteNext();
}

void StreamSession::WatchPeer() {
  if (shut_) return;
  // The client sends nothing more on a stream; a read that ends is the client going away.
  socket_.async_read_some(
      net::buffer(discard_),
      beast::bind_front_handler(&StreamSession::OnPeerRead, shared_from_this()));
}

void StreamSession::OnPeerRead(beast::error_code ec, std::size_t /*bytes*/) {
  if (!ec) return WatchPeer();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    queue_.clear();
  }
  Shutdown();
}

void StreamSession::ArmHeartbeat() {
  if (!heartbeat_ || shut_) return;
  heartbeat_timer_.expires_after(state_.options().stream_heartbeat);
  heartbeat_timer_.async_wait(
      beast::bind_front_handler(&StreamSession::OnHeartbeat, shared_from_this()));
}

void StreamSession::OnHeartbeat(beast::error_code ec) {
  if (ec || shut_) return;
  bool silent = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    silent = !wrote_since_beat_;
    wrote_since_beat_ = false;
  }
  if (silent) Push(heartbeat_);
  ArmHeartbeat();
}

void StreamSession::Shutdown() {
  if (shut_) return;
  shut_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  write_timer_.cancel();
  heartbeat_timer_.cancel();
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace atlas::http
