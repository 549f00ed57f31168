// A byte relay for `bench/run`: the floor under any proxy's added latency on this machine. It
// accepts TCP connections on 127.0.0.1, opens one upstream connection for each (TCP or a unix
// socket) and copies bytes both ways: no parsing, no buffering beyond what a write leaves over,
// one thread, one epoll loop. Put where the gateway would be (same CPU, same sockets), what it
// adds is the cost of the extra process hop alone: the wake-ups, the context switches and the
// socket copies that a gateway cannot avoid either; what the gateway adds beyond it is its own.
//
//   bench_relay --port 0 (--to-port N | --to-unix PATH)
//
// Prints "relay listening on http://127.0.0.1:N" once bound; on SIGTERM or SIGINT prints its
// counters to stderr and exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
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
  unsigned short upstream_port = 0;
  std::string upstream_unix;
};

// One direction of a relayed connection: bytes read from `from` not yet written to `to`.
struct Direction {
  int from = -1;
  int to = -1;
  std::vector<char> pending;  // what a short write left over; reading `from` pauses meanwhile
  std::size_t offset = 0;
  std::uint32_t watched = 0;  // the epoll events `from` is registered for
};

// Both directions of one client connection; its two sockets' epoll data point here.
struct Pair {
  Direction up;    // client -> upstream
  Direction down;  // upstream -> client
  bool upstream_connected = false;
  bool closed = false;
};

struct Counters {
  std::uint64_t connections = 0;
  std::uint64_t bytes_up = 0;
  std::uint64_t bytes_down = 0;
  std::uint64_t short_writes = 0;
};

// epoll data: which socket of which pair (the low bit: 0 client, 1 upstream).
std::uint64_t tag(Pair* pair, bool upstream) {
  return reinterpret_cast<std::uint64_t>(pair) | (upstream ? 1U : 0U);
}

bool parse_port(std::string_view text, unsigned short& port) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<unsigned short>(value);
  return true;
}

int usage() {
  std::fprintf(stderr, "usage: bench_relay --port N (--to-port N | --to-unix PATH)\n");
  return 2;
}

