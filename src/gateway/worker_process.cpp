#include "gateway/worker_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <system_error>

namespace hearth::gateway {

namespace net = boost::asio;
using boost::system::error_code;
using net::use_awaitable;

namespace {

constexpr std::size_t kMaxLineBytes = 64 * 1024;
constexpr std::chrono::milliseconds kExitPollInterval{50};
// Reads per readiness wakeup, so that a chatty child cannot starve the rest of the io_context.
constexpr int kReadsPerWakeup = 16;
// Bound on the synchronous drain after exit: descendants that inherited the pipe may keep writing.
constexpr int kReadsAfterExit = 64;
// Highest descriptor closed one by one in the child when the kernel lacks close_range (< 5.9).
constexpr int kMaxFdWithoutCloseRange = 65536;

std::atomic<bool> g_use_pidfd{true};

std::string error_text(int error) { return std::generic_category().message(error); }

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Keeps our descriptors off 0-2 (possible when the gateway runs with a closed stdio), so that the
// child's dup2 onto 0-2 always copies between distinct descriptors and clears close-on-exec.
bool move_above_stdio(UniqueFd& fd) {
  if (fd.get() > STDERR_FILENO) {
    return true;
  }
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (moved < 0) {
    return false;
  }
  fd.reset(moved);
  return true;
}

ProcessExit exit_from_status(int status) {
  ProcessExit result;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

pid_t waitpid_retrying(pid_t pid, int* status, int options) {
  pid_t result;
  do {
    result = ::waitpid(pid, status, options);
  } while (result < 0 && errno == EINTR);
  return result;
}

// Everything the child needs, prepared before fork: between fork and exec only async-signal-safe
// calls are allowed (another thread may have held the allocator's lock at the fork).
struct ChildSetup {
  pid_t parent_pid;
  int stdin_fd;
  int log_fd;
  int error_fd;
  const char* path;
  char* const* argv;
  struct sigaction default_action;
  sigset_t empty_mask;
  int max_fd;
};

[[noreturn]] void fail_in_child(int error_fd, int error) {
  ssize_t written;
  do {
    written = ::write(error_fd, &error, sizeof error);
  } while (written < 0 && errno == EINTR);
  ::_exit(127);
}

void close_range_or_loop(unsigned first, unsigned last, int max_fd) {
  if (::syscall(SYS_close_range, first, last, 0) == 0) {
    return;
  }
  for (int fd = static_cast<int>(first); fd <= max_fd && static_cast<unsigned>(fd) <= last; ++fd) {
    ::close(fd);
  }
}

[[noreturn]] void run_child(const ChildSetup& setup) {
  // All signals are still blocked (the parent blocked them around fork), so no handler of the
  // gateway runs here; dispositions go back to default before the mask is cleared. Ignored signals
  // (SIGPIPE) would otherwise stay ignored across exec.
  for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
    if (signal_number != SIGKILL && signal_number != SIGSTOP) {
      ::sigaction(signal_number, &setup.default_action, nullptr);
    }
  }
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    fail_in_child(setup.error_fd, errno);
  }
  // The parent may have died between fork and prctl; then nobody would ever kill us.
  if (::getppid() != setup.parent_pid) {
    ::_exit(127);
  }
  if (::dup2(setup.stdin_fd, STDIN_FILENO) < 0 || ::dup2(setup.log_fd, STDOUT_FILENO) < 0 ||
      ::dup2(setup.log_fd, STDERR_FILENO) < 0) {
    fail_in_child(setup.error_fd, errno);
  }
  // The error pipe stays open until exec closes it (close-on-exec): its EOF means success.
  unsigned error_fd = static_cast<unsigned>(setup.error_fd);
  if (error_fd > 3) {
    close_range_or_loop(3, error_fd - 1, setup.max_fd);
  }
  close_range_or_loop(error_fd + 1, ~0U, setup.max_fd);
  if (::sigprocmask(SIG_SETMASK, &setup.empty_mask, nullptr) != 0) {
    fail_in_child(setup.error_fd, errno);
  }
  ::execv(setup.path, setup.argv);
  fail_in_child(setup.error_fd, errno);
}

int max_fd_for_child() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
      limit.rlim_cur > static_cast<rlim_t>(kMaxFdWithoutCloseRange)) {
    return kMaxFdWithoutCloseRange;
  }
  return static_cast<int>(limit.rlim_cur);
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  if (g_use_pidfd.load()) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      return fd;
    }
    if (errno != ENOSYS) {
      spdlog::warn("pidfd_open({}) failed ({}); watching the worker by polling", pid,
                   error_text(errno));
    }
  }
