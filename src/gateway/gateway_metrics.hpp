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

  // Placement (policy, fallback, escalation).
  metrics::Family& placements = registry.counter(
      "hearth_gateway_placements_total",
      "Requests answered by a target, by rule, target model and placement (local, cloud)");
  metrics::Family& fallbacks = registry.counter(
      "hearth_gateway_fallbacks_total",
      "Targets given up on before the first byte of an answer, by rule, target and reason");
  metrics::Family& retries = registry.counter(
      "hearth_gateway_retries_total", "Retries of the same target after a failure, by target");
  metrics::Family& escalations =
      registry.counter("hearth_gateway_escalations_total",
                       "Local answers rejected by a quality check and sent on, by rule and reason");
  metrics::Family& escalation_seconds = registry.counter(
      "hearth_gateway_escalation_seconds_total",
      "Latency added by escalations (time spent on the rejected answers), by rule");
  metrics::Family& escalation_cost = registry.counter(
      "hearth_gateway_escalation_cost_usd_total",
      "Cloud cost of answers that replaced a rejected local one (from their usage), by rule");
  metrics::Family& cloud_cost = registry.counter(
      "hearth_gateway_cloud_cost_usd_total",
      "Cloud spend from the usage of non-streamed answers and streams with usage, by model");
  metrics::Family& policy_refusals = registry.counter(
      "hearth_gateway_policy_refusals_total",
      "Requests refused by policy, by rule and code (no_allowed_target, placement_not_allowed, "
      "all_targets_failed)");
  metrics::Family& breaker_state =
      registry.gauge("hearth_gateway_circuit_state",
                     "Circuit breaker per target model: 0 closed, 1 open, 2 half-open");
  metrics::Family& breaker_opened = registry.counter("hearth_gateway_circuit_opened_total",
                                                     "Times a target's circuit breaker opened");

  // Privacy guard (finding types and counts only, never values).
  metrics::Family& privacy_findings =
      registry.counter("hearth_gateway_privacy_findings_total",
                       "Sensitive entities found, by type and source (request, answer)");
  metrics::Family& privacy_actions = registry.counter(
      "hearth_gateway_privacy_actions_total",
      "Requests with sensitivity labels, by the privacy action applied (allow, audit_only, "
      "redact, local_only, block)");
  metrics::Family& privacy_redactions =
      registry.counter("hearth_gateway_privacy_redactions_total",
                       "Values replaced by placeholders before a cloud target, by type");
  metrics::Family& privacy_scan_seconds = registry.counter(
      "hearth_gateway_privacy_scan_seconds_total", "Time spent scanning request texts");
  metrics::Family& privacy_scan_enabled = registry.gauge(
      "hearth_gateway_privacy_scan_enabled",
      "1 when request texts are scanned; 0 when privacy.scan is false (labels come from "
      "x-hearth-sensitivity only)");

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

  // Trust: authentication, limits, budgets, ledger and audit.
  metrics::Family& auth_failures = registry.counter(
      "hearth_gateway_auth_failures_total",
      "Requests refused by authentication or authorization, by reason (missing, "
      "invalid_api_key, revoked_api_key, expired_api_key, insufficient_scope, admin_required, "
      "client_certificate_required)");
  metrics::Family& rate_limited =
      registry.counter("hearth_gateway_rate_limited_total",
                       "Requests refused with 429 by a key's rate limit, by key");
  metrics::Family& budget_refusals = registry.counter(
      "hearth_gateway_budget_exceeded_total",
      "Requests over a monthly cloud budget, by action (local: cloud targets skipped; refuse)");
  metrics::Family& ledger_backpressure =
      registry.counter("hearth_gateway_ledger_backpressure_total",
                       "Requests held back because the ledger queue was full (the store is slow)");
};

}  // namespace hearth::gateway
