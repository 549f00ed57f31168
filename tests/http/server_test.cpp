#include "http/server.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <future>
#include <thread>

namespace hearth::http {
namespace {

namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr std::string_view kTextPlain = "text/plain";
constexpr std::string_view kEventStream = "text/event-stream";

std::string error_body(int status, std::string_view message, std::string_view code) {
  return "{\"status\":" + std::to_string(status) + ",\"message\":\"" + std::string(message) +
         "\",\"code\":\"" + std::string(code) + "\"}";
}

// A server on an ephemeral loopback port, run on its own thread for the test's duration.
class ServerFixture : public ::testing::Test {
 protected:
  void start(ServerLimits limits = {}) {
    server_ = std::make_unique<Server>(
        io_context_, limits,
        [this](const Request& request, ResponseWriter& writer) { return handle(request, writer); },
        error_body);
    auto port = server_->listen_tcp("127.0.0.1", 0);
    ASSERT_TRUE(port.has_value()) << port.error();
    port_ = port.value();
    thread_ = std::thread([this]() { io_context_.run(); });
  }

  void TearDown() override {
    if (server_) {
      server_->stop();
    }
    io_context_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  // GCC 12 cannot keep string literals inside a co_await expression: arguments are built first.
  net::awaitable<void> handle(const Request& request, ResponseWriter& writer) {
    if (request.path == "/echo") {
      std::string body = request.method + " " + request.body;
      Headers headers{{std::string("x-query"), request.query}};
      co_await writer.send(200, kTextPlain, std::move(body), headers);
    } else if (request.path == "/headers") {
      // A later header replaces every earlier one of the same name, whatever its case, and goes
      // last; the length and the connection are the server's; a header that would split the
      // response is dropped.
      Headers headers{{std::string("x-one"), std::string("first")},
                      {std::string("X-One"), std::string("second")},
                      {std::string("content-type"), std::string("application/x-replaced")},
                      {std::string("content-length"), std::string("999")},
                      {std::string("connection"), std::string("close")},
                      {std::string("x-injected"), std::string("a\r\nx-evil: 1")},
                      {std::string("x-bad\nname"), std::string("b")},
                      {std::string("x-last"), std::string("kept")}};
      std::string body = "body";
      co_await writer.send(201, kTextPlain, std::move(body), headers);
    } else if (request.path == "/not-modified") {
      Headers headers{{std::string("etag"), std::string("\"v1\"")}};
      co_await writer.send(304, kTextPlain, std::string(), headers);
    } else if (request.path == "/stream") {
      co_await writer.begin_stream(200, kEventStream);
      for (int i = 0; i < 3; ++i) {
        std::string chunk = std::string("data: ") + std::to_string(i) + "\n\n";
        co_await writer.write_chunk(chunk);
      }
      co_await writer.end_stream();
    } else if (request.path == "/slow") {
      net::steady_timer timer(co_await net::this_coro::executor);
      timer.expires_after(600ms);
      co_await timer.async_wait(net::use_awaitable);
      std::string body = "late";
      co_await writer.send(200, kTextPlain, std::move(body));
    } else if (request.path == "/wait-for-cancel") {
      // Holds the request until the client goes away, then records that it noticed.
      auto cancellation = writer.cancellation();
      net::steady_timer timer(co_await net::this_coro::executor);
      for (int i = 0; i < 500 && !cancellation.cancelled(); ++i) {
        timer.expires_after(10ms);
        co_await timer.async_wait(net::use_awaitable);
      }
      cancelled_seen_.set_value(cancellation.cancelled());
    }
    // Any other path: no response, so the server must answer 500 on the handler's behalf.
  }

  tcp::socket connect() {
    tcp::socket socket(client_context_);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    return socket;
  }

  bhttp::response<bhttp::string_body> request(tcp::socket& socket, bhttp::verb verb,
                                              const std::string& target,
                                              const std::string& body = {}) {
    bhttp::request<bhttp::string_body> message{verb, target, 11};
    message.set(bhttp::field::host, "127.0.0.1");
    message.body() = body;
    message.prepare_payload();
    bhttp::write(socket, message);
    return read_response(socket);
  }

  bhttp::response<bhttp::string_body> read_response(tcp::socket& socket) {
    bhttp::response<bhttp::string_body> response;
    bhttp::read(socket, buffer_, response);
    return response;
  }

  net::io_context io_context_;
  net::io_context client_context_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  unsigned short port_ = 0;
  std::promise<bool> cancelled_seen_;
};

TEST_F(ServerFixture, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  auto socket = connect();
  for (int i = 0; i < 3; ++i) {
    auto response = request(socket, bhttp::verb::post, "/echo?n=" + std::to_string(i), "body");
    EXPECT_EQ(response.result_int(), 200);
    EXPECT_EQ(response.body(), "POST body");
    EXPECT_EQ(response["x-query"], "n=" + std::to_string(i));
    EXPECT_TRUE(response.keep_alive());
  }
}

TEST_F(ServerFixture, ExtraHeadersFollowSetRulesAndCannotSplitTheResponse) {
  start();
  auto socket = connect();
  const std::string asked = "GET /headers HTTP/1.1\r\nHost: x\r\n\r\n";
  net::write(socket, net::buffer(asked));
  std::string raw;
  boost::system::error_code error;
  std::array<char, 4096> chunk{};
  while (raw.find("\r\n\r\nbody") == std::string::npos) {
    const std::size_t got = socket.read_some(net::buffer(chunk), error);
    ASSERT_FALSE(error) << error.message() << "; so far: " << raw;
    raw.append(chunk.data(), got);
  }
  const std::string head = raw.substr(0, raw.find("\r\n\r\n") + 4);
  EXPECT_EQ(head,
            "HTTP/1.1 201 Created\r\n"
            "Server: hearth\r\n"
            "X-One: second\r\n"
            "content-type: application/x-replaced\r\n"
            "x-last: kept\r\n"
            "Content-Length: 4\r\n"
            "\r\n");
  // The connection stays usable: the header's length was the server's.
  auto next = request(socket, bhttp::verb::get, "/not-modified");
  EXPECT_EQ(next.result_int(), 304);
  EXPECT_EQ(next["etag"], "\"v1\"");
  EXPECT_EQ(next.count(bhttp::field::content_length), 0u);
  EXPECT_TRUE(next.keep_alive());
  auto echo = request(socket, bhttp::verb::post, "/echo?q=1", "after");
  EXPECT_EQ(echo.body(), "POST after");
}

TEST_F(ServerFixture, AConnectionTheClientClosesGetsConnectionClose) {
  start();
  auto socket = connect();
  bhttp::request<bhttp::string_body> message{bhttp::verb::post, "/echo", 11};
  message.set(bhttp::field::host, "127.0.0.1");
  message.keep_alive(false);
  message.body() = "x";
  message.prepare_payload();
  bhttp::write(socket, message);
  const auto response = read_response(socket);
  EXPECT_EQ(response.body(), "POST x");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(response[bhttp::field::connection], "close");
}

TEST_F(ServerFixture, PipelinedRequestsAreAnsweredInOrder) {
  start();
  auto socket = connect();
  const std::string pipelined =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond";
  net::write(socket, net::buffer(pipelined));
  EXPECT_EQ(read_response(socket).body(), "POST first");
  EXPECT_EQ(read_response(socket).body(), "POST second");
}

TEST_F(ServerFixture, StreamsChunksAndEndsTheBody) {
  start();
  auto socket = connect();
  auto response = request(socket, bhttp::verb::get, "/stream");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  EXPECT_EQ(response[bhttp::field::content_type], "text/event-stream");
  // The connection is still usable after a chunked response.
  EXPECT_EQ(request(socket, bhttp::verb::post, "/echo", "x").body(), "POST x");
}

TEST_F(ServerFixture, OversizeBodyGets413InTheErrorShape) {
  ServerLimits limits;
  limits.max_body_bytes = 16;
  start(limits);
  auto socket = connect();
  auto response = request(socket, bhttp::verb::post, "/echo", std::string(100, 'x'));
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_NE(response.body().find("\"code\":\"request_too_large\""), std::string::npos);
  // The server keeps serving new connections.
  auto fresh = connect();
  EXPECT_EQ(request(fresh, bhttp::verb::post, "/echo", "ok").result_int(), 200);
}

TEST_F(ServerFixture, OversizeHeadersGet431) {
  ServerLimits limits;
  limits.max_header_bytes = 512;
  start(limits);
  auto socket = connect();
  bhttp::request<bhttp::string_body> message{bhttp::verb::get, "/echo", 11};
  message.set("x-big", std::string(2000, 'a'));
  bhttp::write(socket, message);
  EXPECT_EQ(read_response(socket).result_int(), 431);
}

TEST_F(ServerFixture, GarbageGets400AndTheServerKeepsServing) {
  start();
  auto socket = connect();
  net::write(socket, net::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
  EXPECT_EQ(read_response(socket).result_int(), 400);
  auto fresh = connect();
  EXPECT_EQ(request(fresh, bhttp::verb::post, "/echo", "ok").body(), "POST ok");
}

TEST_F(ServerFixture, AHandlerThatDoesNotAnswerYields500) {
  start();
  auto socket = connect();
  EXPECT_EQ(request(socket, bhttp::verb::get, "/nothing").result_int(), 500);
}

TEST_F(ServerFixture, ClientDisconnectCancelsTheRequestInFlight) {
  start();
  auto seen = cancelled_seen_.get_future();
  {
    auto socket = connect();
    const std::string message = "GET /wait-for-cancel HTTP/1.1\r\nHost: x\r\n\r\n";
    net::write(socket, net::buffer(message));
    std::this_thread::sleep_for(50ms);
  }  // closes the socket
  ASSERT_EQ(seen.wait_for(3s), std::future_status::ready);
  EXPECT_TRUE(seen.get());
}

TEST_F(ServerFixture, TooManyConnectionsGet503) {
  ServerLimits limits;
  limits.max_connections = 1;
  start(limits);
  auto first = connect();
  EXPECT_EQ(request(first, bhttp::verb::post, "/echo", "a").result_int(), 200);
  auto second = connect();
  auto response = read_response(second);
  EXPECT_EQ(response.result_int(), 503);
  EXPECT_EQ(response[bhttp::field::retry_after], "1");
}

TEST_F(ServerFixture, SilentClientIsDisconnectedAfterTheHeaderTimeout) {
  ServerLimits limits;
  limits.header_timeout = 200ms;
  start(limits);
  auto socket = connect();
  const auto started = std::chrono::steady_clock::now();
  char byte;
  boost::system::error_code error;
  net::read(socket, net::buffer(&byte, 1), error);  // returns when the server closes
  EXPECT_TRUE(error);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(ServerFixture, ARequestLongerThanTheIdleTimeoutStillGetsItsAnswer) {
  ServerLimits limits;
  limits.header_timeout = 200ms;
  limits.idle_timeout = 200ms;
  start(limits);
  auto socket = connect();
  auto response = request(socket, bhttp::verb::get, "/slow");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "late");
}

TEST(RequestHeader, LookupIgnoresCase) {
  Request request;
  request.headers = {{"content-type", "application/json"}};
  EXPECT_EQ(request.header("Content-Type"), "application/json");
  EXPECT_EQ(request.header("missing"), "");
}

TEST(Cancellation, CallbacksRunOnceAndLateOnesRunAtOnce) {
  CancellationToken token;
  int calls = 0;
  token.on_cancel([&]() { ++calls; });
  token.cancel();
  token.cancel();
  EXPECT_EQ(calls, 1);
  bool late = false;
  token.on_cancel([&]() { late = true; });
  EXPECT_TRUE(late);
  CancellationToken copy = token;
  EXPECT_TRUE(copy.cancelled());
}

}  // namespace
}  // namespace hearth::http
