// Server::listen_tls: requests, streams, keep-alive, certificate reload, client certificates and
// the ways a handshake fails, against the project's HttpClient and a raw OpenSSL client. The
// certificates are made at test time.

// Asio needs <utility> before its own headers with GCC 12 coroutines.
// clang-format off
#include <utility>
// clang-format on

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/client.hpp"
#include "http/server.hpp"
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

constexpr std::string_view kTextPlain = "text/plain";
constexpr std::string_view kEventStream = "text/event-stream";

// ---------------------------------------------------------------------------------------------
// The certificates: the server's (and a renewed one) from one CA, client certificates from a
// second CA, and a client certificate from a third CA that the server does not trust.

struct ServerPki {
  std::string dir;
  std::string error;           // why it could not be made
  std::string ca_file;         // issues the server certificates
  std::string server_cert;     // CN localhost, serial 2, SAN DNS:localhost,IP:127.0.0.1
  std::string server_key;      // its key, alone
  std::string server_bundle;   // the same certificate and key in one file
  std::string renewed_cert;    // CN localhost, serial 10
  std::string renewed_key;     // its key
  std::string client_ca_file;  // issues the client certificates
  std::string admin_pem;       // CN hearth-admin from the client CA, with its key
  std::string rogue_pem;       // CN hearth-admin from an untrusted CA, with its key
  std::string not_pem;         // text that is no PEM at all
};

ServerPki make_pki() {
  using namespace test_pki;
  ServerPki pki;
  pki.dir = make_temp_dir("hearth-server-tls-test");
  if (pki.dir.empty()) {
    pki.error = "mkdtemp failed";
    return pki;
  }
  pki.ca_file = pki.dir + "/ca.pem";
  pki.server_cert = pki.dir + "/server.crt";
  pki.server_key = pki.dir + "/server.key";
  pki.server_bundle = pki.dir + "/server-bundle.pem";
  pki.renewed_cert = pki.dir + "/renewed.crt";
  pki.renewed_key = pki.dir + "/renewed.key";
  pki.client_ca_file = pki.dir + "/client-ca.pem";
  pki.admin_pem = pki.dir + "/admin.pem";
  pki.rogue_pem = pki.dir + "/rogue.pem";
  pki.not_pem = pki.dir + "/not.pem";

  auto ca_key = make_key();
  auto client_ca_key = make_key();
  auto rogue_ca_key = make_key();
  auto server_key = make_key();
  auto renewed_key = make_key();
  auto admin_key = make_key();
  auto rogue_key = make_key();
  if (!ca_key || !client_ca_key || !rogue_ca_key || !server_key || !renewed_key || !admin_key ||
      !rogue_key) {
    pki.error = "cannot generate EC keys";
    return pki;
  }
  auto ca = make_ca(ca_key.get(), "Hearth Test CA", 1);
  auto client_ca = make_ca(client_ca_key.get(), "Hearth Client CA", 1);
  auto rogue_ca = make_ca(rogue_ca_key.get(), "Rogue CA", 1);
  if (!ca || !client_ca || !rogue_ca) {
    pki.error = "cannot make the CA certificates";
    return pki;
  }
  const std::string san = "DNS:localhost,IP:127.0.0.1";
  auto server =
      make_leaf(server_key.get(), "localhost", ca.get(), ca_key.get(), 2, "serverAuth", san);
  auto renewed =
      make_leaf(renewed_key.get(), "localhost", ca.get(), ca_key.get(), 10, "serverAuth", san);
  auto admin = make_leaf(admin_key.get(), "hearth-admin", client_ca.get(), client_ca_key.get(), 20,
                         "clientAuth", "");
  auto rogue = make_leaf(rogue_key.get(), "hearth-admin", rogue_ca.get(), rogue_ca_key.get(), 30,
                         "clientAuth", "");
  if (!server || !renewed || !admin || !rogue) {
    pki.error = "cannot make the leaf certificates";
    return pki;
  }
  const bool written = write_pem(pki.ca_file, ca.get(), nullptr) &&
                       write_pem(pki.server_cert, server.get(), nullptr) &&
                       write_pem(pki.server_key, nullptr, server_key.get()) &&
                       write_pem(pki.server_bundle, server.get(), server_key.get()) &&
                       write_pem(pki.renewed_cert, renewed.get(), nullptr) &&
                       write_pem(pki.renewed_key, nullptr, renewed_key.get()) &&
                       write_pem(pki.client_ca_file, client_ca.get(), nullptr) &&
                       write_pem(pki.admin_pem, admin.get(), admin_key.get()) &&
                       write_pem(pki.rogue_pem, rogue.get(), rogue_key.get());
  std::ofstream(pki.not_pem) << "this is not a certificate\n";
  if (!written) {
    pki.error = "cannot write the PEM files";
  }
  return pki;
}

