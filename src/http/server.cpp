#include "http/server.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/container/small_vector.hpp>
#include <cassert>
#include <deque>
#include <filesystem>
#include <optional>
#include <type_traits>
#include <variant>

#include "common/ascii.hpp"

namespace hearth::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using net::use_awaitable;

std::string_view Request::header(std::string_view name) const {
  // Stored names are lower case already (to_request): only the name asked for is folded.
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(),
                   [](char stored, char asked) { return stored == ascii_lower(asked); })) {
      return value;
    }
  }
  return {};
}

namespace {

using Clock = std::chrono::steady_clock;

// 1xx, 204 and 304 answers have no body and no length (RFC 9110 8.6).
constexpr bool has_no_body(int status) {
  return status / 100 == 1 || status == 204 || status == 304;
}

// A whole response's status line and header, as Beast's serializer of a message built with
// set() and prepare_payload() writes it, rendered directly: building the message costs an
// allocation per header and serializing it thousands of instructions, on every answer the
// gateway and the workers send. A later header replaces an earlier one of the same name (set()'s
// rule); the length and the connection's fate are the server's own. A header whose name or
// value holds CR or LF is left out: it would end the header early.
std::string response_head(int status, std::string_view content_type, const Headers& extra,
                          bool keep_alive, std::size_t body_size) {
  using Field = std::pair<std::string_view, std::string_view>;
  boost::container::small_vector<Field, 16> fields;
  const auto set = [&fields](std::string_view name, std::string_view value) {
    if (name.empty() || has_line_break(name) || name.find(':') != std::string_view::npos ||
        has_line_break(value)) {
      return;
    }
    fields.erase(
        std::remove_if(fields.begin(), fields.end(),
                       [name](const Field& field) { return ascii_iequals(field.first, name); }),
        fields.end());
    fields.emplace_back(name, value);
  };
  set("Content-Type", content_type);
  set("Server", "hearth");
  for (const auto& [name, value] : extra) {
    if (ascii_iequals(name, "content-length") || ascii_iequals(name, "transfer-encoding") ||
        ascii_iequals(name, "connection")) {
      continue;
    }
    set(name, value);
  }
  std::string head;
  head.reserve(128 + 64 * fields.size());
  head += "HTTP/1.1 ";
  const int code = status >= 100 && status <= 999 ? status : 500;
  head += static_cast<char>('0' + code / 100);
  head += static_cast<char>('0' + code / 10 % 10);
  head += static_cast<char>('0' + code % 10);
  head += ' ';
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(code));
  head.append(reason.data(), reason.size());
  head += "\r\n";
  for (const auto& [name, value] : fields) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (!has_no_body(code)) {
    head += "Content-Length: ";
    head += std::to_string(body_size);
    head += "\r\n";
  }
  if (!keep_alive) {
    head += "Connection: close\r\n";
  }
  head += "\r\n";
  return head;
}

// What one read from a client takes at most, once the connection's first read begins.
constexpr std::size_t kReadBufferBytes = 4096;

// What the reader hands the responder: a parsed request, or an error to answer before closing.
struct ProtocolError {
  int status;
  std::string message;
  std::string code;
};
using Incoming = std::variant<Request, ProtocolError>;

Request to_request(bhttp::request<bhttp::string_body>&& message) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  const auto question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) {
    request.query = request.target.substr(question + 1);
  }
  request.keep_alive = message.keep_alive();
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (auto& c : name) {
      c = ascii_lower(c);
    }
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  request.body = std::move(message.body());
  return request;
}

using TlsSocket = beast::ssl_stream<net::ip::tcp::socket>;

template <class Socket>
inline constexpr bool kIsTlsSocket = false;
template <class NextLayer>
inline constexpr bool kIsTlsSocket<beast::ssl_stream<NextLayer>> = true;

