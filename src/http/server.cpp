#include "http/server.hpp"

#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <deque>
#include <filesystem>
#include <type_traits>
#include <variant>

namespace hearth::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using net::use_awaitable;

std::string_view Request::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return value;
    }
  }
  return {};
}

namespace {

using Clock = std::chrono::steady_clock;

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
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  request.body = std::move(message.body());
  return request;
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

  Impl(net::io_context& context, ServerLimits server_limits, Handler request_handler,
       ErrorBodyFormatter formatter)
      : io_context(context),
        limits(server_limits),
        handler(std::move(request_handler)),
        error_body(std::move(formatter)) {}

  template <class Socket>
  class Connection;

  template <class Acceptor>
  net::awaitable<void> accept_loop(std::shared_ptr<Acceptor> acceptor);
};

template <class Socket>
class Server::Impl::Connection : public ResponseWriter,
                                 public ConnectionBase,
                                 public std::enable_shared_from_this<Connection<Socket>> {
 public:
  Connection(std::shared_ptr<Impl> server, Socket socket)
      : server_(std::move(server)),
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
    bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status), 11};
    response.set(bhttp::field::content_type,
                 beast::string_view(content_type.data(), content_type.size()));
    response.set(bhttp::field::server, "hearth");
    for (const auto& [name, value] : extra_headers) {
      response.set(name, value);
    }
    response.keep_alive(keep_alive_);
    response.body() = std::move(body);
    response.prepare_payload();
    error_code error;
    arm_write_deadline();
    co_await bhttp::async_write(socket_, response, net::redirect_error(use_awaitable, error));
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
    beast::flat_buffer& buffer = buffer_;
    bool first = true;
    while (!closed_) {
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
      incoming_.emplace_back(to_request(parser.release()));
      wake();
    }
  }

  void on_read_error(const error_code& error) {
    reader_done_ = true;
    if (error == bhttp::error::end_of_stream || error == net::error::eof ||
        error == net::error::connection_reset || error == net::error::operation_aborted ||
        error == net::error::bad_descriptor) {
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
    close();
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
    error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
    wakeup_.cancel();
    watchdog_.cancel();
  }

  std::shared_ptr<Impl> server_;
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

 public:
  ~Connection() override { server_->stats.connections_open.fetch_sub(1); }
};

template <class Acceptor>
net::awaitable<void> Server::Impl::accept_loop(std::shared_ptr<Acceptor> acceptor) {
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
    auto connection = std::make_shared<Connection<Socket>>(shared_from_this(), std::move(socket));
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
}

Server::Server(net::io_context& io_context, ServerLimits limits, Handler handler,
               ErrorBodyFormatter error_body)
    : impl_(std::make_shared<Impl>(io_context, limits, std::move(handler), std::move(error_body))) {
}

Server::~Server() { stop(); }

Expected<unsigned short, std::string> Server::listen_tcp(const std::string& host,
                                                         unsigned short port) {
  error_code error;
  auto address = net::ip::make_address(host, error);
  if (error) {
    return unexpected("invalid listen address '" + host + "': " + error.message());
  }
  auto acceptor = std::make_shared<net::ip::tcp::acceptor>(impl_->io_context);
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
    std::lock_guard lock(impl_->mutex);
    impl_->stop_actions.emplace_back([acceptor]() {
      error_code ignored;
      acceptor->close(ignored);
    });
  }
  net::co_spawn(impl_->io_context, impl_->accept_loop(acceptor), net::detached);
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
  net::co_spawn(impl_->io_context, impl_->accept_loop(acceptor), net::detached);
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
