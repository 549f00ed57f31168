#include "http/client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
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
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/ascii.hpp"

namespace hearth::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {

using Clock = std::chrono::steady_clock;
// A request rendered once, written as it is on every attempt: the request line and header as
// Beast's serializer would write them, and the body. Rendering it directly saves an allocation
// per header and the serializer's thousands of instructions on every request the gateway sends.
struct RequestMessage {
  std::string head;
  std::string body;
};
using ResponseParser = bhttp::response_parser<bhttp::buffer_body>;

constexpr std::size_t kBodyPieceBytes = 64 * 1024;

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && ascii_iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (ascii_iequals(key, name)) {
      return value;
    }
  }
  return {};
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (auto& c : result) {
    c = ascii_lower(c);
  }
  return result;
}

// now + limit without overflowing for "practically infinite" limits.
Clock::time_point deadline_after(Clock::time_point now, std::chrono::milliseconds limit) {
  if (limit.count() <= 0) {
    return now;
  }
  const auto room =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  return limit >= room ? Clock::time_point::max() : now + limit;
}

// The deadline of one step: its own limit, or the whole exchange's if that comes first.
struct Deadline {
  Clock::time_point at = Clock::time_point::max();
  std::string_view name;  // "connect", "first-byte", "idle" or "total"
  std::chrono::milliseconds limit{0};

  std::string describe() const {
    return "the " + std::string(name) + " timeout of " + std::to_string(limit.count()) +
           " ms expired";
  }
};

Deadline step_deadline(std::string_view name, std::chrono::milliseconds limit,
                       Clock::time_point total_at, std::chrono::milliseconds total) {
  const auto step_at = deadline_after(Clock::now(), limit);
  if (total_at <= step_at) {
    return Deadline{total_at, "total", total};
  }
  return Deadline{step_at, name, limit};
}

ClientError make_error(ClientError::Kind kind, std::string message, bool response_started) {
  ClientError error;
  error.kind = kind;
  error.message = std::move(message);
  error.response_started = response_started;
  return error;
}

constexpr unsigned short kHttpsPort = 443;

// The host as a URL spells it: an IPv6 address in brackets.
std::string url_host(const Endpoint& endpoint) {
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  return ipv6 ? "[" + endpoint.host + "]" : endpoint.host;
}

std::string authority(const Endpoint& endpoint) {
  return url_host(endpoint) + ":" + std::to_string(endpoint.port);
}

std::string host_header(const Endpoint& endpoint) {
  if (endpoint.kind == Endpoint::Kind::unix_socket) {
    return "localhost";
  }
  // Cloud providers' front ends, and request signatures computed over the Host header, expect
  // the bare name for https on its default port, as browsers and curl send it.
  if (endpoint.kind == Endpoint::Kind::tls && endpoint.port == kHttpsPort) {
    return url_host(endpoint);
  }
  return authority(endpoint);
}

bool is_ip_address(const std::string& host) {
  error_code error;
  net::ip::make_address(host, error);
  return !error;
}

bool is_hop_header(std::string_view name) {
  return ascii_iequals(name, "host") || ascii_iequals(name, "content-length") ||
         ascii_iequals(name, "connection") || ascii_iequals(name, "transfer-encoding") ||
         ascii_iequals(name, "keep-alive");
}

