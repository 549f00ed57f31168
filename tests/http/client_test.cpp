#include "http/client.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

namespace hearth::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using FetchResult = Expected<ClientResponse, ClientError>;

constexpr std::string_view kTextPlain = "text/plain";
constexpr std::string_view kEventStream = "text/event-stream";

std::string error_body(int status, std::string_view message, std::string_view) {
  return std::to_string(status) + " " + std::string(message);
}

net::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  net::steady_timer timer(co_await net::this_coro::executor);
  timer.expires_after(duration);
  co_await timer.async_wait(net::use_awaitable);
}

ClientRequest get(std::string target) {
  ClientRequest request;
  request.target = std::move(target);
  return request;
}

// An http::Server on its own thread as the peer, and a client whose executor is a separate
// two-thread io_context, so connections really are used from more than one thread.
class ClientFixture : public ::testing::Test {
 protected:
  ClientFixture()
      : server_work_(net::make_work_guard(server_io_)),
        client_work_(net::make_work_guard(client_io_)) {
    server_thread_ = std::thread([this]() { server_io_.run(); });
    for (auto& thread : client_threads_) {
      thread = std::thread([this]() { client_io_.run(); });
    }
  }

  ~ClientFixture() override {
    client_.reset();
    if (server_) {
      server_->stop();
    }
    server_work_.reset();
    client_work_.reset();
    server_io_.stop();
    client_io_.stop();
    server_thread_.join();
    for (auto& thread : client_threads_) {
      thread.join();
    }
    if (!temp_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir_, ignored);
    }
  }

  void make_server(ServerLimits limits) {
    server_ = std::make_unique<Server>(
        server_io_, limits,
        [this](const Request& request, ResponseWriter& writer) { return handle(request, writer); },
        error_body);
  }

  void start_tcp(ServerLimits limits = {}, const std::string& prefix = "") {
    make_server(limits);
    auto port = server_->listen_tcp("127.0.0.1", 0);
    ASSERT_TRUE(port.has_value()) << port.error();
    auto endpoint = Endpoint::parse("http://127.0.0.1:" + std::to_string(port.value()) + prefix);
    ASSERT_TRUE(endpoint.has_value()) << endpoint.error();
    endpoint_ = endpoint.value();
  }

  void start_unix() {
    make_server({});
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hearth-client-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    temp_dir_ = pattern;
    const std::string path = temp_dir_ + "/backend.sock";
    auto listening = server_->listen_unix(path);
    ASSERT_TRUE(listening.has_value()) << listening.error();
    auto endpoint = Endpoint::parse("unix:" + path);
    ASSERT_TRUE(endpoint.has_value()) << endpoint.error();
    endpoint_ = endpoint.value();
  }

  HttpClient& make_client(ClientOptions options = {}) {
    client_ = std::make_unique<HttpClient>(client_io_.get_executor(), endpoint_, options);
    return *client_;
  }

  // Runs a coroutine on the client's io_context and waits for it, bounded.
  template <class Function>
  void run(Function function) {
    auto done = net::co_spawn(client_io_, std::move(function), net::use_future);
    ASSERT_EQ(done.wait_for(20s), std::future_status::ready) << "the client coroutine hung";
    done.get();
  }

  FetchResult fetch(ClientRequest request, CancellationToken cancellation = {}) {
    std::optional<FetchResult> result;
    run([&]() -> net::awaitable<void> {
      auto response = co_await client_->fetch(std::move(request), cancellation);
      result.emplace(std::move(response));
    });
    if (!result) {
      ClientError hung;
      hung.message = "the test did not finish";
      return unexpected(hung);
    }
    return std::move(*result);
  }

  // GET and POST through the client, checking what the server received.
  void expect_round_trips(const std::string& expected_host);

  uint64_t accepted() const { return server_->stats().connections_accepted.load(); }

  // Whether the server noticed that the client went away, within a bound.
  bool server_saw_peer_gone() {
    auto seen = peer_gone_.get_future();
    return seen.wait_for(5s) == std::future_status::ready && seen.get();
  }

  // GCC 12 cannot keep string literals inside a co_await expression: arguments are built first.
  net::awaitable<void> handle(const Request& request, ResponseWriter& writer) {
    std::string path = request.path;
    if (path.starts_with("/v1/")) {
      path.erase(0, 3);
    }
    if (path == "/echo") {
      std::string body = request.method + " " + request.body;
      Headers headers;
      headers.emplace_back(std::string("x-target"), request.target);
      headers.emplace_back(std::string("x-content-type"), request.header("content-type"));
      headers.emplace_back(std::string("x-authorization"), request.header("authorization"));
      headers.emplace_back(std::string("x-host"), request.header("host"));
      headers.emplace_back(std::string("x-injected"), request.header("x-injected"));
      headers.emplace_back(std::string("x-content-length"), request.header("content-length"));
      co_await writer.send(200, kTextPlain, std::move(body), headers);
    } else if (path == "/stream") {
      co_await writer.begin_stream(200, kEventStream);
      for (int i = 0; i < 3; ++i) {
        if (i > 0) {
          co_await sleep_for(50ms);
        }
        std::string chunk = "data: " + std::to_string(i) + "\n\n";
        co_await writer.write_chunk(chunk);
      }
      co_await writer.end_stream();
    } else if (path == "/big") {
      co_await writer.send(200, kTextPlain, std::string(5000, 'x'));
    } else if (path == "/big-stream") {
      co_await writer.begin_stream(200, kTextPlain);
      for (int i = 0; i < 5; ++i) {
        std::string chunk(1000, 'y');
        co_await writer.write_chunk(chunk);
      }
      co_await writer.end_stream();
    } else if (path == "/hang") {
      // Never answers; records whether the client's disconnect reached the handler.
      auto cancellation = writer.cancellation();
      for (int i = 0; i < 500 && !cancellation.cancelled(); ++i) {
        co_await sleep_for(10ms);
      }
      note_peer_gone(cancellation.cancelled());
    } else if (path == "/stream-until-gone") {
      auto cancellation = writer.cancellation();
      bool alive = co_await writer.begin_stream(200, kEventStream);
      std::string first = "first";
      alive = alive && co_await writer.write_chunk(first);
      for (int i = 0; i < 500 && alive && !cancellation.cancelled(); ++i) {
        co_await sleep_for(10ms);
      }
      note_peer_gone(cancellation.cancelled() || !alive);
    } else if (path == "/barrier") {
      // Answers once `target` requests are in flight at the same time (or after 5 s).
      const int target = std::stoi(request.query.substr(request.query.find('=') + 1));
      in_flight_.fetch_add(1);
      for (int i = 0; i < 1000 && in_flight_.load() < target; ++i) {
        co_await sleep_for(5ms);
      }
      std::string body = request.body;
      co_await writer.send(200, kTextPlain, std::move(body));
    }
  }

  void note_peer_gone(bool gone) {
    if (!peer_gone_noted_.exchange(true)) {
      peer_gone_.set_value(gone);
    }
  }

  net::io_context server_io_;
  net::io_context client_io_{2};
  net::executor_work_guard<net::io_context::executor_type> server_work_;
  net::executor_work_guard<net::io_context::executor_type> client_work_;
  std::thread server_thread_;
  std::thread client_threads_[2];
  std::unique_ptr<Server> server_;
  std::unique_ptr<HttpClient> client_;
  Endpoint endpoint_;
  std::string temp_dir_;
  std::atomic<int> in_flight_{0};
  std::promise<bool> peer_gone_;
  std::atomic<bool> peer_gone_noted_{false};
};

