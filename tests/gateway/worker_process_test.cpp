// clang-format off
#include <utility>
// clang-format on

#include "gateway/worker_process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

namespace hearth::gateway {
namespace {

namespace net = boost::asio;
namespace fs = std::filesystem;
using boost::system::error_code;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Collects a child's log lines; coroutines can await a given line.
struct LogCollector {
  explicit LogCollector(net::any_io_executor executor)
      : arrived(executor, net::steady_timer::time_point::max()) {}

  std::function<void(std::string_view)> callback() {
    return [this](std::string_view line) {
      lines.emplace_back(line);
      arrived.cancel();
    };
  }

  net::awaitable<void> wait_for(std::string line) {
    while (std::find(lines.begin(), lines.end(), line) == lines.end()) {
      error_code error;
      co_await arrived.async_wait(net::redirect_error(net::use_awaitable, error));
    }
  }

  std::vector<std::string> lines;
  net::steady_timer arrived;
};

class WorkerProcessTest : public ::testing::Test {
 protected:
  void TearDown() override {
    WorkerProcess::use_pidfd_for_testing(true);
    // Every test reaps what it started: a leftover child means a leak in WorkerProcess.
    pid_t leftover = ::waitpid(-1, nullptr, WNOHANG);
    int error = errno;
    EXPECT_EQ(leftover, -1);
    EXPECT_EQ(error, ECHILD);
  }

  std::unique_ptr<WorkerProcess> spawn_shell(const std::string& script) {
    std::vector<std::string> argv = {"/bin/sh", "-c", script};
    auto process =
        WorkerProcess::spawn(io_context_.get_executor(), std::move(argv), log_.callback());
    EXPECT_TRUE(process.has_value()) << process.error();
    return process ? std::move(process.value()) : nullptr;
  }

  // Runs `task` on the io_context until it completes; false if it did not within `limit`.
  bool run(net::awaitable<void> task, std::chrono::milliseconds limit = 10s) {
    bool done = false;
    std::exception_ptr failure;
    net::co_spawn(io_context_, std::move(task), [&](std::exception_ptr error) {
      done = true;
      failure = error;
    });
    auto deadline = Clock::now() + limit;
    while (!done && Clock::now() < deadline) {
      if (io_context_.stopped()) {
        io_context_.restart();
      }
      io_context_.run_one_for(20ms);
    }
    if (failure) {
      std::rethrow_exception(failure);
    }
    return done;
  }

  ProcessExit wait_for_exit(WorkerProcess& process) {
    ProcessExit result;
    bool done = run([&]() -> net::awaitable<void> { result = co_await process.wait(); }());
    EXPECT_TRUE(done) << "the child did not exit in time";
    return result;
  }

  struct Terminated {
    bool done = false;
    ProcessExit exit;
    Clock::duration elapsed{};
  };
  // Waits for the child to print "ready", then times terminate(grace).
  Terminated terminate_once_ready(WorkerProcess& process, std::chrono::milliseconds grace) {
    Terminated result;
    result.done = run([&]() -> net::awaitable<void> {
      std::string ready = "ready";
      co_await log_.wait_for(ready);
      auto start = Clock::now();
      result.exit = co_await process.terminate(grace);
      result.elapsed = Clock::now() - start;
    }());
    return result;
  }

  net::io_context io_context_;
  LogCollector log_{io_context_.get_executor()};
};

bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) {
    return true;
  }
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // "PID (comm) STATE ...": a killed process reparented to a non-reaping init stays a zombie.
  auto close_paren = content.rfind(')');
  return close_paren == std::string::npos || content.size() < close_paren + 3 ||
         content[close_paren + 2] == 'Z';
}

std::string process_name(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

TEST_F(WorkerProcessTest, LinesArriveInOrderWithStderrAndFinalPartialLine) {
  auto process = spawn_shell("echo one; echo two >&2; printf 'three\\n\\n'; printf last");
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_EQ(exit.signal, 0);
  // All output is delivered before wait() completes, without waiting for anything else.
  std::vector<std::string> expected = {"one", "two", "three", "", "last"};
  EXPECT_EQ(log_.lines, expected);
}

TEST_F(WorkerProcessTest, OutputIsCompleteAtExitEvenWhileADescendantHoldsThePipe) {
  // The background sleep keeps the pipe open, so no EOF: the final partial line must still come.
  auto process = spawn_shell("/bin/sleep 30 & echo $!; printf partial");
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.exit_code, 0);
  ASSERT_EQ(log_.lines.size(), 2u) << ::testing::PrintToString(log_.lines);
  EXPECT_EQ(log_.lines[1], "partial");
  pid_t descendant = std::stoi(log_.lines[0]);
  ASSERT_GT(descendant, 0);
  ::kill(descendant, SIGKILL);
}