RequestMessage build_request(const Endpoint& endpoint, const std::string& host,
                             ClientRequest request) {
  RequestMessage message;
  std::string& head = message.head;
  head.reserve(128 + request.target.size() + endpoint.path_prefix.size() +
               64 * request.headers.size());
  head += request.method;
  head += ' ';
  head += endpoint.path_prefix;
  head += request.target.empty() ? std::string_view("/") : std::string_view(request.target);
  head += " HTTP/1.1\r\n";
  for (const auto& [name, value] : request.headers) {
    // CR or LF in a forwarded header would let its sender inject headers of its own.
    const bool injectable =
        has_line_break(name) || name.find(':') != std::string::npos || has_line_break(value);
    if (name.empty() || injectable || is_hop_header(name)) {
      continue;
    }
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  head += "Host: ";
  head += host;
  head += "\r\n";
  // As Beast's prepare_payload(): a length for any body, and for the methods that carry one.
  if (!request.body.empty() || ascii_iequals(request.method, "POST") ||
      ascii_iequals(request.method, "PUT") || ascii_iequals(request.method, "OPTIONS")) {
    head += "Content-Length: ";
    head += std::to_string(request.body.size());
    head += "\r\n";
  }
  head += "\r\n";
  message.body = std::move(request.body);
  return message;
}

bool is_beast_http_error(const error_code& error) {
  static const auto& category = bhttp::make_error_code(bhttp::error::bad_version).category();
  return &error.category() == &category;
}

// What a pooled connection closed by the peer while idle looks like when it is used again. Over
// TLS, a peer that closed without a close_notify alert reads as a truncated stream.
bool is_stale_connection_error(const error_code& error) {
  return error == bhttp::error::end_of_stream || error == net::error::eof ||
         error == net::error::connection_reset || error == net::error::broken_pipe ||
         error == net::error::connection_aborted || error == ssl::error::stream_truncated;
}

struct ExchangeState;

// What the connection-side steps hand back. Default-constructible: co_spawn needs that.
struct StartResult {
  std::optional<ClientError> error;
  bool retry_on_fresh_connection = false;
};
struct PieceResult {
  std::optional<ClientError> error;
  std::optional<std::string> piece;
  bool done = false;
};

// What one read from an upstream takes at most (a stream's events that arrived together are
// relayed together).
constexpr std::size_t kReadBufferBytes = 16 * 1024;

// One connection to the endpoint. Everything that touches the socket, the read buffer or the
// timer runs on the connection's executor: its own strand, reached from other executors through
// co_spawn (the steps) or post (close, cancel); or, for a single-threaded client, the client's
// executor, whose one thread also runs the steps inline. Used by one request at a time.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(const net::any_io_executor& executor, const Endpoint& endpoint, bool single_threaded)
      : executor_(single_threaded ? executor : net::any_io_executor(net::make_strand(executor))),
        endpoint_(endpoint),
        timer_(executor_) {
    // Beast reads as much as the buffer's free capacity and never less than 512 bytes: an empty
    // buffer would read a streamed answer 512 bytes at a time, each piece relayed with its own
    // write to the client.
    buffer_.reserve(kReadBufferBytes);
  }
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const net::any_io_executor& executor() const { return executor_; }
  // Any thread: false once the connection was closed for good.
  bool usable() const { return open_.load(std::memory_order_acquire); }

  // Any thread. Each request gets a fresh id, so a cancellation arriving late for an earlier
  // request on this connection finds a different id and is ignored.
  std::uint64_t lease() { return ++request_id_; }
  void end_lease() { ++request_id_; }

  // Any thread.
  void cancel(std::uint64_t id) {
    net::post(executor_, [self = shared_from_this(), id]() {
      if (self->request_id_.load() == id) {
        self->cancelled_ = true;
        self->close();
      }
    });
  }
  void close_soon() {
    net::post(executor_, [self = shared_from_this()]() { self->close(); });
  }

  // Connection executor only: whether bytes beyond the last response were received (never pool
  // those).
  bool has_unread_bytes() const { return buffer_.size() != 0; }

  // Connects (unless reused), sends the request and reads the response header.
  net::awaitable<StartResult> start(std::shared_ptr<ExchangeState> state,
                                    std::shared_ptr<const RequestMessage> message, bool reused);
  // Reads the next piece of the body (waiting at most the idle timeout for it).
  net::awaitable<PieceResult> read_piece(std::shared_ptr<ExchangeState> state);

 protected:
  virtual net::awaitable<error_code> connect_socket() = 0;
  // What a failed connect_socket() tells the caller, and what it was doing when it timed out.
  virtual std::string connect_failure(const error_code& error) const {
    return "cannot connect to " + endpoint_.to_string() + ": " + error.message();
  }
  virtual std::string connect_step() const { return "connecting"; }
  virtual net::awaitable<error_code> write_request(const RequestMessage& message) = 0;
  virtual net::awaitable<error_code> read_header(ResponseParser& parser) = 0;
  virtual net::awaitable<error_code> read_some(ResponseParser& parser) = 0;
  virtual void close_transport() = 0;

  // Connection executor only: a timeout, a cancellation or a close ends every pending step.
  bool aborted() const { return cancelled_ || timed_out_.has_value() || !usable(); }

  net::any_io_executor executor_;
  Endpoint endpoint_;
  beast::flat_buffer buffer_;

 private:
  void close() {
    open_.store(false, std::memory_order_release);
    stop_timer();
    close_transport();
  }

  // Parses body bytes already in the read buffer, exactly as async_read_some would before it
  // reads from the socket, but without the trip through the executor that an asynchronous
  // operation takes even when it needs no I/O (a small body usually arrives with the header).
  // nullopt: more bytes must be read first.
  std::optional<error_code> parse_buffered(ResponseParser& parser) {
    if (buffer_.size() == 0) {
      return std::nullopt;
    }
    error_code error;
    const std::size_t used = parser.put(buffer_.data(), error);
    buffer_.consume(used);
    if (error == bhttp::error::need_more) {
      return std::nullopt;
    }
    return error;
  }

  // Where body pieces are read to; kept for the connection's life rather than allocated (and
  // zeroed) per request.
  char* scratch() {
    if (!scratch_) {
      scratch_ = std::make_unique_for_overwrite<char[]>(kBodyPieceBytes);
    }
    return scratch_.get();
  }

  // The timer closes the connection when the current step's deadline passes; the step then
  // fails. A wait already pending is left alone when it expires no later than the new deadline
  // (it re-checks the deadline when it fires), so consecutive steps, such as the pieces of a
  // stream, do not re-arm the timer each time.
  void arm(const Deadline& deadline) {
    if (deadline.at == Clock::time_point::max()) {
      deadline_.reset();
      return;
    }
    deadline_ = deadline;
    if (!timer_waiting_ || timer_expiry_ > deadline.at) {
      wait_until(deadline.at);
    }
  }
  // The step ended: nothing expires until the next step arms; a pending wait fires harmlessly.
  void disarm() { deadline_.reset(); }
  // The exchange ended (or the connection closed): no wait may stay pending, so an idle pooled
  // connection holds no work on the executor.
  void stop_timer() {
    deadline_.reset();
    if (timer_waiting_) {
      timer_waiting_ = false;
      ++timer_generation_;
      timer_.cancel();
    }
  }
  void wait_until(Clock::time_point at) {
    const auto generation = ++timer_generation_;
    timer_waiting_ = true;
    timer_expiry_ = at;
    timer_.expires_at(at);  // cancels an earlier wait, whose generation is now stale
    timer_.async_wait([weak = weak_from_this(), generation](const error_code& error) {
      auto self = weak.lock();
      if (!self || self->timer_generation_ != generation) {
        return;
      }
      self->timer_waiting_ = false;
      if (error || !self->deadline_) {
        return;
      }
      if (Clock::now() < self->deadline_->at) {
        self->wait_until(self->deadline_->at);  // the deadline moved on since this wait began
        return;
      }
      self->timed_out_ = *self->deadline_;
      self->close();
    });
  }

  // Turns a failed step into the error the caller sees; the cause wins over the symptom.
  ClientError classify(const error_code& error, bool response_started,
                       std::string_view doing) const {
    using Kind = ClientError::Kind;
    if (cancelled_) {
      return make_error(Kind::cancelled, "the request was cancelled", response_started);
    }
    if (timed_out_) {
      return make_error(Kind::timeout, timed_out_->describe() + " while " + std::string(doing),
                        response_started);
    }
    if (error == bhttp::error::header_limit) {
      return make_error(Kind::protocol, "the response header exceeds the size limit",
                        response_started);
    }
    if (error == bhttp::error::end_of_stream || error == bhttp::error::partial_message ||
        !is_beast_http_error(error)) {
      return make_error(
          Kind::closed_early,
          "the connection closed while " + std::string(doing) + ": " + error.message(),
          response_started);
    }
    return make_error(Kind::protocol, "malformed response: " + error.message(), response_started);
  }

  std::atomic<bool> open_{true};
  std::atomic<std::uint64_t> request_id_{0};
  net::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  bool timer_waiting_ = false;        // an async_wait is pending
  Clock::time_point timer_expiry_;    // when it fires
  std::optional<Deadline> deadline_;  // the current step's, if it has one
  std::unique_ptr<char[]> scratch_;
  bool cancelled_ = false;
  std::optional<Deadline> timed_out_;
};