void ClientFixture::expect_round_trips(const std::string& expected_host) {
  auto got = fetch(get("/echo?x=1"));
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "GET ");
  EXPECT_EQ(got->header("X-Target"), "/echo?x=1");
  EXPECT_EQ(got->header("x-host"), expected_host);
  EXPECT_EQ(got->header("content-type"), "text/plain");

  ClientRequest post;
  post.method = "POST";
  post.target = "/echo";
  post.body = R"({"model":"m"})";
  post.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}};
  auto posted = fetch(std::move(post));
  ASSERT_TRUE(posted.has_value()) << posted.error().message;
  EXPECT_EQ(posted->status, 200);
  EXPECT_EQ(posted->body, R"(POST {"model":"m"})");
  EXPECT_EQ(posted->header("x-content-type"), "application/json");
  EXPECT_EQ(posted->header("x-authorization"), "Bearer k");
}

TEST_F(ClientFixture, GetAndPostRoundTripOverTcp) {
  start_tcp();
  make_client();
  expect_round_trips("127.0.0.1:" + std::to_string(endpoint_.port));
}

TEST_F(ClientFixture, GetAndPostRoundTripOverAUnixSocket) {
  start_unix();
  make_client();
  expect_round_trips("localhost");
  EXPECT_EQ(accepted(), 1u);
}