// ---------------------------------------------------------------------------------------------
// Client side: every operation runs on the client's own io_context within a bound, so a server
// that does not answer fails the test instead of hanging it.

class BoundedIo {
 protected:
  // Starts an asynchronous operation through `initiate(handler)` and runs it to completion or
  // until `limit` passes; then `abort` closes the socket and net::error::timed_out is returned.
  template <class Initiate>
  error_code bounded(Initiate initiate, const std::function<void()>& abort,
                     std::chrono::milliseconds limit) {
    auto result = std::make_shared<std::optional<error_code>>();
    initiate([result](error_code error, auto&&...) { *result = error; });
    io_.restart();
    io_.run_for(limit);
    if (!*result) {
      abort();
      io_.restart();
      io_.run_for(2s);  // lets the aborted operation complete
      return net::error::timed_out;
    }
    return **result;
  }

  net::io_context io_;
};

struct ClientTlsSettings {
  std::string certificate_pem;  // the client certificate and its key; "": none
  int min_version = 0;          // e.g. TLS1_1_VERSION; 0: OpenSSL's default
  int max_version = 0;
  std::string tls12_ciphers;  // "": OpenSSL's default
};

// One TLS connection to the server, which it verifies against the test CA (and 127.0.0.1).
class RawTlsClient : BoundedIo {
 public:
  RawTlsClient(const std::string& ca_file, const ClientTlsSettings& settings = {})
      : context_(make_context(ca_file, settings, setup_error_)), stream_(io_, context_) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream_.native_handle()), "127.0.0.1");
  }

  const std::string& setup_error() const { return setup_error_; }

  error_code connect(unsigned short port) {
    error_code error;
    beast::get_lowest_layer(stream_).connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), port), error);
    return error;
  }

  error_code handshake() {
    return bounded(
        [this](auto handler) {
          stream_.async_handshake(ssl::stream_base::client, std::move(handler));
        },
        abort(), 5s);
  }

  error_code connect_and_handshake(unsigned short port) {
    if (auto error = connect(port)) {
      return error;
    }
    return handshake();
  }

  error_code write(const std::string& bytes) {
    return bounded(
        [this, &bytes](auto handler) {
          net::async_write(stream_, net::buffer(bytes), std::move(handler));
        },
        abort(), 5s);
  }

  error_code send(bhttp::verb verb, const std::string& target, const std::string& body = {},
                  bool keep_alive = true) {
    bhttp::request<bhttp::string_body> message{verb, target, 11};
    message.set(bhttp::field::host, "127.0.0.1");
    message.keep_alive(keep_alive);
    message.body() = body;
    message.prepare_payload();
    return bounded([this, &message](
                       auto handler) { bhttp::async_write(stream_, message, std::move(handler)); },
                   abort(), 5s);
  }

  struct Answer {
    error_code error;
    bhttp::response<bhttp::string_body> response;
  };

  Answer read_response() {
    Answer answer;
    answer.error = bounded(
        [this, &answer](auto handler) {
          bhttp::async_read(stream_, buffer_, answer.response, std::move(handler));
        },
        abort(), 5s);
    return answer;
  }

  Answer request(bhttp::verb verb, const std::string& target, const std::string& body = {},
                 bool keep_alive = true) {
    if (auto error = send(verb, target, body, keep_alive)) {
      return Answer{error, {}};
    }
    return read_response();
  }

  // Reads over TLS until the stream ends; how it ended (eof: after a close_notify).
  error_code read_until_end(std::chrono::milliseconds limit = 5s) {
    while (true) {
      char byte = 0;
      auto error = bounded(
          [this, &byte](auto handler) {
            stream_.async_read_some(net::buffer(&byte, 1), std::move(handler));
          },
          abort(), limit);
      if (error) {
        return error;
      }
    }
  }

  // Reads the TCP socket underneath, bypassing TLS, until the server closes it.
  error_code read_tcp_until_closed(std::chrono::milliseconds limit) {
    auto& socket = beast::get_lowest_layer(stream_);
    while (true) {
      char bytes[256];
      auto error = bounded(
          [&socket, &bytes](auto handler) {
            socket.async_read_some(net::buffer(bytes), std::move(handler));
          },
          abort(), limit);
      if (error) {
        return error;
      }
    }
  }

  void close_tcp() {
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
  }

  long peer_serial() {
    X509* certificate = SSL_get0_peer_certificate(stream_.native_handle());
    return certificate ? ASN1_INTEGER_get(X509_get_serialNumber(certificate)) : -1;
  }
  std::string version() { return SSL_get_version(stream_.native_handle()); }
  std::string cipher() { return SSL_get_cipher_name(stream_.native_handle()); }

 private:
  // The stream's SSL object copies the context's settings when it is made: they come first.
  static ssl::context make_context(const std::string& ca_file, const ClientTlsSettings& settings,
                                   std::string& setup_error) {
    ssl::context context(ssl::context::tls_client);
    SSL_CTX* native = context.native_handle();
    error_code error;
    context.load_verify_file(ca_file, error);
    if (!error) {
      context.set_verify_mode(ssl::verify_peer, error);
    }
    if (!error && !settings.certificate_pem.empty()) {
      context.use_certificate_chain_file(settings.certificate_pem, error);
      if (!error) {
        context.use_private_key_file(settings.certificate_pem, ssl::context::pem, error);
      }
    }
    if (error) {
      setup_error = error.message();
    }
    if (settings.min_version != 0 || settings.max_version != 0) {
      // Old protocol versions are below the default security level: allow them, so that the
      // client really offers them and the refusal comes from the server.
      SSL_CTX_set_security_level(native, 0);
      if (SSL_CTX_set_min_proto_version(native, settings.min_version) != 1 ||
          SSL_CTX_set_max_proto_version(native, settings.max_version) != 1) {
        setup_error = "cannot set the protocol versions";
      }
    }
    if (!settings.tls12_ciphers.empty() &&
        SSL_CTX_set_cipher_list(native, settings.tls12_ciphers.c_str()) != 1) {
      setup_error = "cannot set the cipher list";
    }
    return context;
  }

  std::function<void()> abort() {
    return [this]() { close_tcp(); };
  }

  std::string setup_error_;  // before context_, which sets it
  ssl::context context_;
  beast::ssl_stream<tcp::socket> stream_;
  beast::flat_buffer buffer_;
};

