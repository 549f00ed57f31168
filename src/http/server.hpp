// Asynchronous HTTP/1.1 server on Boost.Asio/Beast with C++20 coroutines, shared by the worker and
// the gateway. Keep-alive and pipelining-safe: each connection has one reader that parses requests
// ahead (bounded) and one responder that answers them strictly in order. A peer that goes away
// cancels the request in flight through its CancellationToken, so the engine frees the slot at
// once.
#pragma once

// Asio needs <utility> before its own headers with GCC 12 coroutines.
// clang-format off
#include <utility>
// clang-format on

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancellation.hpp"
#include "common/expected.hpp"

namespace hearth::http {

namespace net = boost::asio;

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;
  std::string target;  // path plus query, as sent
  std::string path;
  std::string query;
  Headers headers;  // names in lower case
  std::string body;
  bool keep_alive = true;
  bool tls = false;  // arrived on a listen_tls() listener
  // The subject (RFC 2253, e.g. "CN=admin,O=Example") of the client certificate that the peer
  // presented and that verified against TlsSettings::client_ca_file; "" when none was asked for
  // or presented.
  std::string client_certificate_subject;

  // The first value of a header (name in any case), or an empty view.
  std::string_view header(std::string_view name) const;
};

using hearth::CancellationToken;

// How a handler answers. Exactly one of send() or begin_stream()..end_stream() per request.
// Every call returns false once the peer is gone; the handler should then stop.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual net::awaitable<bool> send(int status, std::string_view content_type, std::string body,
                                    const Headers& extra_headers = {}) = 0;
  virtual net::awaitable<bool> begin_stream(int status, std::string_view content_type,
                                            const Headers& extra_headers = {}) = 0;
  virtual net::awaitable<bool> write_chunk(std::string_view data) = 0;
  virtual net::awaitable<bool> end_stream() = 0;
  virtual bool responded() const = 0;
  // A copy sharing the request's state: cancelling it cancels the request.
  virtual CancellationToken cancellation() const = 0;
};

using Handler = std::function<net::awaitable<void>(const Request&, ResponseWriter&)>;

struct ServerLimits {
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_connections = 1024;
  std::size_t max_pipelined_requests = 16;
  std::chrono::milliseconds header_timeout{10'000};  // from connect or idle to a full header
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds idle_timeout{75'000};  // keep-alive wait between requests
  std::chrono::milliseconds write_timeout{60'000};
  // The io_context is run by exactly one thread (the gateway): connections need no strand.
  bool single_threaded = false;
};

// Builds the error responses that the HTTP layer itself sends (bad request, oversize body...);
// the gateway and the worker plug in the OpenAI error shape here.
using ErrorBodyFormatter =
    std::function<std::string(int status, std::string_view message, std::string_view code)>;

struct ServerStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<int64_t> connections_open{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> protocol_errors{0};
  // TLS handshakes that failed or timed out (plain HTTP on the TLS port, an old protocol version,
  // no common cipher, a client certificate that does not verify, a silent client).
  std::atomic<uint64_t> tls_handshake_failures{0};
};

// PEM files for a TLS listener. TLS 1.2 is the oldest version accepted; TLS 1.2 uses only ECDHE
// key exchange with AES-GCM or ChaCha20-Poly1305, in the server's order of preference; no
// compression, no renegotiation.
struct TlsSettings {
  std::string certificate_file;  // the server's certificate, then its intermediates
  std::string private_key_file;  // "": the key is in certificate_file
  // CA certificates that client certificates are verified against. "": none is asked for. Set:
  // a certificate is asked for but not required (public endpoints work without one); one that is
  // presented and does not verify fails the handshake.
  std::string client_ca_file;
};

class Server {
 public:
  Server(net::io_context& io_context, ServerLimits limits, Handler handler,
         ErrorBodyFormatter error_body);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Port 0 picks a free port; the bound port is returned.
  Expected<unsigned short, std::string> listen_tcp(const std::string& host, unsigned short port);
  // Binds a unix socket (replacing a stale file) with mode 0600.
  Expected<std::monostate, std::string> listen_unix(const std::string& path);
  // As listen_tcp, over TLS. The certificate, key and client CA are loaded before binding; an
  // error names the file and what is wrong with it. Every TLS listener of a server uses the
  // settings of the latest successful listen_tls() or reload_tls().
  Expected<unsigned short, std::string> listen_tls(const std::string& host, unsigned short port,
                                                   const TlsSettings& tls);
  // Loads the files again (after a certificate renewal): connections accepted from now on use
  // them, connections already open keep theirs. On error nothing changes. Thread-safe.
  Expected<std::monostate, std::string> reload_tls(const TlsSettings& tls);

  // Closes the listening sockets; connections already open keep being served (graceful
  // shutdown: stop_accepting(), let requests finish, then stop()).
  void stop_accepting();
  // Stops accepting and cancels every request in flight.
  void stop();
  const ServerStats& stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "HOST:PORT" or "[IPV6]:PORT" split into host and port.
Expected<std::pair<std::string, unsigned short>, std::string> parse_listen_address(
    const std::string& listen);

}  // namespace hearth::http