TEST_F(ClientFixture, ForwardedHeadersCannotChangeTheFramingOrInjectHeaders) {
  start_tcp();
  make_client();
  for (int round = 0; round < 2; ++round) {
    ClientRequest post;
    post.method = "POST";
    post.target = "/echo";
    post.body = "abc";
    post.headers = {{"Host", "elsewhere"},
                    {"Content-Length", "999"},
                    {"Connection", "close"},
                    {"Transfer-Encoding", "chunked"},
                    {"X-Evil", "a\r\nx-injected: 1"},
                    {"x-bad\r\nx-injected", "2"},
                    {"Content-Type", "text/plain"}};
    auto posted = fetch(std::move(post));
    ASSERT_TRUE(posted.has_value()) << posted.error().message;
    EXPECT_EQ(posted->body, "POST abc");
    EXPECT_EQ(posted->header("x-host"), "127.0.0.1:" + std::to_string(endpoint_.port));
    EXPECT_EQ(posted->header("x-content-length"), "3");
    EXPECT_EQ(posted->header("x-injected"), "");
    EXPECT_EQ(posted->header("x-content-type"), "text/plain");
  }
  // `Connection: close` was not forwarded: the second request reused the first's connection.
  EXPECT_EQ(client_->stats().connections_reused.load(), 1u);

  ClientRequest empty_post;
  empty_post.method = "POST";
  empty_post.target = "/echo";
  auto answered = fetch(std::move(empty_post));
  ASSERT_TRUE(answered.has_value()) << answered.error().message;
  EXPECT_EQ(answered->body, "POST ");
  EXPECT_EQ(answered->header("x-content-length"), "0");
}

TEST_F(ClientFixture, PathPrefixIsPrependedToEveryTarget) {
  start_tcp({}, "/v1/");
  make_client();
  auto got = fetch(get("/echo"));
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->header("x-target"), "/v1/echo");
}

TEST_F(ClientFixture, SequentialRequestsReuseThePooledConnection) {
  start_tcp();
  auto& client = make_client();
  for (int i = 0; i < 3; ++i) {
    auto got = fetch(get("/echo"));
    ASSERT_TRUE(got.has_value()) << got.error().message;
  }
  EXPECT_EQ(accepted(), 1u);
  EXPECT_EQ(client.stats().connections_opened.load(), 1u);
  EXPECT_EQ(client.stats().connections_reused.load(), 2u);

  // close_idle() empties the pool: the next request needs a new connection.
  client.close_idle();
  ASSERT_TRUE(fetch(get("/echo")).has_value());
  EXPECT_EQ(accepted(), 2u);
}

TEST_F(ClientFixture, ConcurrentRequestsUseSeparateConnections) {
  start_tcp();
  auto& client = make_client();
  constexpr int kRequests = 20;
  // The server answers each round only once all of its requests are in flight together, which
  // cannot happen if requests share (pipeline on) a connection.
  for (int round = 1; round <= 2; ++round) {
    std::vector<std::future<std::string>> bodies;
    for (int i = 0; i < kRequests; ++i) {
      ClientRequest request;
      request.method = "POST";
      request.target = "/barrier?target=" + std::to_string(round * kRequests);
      request.body = "r" + std::to_string(round) + "-" + std::to_string(i);
      bodies.push_back(net::co_spawn(
          client_io_,
          [&client, request = std::move(request)]() mutable -> net::awaitable<std::string> {
            auto got = co_await client.fetch(std::move(request));
            co_return got ? got->body : "error: " + got.error().message;
          },
          net::use_future));
    }
    for (int i = 0; i < kRequests; ++i) {
      ASSERT_EQ(bodies[i].wait_for(20s), std::future_status::ready);
      EXPECT_EQ(bodies[i].get(), "r" + std::to_string(round) + "-" + std::to_string(i));
    }
    // The second round runs on the connections that the first one left in the pool.
    EXPECT_EQ(accepted(), static_cast<uint64_t>(kRequests));
  }
  EXPECT_EQ(client.stats().connections_reused.load(), static_cast<uint64_t>(kRequests));
}