// How long a closing TLS connection waits for the peer's close_notify (at most write_timeout).
constexpr std::chrono::milliseconds kTlsShutdownTimeout{2'000};

// TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are all of that kind already.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// What OpenSSL's error queue says went wrong (its reasons, oldest first), emptying it.
struct OpenSslFailure {
  std::string reasons;
  bool key_mismatch = false;
};
OpenSslFailure take_openssl_failure() {
  OpenSslFailure failure;
  while (const unsigned long code = ERR_get_error()) {
    if (ERR_GET_LIB(code) == ERR_LIB_X509 && (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH ||
                                              ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH)) {
      failure.key_mismatch = true;
    }
    const char* reason = ERR_reason_error_string(code);
    const std::string text = reason ? reason : "error " + std::to_string(ERR_GET_REASON(code));
    if (failure.reasons.find(text) == std::string::npos) {
      failure.reasons += (failure.reasons.empty() ? "" : "; ") + text;
    }
  }
  if (failure.reasons.empty()) {
    failure.reasons = "unknown OpenSSL error";
  }
  return failure;
}

// OpenSSL's reason for a file it cannot open is terse; the system's says more.
std::optional<std::string> unreadable(const std::string& what, const std::string& path) {
  if (::access(path.c_str(), R_OK) == 0) {
    return std::nullopt;
  }
  const std::error_code reason(errno, std::system_category());
  return "cannot read the " + what + " '" + path + "': " + reason.message();
}

Expected<std::shared_ptr<ssl::context>, std::string> make_tls_context(const TlsSettings& tls) {
  if (tls.certificate_file.empty()) {
    return unexpected(std::string("no TLS certificate file given"));
  }
  const std::string& key_file =
      tls.private_key_file.empty() ? tls.certificate_file : tls.private_key_file;
  if (auto failure = unreadable("TLS certificate file", tls.certificate_file)) {
    return unexpected(*failure);
  }
  if (auto failure = unreadable("TLS private key file", key_file)) {
    return unexpected(*failure);
  }
  if (!tls.client_ca_file.empty()) {
    if (auto failure = unreadable("TLS client CA file", tls.client_ca_file)) {
      return unexpected(*failure);
    }
  }
  std::shared_ptr<ssl::context> context;
  try {
    context = std::make_shared<ssl::context>(ssl::context::tls_server);
  } catch (const boost::system::system_error& error) {
    return unexpected("cannot create a TLS context: " + std::string(error.what()));
  }
  SSL_CTX* native = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Sessions resumed with a client certificate need an id context, or resumption fails.
  static constexpr unsigned char kSessionContext[] = "hearth";
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1 ||
      SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1) != 1) {
    return unexpected("cannot set up the TLS context: " + take_openssl_failure().reasons);
  }
  if (SSL_CTX_use_certificate_chain_file(native, tls.certificate_file.c_str()) != 1) {
    return unexpected(
        "the TLS certificate file '" + tls.certificate_file +
        "' does not hold a usable PEM certificate: " + take_openssl_failure().reasons);
  }
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    auto failure = take_openssl_failure();
    if (failure.key_mismatch) {
      return unexpected("the private key in '" + key_file +
                        "' does not match the certificate in '" + tls.certificate_file + "'");
    }
    return unexpected("the TLS private key file '" + key_file +
                      "' does not hold a usable PEM private key: " + failure.reasons);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return unexpected("the private key in '" + key_file + "' does not match the certificate in '" +
                      tls.certificate_file + "': " + take_openssl_failure().reasons);
  }
  if (!tls.client_ca_file.empty()) {
    // Verified against the file's CAs, which are also named to the client so that it can pick
    // its certificate. No certificate at all is fine: the routes decide what needs one.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr ||
        SSL_CTX_load_verify_locations(native, tls.client_ca_file.c_str(), nullptr) != 1) {
      if (names != nullptr) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
      }
      return unexpected(
          "the TLS client CA file '" + tls.client_ca_file +
          "' does not hold a usable PEM certificate: " + take_openssl_failure().reasons);
    }
    SSL_CTX_set_client_CA_list(native, names);
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  }
  ERR_clear_error();
  return context;
}

