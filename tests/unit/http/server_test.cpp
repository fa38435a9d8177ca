#include "http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "bodies.hpp"
#include "nlohmann/json.hpp"
#include "test_client.hpp"

namespace atlas::http {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using testing::ClientResponse;
using testing::Get;
using testing::Gzip;
using testing::kSafetyTimeout;
using testing::Post;
using testing::TestClient;
using testing::Text;
using testing::Zstd;

// Everything a handler saw, as JSON, so tests can check what the server filled in.
Response Inspect(const Request& request) {
  const nlohmann::json seen = {{"method", request.method}, {"target", request.target},
                               {"path", request.path},     {"query", request.query},
                               {"params", request.params}, {"content_type", request.content_type},
                               {"body", request.body},     {"remote", request.remote}};
  Response response;
  response.body = seen.dump();
  return response;
}

nlohmann::json JsonOf(const ClientResponse& response) {
  return nlohmann::json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
}

bool IsClosed(beast::error_code ec) {
  return ec == net::error::eof || ec == net::error::connection_reset;
}

class ServerTest : public ::testing::Test {
 protected:
  static ServerOptions SmallOptions() {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    return options;
  }

  // A router with the routes most tests use.
  static Router BasicRouter() {
    Router router;
    router.Add("GET", "/healthz", [](const Request&) { return Text("ok"); });
    router.Add("GET", "/inspect", Inspect);
    router.Add("POST", "/inspect", Inspect);
    router.Add("POST", "/inspect/{id}", Inspect);
    router.Add("GET", "/boom", [](const Request&) -> Response {
      throw std::runtime_error("handler failure on purpose");
    });
    return router;
  }

  void Start(Router router, ServerOptions options = SmallOptions(), bool with_signals = false) {
    server_ = std::make_unique<Server>(std::move(options), std::move(router));
    const Status listened = server_->Listen();
    ASSERT_TRUE(listened.ok()) << listened.message();
    ASSERT_NE(server_->port(), 0);
    std::promise<void> returned;
    run_returned_ = returned.get_future();
    thread_ = std::thread([this, with_signals, done = std::move(returned)]() mutable {
      if (with_signals) {
        server_->RunUntilSignal();
      } else {
        server_->Run();
      }
      done.set_value();
    });
  }

  // Waits for Run() to return. A server that never returns cannot be torn down safely, so the
  // process stops with a message instead of hanging the suite.
  void JoinServer() {
    if (!thread_.joinable()) return;
    if (run_returned_.wait_for(kSafetyTimeout) != std::future_status::ready) {
      std::cerr << "Server::Run() did not return after Stop(); aborting\n";
      std::abort();
    }
    thread_.join();
  }

  void TearDown() override {
    if (server_) server_->Stop();
    JoinServer();
  }

  std::uint16_t port() const { return server_->port(); }

  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::future<void> run_returned_;
};

TEST_F(ServerTest, ServesAGetWithTheStandardHeaders) {
  Start(BasicRouter());
  TestClient client(port());
  const ClientResponse response = client.RoundTrip(Get("/healthz"));
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "ok");
  EXPECT_EQ(response[beast::http::field::server], "atlasd");
  EXPECT_EQ(response[beast::http::field::content_type], "text/plain");
  EXPECT_EQ(response[beast::http::field::content_length], "2");
  EXPECT_TRUE(response.keep_alive());
}