TEST_F(ClientFixture, StreamYieldsChunksAsTheyArrive) {
  start_tcp();
  make_client();
  std::vector<std::string> pieces;
  std::vector<Clock::time_point> arrivals;
  std::optional<ClientError> failure;
  run([&]() -> net::awaitable<void> {
    auto streamed = co_await client_->stream(get("/stream"));
    if (!streamed) {
      failure = streamed.error();
      co_return;
    }
    auto& response = *streamed.value();
    EXPECT_EQ(response.status(), 200);
    EXPECT_EQ(response.header("Content-Type"), kEventStream);
    EXPECT_EQ(response.header("transfer-encoding"), "chunked");
    while (true) {
      auto piece = co_await response.next();
      if (!piece) {
        failure = piece.error();
        co_return;
      }
      if (!piece.value()) {
        break;
      }
      pieces.push_back(std::move(*piece.value()));
      arrivals.push_back(Clock::now());
    }
  });
  ASSERT_FALSE(failure) << failure->message;
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0], "data: 0\n\n");
  EXPECT_EQ(pieces[1], "data: 1\n\n");
  EXPECT_EQ(pieces[2], "data: 2\n\n");
  // The server waits 50 ms between chunks; a client that buffered the body would see no gaps.
  EXPECT_GE(arrivals[1] - arrivals[0], 40ms);
  EXPECT_GE(arrivals[2] - arrivals[1], 40ms);

  // Reading to the end returned the connection to the pool.
  ASSERT_TRUE(fetch(get("/echo")).has_value());
  EXPECT_EQ(accepted(), 1u);
}

TEST_F(ClientFixture, ClosedPortIsAConnectFailure) {
  unsigned short port = 0;
  {
    net::io_context context;
    net::ip::tcp::acceptor acceptor(context, {net::ip::make_address("127.0.0.1"), 0});
    port = acceptor.local_endpoint().port();
  }
  auto endpoint = Endpoint::parse("http://127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(endpoint.has_value());
  endpoint_ = endpoint.value();
  make_client();
  auto got = fetch(get("/echo"));
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, ClientError::Kind::connect_failed) << got.error().message;
  EXPECT_FALSE(got.error().response_started);
  EXPECT_NE(got.error().message.find(endpoint_.to_string()), std::string::npos);
}

TEST_F(ClientFixture, MissingUnixSocketIsAConnectFailure) {
  auto endpoint = Endpoint::parse("unix:/nonexistent/hearth-client-test/backend.sock");
  ASSERT_TRUE(endpoint.has_value());
  endpoint_ = endpoint.value();
  make_client();
  auto got = fetch(get("/echo"));
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, ClientError::Kind::connect_failed) << got.error().message;
  EXPECT_FALSE(got.error().response_started);
}

TEST_F(ClientFixture, FirstByteTimeoutWhenTheHandlerNeverAnswers) {
  start_tcp();
  ClientOptions options;
  options.timeouts.first_byte = 200ms;
  make_client(options);
  const auto started = Clock::now();
  auto got = fetch(get("/hang"));
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, ClientError::Kind::timeout) << got.error().message;
  EXPECT_NE(got.error().message.find("first-byte"), std::string::npos) << got.error().message;
  EXPECT_FALSE(got.error().response_started);
  EXPECT_LT(Clock::now() - started, 3s);
  EXPECT_TRUE(server_saw_peer_gone());
}

TEST_F(ClientFixture, IdleTimeoutBetweenBodyPieces) {
  start_tcp();
  ClientOptions options;
  options.timeouts.idle = 200ms;
  make_client(options);
  std::optional<std::string> first;
  std::optional<ClientError> failure;
  run([&]() -> net::awaitable<void> {
    auto streamed = co_await client_->stream(get("/stream-until-gone"));
    if (!streamed) {
      failure = streamed.error();
      co_return;
    }
    auto piece = co_await streamed.value()->next();
    if (piece && piece.value()) {
      first = *piece.value();
    }
    piece = co_await streamed.value()->next();
    if (!piece) {
      failure = piece.error();
    }
  });
  EXPECT_EQ(first, "first");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->kind, ClientError::Kind::timeout) << failure->message;
  EXPECT_NE(failure->message.find("idle"), std::string::npos) << failure->message;
  EXPECT_TRUE(failure->response_started);
  EXPECT_TRUE(server_saw_peer_gone());
}