// The subject of the peer's certificate if it presented one and it verified, else "".
std::string verified_peer_subject(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) {
    return {};
  }
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) {
    return {};
  }
  std::string subject;
  if (X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    if (size > 0 && data != nullptr) {
      subject.assign(data, static_cast<std::size_t>(size));
    }
  }
  BIO_free(bio);
  return subject;
}

}  // namespace

struct ConnectionBase {
  virtual ~ConnectionBase() = default;
  virtual void shutdown() = 0;
};

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  net::io_context& io_context;
  ServerLimits limits;
  Handler handler;
  ErrorBodyFormatter error_body;
  ServerStats stats;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::vector<std::function<void()>> stop_actions;  // close acceptors
  std::vector<std::weak_ptr<ConnectionBase>> connections;
  std::shared_ptr<ssl::context> tls_context;  // for connections accepted from now on

  Impl(net::io_context& context, ServerLimits server_limits, Handler request_handler,
       ErrorBodyFormatter formatter)
      : io_context(context),
        limits(server_limits),
        handler(std::move(request_handler)),
        error_body(std::move(formatter)) {}

  template <class Socket>
  class Connection;

  template <class Acceptor>
  net::awaitable<void> accept_loop(std::shared_ptr<Acceptor> acceptor, bool tls);
  template <class Socket>
  void adopt(std::shared_ptr<Connection<Socket>> connection);
  Expected<unsigned short, std::string> listen_on_tcp(const std::string& host, unsigned short port,
                                                      bool tls);
  std::shared_ptr<ssl::context> current_tls_context() {
    std::lock_guard lock(mutex);
    return tls_context;
  }
};

