// HttpClient over TLS against an in-process HTTPS server whose CA and certificates are made
// here, at test time, with OpenSSL.

// Asio needs <utility> before its own headers with GCC 12 coroutines.
// clang-format off
#include <utility>
// clang-format on

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/client.hpp"
#include "support/test_pki.hpp"

namespace hearth::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using FetchResult = Expected<ClientResponse, ClientError>;

// ---------------------------------------------------------------------------------------------
// A throwaway PKI: a CA, a certificate for localhost / 127.0.0.1 and one for other.example.

using test_pki::make_certificate;
using test_pki::make_key;
using test_pki::write_pem;

struct TestPki {
  std::string dir;
  std::string ca_file;    // the CA certificate
  std::string local_pem;  // certificate (SAN DNS:localhost, IP:127.0.0.1) and key
  std::string other_pem;  // certificate (SAN DNS:other.example) and key
  std::string error;      // why it could not be made
};

TestPki make_pki() {
  TestPki pki;
  pki.dir = test_pki::make_temp_dir("hearth-client-tls-test");
  if (pki.dir.empty()) {
    pki.error = "mkdtemp failed";
    return pki;
  }
  pki.ca_file = pki.dir + "/ca.pem";
  pki.local_pem = pki.dir + "/local.pem";
  pki.other_pem = pki.dir + "/other.pem";

  auto ca_key = make_key();
  auto local_key = make_key();
  auto other_key = make_key();
  if (!ca_key || !local_key || !other_key) {
    pki.error = "cannot generate EC keys";
    return pki;
  }
  auto ca = make_certificate(ca_key.get(), "Hearth Test CA", nullptr, nullptr, 1,
                             {{NID_basic_constraints, "critical,CA:TRUE"},
                              {NID_key_usage, "critical,keyCertSign,cRLSign"},
                              {NID_subject_key_identifier, "hash"}});
  if (!ca) {
    pki.error = "cannot make the CA certificate";
    return pki;
  }
  const auto leaf = [&](EVP_PKEY* key, const std::string& name, long serial,
                        const std::string& san) {
    return make_certificate(key, name, ca.get(), ca_key.get(), serial,
                            {{NID_basic_constraints, "critical,CA:FALSE"},
                             {NID_key_usage, "critical,digitalSignature"},
                             {NID_ext_key_usage, "serverAuth"},
                             {NID_subject_alt_name, san},
                             {NID_subject_key_identifier, "hash"},
                             {NID_authority_key_identifier, "keyid:always"}});
  };
  auto local = leaf(local_key.get(), "localhost", 2, "DNS:localhost,IP:127.0.0.1");
  auto other = leaf(other_key.get(), "other.example", 3, "DNS:other.example");
  if (!local || !other) {
    pki.error = "cannot make the server certificates";
    return pki;
  }
  if (!write_pem(pki.ca_file, ca.get(), nullptr) ||
      !write_pem(pki.local_pem, local.get(), local_key.get()) ||
      !write_pem(pki.other_pem, other.get(), other_key.get())) {
    pki.error = "cannot write the PEM files";
  }
  return pki;
}

// ---------------------------------------------------------------------------------------------
// A small HTTPS/1.1 server on its own thread: keep-alive, a chunked stream, and counters.

struct ServerSettings {
  std::string pem;                            // certificate and key
  bool never_handshake = false;               // accept TCP connections and then say nothing
  std::chrono::milliseconds idle_timeout{0};  // close idle keep-alive connections after this
};

net::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  net::steady_timer timer(co_await net::this_coro::executor);
  timer.expires_after(duration);
  co_await timer.async_wait(net::use_awaitable);
}