// One request on one connection: the parser, shared between the caller-side ResponseStream and
// the connection-side steps.
struct ExchangeState {
  ExchangeState(std::shared_ptr<Connection> exchange_connection, const ClientOptions& options,
                Clock::time_point total_at, bool head_request)
      : connection(std::move(exchange_connection)),
        timeouts(options.timeouts),
        total_deadline(total_at) {
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(options.max_response_header_bytes, UINT32_MAX)));
    // stream() has no body limit; fetch() counts on its own. Not boost::none: Beast 1.74 then
    // compares `length > none`, which is true, and fails every body.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.eager(true);
    parser.skip(head_request);
  }

  std::shared_ptr<Connection> connection;
  ClientTimeouts timeouts;
  Clock::time_point total_deadline;
  ResponseParser parser;
};

net::awaitable<StartResult> Connection::start(std::shared_ptr<ExchangeState> state,
                                              std::shared_ptr<const RequestMessage> message,
                                              bool reused) {
  StartResult result;
  const auto& timeouts = state->timeouts;
  if (aborted()) {
    result.error = classify(net::error::operation_aborted, false, "starting the request");
    co_return result;
  }
  if (!reused) {
    arm(step_deadline("connect", timeouts.connect, state->total_deadline, timeouts.total));
    const error_code error = co_await connect_socket();
    disarm();
    if (error) {
      const bool was_aborted = cancelled_ || timed_out_;
      close();
      result.error = was_aborted ? classify(error, false, connect_step())
                                 : make_error(ClientError::Kind::connect_failed,
                                              connect_failure(error), false);
      co_return result;
    }
  }
  arm(step_deadline("first-byte", timeouts.first_byte, state->total_deadline, timeouts.total));
  error_code error = co_await write_request(*message);
  const bool written = !error;
  if (written) {
    error = co_await read_header(state->parser);
  }
  disarm();
  if (error) {
    const bool response_started = state->parser.got_some();
    result.retry_on_fresh_connection = reused && !response_started && !cancelled_ && !timed_out_ &&
                                       is_stale_connection_error(error);
    const std::string_view doing =
        written ? "waiting for the response header" : "sending the request";
    result.error = classify(error, response_started, doing);
    close();
  } else if (state->parser.is_done()) {
    stop_timer();
  }
  co_return result;
}

