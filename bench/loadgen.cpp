// An HTTP/1.1 load generator for `bench/run --only cloud`: one thread, one epoll loop, keep-alive
// connections to HOST:PORT, one fixed POST request. It depends on nothing of Hearth's.
//
//   closed loop: --concurrency C connections, each sends its next request as soon as the last
//                answer is complete, for --duration seconds after --warmup seconds.
//   open loop:   --rate R requests/s: request i is due at t0 + i/R whether or not the server has
//                kept up (no coordinated omission). A due request takes a free keep-alive
//                connection from a pool of --connections (LIFO, so the fewest stay busy) or waits
//                in a queue for one; its latency runs from when it was due, so that wait counts.
//
// Latency is to the end of the response (the last chunk of a stream); with --stream, the time to
// the first byte of the body (the first SSE event) as well. Only requests due inside the
// measured window count; after it, the requests in flight and those still queued get --timeout
// seconds to finish. Errors: a status other than 200, a connection closed or reset before the
// answer was complete, a timeout, a body without the --expect text, a failed (re)connect.
// Prints one JSON object on stdout: count (successful requests due in the window), errors,
// achieved_rate (count per second from the window's start to the last one's completion, at least
// --duration: a server that falls behind gets the longer time), latency_us and, with --stream,
// first_byte_us percentiles (p50, p90, p99, p999, max), the open loop's queue_wait_us (due to
// sent) and waited_for_connection, and the generator's own CPU time. --samples-file writes every
// counted request's latency (µs, one per line) so that a caller can pool several runs.
// --chunks-file (with --stream) writes, per counted request, one line with the arrival time (µs
// from sending) of each SSE event that carries a choice: the stream's chunks, without the usage
// event, comments and [DONE]. Events that arrive in one read share its time.
// --chunk-delays-file (with --stream) writes, per counted request, one line with each chunk's
// delivery time (µs): its arrival less the time in the `: hearth-sent-ns T` comment that came
// before it (T: CLOCK_MONOTONIC, written by `hearth worker --stamp-stream-writes` just before
// each write), so it times the way from the worker to here, through any proxy in between, free
// of the model's own timing. A chunk with no such comment before it is an error (exit 1).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Nanos = std::int64_t;
constexpr Nanos kSecond = 1'000'000'000;

Nanos now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * kSecond + ts.tv_nsec;
}

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  // A unix socket path instead of HOST:PORT (a Hearth worker's own socket).
  std::string unix_path;
  std::string path = "/v1/chat/completions";
  std::string body;
  std::vector<std::string> headers;
  bool open_loop = false;
  int concurrency = 1;
  double rate = 0;
  int connections = 256;
  double duration_s = 5;
  double warmup_s = 1;
  double timeout_s = 10;
  bool stream = false;
  std::string expect;
  // Where to write every counted request's latency in µs, one per line (for pooling rounds).
  std::string samples_file;
  std::string chunks_file;        // each counted stream's chunk arrival times in µs, a line each
  std::string chunk_delays_file;  // each counted stream's chunk delivery times in µs, a line each
  bool track_chunks() const { return !chunks_file.empty() || !chunk_delays_file.empty(); }
};

[[noreturn]] void usage(const std::string& message) {
  std::fprintf(
      stderr,
      "bench_loadgen: %s\n"
      "usage: bench_loadgen (--port N [--host 127.0.0.1] | --unix PATH) [--path "
      "/v1/chat/completions]\n"
      "         (--body JSON | --body-file FILE) [--header 'Name: value']...\n"
      "         (--concurrency C | --rate R [--connections N]) [--duration S] [--warmup S]\n"
      "         [--timeout S] [--stream] [--expect TEXT] [--samples-file FILE]\n"
      "         [--chunks-file FILE] [--chunk-delays-file FILE]\n",
      message.c_str());
  std::exit(2);
}

double parse_double(std::string_view text, const char* what) {
  char* end = nullptr;
  const std::string copy(text);
  const double value = std::strtod(copy.c_str(), &end);
  if (end == copy.c_str() || *end != '\0' || !std::isfinite(value) || value < 0) {
    usage(std::string("bad value for ") + what);
  }
  return value;
}