// A TCP connection that speaks no TLS.
class RawTcpClient : BoundedIo {
 public:
  error_code connect(unsigned short port) {
    error_code error;
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), error);
    return error;
  }
  error_code write(const std::string& bytes) {
    error_code error;
    net::write(socket_, net::buffer(bytes), error);
    return error;
  }
  // Reads until the server closes the connection; how it ended. `received` gets the bytes.
  error_code read_until_closed(std::string& received, std::chrono::milliseconds limit) {
    while (true) {
      char bytes[256];
      std::size_t got = 0;
      auto error = bounded(
          [this, &bytes, &got](auto handler) {
            socket_.async_read_some(net::buffer(bytes),
                                    [&got, handler = std::move(handler)](error_code read_error,
                                                                         std::size_t size) mutable {
                                      got = size;
                                      handler(read_error, size);
                                    });
          },
          [this]() {
            error_code ignored;
            socket_.close(ignored);
          },
          limit);
      received.append(bytes, got);
      if (error) {
        return error;
      }
    }
  }

 private:
  tcp::socket socket_{io_};
};

// ---------------------------------------------------------------------------------------------
// The server under test, on its own io_context: two threads with strands, or one thread with
// ServerLimits::single_threaded (the gateway's mode).

std::string error_body(int status, std::string_view message, std::string_view code) {
  return "{\"status\":" + std::to_string(status) + ",\"message\":\"" + std::string(message) +
         "\",\"code\":\"" + std::string(code) + "\"}";
}

class ServerTlsTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() { pki_ = new ServerPki(make_pki()); }
  static void TearDownTestSuite() {
    if (!pki_->dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(pki_->dir, ignored);
    }
    delete pki_;
    pki_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(pki_->error.empty()) << pki_->error; }

  void TearDown() override {
    if (server_) {
      server_->stop();
    }
    work_.reset();
    io_.stop();
    for (auto& thread : threads_) {
      thread.join();
    }
  }

  static const ServerPki& pki() { return *pki_; }
  static bool single_threaded() { return GetParam(); }

  static TlsSettings server_tls() {
    TlsSettings tls;
    tls.certificate_file = pki().server_cert;
    tls.private_key_file = pki().server_key;
    return tls;
  }

  // Listens over TLS, and over plain TCP too (plain_port_).
  void start(TlsSettings tls = server_tls(), ServerLimits limits = {}) {
    limits.single_threaded = single_threaded();
    server_ = std::make_unique<Server>(
        io_, limits,
        [this](const Request& request, ResponseWriter& writer) { return handle(request, writer); },
        error_body);
    auto port = server_->listen_tls("127.0.0.1", 0, tls);
    ASSERT_TRUE(port.has_value()) << port.error();
    port_ = port.value();
    auto plain_port = server_->listen_tcp("127.0.0.1", 0);
    ASSERT_TRUE(plain_port.has_value()) << plain_port.error();
    plain_port_ = plain_port.value();
    threads_.resize(single_threaded() ? 1 : 2);
    for (auto& thread : threads_) {
      thread = std::thread([this]() { io_.run(); });
    }
  }

  // GCC 12 cannot keep string literals inside a co_await expression: arguments are built first.
  net::awaitable<void> handle(const Request& request, ResponseWriter& writer) {
    if (request.path == "/echo") {
      std::string body = request.method + " " + request.body;
      Headers headers{{std::string("x-tls"), std::string(request.tls ? "1" : "0")},
                      {std::string("x-client-subject"), request.client_certificate_subject}};
      co_await writer.send(200, kTextPlain, std::move(body), headers);
    } else if (request.path == "/stream") {
      co_await writer.begin_stream(200, kEventStream);
      net::steady_timer timer(co_await net::this_coro::executor);
      for (int i = 0; i < 3; ++i) {
        if (i > 0) {
          timer.expires_after(40ms);
          co_await timer.async_wait(net::use_awaitable);
        }
        std::string chunk = std::string("data: ") + std::to_string(i) + "\n\n";
        co_await writer.write_chunk(chunk);
      }
      co_await writer.end_stream();
    } else if (request.path == "/wait-for-cancel") {
      // Holds the request until the client goes away, then records that it noticed.
      auto cancellation = writer.cancellation();
      wait_started_.set_value();
      net::steady_timer timer(co_await net::this_coro::executor);
      for (int i = 0; i < 500 && !cancellation.cancelled(); ++i) {
        timer.expires_after(10ms);
        co_await timer.async_wait(net::use_awaitable);
      }
      cancelled_seen_.set_value(cancellation.cancelled());
    }
  }

  std::unique_ptr<RawTlsClient> tls_client(const ClientTlsSettings& settings = {}) {
    auto client = std::make_unique<RawTlsClient>(pki().ca_file, settings);
    EXPECT_EQ(client->setup_error(), "");
    return client;
  }

  // A client that has completed its handshake (or failed the test).
  std::unique_ptr<RawTlsClient> connected_client(const ClientTlsSettings& settings = {}) {
    auto client = tls_client(settings);
    const auto error = client->connect_and_handshake(port_);
    EXPECT_FALSE(error) << error.message();
    return client;
  }

  // Waits (bounded) until a server counter reaches a value.
  static bool eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 500; ++i) {
      if (condition()) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return condition();
  }

  uint64_t handshake_failures() const { return server_->stats().tls_handshake_failures.load(); }

  // A TLS client that the server serves normally.
  void expect_served() {
    auto client = connected_client();
    auto answer = client->request(bhttp::verb::post, "/echo", "still here");
    ASSERT_FALSE(answer.error) << answer.error.message();
    EXPECT_EQ(answer.response.body(), "POST still here");
  }

  static ServerPki* pki_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> work_{net::make_work_guard(io_)};
  std::vector<std::thread> threads_;
  std::unique_ptr<Server> server_;
  unsigned short port_ = 0;
  unsigned short plain_port_ = 0;
  std::promise<void> wait_started_;
  std::promise<bool> cancelled_seen_;
};

ServerPki* ServerTlsTest::pki_ = nullptr;

// ---------------------------------------------------------------------------------------------