class TlsTestServer {
 public:
  explicit TlsTestServer(ServerSettings settings)
      : settings_(std::move(settings)),
        context_(ssl::context::tls_server),
        acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
        work_(net::make_work_guard(io_)) {
    SSL_CTX_set_min_proto_version(context_.native_handle(), TLS1_2_VERSION);
    error_code error;
    context_.use_certificate_chain_file(settings_.pem, error);
    if (!error) {
      context_.use_private_key_file(settings_.pem, ssl::context::pem, error);
    }
    setup_error_ = error.message();
    setup_ok_ = !error;
    net::co_spawn(io_, accept_loop(), net::detached);
    thread_ = std::thread([this]() { io_.run(); });
  }

  // Connections still open are destroyed with io_.
  ~TlsTestServer() {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  bool ok() const { return setup_ok_; }
  const std::string& setup_error() const { return setup_error_; }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  std::atomic<int> accepted{0};    // TCP connections
  std::atomic<int> handshakes{0};  // completed TLS handshakes
  std::atomic<int> requests{0};    // HTTP requests read
  std::atomic<int> open{0};        // connections not yet closed

  std::vector<std::string> server_names() {
    std::lock_guard lock(mutex_);
    return server_names_;
  }

  // Whether the handler of /stream-until-gone saw the client go, within a bound.
  bool saw_peer_gone() {
    auto seen = peer_gone_.get_future();
    return seen.wait_for(5s) == std::future_status::ready && seen.get();
  }

 private:
  using Stream = beast::ssl_stream<tcp::socket>;

  struct Peer {
    Peer(tcp::socket socket, ssl::context& context)
        : stream(std::move(socket), context), timer(stream.get_executor()) {}
    void close() {
      error_code ignored;
      beast::get_lowest_layer(stream).shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(stream).close(ignored);
    }
    Stream stream;
    net::steady_timer timer;
  };

  net::awaitable<void> accept_loop() {
    while (true) {
      error_code error;
      tcp::socket socket =
          co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, error));
      if (error) {
        co_return;
      }
      accepted.fetch_add(1);
      // Small writes (a header, then a chunk) must not wait for the client's delayed ACK.
      socket.set_option(tcp::no_delay(true), error);
      if (settings_.never_handshake) {
        silent_.push_back(std::move(socket));
        continue;
      }
      net::co_spawn(io_, serve(std::make_shared<Peer>(std::move(socket), context_)), net::detached);
    }
  }

  net::awaitable<void> serve(std::shared_ptr<Peer> peer) {
    open.fetch_add(1);
    try {
      co_await peer->stream.async_handshake(ssl::stream_base::server, net::use_awaitable);
      handshakes.fetch_add(1);
      {
        const char* name =
            SSL_get_servername(peer->stream.native_handle(), TLSEXT_NAMETYPE_host_name);
        std::lock_guard lock(mutex_);
        server_names_.emplace_back(name ? name : "");
      }
      beast::flat_buffer buffer;
      for (bool first = true;; first = false) {
        if (!first && settings_.idle_timeout.count() > 0) {
          // An idle keep-alive connection is closed without a close_notify, as a server that
          // times it out may.
          peer->timer.expires_after(settings_.idle_timeout);
          peer->timer.async_wait([peer](const error_code& error) {
            if (!error) {
              peer->close();
            }
          });
        }
        bhttp::request<bhttp::string_body> request;
        error_code error;
        co_await bhttp::async_read(peer->stream, buffer, request,
                                   net::redirect_error(net::use_awaitable, error));
        peer->timer.cancel();
        if (error) {
          break;
        }
        requests.fetch_add(1);
        if (!co_await respond(peer, request) || !request.keep_alive()) {
          break;
        }
      }
    } catch (const std::exception&) {
      // A failed handshake or write: the connection just ends.
    }
    peer->close();
    open.fetch_sub(1);
  }

  // false: the connection must close.
  net::awaitable<bool> respond(std::shared_ptr<Peer> peer,
                               const bhttp::request<bhttp::string_body>& request) {
    const std::string target(request.target());
    if (target == "/stream") {
      co_await write_stream_header(peer, "text/event-stream");
      for (int i = 0; i < 3; ++i) {
        if (i > 0) {
          co_await sleep_for(50ms);
        }
        const std::string text = "data: " + std::to_string(i) + "\n\n";
        auto chunk = bhttp::make_chunk(net::buffer(text));
        co_await net::async_write(peer->stream, chunk, net::use_awaitable);
      }
      auto last = bhttp::make_chunk_last();
      co_await net::async_write(peer->stream, last, net::use_awaitable);
      co_return true;
    }
    if (target == "/stream-until-gone") {
      co_await write_stream_header(peer, "text/event-stream");
      const std::string text = "first";
      auto chunk = bhttp::make_chunk(net::buffer(text));
      co_await net::async_write(peer->stream, chunk, net::use_awaitable);
      // The client sends nothing more: a read ends only when it goes (or after the bound).
      auto bound_hit = std::make_shared<std::atomic<bool>>(false);
      peer->timer.expires_after(5s);
      peer->timer.async_wait([peer, bound_hit](const error_code& error) {
        if (!error) {
          bound_hit->store(true);
          peer->close();
        }
      });
      char byte = 0;
      error_code error;
      co_await peer->stream.async_read_some(net::buffer(&byte, 1),
                                            net::redirect_error(net::use_awaitable, error));
      peer->timer.cancel();
      note_peer_gone(error && !bound_hit->load());
      co_return false;
    }
    // /echo and everything else.
    bhttp::response<bhttp::string_body> response(bhttp::status::ok, request.version());
    response.set(bhttp::field::content_type, beast::string_view("text/plain"));
    response.set(beast::string_view("x-target"), request.target());
    response.set(beast::string_view("x-host"), request[bhttp::field::host]);
    response.set(beast::string_view("x-content-type"), request[bhttp::field::content_type]);
    response.body() = std::string(request.method_string()) + " " + request.body();
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    co_await bhttp::async_write(peer->stream, response, net::use_awaitable);
    co_return true;
  }

  net::awaitable<void> write_stream_header(std::shared_ptr<Peer> peer, std::string content_type) {
    bhttp::response<bhttp::empty_body> response(bhttp::status::ok, 11);
    response.set(bhttp::field::content_type,
                 beast::string_view(content_type.data(), content_type.size()));
    response.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer(response);
    co_await bhttp::async_write_header(peer->stream, serializer, net::use_awaitable);
  }

  void note_peer_gone(bool gone) {
    if (!peer_gone_noted_.exchange(true)) {
      peer_gone_.set_value(gone);
    }
  }

  ServerSettings settings_;
  ssl::context context_;  // outlives the connections that io_ destroys last
  net::io_context io_;
  tcp::acceptor acceptor_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread thread_;
  bool setup_ok_ = false;
  std::string setup_error_;
  std::vector<tcp::socket> silent_;  // never_handshake: held open, never answered
  std::mutex mutex_;
  std::vector<std::string> server_names_;  // SNI of each handshake ("" without)
  std::promise<bool> peer_gone_;
  std::atomic<bool> peer_gone_noted_{false};
};