net::awaitable<PieceResult> Connection::read_piece(std::shared_ptr<ExchangeState> state) {
  PieceResult result;
  auto& parser = state->parser;
  if (aborted()) {
    result.error = classify(net::error::operation_aborted, true, "reading the response body");
    co_return result;
  }
  // The idle deadline only matters while waiting for the socket: bytes already buffered are
  // handed over at once.
  bool armed = false;
  char* const scratch_space = scratch();
  auto& body = parser.get().body();
  body.data = scratch_space;
  body.size = kBodyPieceBytes;
  // A piece is everything that has arrived: several chunks read at once (the events of a fast
  // stream) go out as one piece, so a proxy relays them with one write instead of one each. It
  // never waits for more once it has something.
  while (!parser.is_done()) {
    const bool have_some = body.size < kBodyPieceBytes;
    error_code error;
    if (auto parsed = parse_buffered(parser)) {
      error = *parsed;
    } else {
      if (have_some) {
        break;
      }
      if (!armed) {
        arm(step_deadline("idle", state->timeouts.idle, state->total_deadline,
                          state->timeouts.total));
        armed = true;
      }
      error = co_await read_some(parser);
    }
    if (error == bhttp::error::need_buffer) {
      break;  // the scratch space is full: hand this piece over
    }
    if (error) {
      disarm();
      result.error = classify(error, true, "reading the response body");
      close();
      co_return result;
    }
  }
  const std::size_t received = kBodyPieceBytes - body.size;
  if (received > 0) {
    result.piece.emplace(scratch_space, received);
  }
  result.done = parser.is_done();
  if (result.done) {
    stop_timer();
  } else {
    disarm();
  }
  co_return result;
}

template <class Stream>
inline constexpr bool kIsTlsStream = false;
template <class NextLayer>
inline constexpr bool kIsTlsStream<beast::ssl_stream<NextLayer>> = true;

// The request and response steps over any byte stream: a plain socket or a TLS stream on one.
template <class Stream>
class StreamConnection : public Connection {
 public:
  template <class... StreamArgs>
  StreamConnection(const net::any_io_executor& executor, const Endpoint& endpoint,
                   bool single_threaded, StreamArgs&&... stream_args)
      : Connection(executor, endpoint, single_threaded),
        stream_(executor_, std::forward<StreamArgs>(stream_args)...) {}

 protected:
  // A request usually fits in the socket's send buffer: on a plain socket it is written at once,
  // without the trip through the executor that an asynchronous write's completion takes. Only
  // what does not fit is written asynchronously, by the same serializer. Not over TLS: a
  // synchronous write that stops part-way through would lose the rest of an encrypted record.
  net::awaitable<error_code> write_request(const RequestMessage& message) override {
    error_code error;
    const std::array<net::const_buffer, 2> whole = {net::buffer(message.head),
                                                    net::buffer(message.body)};
    std::size_t written = 0;
    if constexpr (!kIsTlsStream<Stream>) {
      if (!stream_.non_blocking()) {
        stream_.non_blocking(true, error);  // a synchronous write must never block the thread
        if (error) {
          co_return error;
        }
      }
      written = net::write(stream_, whole, error);
      if (error != net::error::would_block && error != net::error::try_again) {
        co_return error;
      }
      error = {};
    }
    beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(whole);
    rest.consume(written);
    co_await net::async_write(stream_, rest, net::redirect_error(net::use_awaitable, error));
    co_return error;
  }
  net::awaitable<error_code> read_header(ResponseParser& parser) override {
    error_code error;
    co_await bhttp::async_read_header(stream_, buffer_, parser,
                                      net::redirect_error(net::use_awaitable, error));
    co_return error;
  }
  net::awaitable<error_code> read_some(ResponseParser& parser) override {
    error_code error;
    co_await bhttp::async_read_some(stream_, buffer_, parser,
                                    net::redirect_error(net::use_awaitable, error));
    co_return error;
  }
  // Over TLS too, the socket is closed without a close_notify alert: the exchange is over or
  // abandoned, and waiting for the peer's answer to an alert could hang the close.
  void close_transport() override {
    // shutdown sends the FIN at once, so the upstream notices and stops its work.
    auto& socket = beast::get_lowest_layer(stream_);
    error_code ignored;
    socket.shutdown(std::remove_reference_t<decltype(socket)>::shutdown_both, ignored);
    socket.close(ignored);
  }

  Stream stream_;
};

// Resolves the endpoint's host and connects to the first address that answers.
template <class Stream>
class TcpStreamConnection : public StreamConnection<Stream> {
 public:
  template <class... StreamArgs>
  TcpStreamConnection(const net::any_io_executor& executor, const Endpoint& endpoint,
                      bool single_threaded, StreamArgs&&... stream_args)
      : StreamConnection<Stream>(executor, endpoint, single_threaded,
                                 std::forward<StreamArgs>(stream_args)...),
        resolver_(this->executor_) {}