TEST_P(ServerTlsTest, HttpClientGetsAnAnswerAndAStreamOverTls) {
  start();
  net::io_context client_io;
  auto work = net::make_work_guard(client_io);
  std::thread client_thread([&]() { client_io.run(); });
  ClientOptions options;
  options.tls.ca_file = pki().ca_file;
  auto endpoint = Endpoint::parse("https://127.0.0.1:" + std::to_string(port_));
  ASSERT_TRUE(endpoint.has_value()) << endpoint.error();
  auto client = std::make_unique<HttpClient>(client_io.get_executor(), endpoint.value(), options);

  std::optional<Expected<ClientResponse, ClientError>> answer;
  std::vector<std::string> pieces;
  std::vector<Clock::time_point> arrivals;
  std::optional<ClientError> stream_failure;
  auto done = net::co_spawn(
      client_io,
      [&]() -> net::awaitable<void> {
        ClientRequest post;
        post.method = "POST";
        post.target = "/echo";
        post.body = "hello";
        answer.emplace(co_await client->fetch(post));

        ClientRequest get;
        get.target = "/stream";
        auto streamed = co_await client->stream(get);
        if (!streamed) {
          stream_failure = streamed.error();
          co_return;
        }
        while (true) {
          auto piece = co_await streamed.value()->next();
          if (!piece) {
            stream_failure = piece.error();
            co_return;
          }
          if (!piece.value()) {
            break;
          }
          pieces.push_back(std::move(*piece.value()));
          arrivals.push_back(Clock::now());
        }
      },
      net::use_future);
  const bool finished = done.wait_for(20s) == std::future_status::ready;
  const auto connections_opened = client->stats().connections_opened.load();
  client.reset();
  work.reset();
  client_io.stop();
  client_thread.join();
  ASSERT_TRUE(finished) << "the client coroutine hung";

  ASSERT_TRUE(answer && answer->has_value()) << (answer ? answer->error().message : "no answer");
  EXPECT_EQ(answer->value().status, 200);
  EXPECT_EQ(answer->value().body, "POST hello");
  EXPECT_EQ(answer->value().header("x-tls"), "1");
  EXPECT_EQ(answer->value().header("x-client-subject"), "");

  ASSERT_FALSE(stream_failure) << stream_failure->message;
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0], "data: 0\n\n");
  EXPECT_EQ(pieces[2], "data: 2\n\n");
  // Chunks are flushed as they are written, not buffered until the end of the stream.
  EXPECT_GE(arrivals[2] - arrivals[0], 60ms);
  // Both requests went over one kept-alive TLS connection.
  EXPECT_EQ(connections_opened, 1u);
  EXPECT_EQ(server_->stats().tls_handshake_failures.load(), 0u);
}

