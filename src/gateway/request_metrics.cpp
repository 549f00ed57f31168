// The metrics of one finished request, recorded in one place (GatewayService::finish calls this
// once per request, whether or not the ledger is on), and the bound on the workload label.
#include <algorithm>
#include <chrono>
#include <string>

#include "gateway/exchange.hpp"
#include "gateway/gateway_metrics.hpp"
#include "gateway/gateway_service.hpp"
#include "policy/policy.hpp"

namespace hearth::gateway {

namespace {

double seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

bool is_plain_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

bool is_configured(const config::Config& config, std::string_view workload) {
  for (const auto& rule : config.policy.rules) {
    if (std::find(rule.match.workloads.begin(), rule.match.workloads.end(), workload) !=
        rule.match.workloads.end()) {
      return true;
    }
  }
  return std::find(config.ledger.content_workloads.begin(), config.ledger.content_workloads.end(),
                   workload) != config.ledger.content_workloads.end();
}

constexpr double kMillisecondsPerHour = 3'600'000;

}  // namespace

std::string WorkloadLabels::label(const config::Config* config, std::string_view workload) {
  if (workload.empty()) {
    return "none";
  }
  if (config != nullptr && is_configured(*config, workload)) {
    return std::string(workload);
  }
  // Anything that could break the exposition (bytes that are not UTF-8, quotes) or bloat it
  // stays out, whatever the room left.
  if (workload.size() > kMaxLength || !is_plain_name(workload)) {
    return "other";
  }
  std::lock_guard lock(mutex_);
  if (unconfigured_.find(workload) != unconfigured_.end()) {
    return std::string(workload);
  }
  if (unconfigured_.size() >= kMaxUnconfigured) {
    return "other";
  }
  unconfigured_.emplace(workload);
  return std::string(workload);
}

void GatewayService::record_request_metrics(const Exchange& exchange, Clock::duration total) {
  const auto overhead = total - exchange.upstream;
  const std::string status = exchange.client_gone ? "499" : std::to_string(exchange.status);
  metrics_.requests.add({{"route", exchange.route}, {"model", exchange.model}, {"status", status}},
                        1);
  metrics_.request_seconds.add({{"route", exchange.route}}, seconds(total));
  metrics_.overhead_seconds.add({{"route", exchange.route}}, seconds(overhead));
  if (!policy::task_of_route(exchange.route)) {
    return;
  }

  const config::Config* config = config_.get();
  const std::string workload = metrics_.workload_labels.label(config, exchange.workload);
  const std::string placement = exchange.placement.empty() ? "none" : exchange.placement;
  metrics_.inference_requests.add(
      {{"workload", workload},
       {"placement", placement},
       {"model", exchange.model.empty() ? "none" : exchange.model},
       {"backend", exchange.backend.empty() ? "none" : exchange.backend},
       {"status", status}},
      1);
  const metrics::Labels by_placement{{"workload", workload}, {"placement", placement}};
  metrics_.request_duration.observe(by_placement, seconds(total));
  if (exchange.first_token) {
    metrics_.time_to_first_token.observe(by_placement, seconds(*exchange.first_token));
  }
  metrics_.overhead_duration.observe({{"placement", placement}}, seconds(overhead));
  if (exchange.prompt_tokens > 0) {
    metrics_.prompt_tokens.add(by_placement, static_cast<double>(exchange.prompt_tokens));
  }
  if (exchange.completion_tokens > 0) {
    metrics_.completion_tokens.add(by_placement, static_cast<double>(exchange.completion_tokens));
  }
  const metrics::Labels by_workload{{"workload", workload}};
  if (exchange.cloud_cost > 0) {
    metrics_.cloud_spend.add(by_workload, exchange.cloud_cost);
  }
  if (const double avoided = exchange.avoided_cost_usd(); avoided > 0) {
    metrics_.avoided_spend.add(by_workload, avoided);
  }
  // Escalated requests count the local compute of the rejected answer too: it was spent.
  if (exchange.busy_ms > 0) {
    metrics_.local_busy_seconds.add(by_workload, exchange.busy_ms / 1000);
    if (config != nullptr) {
      const double watt_hours =
          exchange.busy_ms / kMillisecondsPerHour * config->local_costs.power_busy_watts;
      metrics_.energy_wh.add(by_workload, watt_hours);
      metrics_.carbon_grams.add(by_workload,
                                watt_hours / 1000 * config->local_costs.carbon_grams_per_kwh);
    }
  }
}

}  // namespace hearth::gateway
