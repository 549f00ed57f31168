// Every metric the gateway exports, declared in one place (workers' own metrics are scraped and
// relabelled with model="..." at /metrics, see ModelManager::scrape_worker_metrics).
#pragma once

#include "metrics/prometheus.hpp"

namespace hearth::gateway {

struct GatewayMetrics {
  metrics::Registry registry;

  // Requests by route ("chat/completions", ...), model and HTTP status.
  metrics::Family& requests = registry.counter("hearth_gateway_requests_total",
                                               "Requests answered, by route, model and status");
  metrics::Family& request_seconds = registry.counter("hearth_gateway_request_seconds_total",
                                                      "Wall time of answered requests, by route");
  metrics::Family& overhead_seconds =
      registry.counter("hearth_gateway_overhead_seconds_total",
                       "Time spent in the gateway itself (excluding the backend), by route");
  metrics::Family& in_flight =
      registry.gauge("hearth_gateway_requests_in_flight", "Requests being served");
  metrics::Family& upstream_errors = registry.counter(
      "hearth_gateway_upstream_errors_total",
      "Backend exchanges that failed, by model and kind (connect_failed, timeout, ...)");
  metrics::Family& broken_streams = registry.counter(
      "hearth_gateway_broken_streams_total",
      "Streamed responses that ended without [DONE] and got an error event, by model");
  metrics::Family& client_disconnects = registry.counter(
      "hearth_gateway_client_disconnects_total",
      "Requests whose client went away before the answer; the backend was cancelled");
  metrics::Family& wait_timeouts = registry.counter(
      "hearth_gateway_model_wait_timeouts_total",
      "Requests answered 503 because their model was not ready within workers.wait_timeout");

  // Workers.
  metrics::Family& worker_starts =
      registry.counter("hearth_gateway_worker_starts_total", "Worker processes started, by model");
  metrics::Family& worker_restarts = registry.counter(
      "hearth_gateway_worker_restarts_total",
      "Workers restarted after a crash or a failed health check, by model and reason");
  metrics::Family& worker_unloads = registry.counter(
      "hearth_gateway_worker_unloads_total",
      "Workers stopped on purpose, by model and reason (idle, evicted, reload, shutdown)");
  metrics::Family& worker_load_failures =
      registry.counter("hearth_gateway_worker_load_failures_total",
                       "Workers that could not start or load their model, by model");
  metrics::Family& worker_load_seconds = registry.counter(
      "hearth_gateway_worker_load_seconds_total", "Time from spawn to ready, by model");
  metrics::Family& backends =
      registry.gauge("hearth_gateway_backends", "Backends by model and state (1 = in that state)");
  metrics::Family& config_reloads = registry.counter(
      "hearth_gateway_config_reloads_total", "Configuration reloads, by result (ok, rejected)");
};

}  // namespace hearth::gateway