 protected:
  net::awaitable<error_code> connect_tcp() {
    error_code error;
    const std::string service = std::to_string(this->endpoint_.port);
    auto results = co_await resolver_.async_resolve(this->endpoint_.host, service,
                                                    net::ip::resolver_base::numeric_service,
                                                    net::redirect_error(net::use_awaitable, error));
    if (error) {
      co_return error;
    }
    auto& socket = beast::get_lowest_layer(this->stream_);
    error = net::error::host_not_found;
    for (const auto& entry : results) {
      if (this->aborted()) {
        error = net::error::operation_aborted;
        break;
      }
      error_code ignored;
      socket.close(ignored);
      error = {};
      co_await socket.async_connect(entry.endpoint(),
                                    net::redirect_error(net::use_awaitable, error));
      if (!error) {
        socket.set_option(net::ip::tcp::no_delay(true), ignored);
        break;
      }
    }
    co_return error;
  }
  void close_transport() override {
    resolver_.cancel();
    StreamConnection<Stream>::close_transport();
  }

 private:
  net::ip::tcp::resolver resolver_;
};

class TcpConnection final : public TcpStreamConnection<net::ip::tcp::socket> {
 public:
  using TcpStreamConnection::TcpStreamConnection;

 protected:
  net::awaitable<error_code> connect_socket() override { return connect_tcp(); }
};

// The connect step is the TCP connect followed by the TLS handshake, both within the connect
// timeout; everything after it is the same as over TCP.
class TlsConnection final : public TcpStreamConnection<beast::ssl_stream<net::ip::tcp::socket>> {
 public:
  TlsConnection(const net::any_io_executor& executor, const Endpoint& endpoint,
                bool single_threaded, std::shared_ptr<ssl::context> context)
      : TcpStreamConnection(executor, endpoint, single_threaded, *context),
        context_(std::move(context)) {}

 protected:
  net::awaitable<error_code> connect_socket() override {
    error_code error = co_await connect_tcp();
    if (error) {
      co_return error;
    }
    handshaking_ = true;
    if (auto failure = expect_peer()) {
      handshake_failure_ =
          "cannot set up the TLS handshake with " + authority(endpoint_) + ": " + *failure;
      co_return ssl::error::unexpected_result;
    }
    co_await stream_.async_handshake(ssl::stream_base::client,
                                     net::redirect_error(net::use_awaitable, error));
    if (error) {
      handshake_failure_ =
          "the TLS handshake with " + authority(endpoint_) + " failed: " + handshake_reason(error);
    }
    co_return error;
  }
  std::string connect_failure(const error_code& error) const override {
    return handshake_failure_.empty() ? TcpStreamConnection::connect_failure(error)
                                      : handshake_failure_;
  }
  std::string connect_step() const override {
    return handshaking_ ? "doing the TLS handshake with " + authority(endpoint_) : "connecting";
  }

 private:
  // Names the server expected (SNI, for a host name only, as RFC 6066 wants) and the name or IP
  // address its certificate must carry. OpenSSL checks that during the handshake itself, so a
  // mismatch fails it with a reason of its own ("hostname mismatch"). nullopt: done.
  std::optional<std::string> expect_peer() {
    SSL* native = stream_.native_handle();
    const std::string& host = endpoint_.host;
    ERR_clear_error();
    bool done = false;
    if (is_ip_address(host)) {
      done = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), host.c_str()) == 1;
    } else {
      SSL_set_hostflags(native, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      done = SSL_set_tlsext_host_name(native, host.c_str()) == 1 &&
             SSL_set1_host(native, host.c_str()) == 1;
    }
    if (done) {
      return std::nullopt;
    }
    const error_code error(static_cast<int>(ERR_get_error()), net::error::get_ssl_category());
    return error.message();
  }

  std::string handshake_reason(const error_code& error) {
    const long verify_result = SSL_get_verify_result(stream_.native_handle());
    switch (verify_result) {
      case X509_V_OK:
        return error.message();
      case X509_V_ERR_HOSTNAME_MISMATCH:
        return "certificate verify failed: the server's certificate is not valid for the host "
               "name '" +
               endpoint_.host + "' (hostname mismatch)";
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "certificate verify failed: the server's certificate is not valid for the IP "
               "address " +
               endpoint_.host + " (IP address mismatch)";
      default:
        return "certificate verify failed: " +
               std::string(X509_verify_cert_error_string(verify_result));
    }
  }

  std::shared_ptr<ssl::context> context_;  // the SSL object refers to it
  bool handshaking_ = false;
  std::string handshake_failure_;
};

class UnixConnection final : public StreamConnection<net::local::stream_protocol::socket> {
 public:
  using StreamConnection::StreamConnection;

 protected:
  net::awaitable<error_code> connect_socket() override {
    error_code error;
    const net::local::stream_protocol::endpoint target(endpoint_.socket_path);
    co_await stream_.async_connect(target, net::redirect_error(net::use_awaitable, error));
    co_return error;
  }
};