// ---------------------------------------------------------------------------------------------
// The client side. Each test runs twice: a normal client on a two-thread io_context, and a
// single-threaded one (ClientOptions::single_threaded) on a one-thread io_context.

class ClientTlsTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(make_pki()); }
  static void TearDownTestSuite() {
    if (!pki_->dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(pki_->dir, ignored);
    }
    delete pki_;
    pki_ = nullptr;
  }

  ClientTlsTest() : client_io_(single_threaded() ? 1 : 2), work_(net::make_work_guard(client_io_)) {
    threads_.resize(single_threaded() ? 1 : 2);
    for (auto& thread : threads_) {
      thread = std::thread([this]() { client_io_.run(); });
    }
  }

  ~ClientTlsTest() override {
    client_.reset();
    work_.reset();
    client_io_.stop();
    for (auto& thread : threads_) {
      thread.join();
    }
    server_.reset();
  }

  void SetUp() override { ASSERT_TRUE(pki_->error.empty()) << pki_->error; }

  static bool single_threaded() { return GetParam(); }
  static const TestPki& pki() { return *pki_; }

  TlsTestServer& start_server(ServerSettings settings) {
    server_ = std::make_unique<TlsTestServer>(std::move(settings));
    EXPECT_TRUE(server_->ok()) << server_->setup_error();
    return *server_;
  }
  TlsTestServer& start_server() {
    ServerSettings settings;
    settings.pem = pki().local_pem;
    return start_server(std::move(settings));
  }

  std::string url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(server_->port());
  }

  // A client for `host` on the server's port; trusting the test CA unless told otherwise.
  HttpClient& make_client(const std::string& host = "127.0.0.1", ClientOptions options = {},
                          bool trust_test_ca = true) {
    auto endpoint = Endpoint::parse(url(host));
    EXPECT_TRUE(endpoint.has_value()) << endpoint.error();
    options.single_threaded = single_threaded();
    if (trust_test_ca) {
      options.tls.ca_file = pki().ca_file;
    }
    client_ = std::make_unique<HttpClient>(client_io_.get_executor(), endpoint.value(), options);
    return *client_;
  }

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

  static ClientRequest get(std::string target) {
    ClientRequest request;
    request.target = std::move(target);
    return request;
  }

  static ClientRequest post(std::string target, std::string body) {
    ClientRequest request;
    request.method = "POST";
    request.target = std::move(target);
    request.body = std::move(body);
    request.headers = {{"Content-Type", "application/json"}};
    return request;
  }

  // A failure that happened before anything was sent.
  static void expect_connect_failure(const FetchResult& got, const std::string& expected) {
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().kind, ClientError::Kind::connect_failed) << got.error().message;
    EXPECT_FALSE(got.error().response_started);
    EXPECT_NE(got.error().message.find(expected), std::string::npos) << got.error().message;
  }

  static TestPki* pki_;
  net::io_context client_io_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TestPki* ClientTlsTest::pki_ = nullptr;