#else
  (void)pid;
#endif
  return -1;
}

void log_coroutine_failure(std::exception_ptr error) {
  if (!error) {
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& exception) {
    spdlog::error("worker process watcher failed: {}", exception.what());
  } catch (...) {
    spdlog::error("worker process watcher failed");
  }
}

}  // namespace

std::string ProcessExit::describe() const {
  if (signal != 0) {
    const char* name = ::strsignal(signal);
    return "killed by signal " + std::to_string(signal) + " (" + (name ? name : "unknown") + ")";
  }
  if (exit_code >= 0) {
    return "exited with status " + std::to_string(exit_code);
  }
  return "exit status unknown";
}

struct WorkerProcess::Impl {
  enum class ReadResult { more, drained, end };

  Impl(net::any_io_executor executor_in, pid_t pid_in, int log_fd, int pid_fd,
       std::function<void(std::string_view)> log_line_in)
      : executor(executor_in),
        pid(pid_in),
        log_pipe(executor_in, log_fd),
        exited_signal(executor_in, net::steady_timer::time_point::max()),
        poll_timer(executor_in),
        log_line(std::move(log_line_in)) {
    if (pid_fd >= 0) {
      pidfd.emplace(executor_in, pid_fd);
    }
  }

  net::any_io_executor executor;
  pid_t pid;
  net::posix::stream_descriptor log_pipe;
  std::optional<net::posix::stream_descriptor> pidfd;
  // Never expires: cancelling it wakes every coroutine waiting for the exit.
  net::steady_timer exited_signal;
  net::steady_timer poll_timer;
  std::function<void(std::string_view)> log_line;
  std::string partial_line;
  std::array<char, 16384> read_buffer{};
  std::optional<ProcessExit> exit;
  bool closed = false;  // the WorkerProcess is gone: no more callbacks, no more I/O

  void emit(std::string_view line) {
    if (!closed && log_line) {
      log_line(line);
    }
  }

  // Lines longer than kMaxLineBytes leave in pieces of exactly kMaxLineBytes, the rest last.
  void emit_split(std::string_view line) {
    while (line.size() > kMaxLineBytes) {
      emit(line.substr(0, kMaxLineBytes));
      line.remove_prefix(kMaxLineBytes);
    }
    emit(line);
  }

  void deliver(std::string_view chunk) {
    while (!chunk.empty()) {
      auto newline = chunk.find('\n');
      if (newline == std::string_view::npos) {
        partial_line.append(chunk);
        if (partial_line.size() > kMaxLineBytes) {
          std::size_t whole = (partial_line.size() - 1) / kMaxLineBytes * kMaxLineBytes;
          std::string head = partial_line.substr(0, whole);
          partial_line.erase(0, whole);
          emit_split(head);
        }
        return;
      }
      if (partial_line.empty()) {
        emit_split(chunk.substr(0, newline));
      } else {
        std::string line = std::move(partial_line);
        partial_line.clear();
        line.append(chunk.substr(0, newline));
        emit_split(line);
      }
      chunk.remove_prefix(newline + 1);
    }
  }

  void flush_partial_line() {
    if (!partial_line.empty()) {
      std::string line = std::move(partial_line);
      partial_line.clear();
      emit_split(line);
    }
  }