TEST_P(ServerTlsTest, PlainListenerOfTheSameServerMarksRequestsAsNotTls) {
  start();
  RawTcpClient client;
  ASSERT_FALSE(client.connect(plain_port_));
  ASSERT_FALSE(client.write(
      "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
  std::string received;
  client.read_until_closed(received, 5s);
  EXPECT_TRUE(received.starts_with("HTTP/1.1 200")) << received;
  EXPECT_NE(received.find("x-tls: 0"), std::string::npos) << received;
}

TEST_P(ServerTlsTest, KeepAliveAndPipeliningOnOneTlsConnection) {
  start();
  auto client = connected_client();
  for (int i = 0; i < 2; ++i) {
    auto answer = client->request(bhttp::verb::post, "/echo", "n" + std::to_string(i));
    ASSERT_FALSE(answer.error) << answer.error.message();
    EXPECT_EQ(answer.response.result_int(), 200);
    EXPECT_EQ(answer.response.body(), "POST n" + std::to_string(i));
    EXPECT_EQ(answer.response["x-tls"], "1");
    EXPECT_TRUE(answer.response.keep_alive());
  }
  const std::string pipelined =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond";
  ASSERT_FALSE(client->write(pipelined));
  EXPECT_EQ(client->read_response().response.body(), "POST first");
  EXPECT_EQ(client->read_response().response.body(), "POST second");
  EXPECT_EQ(server_->stats().connections_accepted.load(), 1u);
  EXPECT_EQ(server_->stats().requests.load(), 4u);
}

TEST_P(ServerTlsTest, TlsOneOneClientIsRefused) {
  start();
  ClientTlsSettings old;
  old.min_version = TLS1_1_VERSION;
  old.max_version = TLS1_1_VERSION;
  auto client = tls_client(old);
  ASSERT_FALSE(client->connect(port_));
  const auto error = client->handshake();
  ASSERT_TRUE(error);
  // The server answered the TLS 1.1 hello with a protocol_version alert: the client did offer it.
  EXPECT_NE(error.message().find("protocol version"), std::string::npos) << error.message();
  EXPECT_TRUE(eventually([&]() { return handshake_failures() == 1; }));
  expect_served();
}

TEST_P(ServerTlsTest, TlsOneTwoGetsAForwardSecretAeadCipherOnly) {
  start();
  ClientTlsSettings tls12;
  tls12.min_version = TLS1_2_VERSION;
  tls12.max_version = TLS1_2_VERSION;
  auto client = connected_client(tls12);
  EXPECT_EQ(client->version(), "TLSv1.2");
  const std::string cipher = client->cipher();
  EXPECT_TRUE(cipher.starts_with("ECDHE-")) << cipher;
  EXPECT_TRUE(cipher.find("-GCM-") != std::string::npos ||
              cipher.find("CHACHA20-POLY1305") != std::string::npos)
      << cipher;
  EXPECT_FALSE(client->request(bhttp::verb::get, "/echo").error);

  // A client offering only CBC suites (still ECDHE) finds nothing in common.
  tls12.tls12_ciphers = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA";
  auto cbc_only = tls_client(tls12);
  ASSERT_FALSE(cbc_only->connect(port_));
  EXPECT_TRUE(cbc_only->handshake());
  EXPECT_TRUE(eventually([&]() { return handshake_failures() == 1; }));

  // TLS 1.3 is the default.
  EXPECT_EQ(connected_client()->version(), "TLSv1.3");
}

TEST_P(ServerTlsTest, PlainHttpOnTheTlsPortFailsTheHandshakeAndTheServerGoesOn) {
  start();
  RawTcpClient plain;
  ASSERT_FALSE(plain.connect(port_));
  ASSERT_FALSE(plain.write("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string received;
  const auto error = plain.read_until_closed(received, 5s);
  EXPECT_NE(error, net::error::timed_out) << "the server did not close the connection";
  EXPECT_FALSE(received.starts_with("HTTP/")) << received;
  EXPECT_TRUE(eventually([&]() { return handshake_failures() == 1; }));
  EXPECT_EQ(server_->stats().requests.load(), 0u);
  expect_served();
}

TEST_P(ServerTlsTest, ClientThatNeverHandshakesIsDroppedAfterTheHeaderTimeout) {
  ServerLimits limits;
  limits.header_timeout = 300ms;
  start(server_tls(), limits);
  RawTcpClient silent;
  ASSERT_FALSE(silent.connect(port_));
  const auto connected = Clock::now();
  // Others are served while the silent one waits.
  expect_served();
  std::string received;
  const auto error = silent.read_until_closed(received, 5s);
  const auto waited = Clock::now() - connected;
  EXPECT_NE(error, net::error::timed_out) << "the silent client was never dropped";
  EXPECT_TRUE(received.empty());
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 4s);
  EXPECT_TRUE(eventually([&]() { return handshake_failures() == 1; }));
  expect_served();
}

TEST_P(ServerTlsTest, ReloadServesTheNewCertificateToNewConnectionsOnly) {
  start();
  auto before = connected_client();
  EXPECT_EQ(before->peer_serial(), 2);
  ASSERT_FALSE(before->request(bhttp::verb::get, "/echo").error);

  TlsSettings renewed;
  renewed.certificate_file = pki().renewed_cert;
  renewed.private_key_file = pki().renewed_key;
  auto reloaded = server_->reload_tls(renewed);
  ASSERT_TRUE(reloaded.has_value()) << reloaded.error();

  auto after = connected_client();
  EXPECT_EQ(after->peer_serial(), 10);
  auto answer = after->request(bhttp::verb::post, "/echo", "new");
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.response.body(), "POST new");

  // The connection from before the reload keeps working, on its own session.
  auto old_answer = before->request(bhttp::verb::post, "/echo", "old");
  ASSERT_FALSE(old_answer.error) << old_answer.error.message();
  EXPECT_EQ(old_answer.response.body(), "POST old");
  EXPECT_EQ(before->peer_serial(), 2);
}

TEST_P(ServerTlsTest, FailedReloadKeepsTheOldCertificate) {
  start();
  TlsSettings mismatched;
  mismatched.certificate_file = pki().renewed_cert;
  mismatched.private_key_file = pki().server_key;
  auto reloaded = server_->reload_tls(mismatched);
  ASSERT_FALSE(reloaded.has_value());
  EXPECT_NE(reloaded.error().find("does not match"), std::string::npos) << reloaded.error();
  EXPECT_NE(reloaded.error().find(pki().server_key), std::string::npos) << reloaded.error();
  EXPECT_NE(reloaded.error().find(pki().renewed_cert), std::string::npos) << reloaded.error();

  TlsSettings missing;
  missing.certificate_file = pki().dir + "/missing.crt";
  missing.private_key_file = pki().server_key;
  reloaded = server_->reload_tls(missing);
  ASSERT_FALSE(reloaded.has_value());
  EXPECT_NE(reloaded.error().find(missing.certificate_file + "': No such file or directory"),
            std::string::npos)
      << reloaded.error();

  EXPECT_EQ(connected_client()->peer_serial(), 2);
  expect_served();
}

TEST_P(ServerTlsTest, ClientCertificateFromTheClientCaIsReported) {
  TlsSettings tls = server_tls();
  tls.client_ca_file = pki().client_ca_file;
  start(tls);
  ClientTlsSettings admin;
  admin.certificate_pem = pki().admin_pem;
  for (const int max_version : {TLS1_2_VERSION, 0}) {
    admin.max_version = max_version;
    auto client = connected_client(admin);
    auto answer = client->request(bhttp::verb::get, "/echo");
    ASSERT_FALSE(answer.error) << answer.error.message();
    EXPECT_EQ(answer.response["x-client-subject"], "CN=hearth-admin") << client->version();
    EXPECT_EQ(answer.response["x-tls"], "1");
  }

  // Public endpoints work without a certificate.
  auto anonymous = connected_client();
  auto answer = anonymous->request(bhttp::verb::get, "/echo");
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.response.result_int(), 200);
  EXPECT_EQ(answer.response["x-client-subject"], "");
  EXPECT_EQ(handshake_failures(), 0u);
}

// A certificate from a CA that client_ca_file does not hold fails the handshake: it is not
// served with an empty subject. Under TLS 1.2 the client sees the failure in the handshake;
// under TLS 1.3 the client's handshake ends before the server has checked its certificate, so it
// sees the server's alert on its first read instead.
TEST_P(ServerTlsTest, ClientCertificateFromAnotherCaFailsTheHandshake) {
  TlsSettings tls = server_tls();
  tls.client_ca_file = pki().client_ca_file;
  start(tls);
  ClientTlsSettings rogue;
  rogue.certificate_pem = pki().rogue_pem;
  uint64_t failures = 0;
  for (const int max_version : {TLS1_2_VERSION, 0}) {
    rogue.max_version = max_version;
    auto client = tls_client(rogue);
    ASSERT_FALSE(client->connect(port_));
    auto error = client->handshake();
    if (!error) {
      EXPECT_EQ(client->version(), "TLSv1.3");
      auto answer = client->request(bhttp::verb::get, "/echo");
      error = answer.error;
    }
    ASSERT_TRUE(error) << "a rogue client certificate was served";
    EXPECT_NE(error.message().find("unknown ca"), std::string::npos) << error.message();
    ++failures;
    EXPECT_TRUE(eventually([&]() { return handshake_failures() == failures; }));
  }
  EXPECT_EQ(server_->stats().requests.load(), 0u);

  ClientTlsSettings admin;
  admin.certificate_pem = pki().admin_pem;
  auto answer = connected_client(admin)->request(bhttp::verb::get, "/echo");
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.response["x-client-subject"], "CN=hearth-admin");
}