TEST_F(WorkerProcessTest, LongLinesAreSplit) {
  auto process = spawn_shell(
      "head -c 150000 /dev/zero | tr '\\0' a; echo; echo after; head -c 65536 "
      "/dev/zero | tr '\\0' b; echo");
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.exit_code, 0);
  ASSERT_EQ(log_.lines.size(), 5u);
  EXPECT_EQ(log_.lines[0], std::string(65536, 'a'));
  EXPECT_EQ(log_.lines[1], std::string(65536, 'a'));
  EXPECT_EQ(log_.lines[2], std::string(150000 - 2 * 65536, 'a'));
  EXPECT_EQ(log_.lines[3], "after");
  EXPECT_EQ(log_.lines[4], std::string(65536, 'b'));  // exactly the limit: one line
}

TEST_F(WorkerProcessTest, ReportsExitStatus) {
  auto process = spawn_shell("exit 3");
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.exit_code, 3);
  EXPECT_EQ(exit.signal, 0);
  EXPECT_EQ(exit.describe(), "exited with status 3");
  EXPECT_FALSE(process->running());
}

TEST_F(WorkerProcessTest, ReportsKillingSignal) {
  auto process = spawn_shell("kill -9 $$");
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_EQ(exit.describe(), "killed by signal 9 (Killed)");
}

TEST_F(WorkerProcessTest, SignalDispositionsAndMaskAreReset) {
  // The test process ignores SIGPIPE and blocks SIGTERM; the child must get neither.
  struct sigaction ignore {};
  struct sigaction previous_action {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &previous_action);
  sigset_t term;
  sigset_t previous_mask;
  ::sigemptyset(&term);
  ::sigaddset(&term, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &term, &previous_mask);
  auto process = spawn_shell("exec grep -E '^(SigIgn|SigBlk)' /proc/self/status");
  ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  ::sigaction(SIGPIPE, &previous_action, nullptr);
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.exit_code, 0);
  ASSERT_EQ(log_.lines.size(), 2U) << ::testing::PrintToString(log_.lines);
  EXPECT_EQ(log_.lines[0], "SigBlk:\t0000000000000000");
  ASSERT_EQ(log_.lines[1].rfind("SigIgn:\t", 0), 0U) << log_.lines[1];
  // Signals 32 and 33 are glibc's own (thread cancellation, setxid): sigaction refuses them, an
  // ignored disposition inherited from whatever started the tests survives exec, and glibc
  // installs its handlers for them at start-up anyway. Every other signal must be at default.
  const unsigned long long ignored = std::stoull(log_.lines[1].substr(8), nullptr, 16);
  const unsigned long long glibc_reserved = (1ULL << (32 - 1)) | (1ULL << (33 - 1));
  EXPECT_EQ(ignored & ~glibc_reserved, 0ULL) << log_.lines[1];
}

TEST_F(WorkerProcessTest, MissingExecutableIsAnErrorWithNoChildLeft) {
  std::vector<std::string> argv = {"/nonexistent/hearth", "worker"};
  auto process = WorkerProcess::spawn(io_context_.get_executor(), std::move(argv), log_.callback());
  ASSERT_FALSE(process.has_value());
  EXPECT_EQ(process.error(), "cannot start /nonexistent/hearth: No such file or directory");
  // TearDown checks that the failed child was reaped.
}

TEST_F(WorkerProcessTest, NonExecutableFileIsAnError) {
  std::vector<std::string> argv = {"/dev/null"};
  auto process = WorkerProcess::spawn(io_context_.get_executor(), std::move(argv), log_.callback());
  ASSERT_FALSE(process.has_value());
  EXPECT_EQ(process.error(), "cannot start /dev/null: Permission denied");
}

