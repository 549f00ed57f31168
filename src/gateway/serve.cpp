#include "gateway/serve.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <filesystem>
#include <memory>

#include "api/serialize.hpp"
#include "config/config.hpp"
#include "engine/model.hpp"
#include "gateway/dashboard.hpp"
#include "gateway/gateway_metrics.hpp"
#include "gateway/gateway_service.hpp"
#include "gateway/model_manager.hpp"
#include "gateway/privacy_guard.hpp"
#include "gateway/trust.hpp"
#include "gateway/worker_process.hpp"
#include "http/server.hpp"

namespace hearth::gateway {

namespace net = boost::asio;

namespace {

// Models found by scanning models_dir get their task from the GGUF itself (an embedding or
// rerank model declares its pooling); a file that is not a readable GGUF is left out.
void refine_scanned_models(config::Config& config) {
  std::vector<config::ModelEntry> kept;
  for (auto& entry : config.models) {
    if (entry.from_models_dir) {
      const auto& path = std::get<config::LocalBackend>(entry.backend).path;
      auto info = engine::inspect_gguf(path);
      if (!info) {
        spdlog::warn("models_dir: skipping {}: {}", path, info.error());
        continue;
      }
      switch (info->task) {
        case engine::ModelTask::chat:
          entry.task = config::ModelTask::chat;
          break;
        case engine::ModelTask::embedding:
          entry.task = config::ModelTask::embedding;
          break;
        case engine::ModelTask::rerank:
          entry.task = config::ModelTask::rerank;
          break;
      }
    }
    kept.push_back(std::move(entry));
  }
  config.models = std::move(kept);
  if (!config.default_model.empty() && config.find_model(config.default_model) == nullptr) {
    config.default_model.clear();
  }
}

Expected<config::Config, config::ConfigError> load(const ServeOptions& options) {
  Expected<config::Config, config::ConfigError> loaded =
      options.config_path.empty() ? Expected<config::Config, config::ConfigError>(
                                        config::default_config(options.models_dir))
                                  : config::load_config_file(options.config_path);
  if (loaded) {
    refine_scanned_models(loaded.value());
  }
  return loaded;
}

std::string this_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("hearth") : path.string();
}

http::ServerLimits limits_of(const config::ServerSettings& server) {
  http::ServerLimits limits;
  limits.max_body_bytes = server.max_body_bytes;
  limits.max_header_bytes = server.max_header_bytes;
  limits.max_connections = server.max_connections;
  limits.header_timeout = server.header_timeout;
  limits.idle_timeout = server.idle_timeout;
  limits.single_threaded = true;  // run_gateway runs its io_context on one thread
  return limits;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

http::TlsSettings tls_of(const config::TlsSettings& tls) {
  http::TlsSettings settings;
  settings.certificate_file = tls.certificate;
  settings.private_key_file = tls.private_key;
  settings.client_ca_file = tls.client_ca;
  return settings;
}

}  // namespace

int run_gateway(const ServeOptions& options) {
  auto loaded = load(options);
  if (!loaded) {
    spdlog::error("configuration rejected: {}", loaded.error().to_string());
    return 2;
  }
  auto initial = std::make_shared<config::Config>(std::move(loaded.value()));
  auto initial_scanner = build_scanner(initial->privacy);
  if (!initial_scanner) {
    spdlog::error("configuration rejected: {}", initial_scanner.error());
    return 2;
  }
  if (!options.listen.empty()) {
    initial->server.listen = options.listen;
  }
  const std::string listen = initial->server.listen;
  auto address = http::parse_listen_address(listen);
  if (!address) {
    spdlog::error("{}", address.error());
    return 2;
  }
  // The ledger (usage, keys, audit) opens before anything listens: no request goes unrecorded.
  Expected<std::unique_ptr<Trust>, std::string> trust(std::unique_ptr<Trust>{});
  if (initial->ledger.store == config::LedgerStore::off) {
    spdlog::warn(
        "ledger.store: off: no usage records, no API keys, no audit log (benchmarks only); "
        "listening on loopback only");
  } else {
    trust = Trust::open(*initial);
    if (!trust) {
      spdlog::error("cannot open the ledger store: {}", trust.error());
      return 2;
    }
  }
  const auto keys_exist = [&] { return trust.value() && trust.value()->keys_exist(); };
  std::string host = address->first;
  const bool insecure = initial->server.insecure;
  if (!is_loopback(host)) {
    if (!keys_exist() && !trust.value()) {
      host = "127.0.0.1";
    } else if (!keys_exist()) {
      if (insecure) {
        spdlog::warn(
            "INSECURE: listening on {} with no API key: anyone who can reach it may use it "
            "(server.insecure: true)",
            listen);
      } else {
        spdlog::warn(
            "no API key exists: listening on loopback only (127.0.0.1) instead of {}. Create one "
            "with `hearth keys create --tenant T --name N` and restart, or set server.insecure: "
            "true",
            listen);
        host = "127.0.0.1";
      }
    }
    if (!initial->server.tls && host != "127.0.0.1") {
      if (!insecure) {
        spdlog::error(
            "listening on {} without TLS would send API keys and prompts in clear text: configure "
            "server.tls (certificate, private_key) or set server.insecure: true",
            listen);
        return 2;
      }
      spdlog::warn("INSECURE: listening on {} without TLS (server.insecure: true)", listen);
    }
  } else if (trust.value() && !keys_exist()) {
    spdlog::info(
        "no API key exists: loopback clients are served without authentication; the first key "
        "(`hearth keys create`) turns authentication on");
  }
  auto runtime_dir = make_runtime_dir(initial->workers.runtime_dir);
  if (!runtime_dir) {
    spdlog::error("cannot create the runtime directory: {}", runtime_dir.error());
    return 1;
  }
  const std::string hearth_binary =
      initial->workers.hearth_binary.empty() ? this_executable() : initial->workers.hearth_binary;

  // One event-loop thread: the model manager's state lives on it without locks; inference runs
  // in the worker processes.
  net::io_context io_context(1);
  GatewayMetrics metrics;
  ModelManager models(io_context, runtime_dir.value(), hearth_binary, metrics);

  std::unique_ptr<GatewayService> service;
  http::Server* listener = nullptr;
  auto reload = [&]() -> Expected<std::string, std::string> {
    auto next = load(options);
    if (!next) {
      metrics.config_reloads.add({{"result", "rejected"}}, 1);
      spdlog::error("reload rejected, keeping the current configuration: {}",
                    next.error().to_string());
      return unexpected(next.error().to_string());
    }
    auto config = std::make_shared<config::Config>(std::move(next.value()));
    auto scanner = build_scanner(config->privacy);
    if (!scanner) {
      metrics.config_reloads.add({{"result", "rejected"}}, 1);
      spdlog::error("reload rejected, keeping the current configuration: {}", scanner.error());
      return unexpected(scanner.error());
    }
    if (config->server.listen != listen && options.listen.empty()) {
      spdlog::warn("server.listen changed to {}; it takes effect at the next start",
                   config->server.listen);
    }
    config->server.listen = listen;
    if (config->server.tls && listener != nullptr) {
      // New connections get the renewed certificate; a bad one keeps the old in place.
      if (auto reloaded = listener->reload_tls(tls_of(*config->server.tls)); !reloaded) {
        metrics.config_reloads.add({{"result", "rejected"}}, 1);
        spdlog::error("reload rejected, keeping the current configuration: server.tls: {}",
                      reloaded.error());
        return unexpected("server.tls: " + reloaded.error());
      }
    }
    if (trust.value()) {
      trust.value()->apply(*config);
    }
    service->set_config(config, std::move(scanner.value()));
    models.apply(config);
    metrics.config_reloads.add({{"result", "ok"}}, 1);
    const std::string summary = std::to_string(config->models.size()) + " models";
    spdlog::info("configuration reloaded: {}", summary);
    return summary;
  };
  service = std::make_unique<GatewayService>(models, metrics, reload);
  service->set_config(initial, std::move(initial_scanner.value()));
  service->set_trust(trust.value().get());
  // Its thread reads the ledger store: stopped below before the store closes.
  Dashboard dashboard(trust.value() ? &trust.value()->store() : nullptr);
  service->set_dashboard(&dashboard);
  models.apply(initial);

  http::Server server(
      io_context, limits_of(initial->server),
      [&service](const http::Request& request, http::ResponseWriter& writer) {
        return service->handle(request, writer);
      },
      api::error_body);
  service->set_server_stats(&server.stats());
  listener = &server;
  const bool tls = initial->server.tls.has_value();
  auto port = tls ? server.listen_tls(host, address->second, tls_of(*initial->server.tls))
                  : server.listen_tcp(host, address->second);
  if (!port) {
    spdlog::error("{}", port.error());
    remove_runtime_dir(runtime_dir.value());
    return 1;
  }
  // Tests and scripts read this line to learn an ephemeral port.
  spdlog::info("gateway listening on {}://{}:{} ({} models configured; workers' sockets in {})",
               tls ? "https" : "http", host, port.value(), initial->models.size(),
               runtime_dir.value());
  if (trust.value()) {
    spdlog::info("ledger: {} store, {} API keys{}", trust.value()->store().kind(),
                 trust.value()->keys().size(), keys_exist() ? "; every request needs a key" : "");
  }

  bool shutting_down = false;
  auto shutdown = [&]() -> net::awaitable<void> {
    const auto grace = service->config()->server.shutdown_grace;
    spdlog::info("gateway stopping: no new connections; {} requests in flight get up to {} ms",
                 service->in_flight(), grace.count());
    server.stop_accepting();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    net::steady_timer pause(io_context);
    while (service->in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
      pause.expires_after(std::chrono::milliseconds(20));
      boost::system::error_code ignored;
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
    if (service->in_flight() > 0) {
      spdlog::warn("{} requests still in flight after the grace period; cancelling them",
                   service->in_flight());
    }
    server.stop();
    co_await models.shutdown(std::chrono::milliseconds(5000));
    io_context.stop();
  };

  net::signal_set stop_signals(io_context, SIGINT, SIGTERM);
  std::function<void(const boost::system::error_code&, int)> on_stop_signal =
      [&](const boost::system::error_code& error, int signal_number) {
        if (error) {
          return;
        }
        if (shutting_down) {
          spdlog::warn("second signal {}: stopping now", signal_number);
          io_context.stop();
          return;
        }
        shutting_down = true;
        spdlog::info("signal {} received", signal_number);
        net::co_spawn(io_context, shutdown(), net::detached);
        stop_signals.async_wait(on_stop_signal);
      };
  stop_signals.async_wait(on_stop_signal);

  net::signal_set reload_signal(io_context, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_reload_signal =
      [&](const boost::system::error_code& error, int) {
        if (error) {
          return;
        }
        spdlog::info("SIGHUP: reloading the configuration");
        const auto reloaded = reload();
        if (trust.value()) {
          trust.value()->audit(reloaded ? "config.reloaded" : "config.reload_rejected", "SIGHUP",
                               "{}");
        }
        reload_signal.async_wait(on_reload_signal);
      };
  reload_signal.async_wait(on_reload_signal);

  std::signal(SIGPIPE, SIG_IGN);
  io_context.run();
  service->set_dashboard(nullptr);
  dashboard.stop();
  service->set_trust(nullptr);
  trust.value().reset();  // commits what the ledger queue still holds
  remove_runtime_dir(runtime_dir.value());
  spdlog::info("gateway stopped");
  return 0;
}

}  // namespace hearth::gateway
