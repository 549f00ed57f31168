// `hearth worker`: one model behind a complete OpenAI-compatible HTTP API, on a TCP port or a
// unix socket. The gateway treats a worker like any other OpenAI-compatible backend.
#pragma once

#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "http/server.hpp"

namespace hearth::worker {

struct WorkerOptions {
  std::string model_path;
  std::string name;  // the model's name in "model" and responses; "" : the file's stem
  std::vector<std::string> aliases;  // names accepted in "model" besides the file's stem
  std::string listen = "127.0.0.1:8080";
  std::string socket_path;  // when set, serve on this unix socket instead of TCP
  engine::EngineOptions engine;
  http::ServerLimits limits;
  int io_threads = 1;
  bool verbose = false;
  bool stamp_stream_writes = false;  // see WorkerService::set_stamp_stream_writes
};

// Serves until SIGINT or SIGTERM. The HTTP port opens at once and answers /health with
// "loading" until the model is ready. Returns the process exit code.
int run_worker(const WorkerOptions& options);

}  // namespace hearth::worker