TEST_F(ClientFixture, CancellationMidStreamClosesTheConnection) {
  start_tcp();
  make_client();
  CancellationToken cancellation;
  std::promise<void> first_arrived;
  std::optional<std::string> first;
  std::optional<ClientError> failure;
  // The coroutine waits in next() while this thread cancels: the token fires from elsewhere.
  auto done = net::co_spawn(
      client_io_,
      [&]() -> net::awaitable<void> {
        auto streamed = co_await client_->stream(get("/stream-until-gone"), cancellation);
        if (!streamed) {
          failure = streamed.error();
          first_arrived.set_value();
          co_return;
        }
        auto piece = co_await streamed.value()->next();
        if (piece && piece.value()) {
          first = *piece.value();
        }
        first_arrived.set_value();
        piece = co_await streamed.value()->next();
        if (!piece) {
          failure = piece.error();
        }
      },
      net::use_future);
  ASSERT_EQ(first_arrived.get_future().wait_for(10s), std::future_status::ready);
  cancellation.cancel();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(first, "first");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->kind, ClientError::Kind::cancelled) << failure->message;
  EXPECT_TRUE(failure->response_started);
  EXPECT_TRUE(server_saw_peer_gone());
}

TEST_F(ClientFixture, CancelledTokenFailsAtOnceWithoutConnecting) {
  start_tcp();
  make_client();
  CancellationToken cancellation;
  cancellation.cancel();
  auto got = fetch(get("/echo"), cancellation);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, ClientError::Kind::cancelled);
  EXPECT_FALSE(got.error().response_started);
  EXPECT_EQ(accepted(), 0u);
}

TEST_F(ClientFixture, DestroyingAnUnfinishedStreamClosesTheConnection) {
  start_tcp();
  auto& client = make_client();
  std::optional<std::string> first;
  run([&]() -> net::awaitable<void> {
    auto streamed = co_await client_->stream(get("/stream-until-gone"));
    if (streamed) {
      auto piece = co_await streamed.value()->next();
      if (piece && piece.value()) {
        first = *piece.value();
      }
    }
  });  // the stream is destroyed here, before its end
  EXPECT_EQ(first, "first");
  EXPECT_TRUE(server_saw_peer_gone());
  // That connection was not pooled.
  ASSERT_TRUE(fetch(get("/echo")).has_value());
  EXPECT_EQ(accepted(), 2u);
  EXPECT_EQ(client.stats().connections_reused.load(), 0u);
}

TEST_F(ClientFixture, StalePooledConnectionIsRetriedOnAFreshOne) {
  ServerLimits limits;
  limits.idle_timeout = 100ms;
  limits.header_timeout = 100ms;
  start_tcp(limits);
  auto& client = make_client();
  ASSERT_TRUE(fetch(get("/echo")).has_value());
  // Wait (bounded) until the server has closed the idle keep-alive connection.
  for (int i = 0; i < 500 && server_->stats().connections_open.load() != 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(server_->stats().connections_open.load(), 0);

  ClientRequest post;
  post.method = "POST";
  post.target = "/echo";
  post.body = "again";
  auto got = fetch(std::move(post));
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->body, "POST again");
  EXPECT_EQ(client.stats().connections_reused.load(), 1u);
  EXPECT_EQ(client.stats().stale_retries.load(), 1u);
  EXPECT_EQ(accepted(), 2u);
}

TEST_F(ClientFixture, BodyOverTheLimitIsAProtocolError) {
  start_tcp();
  ClientOptions options;
  options.max_response_body_bytes = 1000;
  make_client(options);
  for (const char* target : {"/big", "/big-stream"}) {
    auto got = fetch(get(target));
    ASSERT_FALSE(got.has_value()) << target;
    EXPECT_EQ(got.error().kind, ClientError::Kind::protocol) << got.error().message;
    EXPECT_TRUE(got.error().response_started);
    EXPECT_NE(got.error().message.find("1000"), std::string::npos) << got.error().message;
  }
  // Neither connection was pooled with an unread body in it.
  EXPECT_EQ(client_->stats().connections_reused.load(), 0u);
}