// The one TLS context of an HttpClient: the trusted certificates are loaded once.
Expected<std::shared_ptr<ssl::context>, std::string> make_tls_context(const TlsOptions& options) {
  std::shared_ptr<ssl::context> context;
  try {
    context = std::make_shared<ssl::context>(ssl::context::tls_client);
  } catch (const boost::system::system_error& error) {
    return unexpected("cannot create a TLS context: " + std::string(error.what()));
  }
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION) != 1) {
    const error_code error(static_cast<int>(ERR_get_error()), net::error::get_ssl_category());
    return unexpected("cannot require TLS 1.2: " + error.message());
  }
  error_code error;
  context->set_verify_mode(ssl::verify_peer, error);
  if (error) {
    return unexpected("cannot enable certificate verification: " + error.message());
  }
  if (options.ca_file.empty()) {
    context->set_default_verify_paths(error);
    if (error) {
      return unexpected("cannot load the system's trusted certificates: " + error.message());
    }
    return context;
  }
  // OpenSSL's own reason for a file it cannot open is terse; the system's says more.
  if (::access(options.ca_file.c_str(), R_OK) != 0) {
    const std::error_code reason(errno, std::system_category());
    return unexpected("cannot load the TLS CA file '" + options.ca_file + "': " + reason.message());
  }
  context->load_verify_file(options.ca_file, error);
  if (error) {
    return unexpected("cannot load the TLS CA file '" + options.ca_file + "': " + error.message());
  }
  return context;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Endpoint

Expected<Endpoint, std::string> Endpoint::parse(const std::string& url) {
  constexpr std::string_view kForm =
      "expected http://HOST:PORT[/PREFIX], https://HOST[:PORT][/PREFIX] or unix:/PATH";
  Endpoint endpoint;
  if (istarts_with(url, "unix:")) {
    std::string path = url.substr(5);
    if (path.starts_with("//")) {
      path.erase(0, 2);  // unix:///abs/path
    }
    if (path.empty() || path.front() != '/') {
      return unexpected("invalid endpoint '" + url +
                        "': the unix socket path must be absolute, as in unix:/run/hearth.sock");
    }
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      return unexpected("invalid endpoint '" + url + "': the unix socket path is longer than " +
                        std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    endpoint.kind = Kind::unix_socket;
    endpoint.socket_path = std::move(path);
    return endpoint;
  }
  const bool tls = istarts_with(url, "https://");
  if (!tls && !istarts_with(url, "http://")) {
    return unexpected("invalid endpoint '" + url + "': " + std::string(kForm));
  }
  const std::string rest = url.substr(tls ? 8 : 7);
  if (rest.find_first_of("?# \t\r\n") != std::string::npos) {
    return unexpected("invalid endpoint '" + url +
                      "': a query, fragment or whitespace is not allowed");
  }
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? std::string() : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    return unexpected("invalid endpoint '" + url + "': credentials in the URL are not supported");
  }

  std::string host;
  std::optional<std::string> port_text;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string::npos) {
      return unexpected("invalid endpoint '" + url + "': missing ']' after the IPv6 address");
    }
    host = authority.substr(1, close - 1);
    error_code error;
    net::ip::make_address_v6(host, error);
    if (error) {
      return unexpected("invalid endpoint '" + url + "': '" + host + "' is not an IPv6 address");
    }
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return unexpected("invalid endpoint '" + url + "': expected ':PORT' after ']'");
      }
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text->find(':') != std::string::npos) {
        return unexpected("invalid endpoint '" + url +
                          "': an IPv6 address must be in brackets, as in http://[::1]:8080");
      }
    }
    if (host.empty()) {
      return unexpected("invalid endpoint '" + url + "': missing host; " + std::string(kForm));
    }
    const bool valid_host = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
    if (!valid_host) {
      return unexpected("invalid endpoint '" + url + "': '" + host + "' is not a valid host");
    }
  }

  unsigned port = tls ? kHttpsPort : 80;  // as in any http(s) URL
  if (port_text) {
    unsigned value = 0;
    const char* first = port_text->data();
    const char* last = first + port_text->size();
    const auto [end, error] = std::from_chars(first, last, value);
    if (port_text->empty() || error != std::errc() || end != last || value == 0 || value > 65535) {
      return unexpected("invalid endpoint '" + url + "': the port must be a number from 1 to " +
                        "65535, got '" + *port_text + "'");
    }
    port = value;
  }
  while (!prefix.empty() && prefix.back() == '/') {
    prefix.pop_back();
  }
  endpoint.kind = tls ? Kind::tls : Kind::tcp;
  endpoint.host = std::move(host);
  endpoint.port = static_cast<unsigned short>(port);
  endpoint.path_prefix = std::move(prefix);
  return endpoint;
}

std::string Endpoint::to_string() const {
  if (kind == Kind::unix_socket) {
    return "unix:" + socket_path;
  }
  return (kind == Kind::tls ? "https://" : "http://") + host_header(*this) + path_prefix;
}