void set_nodelay(int fd) {
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// A non-blocking connect to the upstream; -1 on an immediate failure.
int connect_upstream(const Options& options) {
  if (!options.upstream_unix.empty()) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, options.upstream_unix.c_str(), sizeof address.sun_path - 1);
    // A unix socket connects at once or not at all (EAGAIN: the listener's backlog is full).
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  set_nodelay(fd);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.upstream_port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

class Relay {
 public:
  Relay(int epoll, Options options) : epoll_(epoll), options_(std::move(options)) {}

  void accept_all(int listener) {
    while (true) {
      const int client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;
      set_nodelay(client);
      const int upstream = connect_upstream(options_);
      if (upstream < 0) {
        close(client);
        continue;
      }
      auto pair = std::make_unique<Pair>();
      pair->up = {client, upstream, {}, 0, 0};
      pair->down = {upstream, client, {}, 0, EPOLLIN | EPOLLOUT};
      // The client is read only once the upstream is connected (its EPOLLOUT says so).
      watch(EPOLL_CTL_ADD, client, tag(pair.get(), false), pair->up.watched);
      watch(EPOLL_CTL_ADD, upstream, tag(pair.get(), true), pair->down.watched);
      pairs_.push_back(std::move(pair));
      ++counters_.connections;
    }
  }

  void on_event(std::uint64_t data, std::uint32_t events) {
    auto* pair = reinterpret_cast<Pair*>(data & ~std::uint64_t{1});
    const bool upstream = (data & 1U) != 0;
    if (pair->closed) return;
    if (upstream && !pair->upstream_connected) {
      int error = 0;
      socklen_t size = sizeof error;
      getsockopt(pair->up.to, SOL_SOCKET, SO_ERROR, &error, &size);
      if (error != 0) return close_pair(*pair);
      pair->upstream_connected = true;
      update(*pair);
    }
    if ((events & EPOLLOUT) != 0) {
      // A socket that can take bytes again: finish what its direction left over.
      Direction& into = upstream ? pair->up : pair->down;
      if (!flush(into)) return close_pair(*pair);
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
      Direction& out_of = upstream ? pair->down : pair->up;
      if (!pump(out_of, !upstream)) return close_pair(*pair);
    }
    update(*pair);
  }

  void collect_closed() {
    std::erase_if(pairs_, [](const std::unique_ptr<Pair>& pair) { return pair->closed; });
  }

  const Counters& counters() const { return counters_; }

 private:
  void watch(int operation, int fd, std::uint64_t data, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = data;
    epoll_ctl(epoll_, operation, fd, &event);
  }

  // Reads `direction.from` until it would block, writing each piece on at once; false when the
  // connection is over (end of stream or an error on either side).
  bool pump(Direction& direction, bool toward_upstream) {
    if (!direction.pending.empty()) return true;  // reading waits for the leftover to go
    std::array<char, 65536> buffer;
    while (true) {
      const ssize_t got = read(direction.from, buffer.data(), buffer.size());
      if (got == 0) return false;
      if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      (toward_upstream ? counters_.bytes_up : counters_.bytes_down) +=
          static_cast<std::uint64_t>(got);
      std::size_t written = 0;
      while (written < static_cast<std::size_t>(got)) {
        const ssize_t put =
            write(direction.to, buffer.data() + written, static_cast<std::size_t>(got) - written);
        if (put < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
          direction.pending.assign(buffer.data() + written, buffer.data() + got);
          direction.offset = 0;
          ++counters_.short_writes;
          return true;
        }
        written += static_cast<std::size_t>(put);
      }
      if (static_cast<std::size_t>(got) < buffer.size()) return true;
    }
  }

  bool flush(Direction& direction) {
    while (direction.offset < direction.pending.size()) {
      const ssize_t put = write(direction.to, direction.pending.data() + direction.offset,
                                direction.pending.size() - direction.offset);
      if (put < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
      direction.offset += static_cast<std::size_t>(put);
    }
    direction.pending.clear();
    direction.offset = 0;
    return true;
  }

  // Each socket is read while its direction has nothing left over, and watched for room while
  // the other direction has; epoll is told only of changes (a relay that made a system call
  // per event more than it must would raise the floor it is there to show).
  void update(Pair& pair) {
    if (!pair.upstream_connected) return;
    const auto set = [&](Direction& reading, const Direction& writing_into, bool upstream) {
      std::uint32_t events = 0;
      if (reading.pending.empty()) events |= EPOLLIN;
      if (!writing_into.pending.empty()) events |= EPOLLOUT;
      if (events == reading.watched) return;
      reading.watched = events;
      watch(EPOLL_CTL_MOD, reading.from, tag(&pair, upstream), events);
    };
    set(pair.up, pair.down, false);
    set(pair.down, pair.up, true);
  }

  void close_pair(Pair& pair) {
    pair.closed = true;
    close(pair.up.from);
    close(pair.up.to);
  }

  int epoll_;
  Options options_;
  std::vector<std::unique_ptr<Pair>> pairs_;
  Counters counters_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool port_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string_view value = argv[++i];
    if (argument == "--port" && parse_port(value, options.port)) {
      port_given = true;
    } else if (argument == "--to-port" && parse_port(value, options.upstream_port)) {
    } else if (argument == "--to-unix") {
      options.upstream_unix = std::string(value);
    } else {
      return usage();
    }
  }
  if (!port_given || (options.upstream_port == 0) == options.upstream_unix.empty()) {
    return usage();
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);

  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int on = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 4096) != 0) {
    std::fprintf(stderr, "bench_relay: cannot listen: %s\n", std::strerror(errno));
    return 1;
  }
  socklen_t size = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
  std::printf("relay listening on http://127.0.0.1:%d\n", ntohs(address.sin_port));
  std::fflush(stdout);

  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  Relay relay(epoll, options);
  epoll_event listen_event{};
  listen_event.events = EPOLLIN;
  listen_event.data.u64 = 0;  // no pair has address 0
  epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &listen_event);
  std::array<epoll_event, 256> events;
  while (g_stop == 0) {
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < ready; ++i) {
      if (events[i].data.u64 == 0) {
        relay.accept_all(listener);
      } else {
        relay.on_event(events[i].data.u64, events[i].events);
      }
    }
    relay.collect_closed();
  }
  const Counters& counters = relay.counters();
  std::fprintf(stderr,
               "relay: %llu connections, %llu bytes up, %llu bytes down, %llu short writes\n",
               static_cast<unsigned long long>(counters.connections),
               static_cast<unsigned long long>(counters.bytes_up),
               static_cast<unsigned long long>(counters.bytes_down),
               static_cast<unsigned long long>(counters.short_writes));
  return 0;
}
