// Asynchronous HTTP/1.1 client on Boost.Asio/Beast with C++20 coroutines: keep-alive connection
// pooling per endpoint, TCP, TLS (HTTPS) or unix socket, bodies read whole or chunk by chunk as
// they arrive (for proxying SSE), connect / first-byte / idle / total timeouts, and cancellation.
// Failures are values (ClientError), never exceptions.
#pragma once

// Asio needs <utility> before its own headers with GCC 12 coroutines.
// clang-format off
#include <utility>
// clang-format on

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/cancellation.hpp"
#include "common/expected.hpp"
#include "http/server.hpp"  // Headers

namespace hearth::http {

// Where a backend listens. Parsed from "http://HOST[:PORT][/PREFIX]" (HOST a name, an IPv4
// address or a bracketed IPv6 one; PORT 80 when left out), "https://HOST[:PORT][/PREFIX]" (the
// same over TLS; PORT 443 when left out) or "unix:/PATH" ("unix:///PATH").
struct Endpoint {
  enum class Kind { tcp, tls, unix_socket };
  Kind kind = Kind::tcp;
  std::string host;         // tcp and tls
  unsigned short port = 0;  // tcp and tls
  std::string socket_path;  // unix_socket
  std::string path_prefix;  // prepended to every request target; "" or "/v1"-like, no trailing /

  static Expected<Endpoint, std::string> parse(const std::string& url);
  // The URL form, for logs and headers. An https URL leaves out the default port 443, as the
  // Host header does.
  std::string to_string() const;
};

struct ClientRequest {
  std::string method = "GET";
  std::string target;  // path and query, e.g. "/v1/chat/completions"
  Headers headers;     // Host, Content-Length and Connection are set by the client
  std::string body;
};

struct ClientTimeouts {
  std::chrono::milliseconds connect{5'000};
  // Sending the request and waiting for the complete response header.
  std::chrono::milliseconds first_byte{60'000};
  std::chrono::milliseconds idle{60'000};    // longest gap between two body reads
  std::chrono::milliseconds total{600'000};  // whole exchange
};

struct ClientError {
  enum class Kind {
    // Nothing was sent: safe to retry anywhere. Includes a failed TLS handshake (an untrusted
    // certificate, one for another host) and TLS settings that could not be loaded.
    connect_failed,
    timeout,
    protocol,      // unparsable response
    closed_early,  // the connection closed before the response (or its body) was complete
    cancelled,     // the CancellationToken fired
  };
  Kind kind = Kind::connect_failed;
  std::string message;
  // True once any response byte was received: the upstream has seen the request, so it is not
  // safe to send it elsewhere.
  bool response_started = false;
};
std::string_view to_string(ClientError::Kind kind);

struct ClientResponse {
  int status = 0;
  Headers headers;  // names in lower case
  std::string body;
  std::string_view header(std::string_view name) const;
};

// A response whose header has arrived and whose body is read piece by piece. Destroying it
// before the body ended closes the connection (the upstream sees a disconnect); reading the body
// to its end returns the connection to the pool.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  virtual const Headers& headers() const = 0;  // names in lower case
  std::string_view header(std::string_view name) const;
  // The next piece of the body as it arrives (chunked encoding already removed), or nullopt
  // once the body is complete.
  virtual boost::asio::awaitable<Expected<std::optional<std::string>, ClientError>> next() = 0;
};

// For https endpoints. The peer's certificate chain and its host name (or IP address) are always
// verified; TLS 1.2 is the oldest version accepted.
struct TlsOptions {
  // PEM file of the certificate authorities to trust; "" trusts the system's default store. A
  // file that cannot be loaded fails every request (connect_failed, naming the file and why).
  std::string ca_file;
};

struct ClientOptions {
  ClientTimeouts timeouts;  // for https, connect covers the TCP connect and the TLS handshake
  std::size_t max_idle_connections = 64;  // kept per endpoint for reuse
  std::size_t max_response_header_bytes = 64 * 1024;
  std::size_t max_response_body_bytes = 256 * 1024 * 1024;  // for fetch(); stream() has none
  // A promise that the executor belongs to an io_context run by one thread, and that stream(),
  // fetch() and the streams they return are used only from coroutines on that thread (the
  // gateway's event loop); cancellation and close_idle() may still come from anywhere.
  // Connections then need no strand of their own, and each step runs inline in the calling
  // coroutine instead of being spawned onto the connection's strand: no hop through the
  // executor per step.
  bool single_threaded = false;
  TlsOptions tls;  // used only by https endpoints
};

// Counters for metrics and tests; updated from any thread.
struct ClientStats {
  std::atomic<uint64_t> connections_opened{0};  // fresh connections attempted
  std::atomic<uint64_t> connections_reused{0};  // requests sent on a pooled connection
  std::atomic<uint64_t> stale_retries{0};       // pooled connections found closed, then retried
};

// One per endpoint. Thread-safe: may be used from coroutines on any executor, unless
// ClientOptions::single_threaded promises a single thread.
class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor executor, Endpoint endpoint, ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const Endpoint& endpoint() const;
  const ClientStats& stats() const;

  // Sends the request and waits for the response header. A pooled connection that turns out to
  // be closed by the peer before anything was received is retried once on a fresh connection.
  boost::asio::awaitable<Expected<std::unique_ptr<ResponseStream>, ClientError>> stream(
      ClientRequest request, CancellationToken cancellation = {});
  // The same, reading the whole body.
  boost::asio::awaitable<Expected<ClientResponse, ClientError>> fetch(
      ClientRequest request, CancellationToken cancellation = {});

  // Closes idle pooled connections (e.g. after the backend restarted).
  void close_idle();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hearth::http