template <class Socket>
class Server::Impl::Connection : public ResponseWriter,
                                 public ConnectionBase,
                                 public std::enable_shared_from_this<Connection<Socket>> {
 public:
  // tls_context: the context a TLS socket was made with, kept alive as long as the socket.
  Connection(std::shared_ptr<Impl> server, Socket socket,
             std::shared_ptr<ssl::context> tls_context = nullptr)
      : server_(std::move(server)),
        tls_context_(std::move(tls_context)),
        socket_(std::move(socket)),
        wakeup_(socket_.get_executor()),
        watchdog_(socket_.get_executor()) {
    wakeup_.expires_at(Clock::time_point::max());
    watchdog_.expires_at(Clock::time_point::max());
  }

  void start() {
    auto self = this->shared_from_this();
    net::co_spawn(
        socket_.get_executor(), [self]() { return self->read_loop(); }, net::detached);
    net::co_spawn(
        socket_.get_executor(), [self]() { return self->respond_loop(); }, net::detached);
    net::co_spawn(
        socket_.get_executor(), [self]() { return self->watch(); }, net::detached);
  }

  // Called from any thread at server stop.
  void shutdown() override {
    auto self = this->shared_from_this();
    net::post(socket_.get_executor(), [self]() { self->close(); });
  }

  net::awaitable<bool> send(int status, std::string_view content_type, std::string body,
                            const Headers& extra_headers) override {
    if (responded_ || closed_) {
      co_return false;
    }
    responded_ = true;
    assert((!has_no_body(status) || body.empty()) && "1xx, 204 and 304 answers have no body");
    if (has_no_body(status)) {
      body.clear();
    }
    const std::string head =
        response_head(status, content_type, extra_headers, keep_alive_, body.size());
    const std::array<net::const_buffer, 2> buffers = {net::buffer(head), net::buffer(body)};
    error_code error;
    arm_write_deadline();
    co_await net::async_write(socket_, buffers, net::redirect_error(use_awaitable, error));
    disarm_write_deadline();
    if (error) {
      close();
      co_return false;
    }
    co_return true;
  }

  net::awaitable<bool> begin_stream(int status, std::string_view content_type,
                                    const Headers& extra_headers) override {
    if (responded_ || closed_) {
      co_return false;
    }
    responded_ = true;
    streaming_ = true;
    bhttp::response<bhttp::empty_body> response{static_cast<bhttp::status>(status), 11};
    response.set(bhttp::field::content_type,
                 beast::string_view(content_type.data(), content_type.size()));
    response.set(bhttp::field::server, "hearth");
    response.set(bhttp::field::cache_control, "no-cache");
    for (const auto& [name, value] : extra_headers) {
      response.set(name, value);
    }
    response.keep_alive(keep_alive_);
    response.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer{response};
    error_code error;
    arm_write_deadline();
    co_await bhttp::async_write_header(socket_, serializer,
                                       net::redirect_error(use_awaitable, error));
    disarm_write_deadline();
    if (error) {
      close();
      co_return false;
    }
    co_return true;
  }

  net::awaitable<bool> write_chunk(std::string_view data) override {
    if (!streaming_ || closed_) {
      co_return false;
    }
    if (data.empty()) {
      co_return true;  // an empty chunk would end the chunked body
    }
    error_code error;
    arm_write_deadline();
    co_await net::async_write(socket_, bhttp::make_chunk(net::buffer(data.data(), data.size())),
                              net::redirect_error(use_awaitable, error));
    disarm_write_deadline();
    if (error) {
      close();
      co_return false;
    }
    co_return true;
  }

  net::awaitable<bool> end_stream() override {
    if (!streaming_ || closed_) {
      co_return false;
    }
    streaming_ = false;
    error_code error;
    arm_write_deadline();
    co_await net::async_write(socket_, bhttp::make_chunk_last(),
                              net::redirect_error(use_awaitable, error));
    disarm_write_deadline();
    if (error) {
      close();
      co_return false;
    }
    co_return true;
  }

  bool responded() const override { return responded_; }
  CancellationToken cancellation() const override { return current_cancellation_; }

 private:
  net::awaitable<void> read_loop() {
    if constexpr (kIsTlsSocket<Socket>) {
      if (!co_await handshake()) {
        reader_done_ = true;
        wake();
        co_return;
      }
    }
    beast::flat_buffer& buffer = buffer_;
    // Beast reads as much as the buffer's free capacity and never less than 512 bytes: an empty
    // buffer would take a few-kilobyte chat request in 512-byte reads. Idle connections cost
    // these bytes each (4 MB for 1,000), well within the memory target.
    buffer.reserve(kReadBufferBytes);
    bool first = true;
    while (!closed_ && !stop_reading_) {
      if (incoming_.size() >= server_->limits.max_pipelined_requests) {
        // Backpressure: wait for the responder to drain before reading further ahead.
        co_await wait_for_wakeup();
        continue;
      }
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(server_->limits.max_header_bytes));
      parser.body_limit(server_->limits.max_body_bytes);
      error_code error;
      waiting_for_header_ = true;
      arm_header_deadline(first);
      co_await bhttp::async_read_header(socket_, buffer, parser,
                                        net::redirect_error(use_awaitable, error));
      if (!error) {
        waiting_for_header_ = false;
        read_deadline_ = Clock::now() + server_->limits.body_timeout;
        poke_watchdog();
        co_await bhttp::async_read(socket_, buffer, parser,
                                   net::redirect_error(use_awaitable, error));
      }
      read_deadline_ = Clock::time_point::max();
      waiting_for_header_ = false;
      first = false;
      if (error) {
        on_read_error(error);
        co_return;
      }
      server_->stats.requests.fetch_add(1, std::memory_order_relaxed);
      Request request = to_request(parser.release());
      request.tls = kIsTlsSocket<Socket>;
      request.client_certificate_subject = client_certificate_subject_;
      incoming_.emplace_back(std::move(request));
      wake();
    }
    reader_done_ = true;
    wake();
  }

  // Within the header timeout, like the wait for a first request. A failure closes only this
  // connection.
  net::awaitable<bool> handshake() {
    read_deadline_ = Clock::now() + server_->limits.header_timeout;
    poke_watchdog();
    error_code error;
    co_await socket_.async_handshake(ssl::stream_base::server,
                                     net::redirect_error(use_awaitable, error));
    read_deadline_ = Clock::time_point::max();
    if (error || closed_) {
      if (!server_->stopping.load()) {
        server_->stats.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      }
      close();
      co_return false;
    }
    handshake_done_ = true;
    client_certificate_subject_ = verified_peer_subject(socket_.native_handle());
    co_return true;
  }

  void on_read_error(const error_code& error) {
    reader_done_ = true;
    // Over TLS, any TLS-level failure (a peer that closed without close_notify, a corrupt
    // record) leaves nothing to answer on.
    if (error == bhttp::error::end_of_stream || error == net::error::eof ||
        error == net::error::connection_reset || error == net::error::operation_aborted ||
        error == net::error::bad_descriptor || error == ssl::error::stream_truncated ||
        error.category() == net::error::get_ssl_category()) {
      // The peer went away (or we closed): whatever it asked for is moot.
      peer_gone_ = true;
      current_cancellation_.cancel();
      wake();
      return;
    }
    server_->stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    if (error == bhttp::error::body_limit) {
      incoming_.emplace_back(ProtocolError{413,
                                           "Request body exceeds the limit of " +
                                               std::to_string(server_->limits.max_body_bytes) +
                                               " bytes",
                                           "request_too_large"});
    } else if (error == bhttp::error::header_limit) {
      incoming_.emplace_back(
          ProtocolError{431, "Request headers are too large", "request_header_fields_too_large"});
    } else {
      incoming_.emplace_back(
          ProtocolError{400, "Malformed HTTP request: " + error.message(), "bad_request"});
    }
    wake();
  }

  net::awaitable<void> respond_loop() {
    while (!closed_) {
      if (incoming_.empty()) {
        if (reader_done_) {
          break;
        }
        co_await wait_for_wakeup();
        continue;
      }
      Incoming item = std::move(incoming_.front());
      incoming_.pop_front();
      wake();  // the reader may be waiting on backpressure
      responded_ = false;
      streaming_ = false;
      if (auto* protocol_error = std::get_if<ProtocolError>(&item)) {
        keep_alive_ = false;
        co_await send(protocol_error->status, "application/json",
                      server_->error_body(protocol_error->status, protocol_error->message,
                                          protocol_error->code),
                      {});
        break;
      }
      Request& request = std::get<Request>(item);
      keep_alive_ = request.keep_alive && !server_->stopping.load();
      current_cancellation_ = CancellationToken();
      if (peer_gone_) {
        break;
      }
      // No idle deadline while a request runs: a long generation is not an idle connection.
      responding_ = true;
      if (waiting_for_header_) {
        read_deadline_ = Clock::time_point::max();
        poke_watchdog();
      }
      co_await server_->handler(request, *this);
      responding_ = false;
      if (waiting_for_header_ && incoming_.empty()) {
        arm_header_deadline(false);
      }
      if (!responded_ && peer_gone_) {
        break;  // nobody to answer
      }
      if (!responded_) {
        co_await send(
            500, "application/json",
            server_->error_body(500, "The handler produced no response", "internal_error"), {});
      } else if (streaming_) {
        co_await end_stream();
      }
      if (!keep_alive_ || closed_) {
        break;
      }
    }
    co_await say_goodbye();
    close();
  }

  // Over TLS, a connection the server ends on purpose ends with a close_notify alert, so that
  // the peer can tell a complete answer from a cut one. The peer's own alert is awaited only
  // briefly: many clients just close. Connections that failed or whose peer went away are only
  // closed.
  net::awaitable<void> say_goodbye() {
    if constexpr (kIsTlsSocket<Socket>) {
      if (closed_ || !handshake_done_ || peer_gone_) {
        co_return;
      }
      // The shutdown reads and writes the TLS stream itself: the reader has to leave it first.
      stop_reading_ = true;
      error_code ignored;
      beast::get_lowest_layer(socket_).cancel(ignored);
      wake();
      while (!reader_done_ && !closed_) {
        co_await wait_for_wakeup();
      }
      if (closed_) {
        co_return;
      }
      read_deadline_ = Clock::time_point::max();
      write_deadline_ = Clock::now() + std::min<std::chrono::milliseconds>(
                                           server_->limits.write_timeout, kTlsShutdownTimeout);
      poke_watchdog();
      error_code error;
      co_await socket_.async_shutdown(net::redirect_error(use_awaitable, error));
      disarm_write_deadline();
    }
  }

  // Closes the socket when a read or write deadline passes.
  net::awaitable<void> watch() {
    while (!closed_) {
      const auto deadline = std::min(read_deadline_, write_deadline_);
      watchdog_.expires_at(deadline);
      error_code error;
      co_await watchdog_.async_wait(net::redirect_error(use_awaitable, error));
      if (closed_) {
        break;
      }
      if (!error && Clock::now() >= std::min(read_deadline_, write_deadline_)) {
        close();
      }
    }
  }

  net::awaitable<void> wait_for_wakeup() {
    error_code error;
    wakeup_.expires_at(Clock::time_point::max());
    co_await wakeup_.async_wait(net::redirect_error(use_awaitable, error));
  }
  void wake() { wakeup_.cancel(); }
  // The wait for the next request's header: bounded only while nothing is being answered.
  void arm_header_deadline(bool first_request) {
    if (responding_ || !incoming_.empty()) {
      read_deadline_ = Clock::time_point::max();
    } else {
      read_deadline_ = Clock::now() + (first_request ? server_->limits.header_timeout
                                                     : std::max(server_->limits.idle_timeout,
                                                                server_->limits.header_timeout));
    }
    poke_watchdog();
  }
  void poke_watchdog() { watchdog_.cancel(); }
  void arm_write_deadline() {
    write_deadline_ = Clock::now() + server_->limits.write_timeout;
    poke_watchdog();
  }
  void disarm_write_deadline() { write_deadline_ = Clock::time_point::max(); }

  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    current_cancellation_.cancel();
    // Over TLS too, the TCP socket is just closed: close() comes after the close_notify exchange
    // (say_goodbye) or instead of it (an error, a timeout, the server stopping).
    auto& lowest = beast::get_lowest_layer(socket_);
    using Lowest = std::remove_reference_t<decltype(lowest)>;
    error_code ignored;
    lowest.shutdown(Lowest::shutdown_both, ignored);
    lowest.close(ignored);
    wakeup_.cancel();
    watchdog_.cancel();
  }

  std::shared_ptr<Impl> server_;
  std::shared_ptr<ssl::context> tls_context_;  // declared before socket_: outlives its SSL
  Socket socket_;
  beast::flat_buffer buffer_;
  net::steady_timer wakeup_;
  net::steady_timer watchdog_;
  std::deque<Incoming> incoming_;
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  CancellationToken current_cancellation_;
  bool reader_done_ = false;
  bool waiting_for_header_ = false;
  bool responding_ = false;
  bool peer_gone_ = false;
  bool closed_ = false;
  bool responded_ = false;
  bool streaming_ = false;
  bool keep_alive_ = true;
  bool handshake_done_ = false;
  bool stop_reading_ = false;
  std::string client_certificate_subject_;

 public:
  ~Connection() override { server_->stats.connections_open.fetch_sub(1); }
};

