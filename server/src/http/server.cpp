#include "http/server.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <exception>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "http/asio.hpp"
#include "http/http_session.hpp"
#include "http/server_state.hpp"
#include "spdlog/spdlog.h"

namespace atlas::http {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

// After a failed accept (e.g. out of file descriptors) the listener waits this long before it
// tries again, instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

int ThreadCount(int requested) {
  if (requested > 0) return requested;
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

// Threading: Listen(), Run() and the destructor are called by the owner's thread; Stop() from
// any thread. The acceptor, the signal set and the drain timer are touched only on strand_ once
// Run() has started. Member order matters: the io_context is destroyed before state_ (sessions
// still queued in it unregister from state_ as they die) and after every I/O object.
class Server::Impl {
 public:
  Impl(ServerOptions options, Router router)
      : state_(std::move(options), std::move(router)),
        ioc_(ThreadCount(state_.options().threads)),
        strand_(net::make_strand(ioc_)),
        acceptor_(strand_),
        retry_timer_(strand_),
        drain_timer_(strand_) {}

  ~Impl() {
    state_.Detach();
    beast::error_code ec;
    acceptor_.close(ec);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Listen();
  std::uint16_t port() const { return port_.load(std::memory_order_acquire); }
  void Run();
  void Stop();
  void RunUntilSignal();

 private:
  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void CloseListener();
  void RunLoop();

  ServerState state_;
  net::io_context ioc_;
  net::strand<net::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  net::steady_timer drain_timer_;
  std::optional<net::signal_set> signals_;
  std::atomic<std::uint16_t> port_{0};
  bool listening_ = false;
  bool listener_closed_ = false;  // on strand_
};

Status Server::Impl::Listen() {
  if (listening_) return Status::InvalidArgument("the server is already listening");
  const ServerOptions& options = state_.options();
  const std::string where = fmt::format("{}:{}", options.host, options.port);
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto results =
      resolver.resolve(options.host, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return Status::InvalidArgument(fmt::format("cannot resolve {}: {}", where, ec.message()));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  const tcp::endpoint bound = ec ? tcp::endpoint{} : acceptor_.local_endpoint(ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return Status::Unavailable(fmt::format("cannot listen on {}: {}", where, ec.message()));
  }
  port_.store(bound.port(), std::memory_order_release);
  listening_ = true;
  spdlog::debug("listening on {}:{}", bound.address().to_string(), bound.port());
  net::post(strand_, [this] { Accept(); });
  return Status::Ok();
}

void Server::Impl::Accept() {
  // Each connection gets its own strand, so its handlers never run concurrently.
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Impl::OnAccept, this));
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (listener_closed_ || ec == net::error::operation_aborted) return;
  if (ec) {
    spdlog::warn("accept failed: {}", ec.message());
    retry_timer_.expires_after(kAcceptRetryDelay);
    retry_timer_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !listener_closed_) Accept();
    });
    return;
  }
  try {
    auto session = std::make_shared<HttpSession>(std::move(socket), state_);
    // Registration fails once stopping has begun; the session then dies and closes the socket.
    if (state_.AddConnection(session)) session->Start();
  } catch (const std::exception& e) {
    spdlog::error("cannot start a session: {}", e.what());
  }
  Accept();
}

void Server::Impl::Stop() {
  spdlog::info("stopping: {} connections open, {} requests in flight", state_.connections(),
               state_.in_flight());
  // Stopping the io_context once the last connection is gone makes every Run() thread return.
  state_.BeginStop([this] { ioc_.stop(); });
  net::post(strand_, [this] { CloseListener(); });
}

void Server::Impl::CloseListener() {
  if (listener_closed_) return;
  listener_closed_ = true;
  beast::error_code ec;
  acceptor_.close(ec);
  retry_timer_.cancel();
  if (signals_) signals_->cancel(ec);
  if (state_.connections() == 0) return;
  drain_timer_.expires_after(state_.options().drain_timeout);
  drain_timer_.async_wait([this](beast::error_code wait_ec) {
    if (wait_ec) return;
    spdlog::warn("drain timeout: closing {} connections with {} requests in flight",
                 state_.connections(), state_.in_flight());
    ioc_.stop();
  });
}

void Server::Impl::RunLoop() {
  // An exception escaping a completion handler would end this thread's run(); it is logged and
  // the thread goes back to serving.
  while (true) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("uncaught exception in a server thread: {}", e.what());
    } catch (...) {
      spdlog::error("uncaught non-standard exception in a server thread");
    }
  }
}

void Server::Impl::Run() {
  if (!listening_) {
    spdlog::error("Server::Run() called before a successful Listen()");
    return;
  }
  const int count = ThreadCount(state_.options().threads);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(count - 1));
  for (int i = 1; i < count; ++i) {
    try {
      threads.emplace_back([this] { RunLoop(); });
    } catch (const std::system_error& e) {
      spdlog::error("cannot start server thread {} of {}: {}", i + 1, count, e.what());
      break;
    }
  }
  RunLoop();
  for (std::thread& thread : threads) thread.join();
  // Every run() has returned, so no handler touches the acceptor concurrently. When the last
  // connection closed before CloseListener ran, the acceptor is still open here.
  beast::error_code ec;
  acceptor_.close(ec);
  spdlog::info("stopped");
}

void Server::Impl::RunUntilSignal() {
  signals_.emplace(strand_, SIGINT, SIGTERM);
  signals_->async_wait([this](beast::error_code ec, int signal_number) {
    if (ec) return;
    spdlog::info("stopping on signal {}", signal_number);
    Stop();
  });
  Run();
  signals_.reset();
}

Server::Server(ServerOptions options, Router router)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router))) {}

Server::~Server() = default;

Status Server::Listen() { return impl_->Listen(); }

std::uint16_t Server::port() const { return impl_->port(); }

void Server::Run() { impl_->Run(); }

void Server::Stop() { impl_->Stop(); }

void Server::RunUntilSignal() { impl_->RunUntilSignal(); }

}  // namespace atlas::http
