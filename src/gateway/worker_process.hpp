// One child process (a `hearth worker`), spawned so that it can never outlive the gateway:
// PR_SET_PDEATHSIG(SIGKILL) in the child, checked against a parent that died before the prctl.
// Its stdout and stderr are read by the gateway and logged line by line with the model's name.
// Exit is observed without blocking through a pidfd on the gateway's io_context.
//
// Threading: call spawn(), the members and the destructor on the executor given to spawn() (a
// strand if its io_context runs on several threads) or while nothing runs that executor. The thread
// that calls spawn() must live as long as the child: the kernel's parent-death signal follows the
// forking thread, not the process. Nothing else in the process may reap with waitpid(-1).
#pragma once

// Asio needs <utility> before its own headers with GCC 12 coroutines.
// clang-format off
#include <utility>
// clang-format on

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace hearth::gateway {

struct ProcessExit {
  int exit_code = -1;            // when exited normally
  int signal = 0;                // when killed by a signal
  std::string describe() const;  // "exited with status 1", "killed by signal 9 (Killed)"
};

class WorkerProcess {
 public:
  // Starts `argv` (argv[0] is the executable path, not searched in PATH). `log_line` is called on
  // the executor for every line the child prints (stdout and stderr merged), without the newline.
  static Expected<std::unique_ptr<WorkerProcess>, std::string> spawn(
      boost::asio::any_io_executor executor, std::vector<std::string> argv,
      std::function<void(std::string_view line)> log_line);
  ~WorkerProcess();  // kills (SIGKILL) and reaps a child that is still running
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const;
  bool running() const;
  // Completes when the child has exited (and is reaped); at once if it already has. Everything the
  // child printed before it exited has been passed to `log_line` by then. Any number may wait.
  boost::asio::awaitable<ProcessExit> wait();
  // SIGTERM, then SIGKILL if it has not exited within `grace`; completes once reaped.
  boost::asio::awaitable<ProcessExit> terminate(std::chrono::milliseconds grace);
  void kill();  // SIGKILL now; wait() reports the exit

  // Tests only: watch exits by polling waitpid every 50 ms, as on kernels without pidfd_open.
  static void use_pidfd_for_testing(bool enabled);

 private:
  struct Impl;
  explicit WorkerProcess(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// A fresh private directory (mode 0700) for worker sockets: under $XDG_RUNTIME_DIR when set and
// writable, else under /tmp, named hearth-<pid>-<random>. `configured` non-empty: that directory,
// created if missing, refused unless owned by this user with no group/other access.
Expected<std::string, std::string> make_runtime_dir(const std::string& configured);
// Removes, under `base`, the private directories (hearth-<pid>-XXXXXX, ours, mode 0700) of
// gateways that no longer run, such as one killed with SIGKILL; make_runtime_dir calls it.
// Returns how many it removed.
int sweep_stale_runtime_dirs(const std::string& base);
// Removes the sockets in the directory made above, then the directory; anything else in it keeps
// the directory (with a warning), so a configured directory holding other files is never emptied.
void remove_runtime_dir(const std::string& path);

}  // namespace hearth::gateway
