#include "gateway/model_manager.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>

namespace hearth::gateway {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr auto kHousekeepingInterval = std::chrono::milliseconds(250);
// A worker that stayed ready this long has recovered: its next crash starts the backoff afresh.
constexpr auto kStableAfter = std::chrono::seconds(60);
constexpr auto kStopGrace = std::chrono::milliseconds(5000);
// How long requests hold off a worker that refused a connection, waiting for its exit to be seen.
constexpr auto kSuspectFor = std::chrono::milliseconds(1000);
constexpr std::string_view kHealthPath = "/health";
constexpr std::string_view kMetricsPath = "/metrics";

api::ApiError unavailable(std::string message, int retry_after_seconds, std::string code) {
  auto error = api::api_error(503, std::move(message), std::move(code));
  error.retry_after_seconds = std::max(1, retry_after_seconds);
  return error;
}

// Clients for requests: a non-streamed answer may take long to its first byte.
http::ClientOptions request_options() {
  http::ClientOptions options;
  options.timeouts.first_byte = std::chrono::hours(1);
  options.timeouts.idle = std::chrono::minutes(10);
  options.timeouts.total = std::chrono::hours(2);
  options.single_threaded = true;  // the gateway's one event-loop thread
  return options;
}

// Clients for /health and /metrics: anything slower than health_timeout counts as hung.
http::ClientOptions health_check_options(const config::WorkerSettings& workers) {
  http::ClientOptions options;
  options.timeouts.connect = workers.health_timeout;
  options.timeouts.first_byte = workers.health_timeout;
  options.timeouts.idle = workers.health_timeout;
  options.timeouts.total = workers.health_timeout;
  options.max_idle_connections = 1;
  options.single_threaded = true;
  return options;
}

int seconds_until(Clock::time_point when) {
  const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(when - Clock::now());
  return static_cast<int>(std::max<int64_t>(1, remaining.count() + 1));
}

std::chrono::milliseconds effective_keep_alive(std::chrono::milliseconds configured) {
  // In the config file 0 means "never unload"; per request (Ollama) 0 means "unload at once".
  return configured.count() == 0 ? std::chrono::milliseconds::max() : configured;
}

bool same_backend(const config::ModelEntry& a, const config::ModelEntry& b) {
  if (a.task != b.task || a.aliases != b.aliases || a.backend.index() != b.backend.index()) {
    return false;
  }
  if (const auto* local_a = std::get_if<config::LocalBackend>(&a.backend)) {
    const auto& local_b = std::get<config::LocalBackend>(b.backend);
    return local_a->path == local_b.path && local_a->context == local_b.context &&
           local_a->parallel == local_b.parallel && local_a->threads == local_b.threads &&
           local_a->micro_batch == local_b.micro_batch &&
           local_a->cache_type_k == local_b.cache_type_k &&
           local_a->cache_type_v == local_b.cache_type_v;
  }
  if (const auto* cloud_a = std::get_if<config::CloudBackend>(&a.backend)) {
    return *cloud_a == std::get<config::CloudBackend>(b.backend);
  }
  const auto& remote_a = std::get<config::RemoteBackend>(a.backend);
  const auto& remote_b = std::get<config::RemoteBackend>(b.backend);
  return remote_a.base_url == remote_b.base_url &&
         remote_a.upstream_model == remote_b.upstream_model &&
         remote_a.api_key_env == remote_b.api_key_env &&
         remote_a.health_path == remote_b.health_path;
}

// Adds model="NAME" to every sample line of a Prometheus text body. HELP/TYPE lines are kept
// once per metric name across all workers (`seen`).
void append_relabelled(std::string& out, std::string_view body, const std::string& model,
                       std::set<std::string>& seen) {
  const std::string label = "model=\"" + model + "\"";
  while (!body.empty()) {
    const auto end = body.find('\n');
    std::string_view line = body.substr(0, end);
    body.remove_prefix(end == std::string_view::npos ? body.size() : end + 1);
    if (line.empty()) {
      continue;
    }
    if (line.front() == '#') {
      if (seen.insert(std::string(line)).second) {
        out.append(line);
        out += '\n';
      }
      continue;
    }
    const auto name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) {
      continue;
    }
    out.append(line.substr(0, name_end));
    if (line[name_end] == '{') {
      out += '{';
      out += label;
      if (line.size() > name_end + 1 && line[name_end + 1] != '}') {
        out += ',';
      }
      out.append(line.substr(name_end + 1));
    } else {
      out += '{';
      out += label;
      out += '}';
      out.append(line.substr(name_end));
    }
    out += '\n';
  }
}

}  // namespace