TEST_F(WorkerProcessTest, EmptyCommandLineIsAnError) {
  auto process = WorkerProcess::spawn(io_context_.get_executor(), {}, log_.callback());
  ASSERT_FALSE(process.has_value());
  EXPECT_NE(process.error().find("empty command line"), std::string::npos);
}

TEST_F(WorkerProcessTest, TerminateEscalatesToSigkillAfterGrace) {
  // The ignored SIGTERM survives the exec, so sleep itself ignores it.
  auto process = spawn_shell("trap '' TERM; echo ready; exec /bin/sleep 30");
  ASSERT_TRUE(process);
  constexpr auto kGrace = 300ms;
  auto [done, exit, elapsed] = terminate_once_ready(*process, kGrace);
  ASSERT_TRUE(done);
  EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_GE(elapsed, kGrace);
  EXPECT_LT(elapsed, kGrace + 1500ms);
  EXPECT_FALSE(process->running());
}

TEST_F(WorkerProcessTest, TerminateOfCooperativeChildUsesSigterm) {
  auto process = spawn_shell("echo ready; exec /bin/sleep 30");
  ASSERT_TRUE(process);
  constexpr auto kGrace = 10s;
  auto [done, exit, elapsed] = terminate_once_ready(*process, kGrace);
  ASSERT_TRUE(done);
  EXPECT_EQ(exit.signal, SIGTERM);
  EXPECT_LT(elapsed, 2s);
  // A second terminate() of an exited child answers at once with the same exit.
  ProcessExit again;
  ASSERT_TRUE(
      run([&]() -> net::awaitable<void> { again = co_await process->terminate(kGrace); }()));
  EXPECT_EQ(again.signal, SIGTERM);
}

TEST_F(WorkerProcessTest, SeveralWaitersAllSeeTheExit) {
  auto process = spawn_shell("exec /bin/sleep 30");
  ASSERT_TRUE(process);
  std::optional<ProcessExit> first;
  std::optional<ProcessExit> second;
  net::co_spawn(
      io_context_, [&]() -> net::awaitable<void> { first = co_await process->wait(); },
      [](std::exception_ptr) {});
  bool done = run([&]() -> net::awaitable<void> {
    // Let the first waiter start waiting before the kill.
    net::steady_timer tick(io_context_, 10ms);
    co_await tick.async_wait(net::use_awaitable);
    EXPECT_TRUE(process->running());
    process->kill();
    second = co_await process->wait();
  }());
  ASSERT_TRUE(done);
  for (int i = 0; i < 100 && !first; ++i) {
    io_context_.run_one_for(20ms);
  }
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(first->signal, SIGKILL);
  EXPECT_EQ(second->signal, SIGKILL);
}

TEST_F(WorkerProcessTest, PollingFallbackReportsTheExit) {
  WorkerProcess::use_pidfd_for_testing(false);
  auto process = spawn_shell("echo polled; exit 5");
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.exit_code, 5);
  std::vector<std::string> expected = {"polled"};
  EXPECT_EQ(log_.lines, expected);
}

TEST_F(WorkerProcessTest, DestructorKillsAndReapsARunningChild) {
  auto process = spawn_shell("exec /bin/sleep 30");
  ASSERT_TRUE(process);
  pid_t pid = process->pid();
  ASSERT_EQ(::kill(pid, 0), 0);
  process.reset();
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  // The pending reads and waits end with the process object, so the io_context runs out of work.
  io_context_.restart();
  io_context_.run_for(2s);
  EXPECT_TRUE(io_context_.stopped());
}

TEST_F(WorkerProcessTest, DestructorWhileTerminateWaitsWakesIt) {
  auto process = spawn_shell("trap '' TERM; echo ready; exec /bin/sleep 30");
  ASSERT_TRUE(process);
  std::optional<ProcessExit> exit;
  net::co_spawn(
      io_context_,
      [&]() -> net::awaitable<void> {
        std::string ready = "ready";
        co_await log_.wait_for(ready);
        exit = co_await process->terminate(30s);
      },
      [](std::exception_ptr) {});
  ASSERT_TRUE(run([&]() -> net::awaitable<void> {
    std::string ready = "ready";
    co_await log_.wait_for(ready);
  }()));
  process.reset();
  for (int i = 0; i < 100 && !exit; ++i) {
    io_context_.run_one_for(20ms);
  }
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGKILL);
}