TEST_F(ServerTest, FillsTheRequestForTheHandler) {
  Start(BasicRouter());
  TestClient client(port());
  const ClientResponse response = client.RoundTrip(Post(
      "/inspect/abc%20d?b=x+y&a=1&a=2", "{}", "Content-Type: Application/JSON; charset=utf-8\r\n"));
  ASSERT_EQ(response.result_int(), 200);
  const nlohmann::json seen = JsonOf(response);
  EXPECT_EQ(seen["method"], "POST");
  EXPECT_EQ(seen["target"], "/inspect/abc%20d?b=x+y&a=1&a=2");
  EXPECT_EQ(seen["path"], "/inspect/abc d");
  EXPECT_EQ(seen["params"]["id"], "abc d");
  EXPECT_EQ(seen["query"], (nlohmann::json{{"a", "2"}, {"b", "x y"}}));
  EXPECT_EQ(seen["content_type"], "application/json");
  EXPECT_EQ(seen["body"], "{}");
  EXPECT_EQ(seen["remote"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
}

TEST_F(ServerTest, TwoRequestsShareOneKeepAliveConnection) {
  Start(BasicRouter());
  TestClient client(port());
  const ClientResponse first = client.RoundTrip(Get("/inspect"));
  const ClientResponse second = client.RoundTrip(Get("/inspect?again=1"));
  ASSERT_EQ(first.result_int(), 200);
  ASSERT_EQ(second.result_int(), 200);
  EXPECT_TRUE(first.keep_alive());
  // The same peer port shows that both requests came over one connection.
  EXPECT_EQ(JsonOf(first)["remote"], JsonOf(second)["remote"]);
  EXPECT_EQ(JsonOf(second)["query"]["again"], "1");
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start(BasicRouter());
  TestClient client(port());
  ASSERT_FALSE(client.Write(Get("/inspect?n=1") + Get("/inspect?n=2")));
  ClientResponse first;
  ClientResponse second;
  ASSERT_FALSE(client.Read(first));
  ASSERT_FALSE(client.Read(second));
  EXPECT_EQ(JsonOf(first)["query"]["n"], "1");
  EXPECT_EQ(JsonOf(second)["query"]["n"], "2");
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  Start(BasicRouter());
  TestClient client(port());
  const ClientResponse response = client.RoundTrip(Get("/healthz", "Connection: close\r\n"));
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(IsClosed(client.ReadUntilClosed()));
}

TEST_F(ServerTest, Http10WithoutKeepAliveIsClosed) {
  Start(BasicRouter());
  TestClient client(port());
  const ClientResponse response = client.RoundTrip("GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.version(), 10u);
  EXPECT_TRUE(IsClosed(client.ReadUntilClosed()));
}

TEST_F(ServerTest, GzipBodyReachesTheHandlerDecoded) {
  Start(BasicRouter());
  const std::string original(50000, 'g');
  TestClient client(port());
  const ClientResponse response =
      client.RoundTrip(Post("/inspect", Gzip(original), "Content-Encoding: gzip\r\n"));
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(JsonOf(response)["body"], original);
}

TEST_F(ServerTest, ZstdBodyReachesTheHandlerDecoded) {
  Start(BasicRouter());
  const std::string original = R"({"records": [1, 2, 3]})";
  TestClient client(port());
  const ClientResponse response =
      client.RoundTrip(Post("/inspect", Zstd(original), "Content-Encoding: zstd\r\n"));
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(JsonOf(response)["body"], original);
}

TEST_F(ServerTest, BadBodiesGetTheirErrorsAndTheConnectionStaysUsable) {
  ServerOptions options = SmallOptions();
  options.decompressed_limit = 1000;
  Start(BasicRouter(), options);
  TestClient client(port());

  const ClientResponse unsupported =
      client.RoundTrip(Post("/inspect", "abc", "Content-Encoding: br\r\n"));
  EXPECT_EQ(unsupported.result_int(), 415);
  EXPECT_EQ(JsonOf(unsupported)["field"], "Content-Encoding");

  const ClientResponse corrupt =
      client.RoundTrip(Post("/inspect", "not gzip at all", "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(corrupt.result_int(), 400);
  EXPECT_EQ(JsonOf(corrupt)["error"], "malformed_body");

  const ClientResponse bomb = client.RoundTrip(
      Post("/inspect", Gzip(std::string(100000, '\0')), "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(bomb.result_int(), 413);
  EXPECT_EQ(JsonOf(bomb)["error"], "payload_too_large");
  EXPECT_NE(JsonOf(bomb)["reason"].get<std::string>().find("1000"), std::string::npos);

  EXPECT_EQ(client.RoundTrip(Get("/healthz")).result_int(), 200);
}

TEST_F(ServerTest, RoutingErrorsOverTheWire) {
  Start(BasicRouter());
  TestClient client(port());
  EXPECT_EQ(client.RoundTrip(Get("/missing")).result_int(), 404);
  const ClientResponse not_allowed = client.RoundTrip(Post("/healthz", ""));
  EXPECT_EQ(not_allowed.result_int(), 405);
  EXPECT_EQ(not_allowed[beast::http::field::allow], "GET");
  const ClientResponse bad_escape = client.RoundTrip(Get("/inspect%zz"));
  EXPECT_EQ(bad_escape.result_int(), 400);
  EXPECT_EQ(JsonOf(bad_escape)["field"], "path");
  EXPECT_EQ(client.RoundTrip(Get("/inspect?x=%")).result_int(), 400);
  EXPECT_EQ(client.RoundTrip(Get("/healthz")).result_int(), 200);
}

TEST_F(ServerTest, HeadAnswersCarryNoBody) {
  Start(BasicRouter());
  TestClient client(port());
  ASSERT_FALSE(client.Write("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + Get("/healthz")));
  ClientResponse head;
  ASSERT_FALSE(client.Read(head, /*to_head=*/true));
  // No route takes HEAD; the 405 announces its JSON body's length but does not send it.
  EXPECT_EQ(head.result_int(), 405);
  EXPECT_NE(head[beast::http::field::content_length], "0");
  ClientResponse get;
  ASSERT_FALSE(client.Read(get));
  EXPECT_EQ(get.result_int(), 200);
  EXPECT_EQ(get.body(), "ok");
}

TEST_F(ServerTest, ThrowingHandlerGives500AndTheServerKeepsServing) {
  Start(BasicRouter());
  TestClient client(port());
  const ClientResponse response = client.RoundTrip(Get("/boom"));
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_EQ(JsonOf(response)["error"], "internal");
  EXPECT_EQ(client.RoundTrip(Get("/healthz")).result_int(), 200);
}

TEST_F(ServerTest, OversizedBodyGets413ThenCloseAndTheServerStillServes) {
  ServerOptions options = SmallOptions();
  options.body_limit = 1024;
  Start(BasicRouter(), options);
  {
    TestClient client(port());
    const ClientResponse response = client.RoundTrip(Post("/inspect", std::string(4096, 'x')));
    EXPECT_EQ(response.result_int(), 413);
    EXPECT_EQ(JsonOf(response)["error"], "payload_too_large");
    EXPECT_NE(JsonOf(response)["reason"].get<std::string>().find("1024"), std::string::npos);
    EXPECT_FALSE(response.keep_alive());
    EXPECT_TRUE(IsClosed(client.ReadUntilClosed()));
  }
  {
    // Without a Content-Length the limit is enforced while the chunks arrive.
    TestClient client(port());
    std::string chunked = "POST /inspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) chunked += "200\r\n" + std::string(512, 'c') + "\r\n";
    chunked += "0\r\n\r\n";
    EXPECT_EQ(client.RoundTrip(chunked).result_int(), 413);
  }
  TestClient fresh(port());
  EXPECT_EQ(fresh.RoundTrip(Get("/healthz")).result_int(), 200);
}

TEST_F(ServerTest, GarbageGets400OrACloseAndTheServerStillServes) {
  Start(BasicRouter());
  {
    TestClient client(port());
    // A TLS-like record start with a NUL byte in it, then something header-shaped.
    constexpr char kGarbage[] = "\x16\x03\x01\x02\x00garbage\r\n\r\n";
    ASSERT_FALSE(client.Write(std::string(kGarbage, sizeof(kGarbage) - 1)));
    ClientResponse response;
    const beast::error_code ec = client.Read(response);
    if (!ec) {
      EXPECT_EQ(response.result_int(), 400);
      EXPECT_EQ(JsonOf(response)["error"], "bad_request");
      EXPECT_TRUE(IsClosed(client.ReadUntilClosed()));
    } else {
      EXPECT_TRUE(IsClosed(ec) || ec == beast::http::error::end_of_stream) << ec.message();
    }
  }
  TestClient fresh(port());
  EXPECT_EQ(fresh.RoundTrip(Get("/healthz")).result_int(), 200);
}

TEST_F(ServerTest, ClientThatSendsHalfABodyAndDisconnectsDoesNotHurtTheServer) {
  std::atomic<int> calls{0};
  Router router = BasicRouter();
  router.Add("POST", "/count", [&calls](const Request&) {
    ++calls;
    return Text("counted");
  });
  Start(std::move(router));
  {
    TestClient client(port());
    std::string partial = Post("/count", std::string(1000, 'b'));
    partial.resize(partial.size() - 500);
    ASSERT_FALSE(client.Write(partial));
    client.Close();
  }
  TestClient fresh(port());
  EXPECT_EQ(fresh.RoundTrip(Get("/healthz")).result_int(), 200);
  EXPECT_EQ(fresh.RoundTrip(Post("/count", "whole")).body(), "counted");
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ServerTest, BodyShorterThanContentLengthGets400WhenThePeerStopsSending) {
  std::atomic<int> calls{0};
  Router router;
  router.Add("POST", "/count", [&calls](const Request&) {
    ++calls;
    return Text("counted");
  });
  router.Add("GET", "/healthz", [](const Request&) { return Text("ok"); });
  Start(std::move(router));
  {
    TestClient client(port());
    ASSERT_FALSE(client.Write("POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
                              std::string(50, 'b')));
    client.ShutdownSend();
    // The peer only half-closed, so the answer can still reach it.
    ClientResponse response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_EQ(response.result_int(), 400);
    EXPECT_EQ(JsonOf(response)["error"], "bad_request");
    EXPECT_TRUE(IsClosed(client.ReadUntilClosed()));
  }
  TestClient fresh(port());
  EXPECT_EQ(fresh.RoundTrip(Get("/healthz")).result_int(), 200);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ServerTest, ExpectContinueGets100BeforeTheBodyIsSent) {
  Start(BasicRouter());
  TestClient client(port());
  ASSERT_FALSE(client.Write(
      "POST /inspect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  ClientResponse interim;
  ASSERT_FALSE(client.Read(interim));
  EXPECT_EQ(interim.result_int(), 100);
  ASSERT_FALSE(client.Write("hello"));
  ClientResponse final_response;
  ASSERT_FALSE(client.Read(final_response));
  EXPECT_EQ(final_response.result_int(), 200);
  EXPECT_EQ(JsonOf(final_response)["body"], "hello");
}

TEST_F(ServerTest, ExpectContinueWithAnOversizedBodyGets413Directly) {
  ServerOptions options = SmallOptions();
  options.body_limit = 10;
  Start(BasicRouter(), options);
  TestClient client(port());
  ASSERT_FALSE(client.Write(
      "POST /inspect HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"));
  ClientResponse response;
  ASSERT_FALSE(client.Read(response));
  EXPECT_EQ(response.result_int(), 413);
}

TEST_F(ServerTest, StopLetsABlockedHandlerFinishAndDeliversItsResponse) {
  std::promise<void> entered;
  std::future<void> entered_future = entered.get_future();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Router router;
  router.Add("GET", "/block", [&entered, released](const Request&) {
    entered.set_value();
    // Bounded only so that a broken test cannot hang forever.
    released.wait_for(kSafetyTimeout);
    return Text("finished");
  });
  Start(std::move(router));

  const std::uint16_t server_port = port();
  std::future<std::pair<beast::error_code, ClientResponse>> in_flight =
      std::async(std::launch::async, [server_port] {
        TestClient client(server_port);
        ClientResponse response;
        beast::error_code ec = client.Write(Get("/block"));
        if (!ec) ec = client.Read(response);
        return std::make_pair(ec, response);
      });
  ASSERT_EQ(entered_future.wait_for(kSafetyTimeout), std::future_status::ready);
  server_->Stop();
  release.set_value();

  ASSERT_EQ(in_flight.wait_for(kSafetyTimeout), std::future_status::ready);
  const auto [ec, response] = in_flight.get();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "finished");
  // A stopping server tells the client that this connection ends.
  EXPECT_FALSE(response.keep_alive());
  JoinServer();
}

TEST_F(ServerTest, StopClosesIdleKeepAliveConnectionsAndRunReturns) {
  Start(BasicRouter());
  TestClient idle(port());
  ASSERT_EQ(idle.RoundTrip(Get("/healthz")).result_int(), 200);
  server_->Stop();
  EXPECT_TRUE(IsClosed(idle.ReadUntilClosed()));
  JoinServer();
  // The listener is gone once Run() has returned.
  TestClient late(port());
  EXPECT_TRUE(late.connect_error());
}

TEST_F(ServerTest, StopBeforeRunMakesRunReturn) {
  server_ = std::make_unique<Server>(SmallOptions(), BasicRouter());
  ASSERT_TRUE(server_->Listen().ok());
  server_->Stop();
  server_->Run();  // returns at once: the stop was already requested
  SUCCEED();
}

TEST_F(ServerTest, RunWithoutListenReturns) {
  Server server(SmallOptions(), BasicRouter());
  server.Run();
  SUCCEED();
}

TEST_F(ServerTest, ReadTimeoutClosesAConnectionThatSendsNothing) {
  ServerOptions options = SmallOptions();
  options.read_timeout = std::chrono::milliseconds(200);
  Start(BasicRouter(), options);
  TestClient silent(port());
  ASSERT_FALSE(silent.connect_error());
  const beast::error_code ec = silent.ReadUntilClosed();
  // eof means the server closed it; beast's timeout would mean our safety net fired instead.
  EXPECT_TRUE(IsClosed(ec)) << ec.message();

  TestClient fresh(port());
  EXPECT_EQ(fresh.RoundTrip(Get("/healthz")).result_int(), 200);
}

TEST_F(ServerTest, ReadTimeoutClosesAStalledRequest) {
  ServerOptions options = SmallOptions();
  options.read_timeout = std::chrono::milliseconds(200);
  Start(BasicRouter(), options);
  TestClient stalled(port());
  ASSERT_FALSE(stalled.Write("GET /healthz HTTP/1.1\r\nHo"));
  EXPECT_TRUE(IsClosed(stalled.ReadUntilClosed()));
}

TEST_F(ServerTest, IdleTimeoutClosesAKeptAliveConnection) {
  ServerOptions options = SmallOptions();
  options.idle_timeout = std::chrono::milliseconds(200);
  Start(BasicRouter(), options);
  TestClient client(port());
  ASSERT_EQ(client.RoundTrip(Get("/healthz")).result_int(), 200);
  EXPECT_TRUE(IsClosed(client.ReadUntilClosed()));
}

TEST_F(ServerTest, ListenFailsOnAPortInUse) {
  Start(BasicRouter());
  ServerOptions options = SmallOptions();
  options.port = port();
  Server second(options, BasicRouter());
  const Status status = second.Listen();
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
}

TEST_F(ServerTest, ListenFailsOnAnUnresolvableHost) {
  ServerOptions options = SmallOptions();
  options.host = "not a host name";
  Server server(options, BasicRouter());
  EXPECT_FALSE(server.Listen().ok());
}

TEST_F(ServerTest, RunUntilSignalStopsOnSigterm) {
  Start(BasicRouter(), SmallOptions(), /*with_signals=*/true);
  // A served request shows that Run() has started, and RunUntilSignal() installs its signal
  // handler before it calls Run().
  TestClient client(port());
  ASSERT_EQ(client.RoundTrip(Get("/healthz")).result_int(), 200);
  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_TRUE(IsClosed(client.ReadUntilClosed()));
  JoinServer();
}

}  // namespace
}  // namespace atlas::http
