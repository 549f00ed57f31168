// A fake OpenAI-compatible provider for `bench/run --only cloud`: POST .../chat/completions gets a
// fixed chat.completion, or with "stream":true in the body a fixed SSE stream of --chunks chunks
// and [DONE]. One thread, one epoll loop, keep-alive and pipelining, responses prebuilt at start:
// it has to be far cheaper per request than any proxy in front of it, so that it is never what
// the benchmark measures. It depends on nothing of Hearth's, for the same reason.
//
//   bench_fake_provider --port 0 [--chunks 16] [--api-key KEY]
//
// Prints "fake provider listening on http://127.0.0.1:N" once bound; on SIGTERM or SIGINT prints
// its counters to stderr and exits 0. With --api-key a request whose headers do not hold the key
// is answered 401, so a proxy that drops the Authorization header cannot go unnoticed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) { g_stop = 1; }

struct Options {
  unsigned short port = 0;
  int chunks = 16;
  std::string api_key;
};

struct Counters {
  std::uint64_t connections = 0;
  std::uint64_t requests = 0;
  std::uint64_t streams = 0;
  std::uint64_t unauthorized = 0;
  std::uint64_t not_found = 0;
  std::uint64_t bad_requests = 0;
};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::string http_response(std::string_view status, std::string_view content_type,
                          std::string_view body) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  out += body;
  return out;
}

void append_chunk(std::string& out, std::string_view data) {
  std::array<char, 16> hex{};
  auto [end, ec] = std::to_chars(hex.data(), hex.data() + hex.size(), data.size(), 16);
  (void)ec;
  out.append(hex.data(), end);
  out += "\r\n";
  out += data;
  out += "\r\n";
}

// Every response the provider can give, built once.
struct Responses {
  std::string completion;
  std::string stream;             // without a usage chunk
  std::string stream_with_usage;  // the client asked for stream_options.include_usage
  std::string unauthorized;
  std::string not_found;
  std::string bad_request;
  std::string health;
};

constexpr std::string_view kModel = "gpt-4o-mini";
constexpr std::string_view kUsage =
    R"({"prompt_tokens":12,"completion_tokens":7,"total_tokens":19})";

Responses build_responses(int chunks) {
  Responses r;
  std::string completion =
      R"({"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":")";
  completion += kModel;
  completion +=
      R"(","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fake )"
      R"(provider."},"logprobs":null,"finish_reason":"stop"}],"usage":)";
  completion += kUsage;
  completion += "}";
  r.completion = http_response("200 OK", "application/json", completion);

  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  std::string events;
  for (int i = 0; i < chunks; ++i) {
    std::string event =
        R"(data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,)"
        R"("model":")";
    event += kModel;
    event += R"(","choices":[{"index":0,"delta":{)";
    if (i == 0) event += R"("role":"assistant",)";
    event += R"("content":"tok )";
    event += std::to_string(i);
    event += R"("},"logprobs":null,"finish_reason":)";
    event += (i + 1 == chunks) ? R"("stop")" : "null";
    event += "}]}\n\n";
    append_chunk(events, event);
  }
  std::string usage_event =
      R"(data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,)"
      R"("model":")";
  usage_event += kModel;
  usage_event += R"(","choices":[],"usage":)";
  usage_event += kUsage;
  usage_event += "}\n\n";
  std::string done;
  append_chunk(done, "data: [DONE]\n\n");
  done += "0\r\n\r\n";
  r.stream = head + events + done;
  std::string usage_chunk;
  append_chunk(usage_chunk, usage_event);
  r.stream_with_usage = head + events + usage_chunk + done;

  r.unauthorized = http_response(
      "401 Unauthorized", "application/json",
      R"({"error":{"message":"missing or wrong API key","type":"invalid_request_error"}})");
  r.not_found =
      http_response("404 Not Found", "application/json",
                    R"({"error":{"message":"not found","type":"invalid_request_error"}})");
  r.bad_request =
      http_response("400 Bad Request", "application/json",
                    R"({"error":{"message":"bad request","type":"invalid_request_error"}})");
  r.health = http_response("200 OK", "application/json", R"({"status":"ok"})");
  return r;
}

struct Connection {
  int fd = -1;
  std::string in;
  std::string out;
  std::size_t out_pos = 0;
  bool close_after_write = false;
  bool want_write = false;
};

class Provider {
 public:
  Provider(Options options, int listen_fd, int epoll_fd)
      : options_(std::move(options)),
        responses_(build_responses(options_.chunks)),
        listen_fd_(listen_fd),
        epoll_fd_(epoll_fd) {}