  ReadResult read_log_once() {
    if (closed || !log_pipe.is_open()) {
      return ReadResult::end;
    }
    ssize_t count;
    do {
      count = ::read(log_pipe.native_handle(), read_buffer.data(), read_buffer.size());
    } while (count < 0 && errno == EINTR);
    if (count > 0) {
      deliver(std::string_view(read_buffer.data(), static_cast<std::size_t>(count)));
      return ReadResult::more;
    }
    if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return ReadResult::drained;
    }
    if (count < 0) {
      spdlog::warn("reading the output of worker {} failed: {}", pid, error_text(errno));
    }
    flush_partial_line();
    error_code ignored;
    log_pipe.close(ignored);
    return ReadResult::end;
  }

  static net::awaitable<void> read_log(std::shared_ptr<Impl> self) {
    for (;;) {
      error_code error;
      co_await self->log_pipe.async_wait(net::posix::descriptor_base::wait_read,
                                         net::redirect_error(use_awaitable, error));
      if (error || self->closed) {
        co_return;
      }
      ReadResult result = ReadResult::more;
      for (int reads = 0; reads < kReadsPerWakeup && result == ReadResult::more; ++reads) {
        result = self->read_log_once();
      }
      if (result == ReadResult::end) {
        co_return;
      }
    }
  }

  // The child has exited, so everything it wrote is already in the pipe: read it now, so that
  // waiters see the complete log (a crash message above all) before they hear of the exit.
  void drain_log_after_exit() {
    ReadResult result = ReadResult::more;
    for (int reads = 0; reads < kReadsAfterExit && result == ReadResult::more; ++reads) {
      result = read_log_once();
    }
    if (!closed) {
      flush_partial_line();
    }
  }

  void record_exit(ProcessExit result) {
    exit = result;
    if (pidfd) {
      error_code ignored;
      pidfd->close(ignored);
    }
    drain_log_after_exit();
    exited_signal.cancel();
  }

  bool try_reap() {
    int status = 0;
    pid_t reaped = waitpid_retrying(pid, &status, WNOHANG);
    if (reaped == pid) {
      record_exit(exit_from_status(status));
      return true;
    }
    if (reaped == 0) {
      return false;
    }
    spdlog::error("waitpid({}) failed: {}; treating the worker as exited", pid, error_text(errno));
    record_exit(ProcessExit{});
    return true;
  }

  static net::awaitable<void> watch_exit(std::shared_ptr<Impl> self) {
    if (self->pidfd) {
      error_code error;
      co_await self->pidfd->async_wait(net::posix::descriptor_base::wait_read,
                                       net::redirect_error(use_awaitable, error));
      if (self->closed || self->exit) {
        co_return;
      }
      if (error) {
        spdlog::warn("waiting on the pidfd of worker {} failed ({}); polling instead", self->pid,
                     error.message());
      }
    }
    while (!self->closed && !self->try_reap()) {
      error_code error;
      self->poll_timer.expires_after(kExitPollInterval);
      co_await self->poll_timer.async_wait(net::redirect_error(use_awaitable, error));
    }
  }

  static net::awaitable<ProcessExit> wait_for_exit(std::shared_ptr<Impl> self) {
    while (!self->exit) {
      error_code error;
      co_await self->exited_signal.async_wait(net::redirect_error(use_awaitable, error));
    }
    co_return *self->exit;
  }

  void kill_and_reap() {
    if (!exit) {
      ::kill(pid, SIGKILL);
      int status = 0;
      pid_t reaped = waitpid_retrying(pid, &status, 0);
      exit = reaped == pid ? exit_from_status(status) : ProcessExit{};
    }
    closed = true;
    error_code ignored;
    log_pipe.close(ignored);
    if (pidfd) {
      pidfd->close(ignored);
    }
    poll_timer.cancel();
    exited_signal.cancel();
  }
};