template <class Socket>
void Server::Impl::adopt(std::shared_ptr<Connection<Socket>> connection) {
  {
    std::lock_guard lock(mutex);
    // Forget connections that have ended, so a long-lived server does not grow this list.
    if (connections.size() >= 2 * limits.max_connections) {
      std::erase_if(connections, [](const auto& weak) { return weak.expired(); });
    }
    connections.push_back(connection);
  }
  connection->start();
}

template <class Acceptor>
net::awaitable<void> Server::Impl::accept_loop(std::shared_ptr<Acceptor> acceptor, bool tls) {
  using Socket = typename Acceptor::protocol_type::socket;
  while (!stopping.load()) {
    // A connection's coroutines (reader, responder, watchdog) share its socket: with several
    // threads running the io_context they need a strand; with one they already take turns.
    Socket socket(limits.single_threaded ? net::any_io_executor(io_context.get_executor())
                                         : net::any_io_executor(net::make_strand(io_context)));
    error_code error;
    co_await acceptor->async_accept(socket, net::redirect_error(use_awaitable, error));
    if (error) {
      if (error == net::error::operation_aborted || stopping.load()) {
        co_return;
      }
      continue;  // EMFILE and friends: keep accepting
    }
    stats.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    if constexpr (std::is_same_v<typename Acceptor::protocol_type, net::ip::tcp>) {
      // Streamed answers are many small writes: with Nagle's algorithm each one waits for the
      // peer's (delayed, up to 40 ms) ACK of the previous, and tokens arrive in bursts.
      error_code ignored;
      socket.set_option(net::ip::tcp::no_delay(true), ignored);
    }
    if (static_cast<std::size_t>(stats.connections_open.load()) >= limits.max_connections) {
      stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      if (tls) {
        // A plain-text answer means nothing to a TLS client, and a handshake costs what an
        // overloaded server lacks: the connection is closed.
        error_code ignored;
        socket.shutdown(Socket::shutdown_both, ignored);
        socket.close(ignored);
        continue;
      }
      // Answer in the error shape rather than dropping the connection silently.
      auto body = error_body(503, "Too many connections", "too_many_connections");
      auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
          bhttp::status::service_unavailable, 11);
      response->set(bhttp::field::content_type, "application/json");
      response->set(bhttp::field::retry_after, "1");
      response->keep_alive(false);
      response->body() = std::move(body);
      response->prepare_payload();
      auto shared_socket = std::make_shared<Socket>(std::move(socket));
      bhttp::async_write(*shared_socket, *response,
                         [shared_socket, response](error_code, std::size_t) {
                           error_code ignored;
                           shared_socket->shutdown(Socket::shutdown_both, ignored);
                         });
      continue;
    }
    stats.connections_open.fetch_add(1);
    if constexpr (std::is_same_v<typename Acceptor::protocol_type, net::ip::tcp>) {
      if (tls) {
        auto context = current_tls_context();
        assert(context && "a TLS listener runs only once a TLS context is set");
        TlsSocket stream(std::move(socket), *context);
        adopt(std::make_shared<Connection<TlsSocket>>(shared_from_this(), std::move(stream),
                                                      std::move(context)));
        continue;
      }
    }
    adopt(std::make_shared<Connection<Socket>>(shared_from_this(), std::move(socket)));
  }
}