TEST_P(ClientTlsTest, GetAndPostRoundTripToAnIpAddress) {
  auto& server = start_server();
  make_client();
  auto got = fetch(get("/echo?x=1"));
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "GET ");
  EXPECT_EQ(got->header("x-target"), "/echo?x=1");
  EXPECT_EQ(got->header("x-host"), "127.0.0.1:" + std::to_string(server.port()));

  auto posted = fetch(post("/echo", R"({"model":"m"})"));
  ASSERT_TRUE(posted.has_value()) << posted.error().message;
  EXPECT_EQ(posted->body, R"(POST {"model":"m"})");
  EXPECT_EQ(posted->header("x-content-type"), "application/json");

  // The certificate was checked against its IP SAN; no SNI is sent for an IP address.
  EXPECT_EQ(server.handshakes.load(), 1);
  EXPECT_EQ(server.server_names(), std::vector<std::string>{""});
}

TEST_P(ClientTlsTest, HostNameIsVerifiedAndSentAsSni) {
  auto& server = start_server();
  make_client("localhost");
  auto got = fetch(post("/echo", "hi"));
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->body, "POST hi");
  EXPECT_EQ(got->header("x-host"), "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(server.server_names(), std::vector<std::string>{"localhost"});
}

TEST_P(ClientTlsTest, KeepAliveReusesTheTlsConnection) {
  auto& server = start_server();
  auto& client = make_client();
  for (int i = 0; i < 3; ++i) {
    auto got = fetch(get("/echo"));
    ASSERT_TRUE(got.has_value()) << got.error().message;
  }
  EXPECT_EQ(server.accepted.load(), 1);
  EXPECT_EQ(server.handshakes.load(), 1);
  EXPECT_EQ(client.stats().connections_opened.load(), 1u);
  EXPECT_EQ(client.stats().connections_reused.load(), 2u);

  client.close_idle();
  ASSERT_TRUE(fetch(get("/echo")).has_value());
  EXPECT_EQ(server.handshakes.load(), 2);
}