long parse_long(std::string_view text, const char* what, long low, long high) {
  long value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size() || value < low ||
      value > high) {
    usage(std::string("bad value for ") + what);
  }
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  bool have_body = false;
  bool have_rate = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage(std::string("missing value for ") + std::string(arg));
      return argv[++i];
    };
    if (arg == "--host") {
      options.host = std::string(value());
    } else if (arg == "--port") {
      options.port = static_cast<unsigned short>(parse_long(value(), "--port", 1, 65535));
    } else if (arg == "--unix") {
      options.unix_path = std::string(value());
    } else if (arg == "--path") {
      options.path = std::string(value());
    } else if (arg == "--body") {
      options.body = std::string(value());
      have_body = true;
    } else if (arg == "--body-file") {
      const std::string file(value());
      std::ifstream in(file, std::ios::binary);
      if (!in) usage("cannot read " + file);
      std::ostringstream text;
      text << in.rdbuf();
      options.body = text.str();
      have_body = true;
    } else if (arg == "--header") {
      options.headers.emplace_back(value());
    } else if (arg == "--concurrency") {
      options.concurrency = static_cast<int>(parse_long(value(), "--concurrency", 1, 100000));
    } else if (arg == "--rate") {
      options.rate = parse_double(value(), "--rate");
      options.open_loop = true;
      have_rate = true;
    } else if (arg == "--connections") {
      options.connections = static_cast<int>(parse_long(value(), "--connections", 1, 100000));
    } else if (arg == "--duration") {
      options.duration_s = parse_double(value(), "--duration");
    } else if (arg == "--warmup") {
      options.warmup_s = parse_double(value(), "--warmup");
    } else if (arg == "--timeout") {
      options.timeout_s = parse_double(value(), "--timeout");
    } else if (arg == "--stream") {
      options.stream = true;
    } else if (arg == "--samples-file") {
      options.samples_file = std::string(value());
    } else if (arg == "--chunks-file") {
      options.chunks_file = std::string(value());
    } else if (arg == "--chunk-delays-file") {
      options.chunk_delays_file = std::string(value());
    } else if (arg == "--expect") {
      options.expect = std::string(value());
    } else {
      usage("unknown argument " + std::string(arg));
    }
  }
  if (options.port == 0 && options.unix_path.empty()) usage("--port or --unix is required");
  if (!have_body) usage("--body or --body-file is required");
  if (!options.chunks_file.empty() && !options.stream) usage("--chunks-file needs --stream");
  if (!options.chunk_delays_file.empty() && !options.stream) {
    usage("--chunk-delays-file needs --stream");
  }
  if (have_rate && options.rate <= 0) usage("--rate must be > 0");
  if (options.duration_s <= 0) usage("--duration must be > 0");
  if (options.timeout_s <= 0) usage("--timeout must be > 0");
  return options;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
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

enum class ErrorKind { status, reset, timeout, body, connect, count };
constexpr std::array<const char*, static_cast<std::size_t>(ErrorKind::count)> kErrorNames = {
    "status", "reset", "timeout", "body", "connect"};

// An incremental HTTP/1.1 response parser: Content-Length, chunked, or to the end of the
// connection.
class ResponseParser {
 public:
  enum class Result { more, done, bad };

  void reset() {
    state_ = State::head;
    status_ = 0;
    remaining_ = 0;
    close_ = false;
    got_body_byte_ = false;
    body_.clear();
  }

  // Consumes what it can of `in` from `pos` on; `pos` moves past what was used.
  Result feed(const std::string& in, std::size_t& pos) {
    for (;;) {
      switch (state_) {
        case State::head: {
          const std::size_t end = in.find("\r\n\r\n", pos);
          if (end == std::string::npos)
            return in.size() - pos > 64 * 1024 ? Result::bad : Result::more;
          if (!parse_head(std::string_view(in).substr(pos, end - pos))) return Result::bad;
          pos = end + 4;
          break;
        }
        case State::length: {
          const std::size_t take = std::min(remaining_, in.size() - pos);
          take_body(std::string_view(in).substr(pos, take));
          pos += take;
          remaining_ -= take;
          if (remaining_ > 0) return Result::more;
          state_ = State::done;
          break;
        }
        case State::chunk_size: {
          const std::size_t end = in.find("\r\n", pos);
          if (end == std::string::npos) return Result::more;
          std::size_t size = 0;
          const auto parsed = std::from_chars(in.data() + pos, in.data() + end, size, 16);
          if (parsed.ec != std::errc()) return Result::bad;
          pos = end + 2;
          remaining_ = size;
          state_ = size == 0 ? State::trailers : State::chunk_data;
          break;
        }
        case State::chunk_data: {
          const std::size_t take = std::min(remaining_, in.size() - pos);
          take_body(std::string_view(in).substr(pos, take));
          pos += take;
          remaining_ -= take;
          if (remaining_ > 0) return Result::more;
          state_ = State::chunk_end;
          break;
        }
        case State::chunk_end: {
          if (in.size() - pos < 2) return Result::more;
          if (in.compare(pos, 2, "\r\n") != 0) return Result::bad;
          pos += 2;
          state_ = State::chunk_size;
          break;
        }
        case State::trailers: {
          const std::size_t end = in.find("\r\n", pos);
          if (end == std::string::npos) return Result::more;
          const bool last = end == pos;
          pos = end + 2;
          if (last) state_ = State::done;
          break;
        }
        case State::until_close: {
          take_body(std::string_view(in).substr(pos));
          pos = in.size();
          return Result::more;
        }
        case State::done:
          return Result::done;
      }
    }
  }