TEST_F(WorkerProcessTest, ChildHasOnlyStdioOpen) {
  // Descriptors without close-on-exec in the gateway must not reach the worker.
  int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 0);
  int leaked_pipe[2];
  ASSERT_EQ(::pipe(leaked_pipe), 0);
  // ls holds one descriptor of its own: the /proc/self/fd directory it lists.
  auto process = spawn_shell("exec ls -l /proc/self/fd");
  ::close(leaked);
  ::close(leaked_pipe[0]);
  ::close(leaked_pipe[1]);
  ASSERT_TRUE(process);
  ProcessExit exit = wait_for_exit(*process);
  EXPECT_EQ(exit.exit_code, 0);
  std::map<int, std::string> targets;
  for (const std::string& line : log_.lines) {
    auto arrow = line.find(" -> ");
    if (arrow == std::string::npos) {
      continue;
    }
    auto space = line.rfind(' ', arrow - 1);
    targets[std::stoi(line.substr(space + 1, arrow - space - 1))] = line.substr(arrow + 4);
  }
  ASSERT_EQ(targets.size(), 4u) << ::testing::PrintToString(log_.lines);
  EXPECT_EQ(targets[0], "/dev/null");
  EXPECT_EQ(targets[1].rfind("pipe:[", 0), 0u);
  EXPECT_EQ(targets[1], targets[2]);
  EXPECT_EQ(targets[3].rfind("/proc/", 0), 0u) << targets[3];
  EXPECT_EQ(targets[3].substr(targets[3].size() - 3), "/fd") << targets[3];
}

TEST_F(WorkerProcessTest, ChildDiesWhenItsParentIsKilled) {
  // The helper is itself a child of this test; its child is `/bin/sleep 60`, whose pid it prints.
  std::vector<std::string> argv = {HEARTH_SPAWN_AND_WAIT};
  auto helper = WorkerProcess::spawn(io_context_.get_executor(), std::move(argv), log_.callback());
  ASSERT_TRUE(helper.has_value()) << helper.error();
  ASSERT_TRUE(run([&]() -> net::awaitable<void> {
    while (log_.lines.empty()) {
      error_code error;
      co_await log_.arrived.async_wait(net::redirect_error(net::use_awaitable, error));
    }
  }()));
  pid_t grandchild = std::stoi(log_.lines.front());
  ASSERT_GT(grandchild, 0);
  ASSERT_FALSE(process_gone(grandchild));
  ASSERT_EQ(process_name(grandchild), "sleep");

  ASSERT_EQ(::kill((*helper)->pid(), SIGKILL), 0);
  ProcessExit helper_exit = wait_for_exit(**helper);
  EXPECT_EQ(helper_exit.signal, SIGKILL);

  auto deadline = Clock::now() + 2s;
  while (!process_gone(grandchild) && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(process_gone(grandchild)) << "pid " << grandchild << " outlived its parent";
  if (!process_gone(grandchild)) {
    ::kill(grandchild, SIGKILL);
  }
}

// Leaves a socket file at `path`, as a worker's listening socket would.
void bind_unix_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof address.sun_path);
  std::copy(path.begin(), path.end(), address.sun_path);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << path;
  ::close(fd);
}

class RuntimeDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "hearth-runtime-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    scratch_ = pattern;
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    if (xdg != nullptr) {
      saved_xdg_ = xdg;
    }
  }
  void TearDown() override {
    if (saved_xdg_) {
      ::setenv("XDG_RUNTIME_DIR", saved_xdg_->c_str(), 1);
    } else {
      ::unsetenv("XDG_RUNTIME_DIR");
    }
    std::error_code ignored;
    fs::remove_all(scratch_, ignored);
  }

  static unsigned mode_of(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::lstat(path.c_str(), &info), 0);
    return info.st_mode & 07777;
  }

  fs::path scratch_;
  std::optional<std::string> saved_xdg_;
};

