// The gateway's backends: one supervised `hearth worker` per local model (spawned on first use or
// at start, health-checked, restarted with backoff after a crash or a hang, unloaded when idle or
// to make room, least recently used first) and one pooled HTTP client per remote backend.
//
// Threading: every member runs on the gateway's single event-loop thread (the io_context passed
// in is run by one thread), so the state below needs no locks. Workers do the heavy lifting.
#pragma once

// Asio needs <utility> before its own headers with GCC 12 coroutines.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/types.hpp"
#include "common/cancellation.hpp"
#include "common/expected.hpp"
#include "config/config.hpp"
#include "gateway/gateway_metrics.hpp"
#include "gateway/worker_process.hpp"
#include "http/client.hpp"

namespace hearth::gateway {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

enum class BackendState {
  unloaded,
  starting,
  ready,
  restarting,
  stopping,
  failed,
  remote_up,
  remote_down
};
std::string_view to_string(BackendState state);

struct BackendStatus {
  std::string model;
  std::string backend;  // "worker:<socket>" or the remote URL
  BackendState state = BackendState::unloaded;
  std::string last_error;
  int in_flight = 0;
  int restarts = 0;
};

class Backend;

// A request's hold on a ready backend: while any lease is alive the backend is not unloaded.
class Lease {
 public:
  Lease() = default;
  Lease(std::shared_ptr<Backend> backend);
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  http::HttpClient& client() const;
  const std::string& label() const;           // for x-hearth-backend and the access log
  const std::string& upstream_model() const;  // the "model" the backend knows
  // Headers every request to this backend carries: its key ("authorization: Bearer ..." or, for
  // an Anthropic provider, "x-api-key" and "anthropic-version"). Never logged.
  const http::Headers& upstream_headers() const;
  bool is_local_worker() const;
  config::Placement placement() const;
  // The wire format of a cloud provider; nullopt for workers and remote OpenAI-compatible servers.
  std::optional<config::ProviderApi> provider_api() const;
  // The request saw the backend fail in a way that suggests it is down (connect refused).
  void report_unreachable(const std::string& reason);
  // Overrides the model's keep-alive from this request on (Ollama's keep_alive).
  void set_keep_alive(std::chrono::milliseconds keep_alive);

 private:
  void release();
  std::shared_ptr<Backend> backend_;
};

class ModelManager {
 public:
  ModelManager(net::io_context& io_context, std::string runtime_dir, std::string hearth_binary,
               GatewayMetrics& metrics);
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Adopts a (new) configuration: new entries become available, entries that changed or went
  // away are retired (unloaded once their requests finish). Starts load_on_start models.
  void apply(std::shared_ptr<const config::Config> config);

  // A lease on a ready backend for `entry`, starting its worker (and making room) if needed and
  // waiting, bounded by workers.wait_timeout, while it loads or restarts. Errors are OpenAI
  // errors (503 with Retry-After while a model cannot be had in time).
  // With `fail_fast` (the policy has another target to try), a worker that is restarting, or
  // that just refused a connection, is an immediate 503 `worker_restarting` instead of a wait.
  net::awaitable<Expected<Lease, api::ApiError>> acquire(const config::ModelEntry& entry,
                                                         CancellationToken cancellation,
                                                         bool fail_fast = false);

  BackendStatus status(const std::string& model) const;
  std::vector<BackendStatus> statuses() const;

  // Each ready worker's /metrics, with a model="NAME" label added to every sample.
  net::awaitable<std::string> scrape_worker_metrics();

  // Stops every worker (SIGTERM, then SIGKILL after `grace`) and every background loop.
  net::awaitable<void> shutdown(std::chrono::milliseconds grace);

  // Wakes every request waiting for a model (its state or the free capacity changed).
  void notify_all();

 private:
  friend class Backend;
  std::shared_ptr<Backend> backend_for(const config::ModelEntry& entry);
  void start_cloud_backend(Backend& backend, const config::CloudBackend& cloud);
  net::awaitable<void> start_worker(std::shared_ptr<Backend> backend);
  net::awaitable<void> watch_exit(std::shared_ptr<Backend> backend, uint64_t generation);
  net::awaitable<void> health_loop(std::shared_ptr<Backend> backend, uint64_t generation);
  net::awaitable<void> stop_worker(std::shared_ptr<Backend> backend, std::string reason);
  net::awaitable<void> housekeeping_loop();
  // Unloads idle least-recently-used workers until `incoming` fits the caps; false if it cannot.
  bool make_room(const Backend& incoming);
  net::awaitable<bool> wait_for_change(Clock::time_point deadline, CancellationToken& cancellation);

  net::io_context& io_context_;
  std::string runtime_dir_;
  std::string hearth_binary_;
  GatewayMetrics& metrics_;
  std::shared_ptr<const config::Config> config_;
  std::map<std::string, std::shared_ptr<Backend>> backends_;  // by entry name
  std::vector<std::shared_ptr<Backend>> retired_;             // unloading after a reload
  std::list<net::steady_timer*> waiters_;
  // One pooled client per cloud provider (keyed by its name), shared by its models; replaced
  // when a reload changes the provider.
  struct ProviderClient {
    config::Provider provider;
    std::shared_ptr<http::HttpClient> client;
  };
  std::map<std::string, ProviderClient> provider_clients_;
  net::steady_timer housekeeping_timer_;
  uint64_t next_socket_id_ = 0;
  bool stopping_ = false;
};

}  // namespace hearth::gateway