TEST_P(ServerTlsTest, NoClientCertificateIsAskedForWithoutAClientCa) {
  start();
  ClientTlsSettings admin;
  admin.certificate_pem = pki().admin_pem;
  auto answer = connected_client(admin)->request(bhttp::verb::get, "/echo");
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.response["x-client-subject"], "");
}

TEST_P(ServerTlsTest, ConnectionCloseEndsWithCloseNotifyAndABoundedShutdown) {
  ServerLimits limits;
  limits.write_timeout = 300ms;  // also bounds the wait for the client's close_notify
  start(server_tls(), limits);
  auto client = connected_client();
  auto answer = client->request(bhttp::verb::post, "/echo", "bye", /*keep_alive=*/false);
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.response.body(), "POST bye");
  EXPECT_FALSE(answer.response.keep_alive());
  // A close_notify ends the TLS stream cleanly (eof), not a bare TCP close (stream_truncated).
  EXPECT_EQ(client->read_until_end(), net::error::eof);
  // The client never answers with its own close_notify: the server closes the TCP connection
  // after its bound.
  const auto started = Clock::now();
  const auto error = client->read_tcp_until_closed(5s);
  EXPECT_NE(error, net::error::timed_out);
  EXPECT_LT(Clock::now() - started, 3s);
}

TEST_P(ServerTlsTest, ClientDisconnectCancelsTheRequestInFlight) {
  start();
  auto seen = cancelled_seen_.get_future();
  auto started = wait_started_.get_future();
  auto client = connected_client();
  ASSERT_FALSE(client->send(bhttp::verb::get, "/wait-for-cancel"));
  ASSERT_EQ(started.wait_for(5s), std::future_status::ready);
  client->close_tcp();
  ASSERT_EQ(seen.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(seen.get());
  expect_served();
}

TEST_P(ServerTlsTest, ProtocolErrorsAreAnsweredOverTls) {
  ServerLimits limits;
  limits.max_body_bytes = 16;
  start(server_tls(), limits);
  auto client = connected_client();
  auto answer = client->request(bhttp::verb::post, "/echo", std::string(100, 'x'));
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.response.result_int(), 413);
  EXPECT_NE(answer.response.body().find("\"code\":\"request_too_large\""), std::string::npos);
  expect_served();
}

