#include "worker/worker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <thread>

#include "api/serialize.hpp"
#include "worker/service.hpp"

namespace hearth::worker {

int run_worker(const WorkerOptions& options) {
  engine::configure_llama_logging(options.verbose);
  const std::string model_name = options.name.empty()
                                     ? std::filesystem::path(options.model_path).stem().string()
                                     : options.name;
  WorkerService service(model_name, options.aliases);
  service.set_stamp_stream_writes(options.stamp_stream_writes);

  http::net::io_context io_context;
  http::Server server(
      io_context, options.limits,
      [&service](const http::Request& request, http::ResponseWriter& writer) {
        return service.handle(request, writer);
      },
      api::error_body);

  if (!options.socket_path.empty()) {
    auto listening = server.listen_unix(options.socket_path);
    if (!listening) {
      spdlog::error("{}", listening.error());
      return 1;
    }
    spdlog::info("worker listening on unix socket {}", options.socket_path);
  } else {
    auto address = http::parse_listen_address(options.listen);
    if (!address) {
      spdlog::error("{}", address.error());
      return 2;
    }
    auto port = server.listen_tcp(address->first, address->second);
    if (!port) {
      spdlog::error("{}", port.error());
      return 1;
    }
    // Tests and the gateway read this line to learn an ephemeral port.
    spdlog::info("worker listening on http://{}:{}", address->first, port.value());
  }

  http::net::signal_set signals(io_context, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
    if (!error) {
      spdlog::info("worker stopping on signal {}", signal_number);
      server.stop();
      service.shutdown();
      io_context.stop();
    }
  });

  // Load in the background so /health can say "loading" meanwhile.
  std::thread loader([&]() {
    const auto started = std::chrono::steady_clock::now();
    auto model = engine::Model::load(options.model_path);
    if (!model) {
      spdlog::error("model load failed: {}", model.error());
      service.set_failed(model.error());
      return;
    }
    auto engine = engine::Engine::create(model.value(), options.engine);
    if (!engine) {
      spdlog::error("engine start failed: {}", engine.error());
      service.set_failed(engine.error());
      return;
    }
    const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
    spdlog::info("model {} ready in {:.2f}s: {}, {} slots of {} tokens", model_name,
                 elapsed.count(), model.value()->info().description, engine.value()->parallel(),
                 engine.value()->slot_context());
    service.set_engine(std::move(engine.value()));
  });

  std::vector<std::thread> io_threads;
  for (int i = 1; i < std::max(1, options.io_threads); ++i) {
    io_threads.emplace_back([&io_context]() { io_context.run(); });
  }
  io_context.run();
  for (auto& thread : io_threads) {
    thread.join();
  }
  loader.join();
  service.shutdown();
  return 0;
}

}  // namespace hearth::worker