std::string_view to_string(BackendState state) {
  switch (state) {
    case BackendState::unloaded:
      return "unloaded";
    case BackendState::starting:
      return "loading";
    case BackendState::ready:
      return "loaded";
    case BackendState::restarting:
      return "restarting";
    case BackendState::stopping:
      return "unloading";
    case BackendState::failed:
      return "failed";
    case BackendState::remote_up:
      return "remote";
    case BackendState::remote_down:
      return "remote_unreachable";
  }
  return "unknown";
}

// One configured model's backend. Owned by the manager (shared with leases and the coroutines
// that watch it); only touched on the event-loop thread.
class Backend : public std::enable_shared_from_this<Backend> {
 public:
  Backend(ModelManager& manager, config::ModelEntry entry)
      : manager(&manager), entry(std::move(entry)) {}

  // Not a supervised worker: a remote server or a cloud provider.
  bool remote() const { return !std::holds_alternative<config::LocalBackend>(entry.backend); }
  bool cloud() const { return std::holds_alternative<config::CloudBackend>(entry.backend); }
  const config::LocalBackend& local() const {
    return std::get<config::LocalBackend>(entry.backend);
  }
  bool loaded() const {
    return process != nullptr && (state == BackendState::starting || state == BackendState::ready ||
                                  state == BackendState::stopping);
  }

  ModelManager* manager;  // null once the manager is gone (leases may outlive it at exit)
  config::ModelEntry entry;
  std::string label;
  std::string upstream_model;
  http::Headers upstream_headers;
  std::optional<config::ProviderApi> provider_api;
  config::Provider provider;  // cloud only: the provider settings the client was built with
  BackendState state = BackendState::unloaded;
  std::string last_error;
  std::shared_ptr<WorkerProcess> process;
  std::shared_ptr<http::HttpClient> client;
  std::shared_ptr<http::HttpClient> health_client;
  std::string socket_path;
  int in_flight = 0;
  Clock::time_point last_used = Clock::now();
  std::chrono::milliseconds keep_alive{std::chrono::milliseconds::max()};
  std::uint64_t file_bytes = 0;
  uint64_t generation = 0;
  int consecutive_failures = 0;
  int restarts = 0;
  Clock::time_point ready_since;
  Clock::time_point retry_at;  // failed: no new start before this
  bool retired = false;
  bool stop_requested = false;
  std::string kill_reason;  // set when the gateway kills a hung worker
  // A request found the ready worker refusing connections: it has most likely just died and its
  // exit is about to be seen. Until then new requests wait rather than fail the same way.
  Clock::time_point suspect_until;
  bool remote_check_running = false;
  Clock::time_point next_remote_check;
};

// ---- Lease ----

Lease::Lease(std::shared_ptr<Backend> backend) : backend_(std::move(backend)) {
  ++backend_->in_flight;
  backend_->last_used = Clock::now();
}

Lease::Lease(Lease&& other) noexcept : backend_(std::move(other.backend_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    backend_ = std::move(other.backend_);
  }
  return *this;
}

Lease::~Lease() { release(); }

void Lease::release() {
  if (!backend_) {
    return;
  }
  --backend_->in_flight;
  backend_->last_used = Clock::now();
  if (backend_->manager != nullptr) {
    backend_->manager->notify_all();  // capacity may have freed up for a waiting model
  }
  backend_.reset();
}

http::HttpClient& Lease::client() const { return *backend_->client; }
const std::string& Lease::label() const { return backend_->label; }
const std::string& Lease::upstream_model() const { return backend_->upstream_model; }
const http::Headers& Lease::upstream_headers() const { return backend_->upstream_headers; }
bool Lease::is_local_worker() const { return !backend_->remote(); }
config::Placement Lease::placement() const { return config::placement_of(backend_->entry); }
std::optional<config::ProviderApi> Lease::provider_api() const { return backend_->provider_api; }

void Lease::report_unreachable(const std::string& reason) {
  if (backend_->cloud()) {
    return;  // the circuit breaker in front of it keeps count
  }
  if (backend_->remote()) {
    backend_->state = BackendState::remote_down;
    backend_->last_error = reason;
    backend_->next_remote_check = Clock::now();  // re-check at the next housekeeping tick
    return;
  }
  backend_->suspect_until = Clock::now() + kSuspectFor;
}

void Lease::set_keep_alive(std::chrono::milliseconds keep_alive) {
  backend_->keep_alive = keep_alive;
}

// ---- ModelManager ----

ModelManager::ModelManager(net::io_context& io_context, std::string runtime_dir,
                           std::string hearth_binary, GatewayMetrics& metrics)
    : io_context_(io_context),
      runtime_dir_(std::move(runtime_dir)),
      hearth_binary_(std::move(hearth_binary)),
      metrics_(metrics),
      housekeeping_timer_(io_context) {
  net::co_spawn(io_context_, housekeeping_loop(), net::detached);
}

