// Every metric the gateway exports, declared in one place (workers' own metrics are scraped and
// relabelled with model="..." at /metrics, see ModelManager::scrape_worker_metrics).
#pragma once

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "metrics/prometheus.hpp"

namespace hearth::gateway {

// The `workload` label comes from clients (x-hearth-workload, metadata.workload), so its values
// are bounded: a workload named in the configuration (a policy rule's `match.workload`,
// `ledger.content_workloads`) is its own value; so are the first kMaxUnconfigured other names
// seen since the gateway started, when they are short ([A-Za-z0-9._:-], at most kMaxLength
// characters); every other name is "other", and no workload at all is "none". The ledger keeps
// every name as sent.
class WorkloadLabels {
 public:
  static constexpr std::size_t kMaxUnconfigured = 32;
  static constexpr std::size_t kMaxLength = 64;

  std::string label(const config::Config* config, std::string_view workload);

 private:
  std::mutex mutex_;
  std::set<std::string, std::less<>> unconfigured_;
};

struct GatewayMetrics {
  metrics::Registry registry;
  WorkloadLabels workload_labels;

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

  // Per finished /v1 inference request (GatewayService::record_request_metrics, one call per
  // request, with or without the ledger). `workload` is bounded (WorkloadLabels); `placement` is
  // that of the target that answered, "none" when none did; `status` 499: the client went away.
  metrics::Family& inference_requests = registry.counter(
      "hearth_gateway_inference_requests_total",
      "Inference requests answered, by workload, placement, model, backend and status");
  metrics::Histogram& request_duration = registry.histogram(
      "hearth_gateway_request_duration_seconds",
      "Inference request latency (arrival to last byte), by workload and placement",
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120});
  metrics::Histogram& time_to_first_token =
      registry.histogram("hearth_gateway_time_to_first_token_seconds",
                         "Streams: arrival to the first event relayed, by workload and placement",
                         {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  metrics::Histogram& overhead_duration = registry.histogram(
      "hearth_gateway_overhead_duration_seconds",
      "Time an inference request spent in the gateway itself (backends excluded), by placement",
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1});
  metrics::Family& prompt_tokens =
      registry.counter("hearth_gateway_prompt_tokens_total",
                       "Prompt tokens of answered requests (from their usage), by workload and "
                       "placement");
  metrics::Family& completion_tokens =
      registry.counter("hearth_gateway_completion_tokens_total",
                       "Completion tokens of answered requests (from their usage), by workload "
                       "and placement");
  metrics::Family& cloud_spend =
      registry.counter("hearth_gateway_cloud_spend_usd_total",
                       "Cloud spend (provider price tables x usage), by workload");
  metrics::Family& avoided_spend = registry.counter(
      "hearth_gateway_avoided_spend_usd_total",
      "What local answers would have cost on the cloud target the policy would otherwise use, by "
      "workload");
  metrics::Family& local_busy_seconds = registry.counter(
      "hearth_gateway_local_busy_seconds_total",
      "Worker compute time charged to local answers (x-hearth-busy-ms), by workload");
  metrics::Family& energy_wh = registry.counter(
      "hearth_gateway_energy_wh_total",
      "Energy of local answers: busy time x local_costs.power_busy_watts, by workload");
  metrics::Family& carbon_grams = registry.counter(
      "hearth_gateway_carbon_grams_total",
      "CO2 of local answers: energy x local_costs.carbon_grams_per_kwh, by workload");
};

}  // namespace hearth::gateway
