// The dashboard's routes: the page's static files at /ui (compiled into the binary, see
// src/dashboard/assets.hpp) and its data at GET /admin/dashboard (admin scope once keys exist;
// with none the gateway listens on loopback only). The data is documented in gateway/dashboard.hpp.
#include <nlohmann/json.hpp>

#include "api/types.hpp"
#include "dashboard/assets.hpp"
#include "gateway/dashboard.hpp"
#include "gateway/exchange.hpp"
#include "gateway/gateway_service.hpp"
#include "gateway/trust.hpp"

namespace hearth::gateway {

namespace net = boost::asio;

namespace {

constexpr std::string_view kJson = "application/json";

// The page loads only its own files and talks only to this gateway.
constexpr std::string_view kUiPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Built outside the coroutines (GCC 12 and braced lists inside them).
http::Headers ui_headers(const std::string& etag) {
  // no-cache: revalidate every time (a 304 when unchanged), so that a new gateway build's page
  // is used at once.
  return http::Headers{{"Cache-Control", "no-cache"},
                       {"ETag", etag},
                       {"X-Content-Type-Options", "nosniff"},
                       {"Referrer-Policy", "no-referrer"},
                       {"Content-Security-Policy", std::string(kUiPolicy)}};
}

http::Headers data_headers() { return http::Headers{{"Cache-Control", "no-store"}}; }

std::string_view kind_of(const config::ModelEntry& entry) {
  if (std::holds_alternative<config::LocalBackend>(entry.backend)) {
    return "local";
  }
  if (std::holds_alternative<config::RemoteBackend>(entry.backend)) {
    return "remote";
  }
  return "cloud";
}

std::string_view circuit_words(policy::CircuitBreaker::State state) {
  switch (state) {
    case policy::CircuitBreaker::State::closed:
      return "closed";
    case policy::CircuitBreaker::State::open:
      return "open";
    case policy::CircuitBreaker::State::half_open:
      break;
  }
  return "half_open";
}

}  // namespace

net::awaitable<void> GatewayService::ui_file(const http::Request& request, Writer& writer,
                                             Exchange& exchange) {
  exchange.route = "ui";  // one series for every path under /ui, found or not
  const auto* file = dashboard::find_file(request.path);
  if (file == nullptr) {
    const auto error = api::not_found(request.path);
    co_return co_await send_error(writer, error, exchange);
  }
  const std::string etag = "\"" + std::string(file->etag) + "\"";
  const auto headers = ui_headers(etag);
  const auto content_type = dashboard::content_type_of(file->name);
  if (request.header("if-none-match") == etag) {
    exchange.status = 304;
    co_await writer.send(304, content_type, std::string(), headers);
    co_return;
  }
  exchange.status = 200;
  co_await writer.send(200, content_type, std::string(file->body), headers);
}

net::awaitable<void> GatewayService::dashboard_data(Writer& writer, Exchange& exchange) {
  if (dashboard_ == nullptr) {
    const auto error = api::api_error(503, "The dashboard is not enabled", "unavailable");
    co_return co_await send_error(writer, error, exchange);
  }
  // Worker gauges come from the workers themselves (a unix-socket request each).
  const auto gauges = parse_worker_gauges(co_await models_.scrape_worker_metrics());
  std::string body = dashboard_json(gauges);
  exchange.status = 200;
  co_await writer.send(200, kJson, std::move(body), data_headers());
}

std::string GatewayService::dashboard_json(const std::map<std::string, WorkerGauges>& gauges) {
  const auto now = now_us();
  nlohmann::json workers = nlohmann::json::array();
  for (const auto& entry : config_->models) {
    const auto status = models_.status(entry.name);
    nlohmann::json worker{{"model", entry.name},
                          {"kind", kind_of(entry)},
                          {"state", to_string(status.state)},
                          {"backend", status.backend},
                          {"in_flight", status.in_flight},
                          {"restarts", status.restarts},
                          {"last_error", status.last_error},
                          {"circuit", nullptr}};
    if (auto found = gauges.find(entry.name); found != gauges.end()) {
      worker["queue_depth"] = found->second.queue_depth;
      worker["busy_slots"] = found->second.busy_slots;
      worker["slots"] = found->second.slots;
    }
    if (auto breaker = breakers_.find(entry.name); breaker != breakers_.end()) {
      worker["circuit"] = circuit_words(breaker->second.state());
    }
    workers.push_back(std::move(worker));
  }
  auto ledger_side = dashboard_->ledger_side(config_);
  nlohmann::json document{{"object", "dashboard"},
                          {"now", static_cast<double>(now) / 1e6},
                          {"started", static_cast<double>(dashboard_->started_us()) / 1e6},
                          {"live", dashboard_->live().to_json(now, Dashboard::kTopWorkloads)},
                          {"month", std::move(ledger_side.month)},
                          {"workers", std::move(workers)},
                          {"recommendations", std::move(ledger_side.recommendations)}};
  return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void GatewayService::note_dashboard(const Exchange& exchange, Clock::duration total) {
  if (dashboard_ == nullptr) {
    return;
  }
  dashboard::RequestSample sample;
  sample.time_us = now_us();
  sample.workload = exchange.workload;
  sample.placement = exchange.placement;
  sample.status = exchange.client_gone ? 499 : exchange.status;
  sample.latency_ms = std::chrono::duration<double, std::milli>(total).count();
  sample.cloud_cost_usd = exchange.cloud_cost;
  sample.avoided_cost_usd = exchange.avoided_cost_usd();
  dashboard_->record(sample);
}

}  // namespace hearth::gateway