  // The peer closed the connection: whether that completes the response.
  bool complete_at_close() const { return state_ == State::until_close; }
  int status() const { return status_; }
  bool close() const { return close_; }
  bool got_body_byte() const { return got_body_byte_; }
  const std::string& body() const { return body_; }
  void keep_body(bool keep) { keep_body_ = keep; }

  // Set from outside when the first body byte arrives (the parser does not read clocks).
  bool first_body_byte_pending = false;

 private:
  enum class State { head, length, chunk_size, chunk_data, chunk_end, trailers, until_close, done };

  bool parse_head(std::string_view head) {
    // "HTTP/1.1 200 OK"
    if (head.size() < 12 || !head.starts_with("HTTP/1.")) return false;
    const bool http10 = head[7] == '0';
    if (std::from_chars(head.data() + 9, head.data() + 12, status_).ec != std::errc()) {
      return false;
    }
    bool have_length = false;
    bool chunked = false;
    close_ = http10;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      pos += 2;
      std::size_t next = head.find("\r\n", pos);
      const std::string_view line =
          head.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
      pos = next;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view name = line.substr(0, colon);
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        if (std::from_chars(value.data(), value.data() + value.size(), remaining_).ec !=
            std::errc()) {
          return false;
        }
        have_length = true;
      } else if (iequals(name, "transfer-encoding")) {
        chunked = icontains(value, "chunked");
      } else if (iequals(name, "connection")) {
        if (icontains(value, "close")) close_ = true;
        if (icontains(value, "keep-alive")) close_ = false;
      }
    }
    if (chunked) {
      state_ = State::chunk_size;
    } else if (have_length) {
      state_ = remaining_ == 0 ? State::done : State::length;
    } else {
      state_ = State::until_close;
      close_ = true;
    }
    return true;
  }

  void take_body(std::string_view data) {
    if (data.empty()) return;
    if (!got_body_byte_) {
      got_body_byte_ = true;
      first_body_byte_pending = true;
    }
    if (keep_body_) body_.append(data);
  }

  State state_ = State::head;
  int status_ = 0;
  std::size_t remaining_ = 0;
  bool close_ = false;
  bool got_body_byte_ = false;
  bool keep_body_ = false;
  std::string body_;
};

struct Connection {
  int fd = -1;
  enum class Phase { closed, connecting, idle, busy } phase = Phase::closed;
  std::size_t out_pos = 0;  // into the shared request bytes
  bool want_write = false;
  std::string in;
  std::size_t in_pos = 0;
  ResponseParser parser;
  Nanos due = 0;    // when the request was due (closed loop: when it was sent)
  Nanos sent = 0;   // when it was written
  Nanos first = 0;  // first body byte
  // --chunks-file, --chunk-delays-file: where the body's next SSE event starts, the chunks'
  // arrivals and delivery times so far, and the last `: hearth-sent-ns` time (0: none yet).
  std::size_t event_start = 0;
  std::vector<Nanos> chunk_arrivals;
  std::vector<Nanos> chunk_delays;
  Nanos sent_stamp = 0;
};

struct Samples {
  std::vector<Nanos> latency;
  std::vector<Nanos> first_byte;
  std::vector<Nanos> queue_wait;                   // open loop: sent - due
  std::vector<std::vector<Nanos>> chunk_arrivals;  // --chunks-file: per counted stream
  std::vector<std::vector<Nanos>> chunk_delays;    // --chunk-delays-file: per counted stream
  std::array<std::uint64_t, static_cast<std::size_t>(ErrorKind::count)> errors{};
  std::uint64_t completed_outside_window = 0;
  std::uint64_t errors_outside_window = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t server_closes = 0;
  std::size_t max_queue = 0;
  std::size_t max_busy = 0;
  // Open loop: due requests that found every connection of the pool busy.
  std::uint64_t waited_for_connection = 0;
};