TEST_P(ServerTlsTest, TooManyConnectionsClosesTheNewTlsConnection) {
  ServerLimits limits;
  limits.max_connections = 1;
  start(server_tls(), limits);
  auto first = connected_client();
  ASSERT_FALSE(first->request(bhttp::verb::get, "/echo").error);
  auto second = tls_client();
  ASSERT_FALSE(second->connect(port_));
  EXPECT_TRUE(second->handshake());
  EXPECT_EQ(server_->stats().connections_rejected.load(), 1u);
  EXPECT_FALSE(first->request(bhttp::verb::get, "/echo").error);
}

TEST_P(ServerTlsTest, StopClosesOpenTlsConnections) {
  start();
  auto client = connected_client();
  ASSERT_FALSE(client->request(bhttp::verb::get, "/echo").error);
  server_->stop();
  const auto error = client->read_until_end();
  EXPECT_NE(error, net::error::timed_out);
}

INSTANTIATE_TEST_SUITE_P(Modes, ServerTlsTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "SingleThreaded" : "Threaded";
                         });

// ---------------------------------------------------------------------------------------------

class ListenTlsSettings : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new ServerPki(make_pki()); }
  static void TearDownTestSuite() {
    if (!pki_->dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(pki_->dir, ignored);
    }
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pki_->error.empty()) << pki_->error; }

  // listen_tls's error, or "" when it listened.
  std::string listen_error(const TlsSettings& tls) {
    Server server(
        io_, {}, [](const Request&, ResponseWriter&) -> net::awaitable<void> { co_return; },
        error_body);
    auto port = server.listen_tls("127.0.0.1", 0, tls);
    server.stop();
    return port.has_value() ? "" : port.error();
  }

  static ServerPki* pki_;
  net::io_context io_;
};

ServerPki* ListenTlsSettings::pki_ = nullptr;

TEST_F(ListenTlsSettings, UsableFilesListen) {
  const auto& pki = *pki_;
  EXPECT_EQ(listen_error({pki.server_cert, pki.server_key, ""}), "");
  EXPECT_EQ(listen_error({pki.server_bundle, "", ""}), "");  // the key in the certificate file
  EXPECT_EQ(listen_error({pki.server_cert, pki.server_key, pki.client_ca_file}), "");
}

TEST_F(ListenTlsSettings, ErrorsNameTheFileAndTheProblem) {
  const auto& pki = *pki_;
  const auto contains = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };

  EXPECT_EQ(listen_error({"", pki.server_key, ""}), "no TLS certificate file given");

  auto error = listen_error({pki.dir + "/none.crt", pki.server_key, ""});
  EXPECT_TRUE(
      contains(error, "TLS certificate file '" + pki.dir + "/none.crt': No such file or directory"))
      << error;

  error = listen_error({pki.server_cert, pki.dir + "/none.key", ""});
  EXPECT_TRUE(
      contains(error, "TLS private key file '" + pki.dir + "/none.key': No such file or directory"))
      << error;

  error = listen_error({pki.not_pem, pki.server_key, ""});
  EXPECT_TRUE(contains(error, "'" + pki.not_pem + "' does not hold a usable PEM certificate"))
      << error;

  error = listen_error({pki.server_cert, pki.not_pem, ""});
  EXPECT_TRUE(contains(error, "'" + pki.not_pem + "' does not hold a usable PEM private key"))
      << error;

  error = listen_error({pki.server_cert, pki.server_cert, ""});  // a certificate, no key
  EXPECT_TRUE(contains(error, "'" + pki.server_cert + "' does not hold a usable PEM private key"))
      << error;

  error = listen_error({pki.server_cert, pki.renewed_key, ""});
  EXPECT_TRUE(contains(error, "the private key in '" + pki.renewed_key +
                                  "' does not match the certificate in '" + pki.server_cert + "'"))
      << error;

  error = listen_error({pki.server_cert, pki.server_key, pki.not_pem});
  EXPECT_TRUE(contains(
      error, "the TLS client CA file '" + pki.not_pem + "' does not hold a usable PEM certificate"))
      << error;

  error = listen_error({pki.server_cert, pki.server_key, pki.dir + "/none-ca.pem"});
  EXPECT_TRUE(contains(
      error, "TLS client CA file '" + pki.dir + "/none-ca.pem': No such file or directory"))
      << error;
}

TEST_F(ListenTlsSettings, ReloadValidatesWithoutAListener) {
  Server server(
      io_, {}, [](const Request&, ResponseWriter&) -> net::awaitable<void> { co_return; },
      error_body);
  EXPECT_TRUE(server.reload_tls({pki_->server_cert, pki_->server_key, ""}).has_value());
  auto bad = server.reload_tls({pki_->server_cert, pki_->renewed_key, ""});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("does not match"), std::string::npos) << bad.error();
}

}  // namespace
}  // namespace hearth::http