std::string_view to_string(ClientError::Kind kind) {
  switch (kind) {
    case ClientError::Kind::connect_failed:
      return "connect_failed";
    case ClientError::Kind::timeout:
      return "timeout";
    case ClientError::Kind::protocol:
      return "protocol";
    case ClientError::Kind::closed_early:
      return "closed_early";
    case ClientError::Kind::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string_view ClientResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

std::string_view ResponseStream::header(std::string_view name) const {
  return find_header(headers(), name);
}

// ---------------------------------------------------------------------------------------------
// HttpClient

namespace {

// The pool and settings behind an HttpClient, outliving it while requests still run.
struct ClientCore {
  net::any_io_executor executor;
  Endpoint endpoint;
  ClientOptions options;
  std::string host;  // the Host header, the same for every request
  ClientStats stats;
  // https only: the context every connection shares, or why it could not be made.
  std::shared_ptr<ssl::context> tls_context;
  std::string tls_failure;
  std::mutex mutex;
  std::vector<std::shared_ptr<Connection>> idle;  // most recently used last
  bool shut_down = false;
  std::atomic<std::thread::id> user_thread{};  // single-threaded: the first one to use it

  // Whether a single-threaded client keeps to its promise; always true for the others.
  bool used_from_one_thread() {
    if (!options.single_threaded) {
      return true;
    }
    std::thread::id first;
    const auto current = std::this_thread::get_id();
    return user_thread.compare_exchange_strong(first, current) || first == current;
  }

  ClientCore(net::any_io_executor client_executor, Endpoint client_endpoint,
             ClientOptions client_options)
      : executor(std::move(client_executor)),
        endpoint(std::move(client_endpoint)),
        options(client_options),
        host(host_header(endpoint)) {
    if (endpoint.kind == Endpoint::Kind::tls) {
      auto context = make_tls_context(options.tls);
      if (context) {
        tls_context = std::move(context.value());
      } else {
        tls_failure = std::move(context.error());
      }
    }
  }

  std::shared_ptr<Connection> take_idle() {
    std::lock_guard lock(mutex);
    while (!idle.empty()) {
      auto connection = std::move(idle.back());
      idle.pop_back();
      if (connection->usable()) {
        return connection;
      }
    }
    return nullptr;
  }

  std::shared_ptr<Connection> open_connection() {
    stats.connections_opened.fetch_add(1, std::memory_order_relaxed);
    switch (endpoint.kind) {
      case Endpoint::Kind::unix_socket:
        return std::make_shared<UnixConnection>(executor, endpoint, options.single_threaded);
      case Endpoint::Kind::tls:
        assert(tls_context && "a TLS connection was opened without a TLS context");
        return std::make_shared<TlsConnection>(executor, endpoint, options.single_threaded,
                                               tls_context);
      case Endpoint::Kind::tcp:
        break;
    }
    return std::make_shared<TcpConnection>(executor, endpoint, options.single_threaded);
  }

  void release(std::shared_ptr<Connection> connection) {
    connection->end_lease();
    {
      std::lock_guard lock(mutex);
      if (!shut_down && connection->usable() && idle.size() < options.max_idle_connections) {
        idle.push_back(std::move(connection));
        return;
      }
    }
    connection->close_soon();
  }

  void close_idle(bool shutting_down) {
    std::vector<std::shared_ptr<Connection>> closing;
    {
      std::lock_guard lock(mutex);
      shut_down = shut_down || shutting_down;
      closing.swap(idle);
    }
    for (auto& connection : closing) {
      connection->close_soon();
    }
  }
};

class ResponseStreamImpl final : public ResponseStream {
 public:
  ResponseStreamImpl(std::weak_ptr<ClientCore> client, std::shared_ptr<ExchangeState> state,
                     bool single_threaded)
      : client_(std::move(client)), state_(std::move(state)), single_threaded_(single_threaded) {
    const auto& message = state_->parser.get();
    status_ = static_cast<int>(message.result_int());
    headers_.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
    for (const auto& field : message) {
      const auto name = field.name_string();
      headers_.emplace_back(lower(std::string_view(name.data(), name.size())),
                            std::string(field.value()));
    }
    if (state_->parser.is_done()) {
      finish();
    }
  }

  ~ResponseStreamImpl() override {
    if (state_ && state_->connection) {
      state_->connection->close_soon();  // unfinished: the upstream must see us go
    }
  }

  int status() const override { return status_; }
  const Headers& headers() const override { return headers_; }
  // For fetch(), which hands them on and never asks for them again.
  Headers take_headers() { return std::move(headers_); }

  net::awaitable<Expected<std::optional<std::string>, ClientError>> next() override {
    if (error_) {
      co_return unexpected(*error_);
    }
    if (!state_) {
      std::optional<std::string> end;
      co_return end;
    }
    auto connection = state_->connection;
    PieceResult result;
    if (single_threaded_) {
      result = co_await connection->read_piece(state_);
    } else {
      result = co_await net::co_spawn(connection->executor(), connection->read_piece(state_),
                                      net::use_awaitable);
    }
    if (result.error) {
      error_ = std::move(result.error);
      state_.reset();  // the connection side already closed the connection
      co_return unexpected(*error_);
    }
    if (result.done) {
      finish();
    }
    co_return std::move(result.piece);
  }

 private:
  // The body is complete: the connection goes back to the pool if the response allows it.
  void finish() {
    auto state = std::move(state_);
    auto connection = std::move(state->connection);
    const bool reusable = state->parser.keep_alive() && !connection->has_unread_bytes();
    auto client = client_.lock();
    if (client && reusable) {
      client->release(std::move(connection));
    } else {
      connection->close_soon();
    }
  }

  std::weak_ptr<ClientCore> client_;
  std::shared_ptr<ExchangeState> state_;  // null once the body ended or failed
  bool single_threaded_;
  int status_ = 0;
  Headers headers_;
  std::optional<ClientError> error_;
};

}  // namespace

struct HttpClient::Impl : ClientCore {
  using ClientCore::ClientCore;
};

HttpClient::HttpClient(net::any_io_executor executor, Endpoint endpoint, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(endpoint), options)) {}

HttpClient::~HttpClient() { impl_->close_idle(true); }

const Endpoint& HttpClient::endpoint() const { return impl_->endpoint; }

const ClientStats& HttpClient::stats() const { return impl_->stats; }

void HttpClient::close_idle() { impl_->close_idle(false); }

net::awaitable<Expected<std::unique_ptr<ResponseStream>, ClientError>> HttpClient::stream(
    ClientRequest request, CancellationToken cancellation) {
  auto impl = impl_;
  if (cancellation.cancelled()) {
    co_return unexpected(make_error(ClientError::Kind::cancelled,
                                    "the request was cancelled before it was sent", false));
  }
  assert(impl->used_from_one_thread() &&
         "a single-threaded HttpClient was used from another thread");
  if (!impl->tls_failure.empty()) {
    co_return unexpected(make_error(
        ClientError::Kind::connect_failed,
        "cannot connect to " + impl->endpoint.to_string() + ": " + impl->tls_failure, false));
  }
  const bool head_request = ascii_iequals(request.method, "HEAD");
  auto message = std::make_shared<const RequestMessage>(
      build_request(impl->endpoint, impl->host, std::move(request)));
  const auto total_deadline = deadline_after(Clock::now(), impl->options.timeouts.total);
  for (int attempt = 0;; ++attempt) {
    // The retry takes a fresh connection: the other idle ones may be just as stale.
    auto connection = attempt == 0 ? impl->take_idle() : nullptr;
    const bool reused = connection != nullptr;
    if (reused) {
      impl->stats.connections_reused.fetch_add(1, std::memory_order_relaxed);
    } else {
      connection = impl->open_connection();
    }
    auto state =
        std::make_shared<ExchangeState>(connection, impl->options, total_deadline, head_request);
    const auto id = connection->lease();
    std::weak_ptr<Connection> weak_connection = connection;
    cancellation.on_cancel([weak_connection, id]() {
      if (auto target = weak_connection.lock()) {
        target->cancel(id);
      }
    });
    StartResult started;
    if (impl->options.single_threaded) {
      started = co_await connection->start(state, message, reused);
    } else {
      started = co_await net::co_spawn(
          connection->executor(), connection->start(state, message, reused), net::use_awaitable);
    }
    if (!started.error) {
      std::unique_ptr<ResponseStream> response = std::make_unique<ResponseStreamImpl>(
          impl, std::move(state), impl->options.single_threaded);
      co_return std::move(response);
    }
    if (started.retry_on_fresh_connection && attempt == 0) {
      impl->stats.stale_retries.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    co_return unexpected(std::move(*started.error));
  }
}

net::awaitable<Expected<ClientResponse, ClientError>> HttpClient::fetch(
    ClientRequest request, CancellationToken cancellation) {
  auto streamed = co_await stream(std::move(request), std::move(cancellation));
  if (!streamed) {
    co_return unexpected(streamed.error());
  }
  std::unique_ptr<ResponseStream> body_stream = std::move(streamed.value());
  const std::size_t limit = impl_->options.max_response_body_bytes;
  const auto too_large = [limit]() {
    return make_error(ClientError::Kind::protocol,
                      "the response body exceeds the limit of " + std::to_string(limit) + " bytes",
                      true);
  };
  ClientResponse response;
  response.status = body_stream->status();
  response.headers = static_cast<ResponseStreamImpl&>(*body_stream).take_headers();
  const std::string_view declared = response.header("content-length");
  std::uint64_t declared_length = 0;
  if (!declared.empty() &&
      std::from_chars(declared.data(), declared.data() + declared.size(), declared_length).ec ==
          std::errc() &&
      declared_length > limit) {
    co_return unexpected(too_large());  // closes the connection without reading the body
  }
  while (true) {
    auto piece = co_await body_stream->next();
    if (!piece) {
      co_return unexpected(piece.error());
    }
    if (!piece.value()) {
      break;
    }
    if (response.body.size() + piece.value()->size() > limit) {
      co_return unexpected(too_large());
    }
    response.body += *piece.value();
  }
  co_return response;
}

}  // namespace hearth::http