ModelManager::~ModelManager() {
  for (auto& [name, backend] : backends_) {
    backend->manager = nullptr;
  }
  for (auto& backend : retired_) {
    backend->manager = nullptr;
  }
}

void ModelManager::apply(std::shared_ptr<const config::Config> config) {
  config_ = std::move(config);
  std::set<std::string> names;
  for (const auto& entry : config_->models) {
    names.insert(entry.name);
    auto found = backends_.find(entry.name);
    if (found == backends_.end()) {
      continue;  // created on first use
    }
    const config::Provider* provider = nullptr;
    if (const auto* cloud = std::get_if<config::CloudBackend>(&entry.backend)) {
      provider = config_->find_provider(cloud->provider);
    }
    if (same_backend(found->second->entry, entry) &&
        (provider == nullptr || *provider == found->second->provider)) {
      found->second->entry = entry;  // keep-alive and the like may change in place
      if (!found->second->remote()) {
        found->second->keep_alive = effective_keep_alive(entry.keep_alive);
      }
      continue;
    }
    spdlog::info("model {}: definition changed; the old backend finishes its requests first",
                 entry.name);
    found->second->retired = true;
    retired_.push_back(found->second);
    backends_.erase(found);
  }
  for (auto it = backends_.begin(); it != backends_.end();) {
    if (names.count(it->first) == 0) {
      spdlog::info("model {}: removed from the configuration", it->first);
      it->second->retired = true;
      retired_.push_back(it->second);
      it = backends_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& entry : config_->models) {
    if (entry.load_on_start && std::holds_alternative<config::LocalBackend>(entry.backend)) {
      auto backend = backend_for(entry);
      if (backend->state == BackendState::unloaded && make_room(*backend)) {
        backend->state = BackendState::starting;
        net::co_spawn(io_context_, start_worker(backend), net::detached);
      }
    }
  }
  notify_all();
}

std::shared_ptr<Backend> ModelManager::backend_for(const config::ModelEntry& entry) {
  auto found = backends_.find(entry.name);
  if (found != backends_.end()) {
    return found->second;
  }
  auto backend = std::make_shared<Backend>(*this, entry);
  if (const auto* remote = std::get_if<config::RemoteBackend>(&entry.backend)) {
    auto endpoint = http::Endpoint::parse(remote->base_url);
    backend->label = remote->base_url;
    backend->upstream_model = remote->upstream_model.empty() ? entry.name : remote->upstream_model;
    if (!remote->api_key_env.empty()) {
      if (const char* key = std::getenv(remote->api_key_env.c_str()); key != nullptr && *key) {
        backend->upstream_headers.emplace_back("authorization", std::string("Bearer ") + key);
      } else {
        spdlog::warn("model {}: environment variable {} is not set; sending no API key", entry.name,
                     remote->api_key_env);
      }
    }
    if (endpoint) {
      backend->client = std::make_shared<http::HttpClient>(io_context_.get_executor(),
                                                           endpoint.value(), request_options());
      backend->health_client = std::make_shared<http::HttpClient>(
          io_context_.get_executor(), endpoint.value(), health_check_options(config_->workers));
      backend->state = BackendState::remote_up;
    } else {
      backend->state = BackendState::remote_down;
      backend->last_error = endpoint.error();
    }
  } else if (const auto* cloud = std::get_if<config::CloudBackend>(&entry.backend)) {
    start_cloud_backend(*backend, *cloud);
  } else {
    backend->upstream_model = entry.name;
    backend->keep_alive = effective_keep_alive(entry.keep_alive);
    std::error_code error;
    backend->file_bytes = std::filesystem::file_size(backend->local().path, error);
    if (error) {
      backend->file_bytes = 0;
    }
  }
  backends_.emplace(entry.name, backend);
  return backend;
}

void ModelManager::start_cloud_backend(Backend& backend, const config::CloudBackend& cloud) {
  const config::Provider* provider = config_->find_provider(cloud.provider);
  assert(provider != nullptr &&
         "the configuration checks that every cloud model's provider exists");
  backend.provider = *provider;
  backend.provider_api = provider->api;
  backend.label = "cloud:" + provider->name;
  backend.upstream_model = cloud.upstream_model.empty() ? backend.entry.name : cloud.upstream_model;
  backend.state = BackendState::remote_down;
  const char* key = std::getenv(provider->api_key_env.c_str());
  if (key == nullptr || *key == '\0') {
    // Said once here; every request that would have used it falls back with the same reason.
    backend.last_error = "the environment variable " + provider->api_key_env +
                         " (the key for provider " + provider->name + ") is not set";
    spdlog::warn("model {}: {}", backend.entry.name, backend.last_error);
    return;
  }
  if (provider->api == config::ProviderApi::anthropic) {
    backend.upstream_headers.emplace_back("x-api-key", key);
    backend.upstream_headers.emplace_back("anthropic-version", provider->anthropic_version);
  } else {
    backend.upstream_headers.emplace_back("authorization", std::string("Bearer ") + key);
  }
  auto& shared = provider_clients_[provider->name];
  if (!shared.client || !(shared.provider == *provider)) {
    auto endpoint = http::Endpoint::parse(provider->base_url);
    if (!endpoint) {
      backend.last_error = "provider " + provider->name + ": " + endpoint.error();
      return;
    }
    http::ClientOptions options;
    options.timeouts.connect = provider->connect_timeout;
    options.timeouts.first_byte = provider->first_byte_timeout;
    options.timeouts.idle = provider->first_byte_timeout;
    options.timeouts.total = provider->total_timeout;
    options.max_idle_connections = static_cast<std::size_t>(provider->max_idle_connections);
    options.tls.ca_file = provider->ca_file;
    options.single_threaded = true;
    shared.provider = *provider;
    shared.client =
        std::make_shared<http::HttpClient>(io_context_.get_executor(), endpoint.value(), options);
  }
  backend.client = shared.client;
  backend.state = BackendState::remote_up;
}

net::awaitable<Expected<Lease, api::ApiError>> ModelManager::acquire(
    const config::ModelEntry& entry, CancellationToken cancellation, bool fail_fast) {
  const auto wait_timeout = config_->workers.wait_timeout;
  const auto deadline = Clock::now() + wait_timeout;
  auto backend = backend_for(entry);
  while (true) {
    if (stopping_) {
      co_return unexpected(unavailable("The gateway is shutting down", 1, "shutting_down"));
    }
    if (backend->retired) {
      // The configuration changed while this request waited for its model: use the new
      // definition, if the model is still configured.
      const config::ModelEntry* current = config_->find_model(entry.name);
      if (current == nullptr) {
        co_return unexpected(unavailable(
            "Model '" + entry.name + "' was removed from the configuration", 1, "model_removed"));
      }
      backend = backend_for(*current);
    }
    const bool suspect =
        backend->state == BackendState::ready && Clock::now() < backend->suspect_until;
    if (fail_fast && (suspect || backend->state == BackendState::restarting)) {
      co_return unexpected(unavailable("Model '" + entry.name + "' is restarting its worker", 1,
                                       "worker_restarting"));
    }
    switch (backend->state) {
      case BackendState::ready:
        if (suspect) {
          break;  // wait below: its exit is being noticed
        }
        co_return Lease(backend);
      case BackendState::remote_up:
        co_return Lease(backend);
      case BackendState::remote_down:
        if (!backend->client) {
          co_return unexpected(unavailable(
              "Model '" + entry.name + "' has an unusable backend: " + backend->last_error, 30,
              "backend_unavailable"));
        }
        // Unreachable at the last check: still try, the check may be stale and the request
        // fails fast (connect refused) if it is not.
        co_return Lease(backend);
      case BackendState::unloaded:
        if (make_room(*backend)) {
          backend->state = BackendState::starting;
          net::co_spawn(io_context_, start_worker(backend), net::detached);
        }
        break;
      case BackendState::failed:
        if (Clock::now() >= backend->retry_at) {
          backend->state = BackendState::unloaded;
          continue;
        }
        // Its last load failed moments ago (a broken file, too little memory): say so at once
        // rather than hold the request until the next attempt.
        co_return unexpected(
            unavailable("Model '" + entry.name + "' failed to load: " + backend->last_error,
                        seconds_until(backend->retry_at), "model_load_failed"));
      case BackendState::starting:
      case BackendState::restarting:
      case BackendState::stopping:
        break;
    }
    if (cancellation.cancelled()) {
      co_return unexpected(unavailable("The client went away", 1, "cancelled"));
    }
    auto until = deadline;
    if (backend->state == BackendState::failed) {
      until = std::min(deadline, backend->retry_at);
    } else if (suspect) {
      until = std::min(deadline, backend->suspect_until);
    }
    if (!co_await wait_for_change(until, cancellation) && Clock::now() >= deadline) {
      metrics_.wait_timeouts.add({{"model", entry.name}}, 1);
      spdlog::warn("model {}: a request gave up waiting after {} ms (state {})", entry.name,
                   wait_timeout.count(), to_string(backend->state));
      std::string why;
      switch (backend->state) {
        case BackendState::unloaded:
          why = "every loaded model is busy and workers.max_loaded_models (" +
                std::to_string(config_->workers.max_loaded_models) +
                ") or workers.max_loaded_bytes leaves no room";
          break;
        case BackendState::starting:
          why = "it is still loading";
          break;
        case BackendState::restarting:
          why = "its worker is restarting after: " + backend->last_error;
          break;
        default:
          why = std::string("its backend is ") + std::string(to_string(backend->state));
          if (!backend->last_error.empty()) {
            why += ": " + backend->last_error;
          }
      }
      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(wait_timeout).count();
      co_return unexpected(unavailable("Model '" + entry.name + "' is not available after " +
                                           std::to_string(waited) + "s: " + why,
                                       2, "model_not_ready"));
    }
  }
}

bool ModelManager::make_room(const Backend& incoming) {
  const auto& workers = config_->workers;
  int loaded = 0;
  int unloading = 0;
  std::uint64_t bytes = 0;
  std::uint64_t unloading_bytes = 0;
  Backend* least_recent = nullptr;
  auto consider = [&](const std::shared_ptr<Backend>& backend) {
    if (backend.get() == &incoming || backend->remote() || !backend->loaded()) {
      return;
    }
    ++loaded;
    bytes += backend->file_bytes;
    if (backend->state == BackendState::stopping) {
      ++unloading;
      unloading_bytes += backend->file_bytes;
    }
    if (backend->state == BackendState::ready && backend->in_flight == 0 &&
        (least_recent == nullptr || backend->last_used < least_recent->last_used)) {
      least_recent = backend.get();
    }
  };
  for (const auto& [name, backend] : backends_) {
    consider(backend);
  }
  for (const auto& backend : retired_) {
    consider(backend);
  }
  const auto fits = [&](int count, std::uint64_t total) {
    return count + 1 <= std::max(1, workers.max_loaded_models) &&
           (workers.max_loaded_bytes == 0 ||
            total + incoming.file_bytes <= workers.max_loaded_bytes);
  };
  if (fits(loaded, bytes)) {
    return true;
  }
  if (fits(loaded - unloading, bytes - unloading_bytes)) {
    return false;  // enough is being unloaded already: wait until it has exited
  }
  if (least_recent == nullptr) {
    return false;  // everything loaded is busy: wait for a request to finish
  }
  spdlog::info("model {}: unloading (least recently used) to make room for {}",
               least_recent->entry.name, incoming.entry.name);
  auto victim = least_recent->shared_from_this();
  victim->state = BackendState::stopping;
  net::co_spawn(io_context_, stop_worker(victim, "evicted"), net::detached);
  // One victim at a time: the waiter is notified when it has exited, and asks again.
  return false;
}

net::awaitable<void> ModelManager::start_worker(std::shared_ptr<Backend> backend) {
  const auto& local = backend->local();
  const uint64_t generation = ++backend->generation;
  backend->state = BackendState::starting;
  backend->stop_requested = false;
  backend->kill_reason.clear();
  backend->suspect_until = {};
  backend->socket_path = runtime_dir_ + "/worker-" + std::to_string(++next_socket_id_) + ".sock";
  backend->label = "worker:" + backend->entry.name;
  std::vector<std::string> argv = {hearth_binary_, "worker",
                                   "--model",      local.path,
                                   "--socket",     backend->socket_path,
                                   "--name",       backend->entry.name,
                                   "--parallel",   std::to_string(local.parallel),
                                   "--context",    std::to_string(local.context)};
  for (const auto& alias : backend->entry.aliases) {
    argv.push_back("--alias");
    argv.push_back(alias);
  }
  if (local.threads > 0) {
    argv.push_back("--threads");
    argv.push_back(std::to_string(local.threads));
  }
  if (local.micro_batch) {
    argv.push_back("--micro-batch");
    argv.push_back(std::to_string(*local.micro_batch));
  }
  if (local.cache_type_k) {
    argv.push_back("--cache-type-k");
    argv.push_back(*local.cache_type_k);
  }
  if (local.cache_type_v) {
    argv.push_back("--cache-type-v");
    argv.push_back(*local.cache_type_v);
  }
  const std::string model_name = backend->entry.name;
  auto spawned = WorkerProcess::spawn(
      io_context_.get_executor(), argv,
      [model_name](std::string_view line) { spdlog::info("[worker {}] {}", model_name, line); });
  const auto started = Clock::now();
  if (!spawned) {
    backend->state = BackendState::failed;
    backend->last_error = spawned.error();
    metrics_.worker_load_failures.add({{"model", model_name}}, 1);
    backend->retry_at = Clock::now() + config_->workers.restart_backoff_max;
    spdlog::error("model {}: {}", model_name, spawned.error());
    notify_all();
    co_return;
  }
  backend->process = std::move(spawned.value());
  metrics_.worker_starts.add({{"model", model_name}}, 1);
  spdlog::info("model {}: starting worker pid {} on {}", model_name, backend->process->pid(),
               backend->socket_path);

  const auto& workers = config_->workers;
  http::Endpoint endpoint;
  endpoint.kind = http::Endpoint::Kind::unix_socket;
  endpoint.socket_path = backend->socket_path;
  backend->client =
      std::make_shared<http::HttpClient>(io_context_.get_executor(), endpoint, request_options());
  backend->health_client = std::make_shared<http::HttpClient>(io_context_.get_executor(), endpoint,
                                                              health_check_options(workers));
  net::co_spawn(io_context_, watch_exit(backend, generation), net::detached);

  const auto load_deadline = started + workers.load_timeout;
  net::steady_timer pause(io_context_);
  while (backend->generation == generation && backend->state == BackendState::starting) {
    if (Clock::now() > load_deadline) {
      backend->last_error = "not ready within workers.load_timeout (" +
                            std::to_string(workers.load_timeout.count()) + " ms)";
      spdlog::error("model {}: {}; killing the worker", model_name, backend->last_error);
      backend->kill_reason = backend->last_error;
      backend->process->kill();
      co_return;
    }
    http::ClientRequest probe;
    probe.target = std::string(kHealthPath);
    auto reply = co_await backend->health_client->fetch(std::move(probe));
    if (backend->generation != generation || backend->state != BackendState::starting) {
      co_return;
    }
    if (reply && reply->status == 200) {
      backend->state = BackendState::ready;
      backend->ready_since = Clock::now();
      backend->last_error.clear();
      backend->last_used = Clock::now();
      const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      metrics_.worker_load_seconds.add({{"model", model_name}}, seconds);
      spdlog::info("model {}: worker ready in {:.2f}s", model_name, seconds);
      net::co_spawn(io_context_, health_loop(backend, generation), net::detached);
      notify_all();
      co_return;
    }
    if (reply && reply->status == 500) {
      // The worker is up but could not load the model; its body says why.
      std::string reason = reply->body;
      if (auto at = reason.find("\"message\":\""); at != std::string::npos) {
        reason = reason.substr(at + 11);
        reason = reason.substr(0, reason.find("\",\""));
      }
      backend->last_error = reason;
      backend->kill_reason = reason;
      spdlog::error("model {}: worker could not load the model: {}", model_name, reason);
      backend->process->kill();
      co_return;
    }
    pause.expires_after(kPollInterval);
    boost::system::error_code ignored;
    co_await pause.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
}

net::awaitable<void> ModelManager::watch_exit(std::shared_ptr<Backend> backend,
                                              uint64_t generation) {
  auto process = backend->process;
  const ProcessExit exit = co_await process->wait();
  if (backend->generation != generation) {
    co_return;
  }
  const std::string& name = backend->entry.name;
  std::error_code ignored;
  std::filesystem::remove(backend->socket_path, ignored);
  if (backend->client) {
    backend->client->close_idle();
  }
  if (backend->stop_requested || stopping_) {
    spdlog::info("model {}: worker {}", name, exit.describe());
    backend->state = BackendState::unloaded;
    backend->process.reset();
    backend->stop_requested = false;
    notify_all();
    co_return;
  }
  const bool was_ready = backend->state == BackendState::ready;
  const std::string reason =
      backend->kill_reason.empty() ? "worker " + exit.describe() : backend->kill_reason;
  backend->process.reset();
  if (!was_ready) {
    // It never became ready: the model itself is the likely problem. Retry on demand only,
    // after a backoff, so a broken file does not spin.
    backend->consecutive_failures += 1;
    const auto backoff = std::min(config_->workers.restart_backoff_max,
                                  config_->workers.restart_backoff_initial *
                                      (1 << std::min(backend->consecutive_failures, 16)));
    backend->state = BackendState::failed;
    backend->last_error = reason;
    backend->retry_at = Clock::now() + backoff;
    metrics_.worker_load_failures.add({{"model", name}}, 1);
    spdlog::error("model {}: loading failed ({}); next attempt in {} ms at the earliest", name,
                  reason, backoff.count());
    notify_all();
    co_return;
  }
  if (Clock::now() - backend->ready_since > kStableAfter) {
    backend->consecutive_failures = 0;
  }
  backend->consecutive_failures += 1;
  backend->restarts += 1;
  const auto backoff = std::min(config_->workers.restart_backoff_max,
                                config_->workers.restart_backoff_initial *
                                    (1 << std::min(backend->consecutive_failures - 1, 16)));
  const std::string kind = backend->kill_reason.empty() ? "crash" : "hung";
  metrics_.worker_restarts.add({{"model", name}, {"reason", kind}}, 1);
  backend->state = BackendState::restarting;
  backend->last_error = reason;
  spdlog::error("model {}: {}; restarting in {} ms", name, reason, backoff.count());
  notify_all();
  net::steady_timer delay(io_context_, backoff);
  boost::system::error_code wait_error;
  co_await delay.async_wait(net::redirect_error(net::use_awaitable, wait_error));
  if (backend->generation == generation && backend->state == BackendState::restarting &&
      !stopping_ && !backend->retired) {
    co_await start_worker(backend);
  }
}

net::awaitable<void> ModelManager::health_loop(std::shared_ptr<Backend> backend,
                                               uint64_t generation) {
  net::steady_timer pause(io_context_);
  while (!stopping_) {
    pause.expires_after(config_->workers.health_interval);
    boost::system::error_code ignored;
    co_await pause.async_wait(net::redirect_error(net::use_awaitable, ignored));
    if (backend->generation != generation || backend->state != BackendState::ready) {
      co_return;
    }
    http::ClientRequest probe;
    probe.target = std::string(kHealthPath);
    auto reply = co_await backend->health_client->fetch(std::move(probe));
    if (backend->generation != generation || backend->state != BackendState::ready) {
      co_return;
    }
    if (reply && reply->status == 200) {
      continue;
    }
    const std::string why = reply ? "health check answered " + std::to_string(reply->status)
                                  : "health check failed: " + reply.error().message;
    if (!reply && reply.error().kind == http::ClientError::Kind::connect_failed) {
      continue;  // the process is gone or going: the exit watcher restarts it
    }
    spdlog::error("model {}: {}; killing the worker (pid {})", backend->entry.name, why,
                  backend->process ? backend->process->pid() : 0);
    backend->kill_reason = why;
    if (backend->process) {
      backend->process->kill();
    }
    co_return;
  }
}

net::awaitable<void> ModelManager::stop_worker(std::shared_ptr<Backend> backend,
                                               std::string reason) {
  if (!backend->process) {
    co_return;
  }
  auto process = backend->process;
  backend->stop_requested = true;
  backend->state = BackendState::stopping;
  metrics_.worker_unloads.add({{"model", backend->entry.name}, {"reason", reason}}, 1);
  spdlog::info("model {}: unloading ({})", backend->entry.name, reason);
  notify_all();
  co_await process->terminate(kStopGrace);
  // watch_exit moves the state to unloaded and notifies.
}

net::awaitable<void> ModelManager::housekeeping_loop() {
  while (!stopping_) {
    housekeeping_timer_.expires_after(kHousekeepingInterval);
    boost::system::error_code ignored;
    co_await housekeeping_timer_.async_wait(net::redirect_error(net::use_awaitable, ignored));
    if (stopping_ || !config_) {
      co_return;
    }
    const auto now = Clock::now();
    for (const auto& [name, backend] : backends_) {
      if (backend->remote()) {
        if (!backend->remote_check_running && backend->health_client &&
            now >= backend->next_remote_check) {
          backend->remote_check_running = true;
          backend->next_remote_check = now + config_->workers.health_interval;
          net::co_spawn(
              io_context_,
              [this, backend]() -> net::awaitable<void> {
                http::ClientRequest probe;
                probe.target = std::get<config::RemoteBackend>(backend->entry.backend).health_path;
                auto reply = co_await backend->health_client->fetch(std::move(probe));
                backend->remote_check_running = false;
                const bool up = reply && reply->status >= 200 && reply->status < 300;
                if (up != (backend->state == BackendState::remote_up)) {
                  if (up) {
                    spdlog::info("model {}: remote backend {} is reachable again",
                                 backend->entry.name, backend->label);
                    backend->last_error.clear();
                  } else {
                    backend->last_error =
                        reply ? "health check answered " + std::to_string(reply->status)
                              : reply.error().message;
                    spdlog::warn("model {}: remote backend {} is unreachable: {}",
                                 backend->entry.name, backend->label, backend->last_error);
                  }
                }
                backend->state = up ? BackendState::remote_up : BackendState::remote_down;
                notify_all();
              },
              net::detached);
        }
        continue;
      }
      if (backend->state == BackendState::ready && backend->in_flight == 0 &&
          backend->keep_alive != std::chrono::milliseconds::max() &&
          now - backend->last_used >= backend->keep_alive) {
        backend->state = BackendState::stopping;
        net::co_spawn(io_context_, stop_worker(backend, "idle"), net::detached);
      }
    }
    for (auto it = retired_.begin(); it != retired_.end();) {
      auto& backend = *it;
      if (backend->in_flight > 0) {
        ++it;
        continue;
      }
      if (backend->process && backend->state != BackendState::stopping) {
        backend->state = BackendState::stopping;
        net::co_spawn(io_context_, stop_worker(backend, "reload"), net::detached);
      }
      if (backend->process) {
        ++it;  // wait for it to exit
      } else {
        backend->generation += 1;  // stray coroutines of this backend stop
        it = retired_.erase(it);
      }
    }
    // Keep the state gauge current.
    for (const auto& [name, backend] : backends_) {
      for (auto state : {BackendState::unloaded, BackendState::starting, BackendState::ready,
                         BackendState::restarting, BackendState::stopping, BackendState::failed,
                         BackendState::remote_up, BackendState::remote_down}) {
        metrics_.backends.set({{"model", name}, {"state", std::string(to_string(state))}},
                              backend->state == state ? 1 : 0);
      }
    }
  }
}

void ModelManager::notify_all() {
  for (auto* timer : waiters_) {
    timer->cancel();
  }
}

net::awaitable<bool> ModelManager::wait_for_change(Clock::time_point deadline,
                                                   CancellationToken& cancellation) {
  auto timer = std::make_shared<net::steady_timer>(io_context_, deadline);
  std::weak_ptr<net::steady_timer> weak = timer;
  cancellation.on_cancel([weak, this]() {
    net::post(io_context_, [weak]() {
      if (auto alive = weak.lock()) {
        alive->cancel();
      }
    });
  });
  waiters_.push_back(timer.get());
  auto position = std::prev(waiters_.end());
  boost::system::error_code error;
  co_await timer->async_wait(net::redirect_error(net::use_awaitable, error));
  waiters_.erase(position);
  co_return error == net::error::operation_aborted;
}

BackendStatus ModelManager::status(const std::string& model) const {
  BackendStatus status;
  status.model = model;
  auto found = backends_.find(model);
  if (found == backends_.end()) {
    if (config_) {
      if (const auto* entry = config_->find_model(model)) {
        if (const auto* remote = std::get_if<config::RemoteBackend>(&entry->backend)) {
          status.backend = remote->base_url;
          status.state = BackendState::remote_up;
        } else if (const auto* cloud = std::get_if<config::CloudBackend>(&entry->backend)) {
          status.backend = "cloud:" + cloud->provider;
          status.state = BackendState::remote_up;
        }
      }
    }
    return status;
  }
  const auto& backend = *found->second;
  status.backend = backend.label;
  status.state = backend.state;
  status.last_error = backend.last_error;
  status.in_flight = backend.in_flight;
  status.restarts = backend.restarts;
  return status;
}

std::vector<BackendStatus> ModelManager::statuses() const {
  std::vector<BackendStatus> out;
  if (config_) {
    for (const auto& entry : config_->models) {
      out.push_back(status(entry.name));
    }
  }
  return out;
}

net::awaitable<std::string> ModelManager::scrape_worker_metrics() {
  std::string out;
  std::set<std::string> seen;
  std::vector<std::shared_ptr<Backend>> ready;
  for (const auto& [name, backend] : backends_) {
    if (!backend->remote() && backend->state == BackendState::ready && backend->health_client) {
      ready.push_back(backend);
    }
  }
  for (const auto& backend : ready) {
    http::ClientRequest request;
    request.target = std::string(kMetricsPath);
    auto reply = co_await backend->health_client->fetch(std::move(request));
    if (reply && reply->status == 200) {
      append_relabelled(out, reply->body, backend->entry.name, seen);
    }
  }
  co_return out;
}

net::awaitable<void> ModelManager::shutdown(std::chrono::milliseconds grace) {
  stopping_ = true;
  housekeeping_timer_.cancel();
  notify_all();
  std::vector<std::shared_ptr<Backend>> running;
  for (const auto& [name, backend] : backends_) {
    if (backend->process) {
      running.push_back(backend);
    }
  }
  for (const auto& backend : retired_) {
    if (backend->process) {
      running.push_back(backend);
    }
  }
  for (const auto& backend : running) {
    backend->stop_requested = true;
    ::kill(backend->process->pid(), SIGTERM);  // all at once; terminate() below waits
    metrics_.worker_unloads.add({{"model", backend->entry.name}, {"reason", "shutdown"}}, 1);
  }
  for (const auto& backend : running) {
    if (auto process = backend->process) {
      co_await process->terminate(grace);
    }
  }
}

}  // namespace hearth::gateway