Expected<std::unique_ptr<WorkerProcess>, std::string> WorkerProcess::spawn(
    net::any_io_executor executor, std::vector<std::string> argv,
    std::function<void(std::string_view line)> log_line) {
  if (argv.empty() || argv[0].empty()) {
    return unexpected(std::string("cannot start a worker: empty command line"));
  }
  const std::string& path = argv[0];
  auto failure = [&path](std::string_view what, int error) {
    return unexpected("cannot start " + path + ": " + std::string(what) + error_text(error));
  };

  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (std::string& argument : argv) {
    c_argv.push_back(argument.data());
  }
  c_argv.push_back(nullptr);

  UniqueFd stdin_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!stdin_fd.valid() || !move_above_stdio(stdin_fd)) {
    return failure("/dev/null: ", errno);
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return failure("pipe: ", errno);
  }
  UniqueFd log_read(fds[0]);
  UniqueFd log_write(fds[1]);
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return failure("pipe: ", errno);
  }
  UniqueFd error_read(fds[0]);
  UniqueFd error_write(fds[1]);
  if (!move_above_stdio(log_read) || !move_above_stdio(log_write) ||
      !move_above_stdio(error_read) || !move_above_stdio(error_write)) {
    return failure("dup: ", errno);
  }
  // Only our end is non-blocking; the child's end is a separate open file description.
  if (::fcntl(log_read.get(), F_SETFL, O_NONBLOCK) != 0) {
    return failure("fcntl: ", errno);
  }

  ChildSetup setup{};
  setup.parent_pid = ::getpid();
  setup.stdin_fd = stdin_fd.get();
  setup.log_fd = log_write.get();
  setup.error_fd = error_write.get();
  setup.path = path.c_str();
  setup.argv = c_argv.data();
  setup.default_action.sa_handler = SIG_DFL;
  ::sigemptyset(&setup.default_action.sa_mask);
  ::sigemptyset(&setup.empty_mask);
  setup.max_fd = max_fd_for_child();

  sigset_t all_signals;
  sigset_t previous_mask;
  ::sigfillset(&all_signals);
  ::pthread_sigmask(SIG_SETMASK, &all_signals, &previous_mask);
  pid_t pid = ::fork();
  if (pid == 0) {
    run_child(setup);
  }
  int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  if (pid < 0) {
    return failure("fork: ", fork_error);
  }
  stdin_fd.reset();
  log_write.reset();
  error_write.reset();

  int child_error = 0;
  ssize_t count;
  do {
    count = ::read(error_read.get(), &child_error, sizeof child_error);
  } while (count < 0 && errno == EINTR);
  if (count != 0) {
    int status = 0;
    waitpid_retrying(pid, &status, 0);
    if (count != static_cast<ssize_t>(sizeof child_error)) {
      return unexpected("cannot start " + path + ": the child failed before exec (" +
                        exit_from_status(status).describe() + ")");
    }
    return failure("", child_error);
  }

  UniqueFd pid_fd(open_pidfd(pid));
  std::shared_ptr<Impl> impl;
  try {
    impl = std::make_shared<Impl>(executor, pid, log_read.get(), pid_fd.get(), std::move(log_line));
    log_read.release();
    pid_fd.release();
  } catch (const std::exception& exception) {
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid_retrying(pid, &status, 0);
    return unexpected("cannot watch " + path + ": " + exception.what());
  }
  net::co_spawn(executor, Impl::read_log(impl), log_coroutine_failure);
  net::co_spawn(executor, Impl::watch_exit(impl), log_coroutine_failure);
  return std::unique_ptr<WorkerProcess>(new WorkerProcess(std::move(impl)));
}