class LoadGenerator {
 public:
  explicit LoadGenerator(Options options) : options_(std::move(options)) {
    request_ = "POST " + options_.path + " HTTP/1.1\r\nHost: " + options_.host + ":" +
               std::to_string(options_.port) +
               "\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(options_.body.size()) + "\r\n";
    if (options_.stream) request_ += "Accept: text/event-stream\r\n";
    for (const auto& header : options_.headers) request_ += header + "\r\n";
    request_ += "\r\n";
    request_ += options_.body;
    if (options_.unix_path.empty()) {
      address_.sin_family = AF_INET;
      address_.sin_port = htons(options_.port);
      if (inet_pton(AF_INET, options_.host.c_str(), &address_.sin_addr) != 1) {
        usage("--host must be an IPv4 address");
      }
    } else {
      if (options_.unix_path.size() >= sizeof(unix_address_.sun_path))
        usage("--unix path too long");
      unix_address_.sun_family = AF_UNIX;
      std::memcpy(unix_address_.sun_path, options_.unix_path.data(), options_.unix_path.size());
    }
    const int pool = options_.open_loop ? options_.connections : options_.concurrency;
    connections_.resize(static_cast<std::size_t>(pool));
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_fd_ < 0 || timer_fd_ < 0) {
      std::perror("epoll/timerfd");
      std::exit(1);
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kTimerTag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &event);
    interval_ = options_.open_loop
                    ? std::max<double>(1.0, static_cast<double>(kSecond) / options_.rate)
                    : 0.0;
  }

  int run() {
    // Every connection is open before the clock starts.
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      if (!start_connect(i)) {
        std::fprintf(stderr, "bench_loadgen: cannot connect to %s:%u: %s\n", options_.host.c_str(),
                     options_.port, std::strerror(errno));
        return 1;
      }
    }
    const Nanos connect_deadline = now_ns() + static_cast<Nanos>(options_.timeout_s * kSecond);
    while (count_phase(Connection::Phase::idle) < connections_.size()) {
      if (now_ns() > connect_deadline || connect_failures_ > 0) {
        std::fprintf(stderr, "bench_loadgen: %zu of %zu connections to %s:%u failed\n",
                     connections_.size() - count_phase(Connection::Phase::idle),
                     connections_.size(), options_.host.c_str(), options_.port);
        return 1;
      }
      poll_once(10);
    }
    start_ = now_ns();
    window_start_ = start_ + static_cast<Nanos>(options_.warmup_s * kSecond);
    window_end_ = window_start_ + static_cast<Nanos>(options_.duration_s * kSecond);
    sending_ = true;
    if (options_.open_loop) {
      // LIFO: the most recently used connection first.
      for (std::size_t i = connections_.size(); i-- > 0;) free_.push_back(i);
      on_timer();
    } else {
      for (std::size_t i = 0; i < connections_.size(); ++i) send_request(i, now_ns());
    }
    while (now_ns() < window_end_) poll_once(5);
    sending_ = false;
    // Drain: what was due in the window is still answered (and still counts).
    const Nanos drain_deadline = window_end_ + static_cast<Nanos>(options_.timeout_s * kSecond);
    while ((busy_ > 0 || !queue_.empty()) && now_ns() < drain_deadline) poll_once(5);
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      if (connections_[i].phase == Connection::Phase::busy) fail(i, ErrorKind::timeout, false);
    }
    for (const Nanos due : queue_) {
      if (due >= window_start_ && due < window_end_) {
        ++samples_.errors[static_cast<std::size_t>(ErrorKind::timeout)];
      }
    }
    queue_.clear();
    print_report();
    return 0;
  }

 private:
  static constexpr std::uint64_t kTimerTag = ~std::uint64_t{0};

  std::size_t count_phase(Connection::Phase phase) const {
    return static_cast<std::size_t>(
        std::count_if(connections_.begin(), connections_.end(),
                      [phase](const Connection& conn) { return conn.phase == phase; }));
  }

  bool start_connect(std::size_t index) {
    Connection& conn = connections_[index];
    const bool unix_socket = !options_.unix_path.empty();
    conn.fd =
        socket(unix_socket ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (conn.fd < 0) return false;
    int rc = 0;
    if (unix_socket) {
      rc = connect(conn.fd, reinterpret_cast<const sockaddr*>(&unix_address_),
                   sizeof(unix_address_));
    } else {
      const int one = 1;
      setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      rc = connect(conn.fd, reinterpret_cast<const sockaddr*>(&address_), sizeof(address_));
    }
    if (rc != 0 && errno != EINPROGRESS) {
      close(conn.fd);
      conn.fd = -1;
      return false;
    }
    conn.phase = Connection::Phase::connecting;
    conn.in.clear();
    conn.in_pos = 0;
    conn.want_write = true;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.u64 = index;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn.fd, &event);
    return true;
  }

  void close_connection(std::size_t index) {
    Connection& conn = connections_[index];
    if (conn.fd >= 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
      close(conn.fd);
    }
    conn.fd = -1;
    conn.phase = Connection::Phase::closed;
  }

  // Replaces a connection; it rejoins the pool (or, in a closed loop, sends) once connected.
  void reconnect(std::size_t index) {
    close_connection(index);
    ++samples_.reconnects;
    if (!start_connect(index)) {
      ++connect_failures_;
      if (sending_) ++samples_.errors[static_cast<std::size_t>(ErrorKind::connect)];
    }
  }

  void set_want_write(Connection& conn, std::size_t index, bool want) {
    if (conn.want_write == want) return;
    conn.want_write = want;
    epoll_event event{};
    event.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    event.data.u64 = index;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &event);
  }

  void send_request(std::size_t index, Nanos due) {
    Connection& conn = connections_[index];
    conn.phase = Connection::Phase::busy;
    conn.due = due;
    conn.sent = now_ns();
    conn.first = 0;
    conn.out_pos = 0;
    conn.parser.reset();
    conn.parser.keep_body(!options_.expect.empty() || options_.track_chunks());
    conn.event_start = 0;
    conn.chunk_arrivals.clear();
    conn.chunk_delays.clear();
    conn.sent_stamp = 0;
    ++busy_;
    samples_.max_busy = std::max(samples_.max_busy, busy_);
    if (options_.open_loop && due >= window_start_ && due < window_end_) {
      samples_.queue_wait.push_back(conn.sent - due);
    }
    write_some(index);
  }

  void write_some(std::size_t index) {
    Connection& conn = connections_[index];
    while (conn.out_pos < request_.size()) {
      const ssize_t put = send(conn.fd, request_.data() + conn.out_pos,
                               request_.size() - conn.out_pos, MSG_NOSIGNAL);
      if (put > 0) {
        conn.out_pos += static_cast<std::size_t>(put);
        continue;
      }
      if (put < 0 && errno == EINTR) continue;
      if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_want_write(conn, index, true);
        return;
      }
      fail(index, ErrorKind::reset, true);
      return;
    }
    set_want_write(conn, index, false);
  }

  bool in_window(Nanos due) const { return due >= window_start_ && due < window_end_; }

  // The request on `index` failed: counted, and the connection replaced when `replace`.
  void fail(std::size_t index, ErrorKind kind, bool replace) {
    Connection& conn = connections_[index];
    if (conn.phase == Connection::Phase::busy) {
      --busy_;
      if (in_window(conn.due)) {
        ++samples_.errors[static_cast<std::size_t>(kind)];
      } else {
        ++samples_.errors_outside_window;
      }
    }
    if (replace) {
      reconnect(index);
    } else {
      close_connection(index);
    }
  }

  void complete(std::size_t index, Nanos done) {
    Connection& conn = connections_[index];
    --busy_;
    conn.phase = Connection::Phase::idle;
    const ResponseParser& parser = conn.parser;
    ErrorKind error = ErrorKind::count;
    if (parser.status() != 200) {
      error = ErrorKind::status;
    } else if (!options_.expect.empty() &&
               parser.body().find(options_.expect) == std::string::npos) {
      error = ErrorKind::body;
    }
    if (in_window(conn.due)) {
      if (error != ErrorKind::count) {
        ++samples_.errors[static_cast<std::size_t>(error)];
        if (first_error_body_.empty()) {
          first_error_body_ =
              "HTTP " + std::to_string(parser.status()) + ": " + parser.body().substr(0, 300);
        }
      } else {
        samples_.latency.push_back(done - conn.due);
        last_done_ = std::max(last_done_, done);
        if (options_.stream)
          samples_.first_byte.push_back((conn.first ? conn.first : done) - conn.due);
        if (!options_.chunks_file.empty()) samples_.chunk_arrivals.push_back(conn.chunk_arrivals);
        if (!options_.chunk_delays_file.empty()) samples_.chunk_delays.push_back(conn.chunk_delays);
      }
    } else if (error != ErrorKind::count) {
      ++samples_.errors_outside_window;
    } else {
      ++samples_.completed_outside_window;
    }
    if (parser.close()) {
      ++samples_.server_closes;
      reconnect(index);
      return;
    }
    become_free(index);
  }

  // An idle connection: the next request goes out on it.
  void become_free(std::size_t index) {
    if (options_.open_loop) {
      free_.push_back(index);
      dispatch();
    } else if (sending_) {
      send_request(index, now_ns());
    }
  }

  void dispatch() {
    while (!queue_.empty() && !free_.empty()) {
      const std::size_t index = free_.back();
      free_.pop_back();
      const Nanos due = queue_.front();
      queue_.pop_front();
      if (starved_ > 0) --starved_;
      send_request(index, due);
    }
    // What is left found every connection busy (the oldest were counted before).
    if (queue_.size() > starved_) {
      samples_.waited_for_connection += queue_.size() - starved_;
      starved_ = queue_.size();
    }
  }

  Nanos due_time(std::uint64_t i) const {
    return start_ + static_cast<Nanos>(static_cast<double>(i) * interval_);
  }

  void on_timer() {
    std::uint64_t expirations = 0;
    while (read(timer_fd_, &expirations, sizeof(expirations)) > 0) {
    }
    if (!sending_ || !options_.open_loop) return;
    const Nanos now = now_ns();
    while (due_time(next_index_) <= now && due_time(next_index_) < window_end_) {
      queue_.push_back(due_time(next_index_));
      ++next_index_;
    }
    samples_.max_queue = std::max(samples_.max_queue, queue_.size());
    const Nanos next = due_time(next_index_);
    if (next < window_end_) {
      itimerspec spec{};
      spec.it_value.tv_sec = static_cast<time_t>(next / kSecond);
      spec.it_value.tv_nsec = static_cast<long>(next % kSecond);
      timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
    }
    dispatch();
  }

  void on_event(std::size_t index, std::uint32_t what) {
    Connection& conn = connections_[index];
    if (conn.phase == Connection::Phase::closed) return;
    if (conn.phase == Connection::Phase::connecting) {
      int error = 0;
      socklen_t length = sizeof(error);
      getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0 || (what & (EPOLLERR | EPOLLHUP))) {
        ++connect_failures_;
        if (sending_) ++samples_.errors[static_cast<std::size_t>(ErrorKind::connect)];
        close_connection(index);
        return;
      }
      if (!(what & EPOLLOUT)) return;
      conn.phase = Connection::Phase::idle;
      set_want_write(conn, index, false);
      if (start_ != 0) become_free(index);
      return;
    }
    if ((what & EPOLLOUT) && conn.phase == Connection::Phase::busy) {
      write_some(index);
      if (conn.phase != Connection::Phase::busy) return;
    }
    if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(index);
  }

  void on_readable(std::size_t index) {
    Connection& conn = connections_[index];
    bool closed = false;
    for (;;) {
      const ssize_t got = read(conn.fd, buffer_.data(), buffer_.size());
      if (got > 0) {
        conn.in.append(buffer_.data(), static_cast<std::size_t>(got));
        if (static_cast<std::size_t>(got) < buffer_.size()) break;
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      closed = true;  // EOF or reset
      break;
    }
    const Nanos now = now_ns();
    if (conn.phase != Connection::Phase::busy) {
      // An idle keep-alive connection the server closed: replace it, no request was lost.
      if (closed) {
        ++samples_.server_closes;
        if (options_.open_loop) {
          free_.erase(std::remove(free_.begin(), free_.end(), index), free_.end());
        }
        reconnect(index);
      }
      return;
    }
    const auto result = conn.parser.feed(conn.in, conn.in_pos);
    if (conn.parser.first_body_byte_pending) {
      conn.parser.first_body_byte_pending = false;
      conn.first = now;
    }
    if (options_.track_chunks()) note_chunks(conn, now, !options_.chunk_delays_file.empty());
    if (conn.in_pos == conn.in.size()) {
      conn.in.clear();
      conn.in_pos = 0;
    }
    if (result == ResponseParser::Result::bad) {
      fail(index, ErrorKind::reset, true);
      return;
    }
    if (result == ResponseParser::Result::done) {
      if (conn.in_pos < conn.in.size()) {
        // Bytes past the response on a connection with one request in flight: a broken server.
        fail(index, ErrorKind::reset, true);
        return;
      }
      complete(index, now);
      return;
    }
    if (closed) {
      if (conn.parser.complete_at_close()) {
        complete(index, now);  // reconnects: the parser says close
      } else {
        fail(index, ErrorKind::reset, true);
      }
    }
  }

  // Stamps the SSE events completed by the bytes just read; a chunk is a data event with a choice.
  static void note_chunks(Connection& conn, Nanos now, bool want_delays) {
    constexpr std::string_view sent_comment = ": hearth-sent-ns ";
    const std::string& body = conn.parser.body();
    for (;;) {
      const std::size_t end = body.find("\n\n", conn.event_start);
      if (end == std::string::npos) return;
      const std::string_view event(body.data() + conn.event_start, end - conn.event_start);
      conn.event_start = end + 2;
      if (event.starts_with(sent_comment)) {
        const std::string_view digits = event.substr(sent_comment.size());
        Nanos stamp = 0;
        const auto [last, error] =
            std::from_chars(digits.data(), digits.data() + digits.size(), stamp);
        if (error != std::errc() || last != digits.data() + digits.size() || stamp <= 0) {
          std::fprintf(stderr, "bench_loadgen: unreadable comment %.*s\n",
                       static_cast<int>(event.size()), event.data());
          std::exit(1);
        }
        conn.sent_stamp = stamp;
      } else if (event.starts_with("data:") &&
                 (event.find("\"choices\":[{") != std::string_view::npos ||
                  event.find("\"choices\": [{") != std::string_view::npos)) {
        conn.chunk_arrivals.push_back(now - conn.sent);
        if (!want_delays) continue;
        if (conn.sent_stamp == 0) {
          std::fprintf(stderr,
                       "bench_loadgen: a chunk came without a ': hearth-sent-ns' comment before "
                       "it (is the worker run with --stamp-stream-writes?)\n");
          std::exit(1);
        }
        conn.chunk_delays.push_back(now - conn.sent_stamp);
      }
    }
  }

  void check_timeouts() {
    const Nanos now = now_ns();
    const Nanos limit = static_cast<Nanos>(options_.timeout_s * kSecond);
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      if (connections_[i].phase == Connection::Phase::busy && now - connections_[i].sent > limit) {
        fail(i, ErrorKind::timeout, true);
      }
    }
  }

  void poll_once(int timeout_ms) {
    const int ready =
        epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      std::perror("epoll_wait");
      std::exit(1);
    }
    for (int i = 0; i < ready; ++i) {
      const epoll_event& event = events_[static_cast<std::size_t>(i)];
      if (event.data.u64 == kTimerTag) {
        on_timer();
      } else {
        on_event(static_cast<std::size_t>(event.data.u64), event.events);
      }
    }
    const Nanos now = now_ns();
    if (now - last_timeout_check_ > 10'000'000) {
      last_timeout_check_ = now;
      check_timeouts();
    }
  }

  static void print_percentiles(const char* name, std::vector<Nanos>& values) {
    std::sort(values.begin(), values.end());
    auto at = [&](double fraction) -> double {
      if (values.empty()) return 0;
      const auto rank =
          static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(values.size())));
      return static_cast<double>(
                 values[std::min(values.size(), std::max<std::size_t>(rank, 1)) - 1]) /
             1000.0;
    };
    double sum = 0;
    for (const Nanos value : values) sum += static_cast<double>(value);
    const double mean = values.empty() ? 0 : sum / static_cast<double>(values.size()) / 1000.0;
    std::printf(
        ",\"%s\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}",
        name, at(0.50), at(0.90), at(0.99), at(0.999),
        values.empty() ? 0.0 : static_cast<double>(values.back()) / 1000.0, mean);
  }

  static std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out += ' ';
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

  static std::FILE* open_for_writing(const std::string& path) {
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (out == nullptr) {
      std::perror(path.c_str());
      std::exit(1);
    }
    return out;
  }

  void write_samples() const {
    if (options_.samples_file.empty()) return;
    std::FILE* out = open_for_writing(options_.samples_file);
    for (const Nanos latency : samples_.latency) {
      std::fprintf(out, "%.1f\n", static_cast<double>(latency) / 1e3);
    }
    std::fclose(out);
  }

  // One line per counted stream: its chunks' times in µs.
  static void write_chunk_times(const std::string& path,
                                const std::vector<std::vector<Nanos>>& streams) {
    if (path.empty()) return;
    std::FILE* out = open_for_writing(path);
    for (const auto& times : streams) {
      for (std::size_t i = 0; i < times.size(); ++i) {
        std::fprintf(out, i == 0 ? "%.1f" : " %.1f", static_cast<double>(times[i]) / 1e3);
      }
      std::fputc('\n', out);
    }
    std::fclose(out);
  }

  void write_chunks() const {
    write_chunk_times(options_.chunks_file, samples_.chunk_arrivals);
    write_chunk_times(options_.chunk_delays_file, samples_.chunk_delays);
  }

  void print_report() {
    write_samples();  // before print_percentiles sorts them: the file keeps completion order
    write_chunks();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    std::uint64_t errors = 0;
    for (const auto count : samples_.errors) errors += count;
    const std::size_t count = samples_.latency.size();
    // Requests due in the window per second of serving them: a server that falls behind
    // finishes the window's requests after it ends, and gets the longer time.
    const double served_s =
        std::max(options_.duration_s, static_cast<double>(last_done_ - window_start_) / 1e9);
    std::printf(
        "{\"mode\":\"%s\",\"concurrency\":%d,\"rate\":%.3f,\"connections\":%zu,"
        "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"stream\":%s,\"count\":%zu,"
        "\"errors\":%llu,\"achieved_rate\":%.1f",
        options_.open_loop ? "open" : "closed", options_.open_loop ? 0 : options_.concurrency,
        options_.open_loop ? options_.rate : 0.0, connections_.size(), options_.warmup_s,
        options_.duration_s, options_.stream ? "true" : "false", count,
        static_cast<unsigned long long>(errors), static_cast<double>(count) / served_s);
    std::printf(",\"errors_by_kind\":{");
    for (std::size_t i = 0; i < samples_.errors.size(); ++i) {
      std::printf("%s\"%s\":%llu", i ? "," : "", kErrorNames[i],
                  static_cast<unsigned long long>(samples_.errors[i]));
    }
    std::printf("}");
    print_percentiles("latency_us", samples_.latency);
    if (options_.stream) print_percentiles("first_byte_us", samples_.first_byte);
    if (options_.open_loop) print_percentiles("queue_wait_us", samples_.queue_wait);
    std::printf(
        ",\"completed_outside_window\":%llu,\"errors_outside_window\":%llu,"
        "\"reconnects\":%llu,\"server_closes\":%llu,\"max_queue\":%zu,\"max_busy\":%zu,"
        "\"waited_for_connection\":%llu,\"cpu_s\":%.3f,\"first_error\":%s}\n",
        static_cast<unsigned long long>(samples_.completed_outside_window),
        static_cast<unsigned long long>(samples_.errors_outside_window),
        static_cast<unsigned long long>(samples_.reconnects),
        static_cast<unsigned long long>(samples_.server_closes), samples_.max_queue,
        samples_.max_busy, static_cast<unsigned long long>(samples_.waited_for_connection), cpu_s,
        json_string(first_error_body_).c_str());
    std::fflush(stdout);
  }

  Options options_;
  std::string request_;
  sockaddr_in address_{};
  sockaddr_un unix_address_{};
  std::vector<Connection> connections_;
  std::vector<std::size_t> free_;  // open loop: idle connections, most recent last
  std::deque<Nanos> queue_;        // open loop: due requests waiting for a connection
  std::size_t busy_ = 0;
  std::size_t starved_ = 0;  // the front of queue_ already counted in waited_for_connection
  std::uint64_t connect_failures_ = 0;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  double interval_ = 0;  // open loop: nanoseconds between due times
  std::uint64_t next_index_ = 0;
  Nanos start_ = 0;
  Nanos window_start_ = 0;
  Nanos window_end_ = 0;
  Nanos last_timeout_check_ = 0;
  Nanos last_done_ = 0;  // the last completion of a request due in the window
  bool sending_ = false;
  Samples samples_;
  std::string first_error_body_;
  std::array<epoll_event, 512> events_{};
  std::array<char, 64 * 1024> buffer_{};
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  // The default 50 µs timer slack would delay every open-loop send by up to that much.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  Options options = parse_options(argc, argv);
  LoadGenerator generator(std::move(options));
  return generator.run();
}