TEST_P(ClientTlsTest, StreamedChunksArriveAsTheyAreSent) {
  auto& server = start_server();
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

  // Reading to the end returned the TLS connection to the pool.
  ASSERT_TRUE(fetch(get("/echo")).has_value());
  EXPECT_EQ(server.handshakes.load(), 1);
}

TEST_P(ClientTlsTest, UntrustedCertificateFailsTheHandshake) {
  auto& server = start_server();
  make_client("127.0.0.1", {}, /*trust_test_ca=*/false);  // the system's store only
  auto got = fetch(get("/echo"));
  expect_connect_failure(got, "TLS handshake with 127.0.0.1:" + std::to_string(server.port()));
  expect_connect_failure(got, "certificate verify failed");
  EXPECT_EQ(server.requests.load(), 0);
}

TEST_P(ClientTlsTest, CertificateForAnotherHostFailsTheHandshake) {
  ServerSettings settings;
  settings.pem = pki().other_pem;  // valid, from the trusted CA, but for other.example
  auto& server = start_server(std::move(settings));

  make_client("127.0.0.1");
  auto by_address = fetch(get("/echo"));
  expect_connect_failure(by_address, "certificate verify failed");
  expect_connect_failure(by_address, "not valid for the IP address 127.0.0.1");

  make_client("localhost");
  auto by_name = fetch(get("/echo"));
  expect_connect_failure(by_name, "TLS handshake with localhost:" + std::to_string(server.port()));
  expect_connect_failure(by_name, "not valid for the host name 'localhost'");
  EXPECT_EQ(server.requests.load(), 0);
}

TEST_P(ClientTlsTest, UnloadableCaFileFailsEveryRequestClearly) {
  auto& server = start_server();
  ClientOptions options;
  options.tls.ca_file = pki().dir + "/missing-ca.pem";
  auto& client = make_client("127.0.0.1", options, /*trust_test_ca=*/false);
  for (int i = 0; i < 2; ++i) {
    auto got = fetch(get("/echo"));
    expect_connect_failure(got, "cannot load the TLS CA file '" + options.tls.ca_file + "'");
    expect_connect_failure(got, "No such file or directory");
  }
  EXPECT_EQ(client.stats().connections_opened.load(), 0u);
  EXPECT_EQ(server.accepted.load(), 0);

  const std::string garbage = pki().dir + "/garbage-ca.pem";
  std::ofstream(garbage) << "not a certificate\n";
  options.tls.ca_file = garbage;
  make_client("127.0.0.1", options, /*trust_test_ca=*/false);
  expect_connect_failure(fetch(get("/echo")), "cannot load the TLS CA file '" + garbage + "'");
}

TEST_P(ClientTlsTest, HandshakeThatNeverCompletesHitsTheConnectTimeout) {
  ServerSettings settings;
  settings.pem = pki().local_pem;
  settings.never_handshake = true;
  auto& server = start_server(std::move(settings));
  ClientOptions options;
  options.timeouts.connect = 200ms;
  make_client("127.0.0.1", options);
  const auto started = Clock::now();
  auto got = fetch(get("/echo"));
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, ClientError::Kind::timeout) << got.error().message;
  EXPECT_NE(got.error().message.find("connect timeout of 200 ms"), std::string::npos)
      << got.error().message;
  EXPECT_NE(got.error().message.find("TLS handshake"), std::string::npos) << got.error().message;
  EXPECT_FALSE(got.error().response_started);
  EXPECT_GE(Clock::now() - started, 150ms);
  EXPECT_LT(Clock::now() - started, 3s);
  EXPECT_EQ(server.accepted.load(), 1);
}

TEST_P(ClientTlsTest, StalePooledTlsConnectionIsRetriedOnAFreshOne) {
  ServerSettings settings;
  settings.pem = pki().local_pem;
  settings.idle_timeout = 100ms;
  auto& server = start_server(std::move(settings));
  auto& client = make_client();
  ASSERT_TRUE(fetch(get("/echo")).has_value());
  // Wait (bounded) until the server has closed the idle keep-alive connection.
  for (int i = 0; i < 500 && server.open.load() != 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(server.open.load(), 0);

  auto got = fetch(post("/echo", "again"));
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->body, "POST again");
  EXPECT_EQ(client.stats().connections_reused.load(), 1u);
  EXPECT_EQ(client.stats().stale_retries.load(), 1u);
  EXPECT_EQ(server.handshakes.load(), 2);
}