Server::Server(net::io_context& io_context, ServerLimits limits, Handler handler,
               ErrorBodyFormatter error_body)
    : impl_(std::make_shared<Impl>(io_context, limits, std::move(handler), std::move(error_body))) {
}

Server::~Server() { stop(); }

Expected<unsigned short, std::string> Server::listen_tcp(const std::string& host,
                                                         unsigned short port) {
  return impl_->listen_on_tcp(host, port, /*tls=*/false);
}

Expected<unsigned short, std::string> Server::listen_tls(const std::string& host,
                                                         unsigned short port,
                                                         const TlsSettings& tls) {
  auto context = make_tls_context(tls);
  if (!context) {
    return unexpected(context.error());
  }
  auto ours = std::move(context.value());
  std::shared_ptr<ssl::context> previous;
  {
    std::lock_guard lock(impl_->mutex);
    previous = std::exchange(impl_->tls_context, ours);
  }
  auto bound = impl_->listen_on_tcp(host, port, /*tls=*/true);
  if (!bound) {
    std::lock_guard lock(impl_->mutex);
    if (impl_->tls_context == ours) {
      impl_->tls_context = std::move(previous);
    }
  }
  return bound;
}

Expected<std::monostate, std::string> Server::reload_tls(const TlsSettings& tls) {
  auto context = make_tls_context(tls);
  if (!context) {
    return unexpected(context.error());
  }
  std::lock_guard lock(impl_->mutex);
  impl_->tls_context = std::move(context.value());
  return std::monostate{};
}