TEST(EndpointParse, AcceptsTheSupportedForms) {
  auto plain = Endpoint::parse("http://127.0.0.1:8080");
  ASSERT_TRUE(plain.has_value()) << plain.error();
  EXPECT_EQ(plain->kind, Endpoint::Kind::tcp);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 8080);
  EXPECT_EQ(plain->path_prefix, "");
  EXPECT_EQ(plain->to_string(), "http://127.0.0.1:8080");

  auto prefixed = Endpoint::parse("HTTP://backend.local:11434/v1/");
  ASSERT_TRUE(prefixed.has_value()) << prefixed.error();
  EXPECT_EQ(prefixed->host, "backend.local");
  EXPECT_EQ(prefixed->port, 11434);
  EXPECT_EQ(prefixed->path_prefix, "/v1");
  EXPECT_EQ(prefixed->to_string(), "http://backend.local:11434/v1");

  auto ipv6 = Endpoint::parse("http://[::1]:9000/api");
  ASSERT_TRUE(ipv6.has_value()) << ipv6.error();
  EXPECT_EQ(ipv6->host, "::1");
  EXPECT_EQ(ipv6->port, 9000);
  EXPECT_EQ(ipv6->to_string(), "http://[::1]:9000/api");

  auto default_port = Endpoint::parse("http://localhost");
  ASSERT_TRUE(default_port.has_value()) << default_port.error();
  EXPECT_EQ(default_port->port, 80);

  for (const char* url : {"unix:/run/hearth/worker.sock", "unix:///run/hearth/worker.sock"}) {
    auto local = Endpoint::parse(url);
    ASSERT_TRUE(local.has_value()) << url << ": " << local.error();
    EXPECT_EQ(local->kind, Endpoint::Kind::unix_socket);
    EXPECT_EQ(local->socket_path, "/run/hearth/worker.sock");
    EXPECT_EQ(local->to_string(), "unix:/run/hearth/worker.sock");
  }
}

TEST(EndpointParse, RejectsWhatItCannotServe) {
  const std::pair<const char*, const char*> cases[] = {
      {"ftp://host:21", "expected http://"},
      {"127.0.0.1:8080", "expected http://"},
      {"http://:8080", "missing host"},
      {"http://host:", "port"},
      {"http://host:0", "port"},
      {"http://host:65536", "port"},
      {"http://host:80x", "port"},
      {"http://host:-1", "port"},
      {"http://::1:8080", "brackets"},
      {"http://[::1", "]"},
      {"http://[not-ipv6]:80", "IPv6"},
      {"http://[::1]8080", "':PORT'"},
      {"http://user:pw@host:80", "credentials"},
      {"http://host:80/v1?key=x", "query"},
      {"http://bad host:80", "query, fragment or whitespace"},
      {"http://ho$t:80", "not a valid host"},
      {"unix:relative.sock", "absolute"},
      {"unix://relative.sock", "absolute"},
      {"unix:", "absolute"},
  };
  for (const auto& [url, expected] : cases) {
    auto parsed = Endpoint::parse(url);
    ASSERT_FALSE(parsed.has_value()) << url;
    EXPECT_NE(parsed.error().find(expected), std::string::npos) << url << ": " << parsed.error();
  }
  auto long_path = Endpoint::parse("unix:/" + std::string(200, 'a'));
  ASSERT_FALSE(long_path.has_value());
  EXPECT_NE(long_path.error().find("longer than"), std::string::npos) << long_path.error();
}

TEST(ClientErrorKind, HasReadableNames) {
  EXPECT_EQ(to_string(ClientError::Kind::connect_failed), "connect_failed");
  EXPECT_EQ(to_string(ClientError::Kind::timeout), "timeout");
  EXPECT_EQ(to_string(ClientError::Kind::protocol), "protocol");
  EXPECT_EQ(to_string(ClientError::Kind::closed_early), "closed_early");
  EXPECT_EQ(to_string(ClientError::Kind::cancelled), "cancelled");
}

}  // namespace
}  // namespace hearth::http