TEST_P(ClientTlsTest, CancellationMidStreamClosesTheConnection) {
  auto& server = start_server();
  make_client();
  CancellationToken cancellation;
  std::promise<void> first_arrived;
  std::optional<std::string> first;
  std::optional<ClientError> failure;
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
  EXPECT_TRUE(server.saw_peer_gone());
}

INSTANTIATE_TEST_SUITE_P(Modes, ClientTlsTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "SingleThreaded" : "Threaded";
                         });

// ---------------------------------------------------------------------------------------------

TEST(EndpointParseHttps, AcceptsHttpsUrls) {
  auto plain = Endpoint::parse("https://api.example.com");
  ASSERT_TRUE(plain.has_value()) << plain.error();
  EXPECT_EQ(plain->kind, Endpoint::Kind::tls);
  EXPECT_EQ(plain->host, "api.example.com");
  EXPECT_EQ(plain->port, 443);
  EXPECT_EQ(plain->path_prefix, "");
  EXPECT_EQ(plain->to_string(), "https://api.example.com");

  auto prefixed = Endpoint::parse("HTTPS://api.example.com/v1/");
  ASSERT_TRUE(prefixed.has_value()) << prefixed.error();
  EXPECT_EQ(prefixed->kind, Endpoint::Kind::tls);
  EXPECT_EQ(prefixed->port, 443);
  EXPECT_EQ(prefixed->path_prefix, "/v1");
  EXPECT_EQ(prefixed->to_string(), "https://api.example.com/v1");

  auto explicit_default = Endpoint::parse("https://api.example.com:443/v1");
  ASSERT_TRUE(explicit_default.has_value()) << explicit_default.error();
  EXPECT_EQ(explicit_default->port, 443);
  EXPECT_EQ(explicit_default->to_string(), "https://api.example.com/v1");

  auto other_port = Endpoint::parse("https://127.0.0.1:8443/api");
  ASSERT_TRUE(other_port.has_value()) << other_port.error();
  EXPECT_EQ(other_port->host, "127.0.0.1");
  EXPECT_EQ(other_port->port, 8443);
  EXPECT_EQ(other_port->to_string(), "https://127.0.0.1:8443/api");

  auto ipv6 = Endpoint::parse("https://[::1]");
  ASSERT_TRUE(ipv6.has_value()) << ipv6.error();
  EXPECT_EQ(ipv6->host, "::1");
  EXPECT_EQ(ipv6->port, 443);
  EXPECT_EQ(ipv6->to_string(), "https://[::1]");

  // http keeps its explicit port, even 443.
  auto http = Endpoint::parse("http://api.example.com:443");
  ASSERT_TRUE(http.has_value()) << http.error();
  EXPECT_EQ(http->kind, Endpoint::Kind::tcp);
  EXPECT_EQ(http->to_string(), "http://api.example.com:443");
}

TEST(EndpointParseHttps, RejectsMalformedHttpsUrls) {
  const std::pair<const char*, const char*> cases[] = {
      {"https://", "missing host"},         {"https://:443", "missing host"},
      {"https://host:0", "port"},           {"https://host:", "port"},
      {"https://user@host", "credentials"}, {"https://host/v1?key=x", "query"},
      {"https//host", "expected http://"},
  };
  for (const auto& [url, expected] : cases) {
    auto parsed = Endpoint::parse(url);
    ASSERT_FALSE(parsed.has_value()) << url;
    EXPECT_NE(parsed.error().find(expected), std::string::npos) << url << ": " << parsed.error();
  }
}

}  // namespace
}  // namespace hearth::http