TEST_F(RuntimeDirTest, FreshDirectoryUnderXdgRuntimeDirHoldsSocketsAndIsRemoved) {
  ::setenv("XDG_RUNTIME_DIR", scratch_.c_str(), 1);
  auto made = make_runtime_dir("");
  ASSERT_TRUE(made.has_value()) << made.error();
  std::string prefix = scratch_.string() + "/hearth-" + std::to_string(::getpid()) + "-";
  EXPECT_EQ(made->rfind(prefix, 0), 0u) << *made;
  EXPECT_EQ(mode_of(*made), 0700u);
  auto other = make_runtime_dir("");
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(*other, *made);

  bind_unix_socket(*made + "/model.sock");

  remove_runtime_dir(*made);
  remove_runtime_dir(*other);
  EXPECT_FALSE(fs::exists(*made));
  EXPECT_FALSE(fs::exists(*other));
}

TEST_F(RuntimeDirTest, DirectoriesOfGatewaysThatAreGoneAreSweptAway) {
  // A pid that is certainly gone: a child that has exited and been reaped.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::_exit(0);
  }
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const fs::path stale = scratch_ / ("hearth-" + std::to_string(child) + "-AbC123");
  const fs::path alive = scratch_ / ("hearth-" + std::to_string(::getpid()) + "-XyZ789");
  const fs::path unrelated = scratch_ / ("hearth-" + std::to_string(child) + "-toolong1");
  for (const auto& path : {stale, alive, unrelated}) {
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << path;
  }
  bind_unix_socket((stale / "worker-1.sock").string());

  ::setenv("XDG_RUNTIME_DIR", scratch_.c_str(), 1);
  auto made = make_runtime_dir("");  // sweeps first
  ASSERT_TRUE(made.has_value()) << made.error();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(alive));      // its gateway (this process) runs
  EXPECT_TRUE(fs::exists(unrelated));  // not a name make_runtime_dir makes
  EXPECT_EQ(sweep_stale_runtime_dirs(scratch_.string()), 0);
  remove_runtime_dir(*made);
}

TEST_F(RuntimeDirTest, FallsBackToTmpWithoutUsableXdgRuntimeDir) {
  ::setenv("XDG_RUNTIME_DIR", (scratch_ / "missing").c_str(), 1);
  auto made = make_runtime_dir("");
  ASSERT_TRUE(made.has_value()) << made.error();
  EXPECT_EQ(made->rfind("/tmp/hearth-", 0), 0u) << *made;
  EXPECT_EQ(mode_of(*made), 0700u);
  remove_runtime_dir(*made);
  EXPECT_FALSE(fs::exists(*made));
}

TEST_F(RuntimeDirTest, ConfiguredDirectoryIsCreatedPrivate) {
  fs::path configured = scratch_ / "sockets";
  auto made = make_runtime_dir(configured.string() + "/");
  ASSERT_TRUE(made.has_value()) << made.error();
  EXPECT_EQ(*made, configured.string());
  EXPECT_EQ(mode_of(configured), 0700u);
  // An existing private directory is accepted as it is.
  auto again = make_runtime_dir(configured.string());
  ASSERT_TRUE(again.has_value()) << again.error();
  EXPECT_EQ(*again, configured.string());
}

TEST_F(RuntimeDirTest, ConfiguredDirectoryOpenToOthersIsRefused) {
  fs::path configured = scratch_ / "open";
  ASSERT_EQ(::mkdir(configured.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(configured.c_str(), 0755), 0);
  auto made = make_runtime_dir(configured.string());
  ASSERT_FALSE(made.has_value());
  EXPECT_NE(made.error().find("mode 0755"), std::string::npos) << made.error();
}

TEST_F(RuntimeDirTest, ConfiguredSymlinkIsRefused) {
  fs::path target = scratch_ / "target";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  fs::path link = scratch_ / "link";
  fs::create_directory_symlink(target, link);
  for (const std::string& configured : {link.string(), link.string() + "/"}) {
    auto made = make_runtime_dir(configured);
    ASSERT_FALSE(made.has_value()) << configured;
    EXPECT_NE(made.error().find("symbolic link"), std::string::npos) << made.error();
  }
}

TEST_F(RuntimeDirTest, ConfiguredFileIsRefused) {
  fs::path file = scratch_ / "file";
  std::ofstream(file) << "x";
  auto made = make_runtime_dir(file.string());
  ASSERT_FALSE(made.has_value());
  EXPECT_NE(made.error().find("not a directory"), std::string::npos) << made.error();
}

}  // namespace
}  // namespace hearth::gateway