WorkerProcess::WorkerProcess(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

WorkerProcess::~WorkerProcess() {
  if (impl_) {
    impl_->kill_and_reap();
  }
}

pid_t WorkerProcess::pid() const { return impl_->pid; }

bool WorkerProcess::running() const { return !impl_->exit.has_value(); }

net::awaitable<ProcessExit> WorkerProcess::wait() { return Impl::wait_for_exit(impl_); }

net::awaitable<ProcessExit> WorkerProcess::terminate(std::chrono::milliseconds grace) {
  std::shared_ptr<Impl> impl = impl_;
  if (impl->exit) {
    co_return *impl->exit;
  }
  ::kill(impl->pid, SIGTERM);
  auto escalation = std::make_shared<net::steady_timer>(impl->executor, grace);
  escalation->async_wait([impl, escalation](const error_code& error) {
    // `exit` is set in the same step as the reaping, so the pid cannot have been reused yet.
    if (!error && !impl->exit) {
      spdlog::warn("worker {} did not exit within the grace period; killing it", impl->pid);
      ::kill(impl->pid, SIGKILL);
    }
  });
  ProcessExit result = co_await Impl::wait_for_exit(impl);
  escalation->cancel();
  co_return result;
}

void WorkerProcess::kill() {
  if (!impl_->exit) {
    ::kill(impl_->pid, SIGKILL);
  }
}

void WorkerProcess::use_pidfd_for_testing(bool enabled) { g_use_pidfd.store(enabled); }

int sweep_stale_runtime_dirs(const std::string& base) {
  namespace fs = std::filesystem;
  int removed = 0;
  std::error_code error;
  for (fs::directory_iterator it(base, error), end; !error && it != end; it.increment(error)) {
    // hearth-<pid>-XXXXXX, as mkdtemp made it below.
    const std::string name = it->path().filename().string();
    if (name.rfind("hearth-", 0) != 0) {
      continue;
    }
    const auto dash = name.find('-', 7);
    if (dash == std::string::npos || dash == 7 || name.size() != dash + 7 ||
        name.find_first_not_of("0123456789", 7) != dash) {
      continue;
    }
    const long pid = std::strtol(name.c_str() + 7, nullptr, 10);
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)) {
      continue;  // its gateway (or whatever reuses the pid) is alive, or we cannot tell
    }
    struct stat info {};
    const std::string path = it->path().string();
    if (::lstat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != ::geteuid() ||
        (info.st_mode & 077) != 0) {
      continue;
    }
    spdlog::info("removing the runtime directory of gateway {}, which is gone: {}", pid, path);
    remove_runtime_dir(path);
    removed += fs::exists(path) ? 0 : 1;
  }
  return removed;
}

Expected<std::string, std::string> make_runtime_dir(const std::string& configured) {
  if (!configured.empty()) {
    std::string path = configured;
    // A trailing slash would make lstat follow a symbolic link.
    while (path.size() > 1 && path.back() == '/') {
      path.pop_back();
    }
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return unexpected("cannot create runtime directory " + path + ": " + error_text(errno));
    }
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
      return unexpected("cannot inspect runtime directory " + path + ": " + error_text(errno));
    }
    if (S_ISLNK(info.st_mode)) {
      return unexpected("refusing runtime directory " + path + ": it is a symbolic link");
    }
    if (!S_ISDIR(info.st_mode)) {
      return unexpected("refusing runtime directory " + path + ": not a directory");
    }
    if (info.st_uid != ::geteuid()) {
      return unexpected("refusing runtime directory " + path + ": owned by uid " +
                        std::to_string(info.st_uid) + ", not by this user (uid " +
                        std::to_string(::geteuid()) + ")");
    }
    if ((info.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
      return unexpected("refusing runtime directory " + path + ": mode " + mode +
                        " lets group or others in (chmod 700 it)");
    }
    return path;
  }
  std::string base = "/tmp";
  const char* xdg_runtime_dir = std::getenv("XDG_RUNTIME_DIR");
  if (xdg_runtime_dir != nullptr && xdg_runtime_dir[0] == '/' &&
      ::access(xdg_runtime_dir, W_OK | X_OK) == 0) {
    base = xdg_runtime_dir;
  }
  sweep_stale_runtime_dirs(base);
  std::string path = base + "/hearth-" + std::to_string(::getpid()) + "-XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) {
    return unexpected("cannot create a runtime directory under " + base + ": " + error_text(errno));
  }
  return path;
}

void remove_runtime_dir(const std::string& path) {
  if (path.empty()) {
    return;
  }
  namespace fs = std::filesystem;
  std::error_code error;
  for (fs::directory_iterator it(path, error), end; !error && it != end; it.increment(error)) {
    if (it->symlink_status(error).type() == fs::file_type::socket) {
      fs::remove(it->path(), error);
    }
  }
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("cannot remove runtime directory {}: {}", path, error_text(errno));
  }
}

}  // namespace hearth::gateway
