// Test helper for worker_process_test: starts `/bin/sleep 60` through WorkerProcess::spawn, prints
// the child's pid on stdout and then runs its io_context forever. The test SIGKILLs this process
// and checks that the child does not outlive it.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "gateway/worker_process.hpp"

int main() {
  boost::asio::io_context io_context;
  std::vector<std::string> argv = {"/bin/sleep", "60"};
  auto process = hearth::gateway::WorkerProcess::spawn(io_context.get_executor(), std::move(argv),
                                                       [](std::string_view) {});
  if (!process) {
    std::fprintf(stderr, "%s\n", process.error().c_str());
    return 1;
  }
  std::printf("%d\n", static_cast<int>((*process)->pid()));
  std::fflush(stdout);
  // The pidfd and pipe reads stay pending while the child lives, so this does not return.
  io_context.run();
  return 0;
}
