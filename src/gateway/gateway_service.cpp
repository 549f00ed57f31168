#include "gateway/gateway_service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "api/parse.hpp"
#include "api/serialize.hpp"
#include "api/sse.hpp"
#include "gateway/exchange.hpp"
#include "gateway/trust.hpp"

namespace hearth::gateway {

namespace net = boost::asio;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4";
constexpr std::string_view kHealthyBody = R"({"status":"ok"})";
constexpr std::string_view kReadyBody = R"({"status":"ready"})";

// Bodies built outside the coroutines: GCC 12 miscompiles string literals and braced lists
// inside coroutine bodies.
std::string not_ready_body(const std::string& reason) {
  return nlohmann::json{{"status", "not_ready"}, {"reason", reason}}.dump();
}

std::string reloaded_body(const std::string& summary) {
  return nlohmann::json{{"status", "reloaded"}, {"summary", summary}}.dump();
}

http::Headers retry_after(int seconds) {
  return http::Headers{{"Retry-After", std::to_string(seconds)}};
}

api::ApiError rejected_config(const std::string& why) {
  return api::api_error(400, "The new configuration was rejected; the old one stays: " + why,
                        "invalid_config");
}

bool is_inference_route(const std::string& route) {
  return route == "/chat/completions" || route == "/completions" || route == "/embeddings" ||
         route == "/embedding" || route == "/rerank" || route == "/reranking";
}

double milliseconds(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

// "2026-11-22T12:34:56.789Z". The text up to the seconds is kept from the previous call: every
// request writes one, and most fall in the same second as the one before.
std::string iso8601_now() {
  thread_local std::time_t cached_second = -1;
  thread_local std::array<char, 32> cached_text{};
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto millis_total = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch);
  const auto second = static_cast<std::time_t>(millis_total.count() / 1000);
  if (second != cached_second) {
    std::tm utc{};
    gmtime_r(&second, &utc);
    std::strftime(cached_text.data(), cached_text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
    cached_second = second;
  }
  const int millis = static_cast<int>(millis_total.count() % 1000);
  std::string text(cached_text.data());
  text += '.';
  text += static_cast<char>('0' + millis / 100);
  text += static_cast<char>('0' + millis / 10 % 10);
  text += static_cast<char>('0' + millis % 10);
  text += 'Z';
  return text;
}

// The ledger writer's own counters, read at scrape time.
std::string ledger_metrics(const ledger::WriterStats& stats, std::size_t keys) {
  return fmt::format(
      "# HELP hearth_gateway_ledger_records_written_total Usage records committed to the store\n"
      "# TYPE hearth_gateway_ledger_records_written_total counter\n"
      "hearth_gateway_ledger_records_written_total {}\n"
      "# HELP hearth_gateway_audit_records_written_total Audit records committed to the store\n"
      "# TYPE hearth_gateway_audit_records_written_total counter\n"
      "hearth_gateway_audit_records_written_total {}\n"
      "# HELP hearth_gateway_ledger_write_failures_total Batches the store refused (retried)\n"
      "# TYPE hearth_gateway_ledger_write_failures_total counter\n"
      "hearth_gateway_ledger_write_failures_total {}\n"
      "# HELP hearth_gateway_ledger_queue_full_total Times the ledger queue was found full\n"
      "# TYPE hearth_gateway_ledger_queue_full_total counter\n"
      "hearth_gateway_ledger_queue_full_total {}\n"
      "# HELP hearth_gateway_ledger_queue_depth Usage records and audit events waiting to be "
      "written\n"
      "# TYPE hearth_gateway_ledger_queue_depth gauge\n"
      "hearth_gateway_ledger_queue_depth {}\n"
      "# HELP hearth_gateway_api_keys API keys known to the gateway (revoked ones included)\n"
      "# TYPE hearth_gateway_api_keys gauge\n"
      "hearth_gateway_api_keys {}\n",
      stats.usage_written.load(), stats.audit_written.load(), stats.write_failures.load(),
      stats.queue_full.load(), stats.queued.load(), keys);
}

}  // namespace

GatewayService::GatewayService(ModelManager& models, GatewayMetrics& metrics, Reloader reload)
    : models_(models), metrics_(metrics), reload_(std::move(reload)) {}

void GatewayService::set_config(std::shared_ptr<const config::Config> config,
                                std::shared_ptr<const privacy::Scanner> scanner) {
  assert(scanner && "every configuration comes with its scanner");
  if (!config->privacy.scan) {
    spdlog::warn(
        "privacy.scan is false: request texts are not scanned, sensitivity labels come from "
        "x-hearth-sensitivity only");
  }
  metrics_.privacy_scan_enabled.set({}, config->privacy.scan ? 1 : 0);
  if (auto problem = access_log_.configure(config->server.access_log_file,
                                           config->retention.access_log_max_bytes,
                                           config->retention.access_log_files);
      !problem.empty()) {
    spdlog::warn("{}", problem);
  }
  config_ = std::move(config);
  scanner_ = std::move(scanner);
}

net::awaitable<void> GatewayService::handle(const http::Request& request, Writer& writer) {
  Exchange exchange;
  exchange.route = api::route_of(request.path);
  ++in_flight_;
  metrics_.in_flight.set({}, in_flight_);
  const bool is_post = request.method == "POST";
  const bool is_get = request.method == "GET";
  const bool admin = request.path.starts_with("/admin/");
  const bool api_route = is_inference_route(exchange.route) || exchange.route == "/models";
  std::optional<api::ApiError> refused;
  if (admin || api_route) {
    if (auto caller = authenticate(request, admin, exchange); !caller) {
      refused = std::move(caller.error());
    }
  }
  if (!refused && api_route && trust_ != nullptr && trust_->writer().full()) {
    co_await wait_for_ledger(exchange);
  }
  if (refused) {
    co_await send_error(writer, *refused, exchange);
  } else if (is_inference_route(exchange.route) && is_post) {
    co_await proxy(request, writer, exchange);
  } else if (exchange.route == "/models" && is_get) {
    exchange.status = 200;
    co_await models(writer);
  } else if (request.path == "/healthz" && is_get) {
    exchange.status = 200;
    co_await writer.send(200, kJson, std::string(kHealthyBody));
  } else if (request.path == "/readyz" && is_get) {
    exchange.status = co_await ready(writer);
  } else if (request.path == "/metrics" && is_get) {
    exchange.status = 200;
    co_await metrics(writer);
  } else if (request.path == "/admin/reload" && is_post) {
    exchange.status = co_await reload(writer);
    if (trust_ != nullptr) {
      trust_->audit(exchange.status == 200 ? "config.reloaded" : "config.reload_rejected",
                    exchange.key ? exchange.key->id : "loopback", "{}");
    }
  } else if (request.path == "/admin/route/explain" && is_post) {
    co_await explain_route(request, writer, exchange);
  } else if (request.path == "/admin/keys" || request.path.starts_with("/admin/keys/")) {
    co_await admin_keys(request, writer, exchange);
  } else if ((request.path == "/ui" || request.path.starts_with("/ui/")) && is_get) {
    co_await ui_file(request, writer, exchange);
  } else if (request.path == "/admin/dashboard" && is_get) {
    co_await dashboard_data(writer, exchange);
  } else if (is_inference_route(exchange.route) || exchange.route == "/models" ||
             request.path == "/healthz" || request.path == "/readyz" ||
             request.path == "/metrics" || request.path == "/admin/reload" ||
             request.path == "/admin/route/explain" || request.path == "/admin/dashboard") {
    const auto error = api::method_not_allowed(request.method, request.path);
    co_await send_error(writer, error, exchange);
  } else {
    exchange.route = "other";  // a scanner's random paths must not each become a series
    const auto error = api::not_found(request.path);
    co_await send_error(writer, error, exchange);
  }
  --in_flight_;
  metrics_.in_flight.set({}, in_flight_);
  const auto total = Clock::now() - exchange.start;
  if (is_inference_route(exchange.route)) {
    note_dashboard(exchange, total);
  }
  finish(request, exchange, total);
  if (api_route) {
    account(exchange, total);
  }
}

net::awaitable<void> GatewayService::wait_for_ledger(Exchange& exchange) {
  // Back-pressure: the store is behind. New work waits for room rather than records being
  // dropped; requests already answered still get theirs (the capacity is a threshold).
  metrics_.ledger_backpressure.add({}, 1);
  trust_->writer().note_full();
  const auto since = Clock::now();
  if (since - last_backpressure_log_ > std::chrono::seconds(10)) {
    last_backpressure_log_ = since;
    spdlog::warn("ledger queue full ({} waiting; last write error: {}): holding back new requests",
                 trust_->writer().stats().queued.load(), trust_->writer().last_error());
  }
  net::steady_timer pause(co_await net::this_coro::executor);
  while (trust_->writer().full()) {
    pause.expires_after(std::chrono::milliseconds(2));
    boost::system::error_code ignored;
    co_await pause.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
  exchange.upstream += Clock::now() - since;  // waiting on the store is not gateway work
}

net::awaitable<void> GatewayService::send_error(Writer& writer, const api::ApiError& error,
                                                Exchange& exchange) {
  http::Headers headers;
  if (error.retry_after_seconds) {
    headers.emplace_back("Retry-After", std::to_string(*error.retry_after_seconds));
  }
  if (!exchange.model.empty()) {
    headers.emplace_back("x-hearth-model", exchange.model);
  }
  if (!exchange.backend.empty()) {
    headers.emplace_back("x-hearth-backend", exchange.backend);
  }
  if (!exchange.rule.empty()) {
    headers.emplace_back("x-hearth-rule", exchange.rule);
  }
  if (!exchange.fallbacks.empty()) {
    headers.emplace_back("x-hearth-fallback", fallback_header(exchange.fallbacks));
  }
  if (!exchange.privacy_action.empty()) {
    headers.emplace_back("x-hearth-privacy",
                         privacy_header(exchange.privacy_action, exchange.findings));
  }
  exchange.status = error.status;
  exchange.error = error.message;
  co_await writer.send(error.status, kJson, api::to_json(error), headers);
}

net::awaitable<void> GatewayService::models(Writer& writer) {
  std::vector<api::ModelCard> cards;
  const auto created = static_cast<int64_t>(std::time(nullptr));
  for (const auto& entry : config_->models) {
    api::ModelCard card;
    card.id = entry.name;
    card.created = created;
    card.task = std::string(config::to_string(entry.task));
    if (const auto* local = std::get_if<config::LocalBackend>(&entry.backend)) {
      card.context_length = local->context / std::max(1, local->parallel);
    }
    const auto status = models_.status(entry.name);
    card.state = std::string(to_string(status.state));
    card.backend = status.backend;
    card.aliases = entry.aliases;
    cards.push_back(std::move(card));
  }
  co_await writer.send(200, kJson, api::models_to_json(cards));
}

net::awaitable<void> GatewayService::metrics(Writer& writer) {
  std::string body = metrics_.registry.render();
  if (server_stats_ != nullptr) {
    body += fmt::format(
        "# HELP hearth_gateway_connections_open Client connections open\n"
        "# TYPE hearth_gateway_connections_open gauge\n"
        "hearth_gateway_connections_open {}\n"
        "# HELP hearth_gateway_connections_rejected_total Connections refused (limit reached)\n"
        "# TYPE hearth_gateway_connections_rejected_total counter\n"
        "hearth_gateway_connections_rejected_total {}\n"
        "# HELP hearth_gateway_protocol_errors_total Requests refused by the HTTP layer\n"
        "# TYPE hearth_gateway_protocol_errors_total counter\n"
        "hearth_gateway_protocol_errors_total {}\n",
        server_stats_->connections_open.load(), server_stats_->connections_rejected.load(),
        server_stats_->protocol_errors.load());
  }
  if (server_stats_ != nullptr) {
    body += fmt::format(
        "# HELP hearth_gateway_tls_handshake_failures_total TLS handshakes that failed or timed "
        "out\n"
        "# TYPE hearth_gateway_tls_handshake_failures_total counter\n"
        "hearth_gateway_tls_handshake_failures_total {}\n",
        server_stats_->tls_handshake_failures.load());
  }
  if (trust_ != nullptr) {
    body += ledger_metrics(trust_->writer().stats(), trust_->keys().size());
  }
  body += co_await models_.scrape_worker_metrics();
  co_await writer.send(200, kPrometheus, std::move(body));
}

net::awaitable<int> GatewayService::ready(Writer& writer) {
  const auto& config = *config_;
  std::string problem;
  if (config.models.empty()) {
    problem = "no models are configured";
  } else {
    const std::string& name =
        config.default_model.empty() ? config.models.front().name : config.default_model;
    const auto status = models_.status(name);
    if (status.state == BackendState::failed || status.state == BackendState::remote_down) {
      problem = "the default model '" + name + "' is " + std::string(to_string(status.state)) +
                (status.last_error.empty() ? "" : ": " + status.last_error);
    }
  }
  if (problem.empty()) {
    co_await writer.send(200, kJson, std::string(kReadyBody));
    co_return 200;
  }
  const auto headers = retry_after(1);
  co_await writer.send(503, kJson, not_ready_body(problem), headers);
  co_return 503;
}

net::awaitable<int> GatewayService::reload(Writer& writer) {
  auto result = reload_();
  if (!result) {
    co_await writer.send(400, kJson, api::to_json(rejected_config(result.error())));
    co_return 400;
  }
  co_await writer.send(200, kJson, reloaded_body(result.value()));
  co_return 200;
}

bool GatewayService::note_upstream_failure(const http::ClientError& failure, Exchange& exchange,
                                           const CancellationToken& cancellation) {
  if (failure.kind == http::ClientError::Kind::cancelled || cancellation.cancelled()) {
    exchange.client_gone = true;
    return true;
  }
  metrics_.upstream_errors.add(
      {{"model", exchange.model}, {"kind", std::string(http::to_string(failure.kind))}}, 1);
  return false;
}

net::awaitable<Expected<std::optional<std::string>, http::ClientError>> GatewayService::read_piece(
    http::ResponseStream& stream, Exchange& exchange, const CancellationToken& cancellation) {
  const auto read_at = Clock::now();
  auto piece = co_await stream.next();
  exchange.upstream += Clock::now() - read_at;
  if (!piece) {
    note_upstream_failure(piece.error(), exchange, cancellation);
  }
  co_return piece;
}

void GatewayService::finish(const http::Request& request, const Exchange& exchange,
                            Clock::duration total) {
  if (exchange.client_gone) {
    metrics_.client_disconnects.add({{"model", exchange.model}}, 1);
  }
  record_request_metrics(exchange, total);
  const auto overhead = total - exchange.upstream;
  if (!config_ || !config_->server.access_log) {
    return;
  }
  // One JSON line per request, no prompt or completion text.
  JsonLine line;
  line.string_member("ts", iso8601_now());
  line.string_member("method", request.method);
  line.string_member("path", request.path);
  line.integer_member("status", exchange.client_gone ? 499 : exchange.status);
  line.string_member("model", exchange.model);
  line.string_member("backend", exchange.backend);
  line.bool_member("stream", exchange.stream);
  line.fixed3_member("duration_ms", milliseconds(total));
  line.fixed3_member("overhead_ms", milliseconds(overhead));
  line.fixed3_member("upstream_ms", milliseconds(exchange.upstream));
  line.integer_member("bytes_out", static_cast<std::int64_t>(exchange.bytes_out));
  if (!exchange.rule.empty()) {
    line.string_member("rule", exchange.rule);
  }
  if (!exchange.placement.empty()) {
    line.string_member("placement", exchange.placement);
  }
  if (!exchange.fallbacks.empty()) {
    line.strings_member("fallback", exchange.fallbacks);
  }
  if (!exchange.escalation.empty()) {
    line.string_member("escalation", exchange.escalation);
  }
  if (!exchange.privacy_action.empty() || !exchange.findings.empty() ||
      !exchange.answer_secrets.empty()) {
    line.begin_object("privacy");
    line.string_member("action", exchange.privacy_action.empty()
                                     ? config::to_string(config::PrivacyAction::allow)
                                     : std::string_view(exchange.privacy_action));
    line.counts_member("findings", exchange.findings);
    if (!exchange.redacted.empty()) {
      line.counts_member("redacted", exchange.redacted);
    }
    if (!exchange.answer_secrets.empty()) {
      line.counts_member("answer_secrets", exchange.answer_secrets);
    }
    line.end_object();
  }
  if (!exchange.request_id.empty()) {
    line.string_member("request_id", exchange.request_id);
  }
  if (exchange.key) {
    line.string_member("key_id", exchange.key->id);
  }
  if (!exchange.error.empty()) {
    line.string_member("error", exchange.error);
  }
  if (exchange.client_gone) {
    line.bool_member("client_gone", true);
  }
  const std::string text = std::move(line).finish();
  access_log_.write(text);
}

}  // namespace hearth::gateway