  int run() {
    std::array<epoll_event, 256> events{};
    while (!g_stop) {
      const int ready = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        std::perror("epoll_wait");
        return 1;
      }
      for (int i = 0; i < ready; ++i) {
        const int fd = events[static_cast<std::size_t>(i)].data.fd;
        const std::uint32_t what = events[static_cast<std::size_t>(i)].events;
        if (fd == listen_fd_) {
          accept_all();
          continue;
        }
        if (fd < 0 || static_cast<std::size_t>(fd) >= connections_.size() ||
            !connections_[static_cast<std::size_t>(fd)]) {
          continue;
        }
        Connection& conn = *connections_[static_cast<std::size_t>(fd)];
        if (what & (EPOLLERR | EPOLLHUP)) {
          close_connection(conn);
          continue;
        }
        if ((what & EPOLLOUT) && !flush(conn)) continue;
        if (what & EPOLLIN) on_readable(conn);
      }
    }
    std::fprintf(stderr,
                 "fake provider: %llu connections, %llu requests (%llu streamed), %llu "
                 "unauthorized, %llu not found, %llu bad\n",
                 static_cast<unsigned long long>(counters_.connections),
                 static_cast<unsigned long long>(counters_.requests),
                 static_cast<unsigned long long>(counters_.streams),
                 static_cast<unsigned long long>(counters_.unauthorized),
                 static_cast<unsigned long long>(counters_.not_found),
                 static_cast<unsigned long long>(counters_.bad_requests));
    return 0;
  }

 private:
  void accept_all() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) std::perror("accept4");
        return;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fd;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
        close(fd);
        continue;
      }
      auto conn = std::make_unique<Connection>();
      conn->fd = fd;
      if (connections_.size() <= static_cast<std::size_t>(fd)) {
        connections_.resize(static_cast<std::size_t>(fd) + 1);
      }
      connections_[static_cast<std::size_t>(fd)] = std::move(conn);
      ++counters_.connections;
    }
  }

  void close_connection(Connection& conn) {
    const int fd = conn.fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    connections_[static_cast<std::size_t>(fd)].reset();  // destroys conn
  }

  void on_readable(Connection& conn) {
    for (;;) {
      const ssize_t got = read(conn.fd, read_buffer_.data(), read_buffer_.size());
      if (got > 0) {
        conn.in.append(read_buffer_.data(), static_cast<std::size_t>(got));
        if (static_cast<std::size_t>(got) < read_buffer_.size()) break;
        continue;
      }
      if (got == 0) {
        close_connection(conn);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_connection(conn);
      return;
    }
    std::size_t consumed = 0;
    for (;;) {
      const std::size_t used = answer_one(conn, std::string_view(conn.in).substr(consumed));
      if (used == 0) break;
      consumed += used;
      if (conn.close_after_write) break;
    }
    conn.in.erase(0, consumed);
    if (conn.in.size() > 16 * 1024 * 1024) conn.close_after_write = true;  // a runaway client
    flush(conn);
  }

  // Answers the first complete request in `data`, if there is one: returns the bytes it took
  // (0: incomplete).
  std::size_t answer_one(Connection& conn, std::string_view data) {
    const std::size_t header_end = data.find("\r\n\r\n");
    if (header_end == std::string_view::npos) return 0;
    const std::string_view head = data.substr(0, header_end);
    const std::size_t line_end = head.find("\r\n");
    const std::string_view request_line = head.substr(0, line_end);
    std::size_t content_length = 0;
    bool chunked = false;
    bool close = request_line.ends_with("HTTP/1.0");
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      std::size_t next = head.find("\r\n", pos);
      if (next == std::string_view::npos) next = head.size();
      const std::string_view line = head.substr(pos, next - pos);
      pos = next + 2;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view name = line.substr(0, colon);
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        std::from_chars(value.data(), value.data() + value.size(), content_length);
      } else if (iequals(name, "transfer-encoding")) {
        chunked = icontains(value, "chunked");
      } else if (iequals(name, "connection")) {
        if (icontains(value, "close")) close = true;
        if (icontains(value, "keep-alive")) close = false;
      }
    }
    std::size_t body_begin = header_end + 4;
    std::string_view body;
    std::string decoded;  // only for a chunked request body
    std::size_t total = 0;
    if (chunked) {
      std::size_t at = body_begin;
      for (;;) {
        const std::size_t size_end = data.find("\r\n", at);
        if (size_end == std::string_view::npos) return 0;
        std::size_t size = 0;
        const auto parsed = std::from_chars(data.data() + at, data.data() + size_end, size, 16);
        if (parsed.ec != std::errc()) return reject(conn, data.size());
        at = size_end + 2;
        if (size == 0) {
          // trailers, then an empty line
          for (;;) {
            const std::size_t trailer_end = data.find("\r\n", at);
            if (trailer_end == std::string_view::npos) return 0;
            const bool empty = trailer_end == at;
            at = trailer_end + 2;
            if (empty) break;
          }
          break;
        }
        if (data.size() < at + size + 2) return 0;
        decoded.append(data.substr(at, size));
        at += size + 2;
      }
      body = decoded;
      total = at;
    } else {
      if (data.size() < body_begin + content_length) return 0;
      body = data.substr(body_begin, content_length);
      total = body_begin + content_length;
    }
    conn.close_after_write = close;
    ++counters_.requests;

    const std::size_t method_end = request_line.find(' ');
    const std::string_view method = request_line.substr(0, method_end);
    std::string_view target = method_end == std::string_view::npos
                                  ? std::string_view()
                                  : request_line.substr(method_end + 1);
    target = target.substr(0, target.find(' '));
    target = target.substr(0, target.find('?'));
    if (method == "POST" && target.ends_with("/chat/completions")) {
      if (!options_.api_key.empty() && head.find(options_.api_key) == std::string_view::npos) {
        ++counters_.unauthorized;
        conn.out += responses_.unauthorized;
      } else if (body.find("\"stream\":true") != std::string_view::npos ||
                 body.find("\"stream\": true") != std::string_view::npos) {
        ++counters_.streams;
        const bool usage = body.find("\"include_usage\":true") != std::string_view::npos ||
                           body.find("\"include_usage\": true") != std::string_view::npos;
        conn.out += usage ? responses_.stream_with_usage : responses_.stream;
      } else {
        conn.out += responses_.completion;
      }
    } else if (method == "GET" && (target == "/health" || target.ends_with("/models"))) {
      conn.out += responses_.health;
    } else {
      ++counters_.not_found;
      conn.out += responses_.not_found;
    }
    return total;
  }

  std::size_t reject(Connection& conn, std::size_t all) {
    ++counters_.bad_requests;
    conn.out += responses_.bad_request;
    conn.close_after_write = true;
    return all;
  }

  // Writes what it can; false when the connection was closed.
  bool flush(Connection& conn) {
    while (conn.out_pos < conn.out.size()) {
      const ssize_t put = send(conn.fd, conn.out.data() + conn.out_pos,
                               conn.out.size() - conn.out_pos, MSG_NOSIGNAL);
      if (put > 0) {
        conn.out_pos += static_cast<std::size_t>(put);
        continue;
      }
      if (put < 0 && errno == EINTR) continue;
      if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_want_write(conn, true);
        return true;
      }
      close_connection(conn);
      return false;
    }
    conn.out.clear();
    conn.out_pos = 0;
    set_want_write(conn, false);
    if (conn.close_after_write) {
      close_connection(conn);
      return false;
    }
    return true;
  }

  void set_want_write(Connection& conn, bool want) {
    if (conn.want_write == want) return;
    conn.want_write = want;
    epoll_event event{};
    event.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    event.data.fd = conn.fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &event);
  }

  Options options_;
  Responses responses_;
  int listen_fd_;
  int epoll_fd_;
  // Indexed by file descriptor.
  std::vector<std::unique_ptr<Connection>> connections_;
  Counters counters_;
  std::array<char, 64 * 1024> read_buffer_{};
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "bench_fake_provider: %s\nusage: bench_fake_provider --port N [--chunks K] "
               "[--api-key KEY]\n",
               message);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    auto number = [&](std::string_view text, long low, long high) {
      long parsed = 0;
      const auto result = std::from_chars(text.data(), text.data() + text.size(), parsed);
      if (result.ec != std::errc() || result.ptr != text.data() + text.size() || parsed < low ||
          parsed > high) {
        usage("bad number");
      }
      return parsed;
    };
    if (arg == "--port") {
      options.port = static_cast<unsigned short>(number(value(), 0, 65535));
    } else if (arg == "--chunks") {
      options.chunks = static_cast<int>(number(value(), 1, 100000));
    } else if (arg == "--api-key") {
      options.api_key = std::string(value());
    } else {
      usage("unknown argument");
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  const int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) {
    std::perror("socket");
    return 1;
  }
  const int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listen_fd, 4096) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t length = sizeof(address);
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listen_fd;
  if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event) != 0) {
    std::perror("epoll");
    return 1;
  }
  std::printf("fake provider listening on http://127.0.0.1:%u\n", ntohs(address.sin_port));
  std::fflush(stdout);
  Provider provider(std::move(options), listen_fd, epoll_fd);
  return provider.run();
}
