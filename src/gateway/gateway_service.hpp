// The gateway's routes: the public OpenAI-compatible API in front of every backend.
// A request's path through here: route -> parse the routing fields and placement facts -> the
// privacy guard scans the texts (privacy_guard.hpp; its labels join the facts) -> policy decides
// the rule and target chain (dispatch.cpp) -> for each target: circuit breaker, lease a ready
// backend (starting or waiting for its worker), send upstream (translated for an Anthropic
// provider), fall back on a failure before the first byte, check a local answer when the rule
// escalates -> relay the answer (SSE chunk by chunk) with x-hearth-* headers -> access log and
// metrics. The backend validates the request in full; its errors reach the client unchanged.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "api/parse.hpp"
#include "common/expected.hpp"
#include "config/config.hpp"
#include "gateway/access_log.hpp"
#include "gateway/gateway_metrics.hpp"
#include "gateway/model_manager.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "policy/circuit_breaker.hpp"
#include "policy/policy.hpp"
#include "privacy/request_scan.hpp"
#include "privacy/scanner.hpp"

namespace hearth::gateway {
class Trust;
class Dashboard;
struct WorkerGauges;
}  // namespace hearth::gateway

namespace hearth::gateway {

class GatewayService {
 public:
  // `reload` re-reads the configuration and applies it, returning a summary or the error that
  // kept the old configuration in place.
  using Reloader = std::function<Expected<std::string, std::string>()>;

  GatewayService(ModelManager& models, GatewayMetrics& metrics, Reloader reload);

  // The configuration and the privacy scanner built from it (build_scanner): requests in flight
  // keep the pair they started with.
  void set_config(std::shared_ptr<const config::Config> config,
                  std::shared_ptr<const privacy::Scanner> scanner);
  std::shared_ptr<const config::Config> config() const { return config_; }

  http::net::awaitable<void> handle(const http::Request& request, http::ResponseWriter& writer);

  int in_flight() const { return in_flight_; }
  void set_server_stats(const http::ServerStats* stats) { server_stats_ = stats; }
  // Keys, limits, budgets, ledger and audit (trust_routes.cpp); null: none of them (tests of the
  // proxy alone).
  void set_trust(Trust* trust) { trust_ = trust; }
  // The dashboard's live view and ledger-side data (dashboard.hpp); null: /admin/dashboard
  // answers 503.
  void set_dashboard(Dashboard* dashboard) { dashboard_ = dashboard; }

 private:
  struct Exchange;
  struct Plan;
  struct Attempt;
  using Writer = http::ResponseWriter;
  http::net::awaitable<void> proxy(const http::Request& request, Writer& writer,
                                   Exchange& exchange);
  // One try of one target; says whether the answer was delivered or what to do next.
  http::net::awaitable<Attempt> try_target(const http::Request& request, Writer& writer,
                                           Exchange& exchange, const Plan& plan,
                                           const config::ModelEntry& entry, bool last_target);
  http::net::awaitable<void> explain_route(const http::Request& request, Writer& writer,
                                           Exchange& exchange);
  policy::CircuitBreaker& breaker_for(const std::string& target,
                                      const config::PolicySettings& settings);
  void publish_breaker(const std::string& target, const policy::CircuitBreaker& breaker);
  std::chrono::milliseconds retry_backoff(const config::PolicySettings& settings, int retry);
  http::net::awaitable<void> models(Writer& writer);
  http::net::awaitable<void> metrics(Writer& writer);
  // These two return the status they answered with.
  http::net::awaitable<int> ready(Writer& writer);
  http::net::awaitable<int> reload(Writer& writer);
  http::net::awaitable<void> send_error(Writer& writer, const api::ApiError& error,
                                        Exchange& exchange);
  // Counts a failed backend exchange; true when it failed because the client went away.
  bool note_upstream_failure(const http::ClientError& failure, Exchange& exchange,
                             const CancellationToken& cancellation);
  // The backend's next body piece (nullopt at the end), its wait counted as backend time.
  http::net::awaitable<Expected<std::optional<std::string>, http::ClientError>> read_piece(
      http::ResponseStream& stream, Exchange& exchange, const CancellationToken& cancellation);
  void finish(const http::Request& request, const Exchange& exchange, Clock::duration total);
  // request_metrics.cpp: every per-request metric, once per finished request (from finish()).
  void record_request_metrics(const Exchange& exchange, Clock::duration total);
  // trust_routes.cpp: who is calling (an error to send when nobody acceptable is).
  Expected<std::monostate, api::ApiError> authenticate(const http::Request& request, bool admin,
                                                       Exchange& exchange);
  // Scopes, rate limits: checked once the routing fields are known.
  Expected<std::monostate, api::ApiError> admit(const http::Request& request, const Plan& plan,
                                                Exchange& exchange);
  // Budgets: may take the cloud targets out of the plan's chain, or refuse.
  Expected<std::monostate, api::ApiError> apply_budgets(Plan& plan, Exchange& exchange);
  http::net::awaitable<void> admin_keys(const http::Request& request, Writer& writer,
                                        Exchange& exchange);
  // The usage record, rate and budget settlement, audit events of a finished request. Called
  // last: the record takes the exchange's strings.
  void account(Exchange& exchange, Clock::duration total);
  http::net::awaitable<void> wait_for_ledger(Exchange& exchange);
  void note_redactions(Exchange& exchange, const privacy::FindingCounts& counts);
  void note_usage(Exchange& exchange, const config::ModelEntry& entry,
                  const api::AnswerSummary& usage);
  void note_answer_secrets(Exchange& exchange, config::AnswerScan scan);
  // dashboard_routes.cpp: the page's files at /ui, its data at /admin/dashboard, and each
  // finished inference request noted for its live view.
  http::net::awaitable<void> ui_file(const http::Request& request, Writer& writer,
                                     Exchange& exchange);
  http::net::awaitable<void> dashboard_data(Writer& writer, Exchange& exchange);
  std::string dashboard_json(const std::map<std::string, WorkerGauges>& gauges);
  void note_dashboard(const Exchange& exchange, Clock::duration total);

  ModelManager& models_;
  GatewayMetrics& metrics_;
  Reloader reload_;
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const privacy::Scanner> scanner_;
  const http::ServerStats* server_stats_ = nullptr;
  Trust* trust_ = nullptr;
  Dashboard* dashboard_ = nullptr;
  AccessLog access_log_;
  std::uint64_t requests_seen_ = 0;  // for request ids
  Clock::time_point last_backpressure_log_{};
  int in_flight_ = 0;
  std::map<std::string, policy::CircuitBreaker> breakers_;  // by target model name
  std::mt19937 jitter_{std::random_device{}()};
};

}  // namespace hearth::gateway