Expected<unsigned short, std::string> Server::Impl::listen_on_tcp(const std::string& host,
                                                                  unsigned short port, bool tls) {
  error_code error;
  auto address = net::ip::make_address(host, error);
  if (error) {
    return unexpected("invalid listen address '" + host + "': " + error.message());
  }
  auto acceptor = std::make_shared<net::ip::tcp::acceptor>(io_context);
  net::ip::tcp::endpoint endpoint(address, port);
  acceptor->open(endpoint.protocol(), error);
  if (!error) {
    acceptor->set_option(net::socket_base::reuse_address(true), error);
  }
  if (!error) {
    acceptor->bind(endpoint, error);
  }
  if (!error) {
    acceptor->listen(net::socket_base::max_listen_connections, error);
  }
  if (error) {
    return unexpected("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                      error.message());
  }
  const auto bound_port = acceptor->local_endpoint().port();
  {
    std::lock_guard lock(mutex);
    stop_actions.emplace_back([acceptor]() {
      error_code ignored;
      acceptor->close(ignored);
    });
  }
  net::co_spawn(io_context, accept_loop(acceptor, tls), net::detached);
  return bound_port;
}

Expected<std::monostate, std::string> Server::listen_unix(const std::string& path) {
  std::error_code filesystem_error;
  std::filesystem::remove(path, filesystem_error);
  auto acceptor = std::make_shared<net::local::stream_protocol::acceptor>(impl_->io_context);
  error_code error;
  net::local::stream_protocol::endpoint endpoint(path);
  acceptor->open(endpoint.protocol(), error);
  if (!error) {
    acceptor->bind(endpoint, error);
  }
  if (!error) {
    acceptor->listen(net::socket_base::max_listen_connections, error);
  }
  if (error) {
    return unexpected("cannot listen on unix socket " + path + ": " + error.message());
  }
  ::chmod(path.c_str(), 0600);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop_actions.emplace_back([acceptor, path]() {
      error_code ignored;
      acceptor->close(ignored);
      std::error_code remove_error;
      std::filesystem::remove(path, remove_error);
    });
  }
  net::co_spawn(impl_->io_context, impl_->accept_loop(acceptor, /*tls=*/false), net::detached);
  return std::monostate{};
}

void Server::stop_accepting() {
  std::vector<std::function<void()>> actions;
  {
    std::lock_guard lock(impl_->mutex);
    actions.swap(impl_->stop_actions);
  }
  for (auto& action : actions) {
    action();
  }
}

void Server::stop() {
  if (impl_->stopping.exchange(true)) {
    return;
  }
  stop_accepting();
  std::vector<std::weak_ptr<ConnectionBase>> connections;
  {
    std::lock_guard lock(impl_->mutex);
    connections.swap(impl_->connections);
  }
  for (auto& weak : connections) {
    if (auto connection = weak.lock()) {
      connection->shutdown();
    }
  }
}

const ServerStats& Server::stats() const { return impl_->stats; }

Expected<std::pair<std::string, unsigned short>, std::string> parse_listen_address(
    const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return unexpected("a listen address is HOST:PORT, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    const int port = std::stoi(listen.substr(colon + 1));
    if (port < 0 || port > 65535) {
      throw std::out_of_range("port");
    }
    return std::make_pair(host, static_cast<unsigned short>(port));
  } catch (const std::exception&) {
    return unexpected("invalid port in listen address '" + listen + "'");
  }
}

}  // namespace hearth::http
