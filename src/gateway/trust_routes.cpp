// The request path's trust steps: authentication, scopes, rate limits and budgets before the
// policy runs its chain; the usage record, settlement and audit events after the answer; the admin
// API for keys. Storage and upkeep live in trust.cpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "api/serialize.hpp"
#include "common/number_text.hpp"
#include "gateway/exchange.hpp"
#include "gateway/gateway_service.hpp"
#include "gateway/trust.hpp"

namespace hearth::gateway {

namespace net = boost::asio;

namespace {

constexpr std::string_view kJson = "application/json";

api::ApiError auth_error(int status, std::string message, std::string type, std::string code) {
  api::ApiError error;
  error.status = status;
  error.message = std::move(message);
  error.type = std::move(type);
  error.code = std::move(code);
  return error;
}

std::string_view failure_code(auth::AuthFailure failure) {
  switch (failure) {
    case auth::AuthFailure::revoked:
      return "revoked_api_key";
    case auth::AuthFailure::expired:
      return "expired_api_key";
    case auth::AuthFailure::unknown:
      break;
  }
  return "invalid_api_key";
}

// The actor of audit events about requests that came without a key (no key exists).
const std::string kAnonymousActor = "anonymous";

double to_milliseconds(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

std::string request_id_of(const http::Request& request, std::uint64_t sequence) {
  static const std::uint32_t process_tag = std::random_device{}();
  const auto given = request.header("x-request-id");
  if (!given.empty() && given.size() <= 128 &&
      std::all_of(given.begin(), given.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return std::string(given);
  }
  std::string id = "req_";
  append_hex(id, process_tag, 8);
  append_hex(id, sequence, 10);
  return id;
}

// The POST /admin/keys body, read into a KeyRequest; the error names the field.
Expected<auth::KeyRequest, api::ApiError> key_request_from(std::string_view body) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(body);
  } catch (const std::exception& e) {
    return unexpected(api::invalid_request(std::string("the body is not valid JSON: ") + e.what(),
                                           std::nullopt, "invalid_json"));
  }
  if (!document.is_object()) {
    return unexpected(api::invalid_request("the body must be a JSON object"));
  }
  auth::KeyRequest request;
  for (const auto& [name, value] : document.items()) {
    const auto wrong = [&](std::string_view expected) {
      return unexpected(
          api::invalid_request(name + " must be " + std::string(expected), name, "invalid_value"));
    };
    if (name == "tenant" || name == "name") {
      if (!value.is_string()) return wrong("a string");
      (name == "tenant" ? request.tenant : request.name) = value.get<std::string>();
    } else if (name == "scopes") {
      if (!value.is_array()) return wrong("a list of strings");
      for (const auto& scope : value) {
        if (!scope.is_string()) return wrong("a list of strings");
        request.scopes.push_back(scope.get<std::string>());
      }
    } else if (name == "requests_per_minute" || name == "tokens_per_minute") {
      if (value.is_null()) continue;
      if (!value.is_number_integer()) return wrong("an integer");
      (name == "requests_per_minute" ? request.requests_per_minute : request.tokens_per_minute) =
          value.get<std::int64_t>();
    } else if (name == "monthly_budget_usd") {
      if (value.is_null()) continue;
      if (!value.is_number()) return wrong("a number");
      request.monthly_budget_usd = value.get<double>();
    } else if (name == "expires_at") {
      if (value.is_null()) continue;
      if (!value.is_number_integer()) return wrong("a Unix time in seconds");
      request.expires_us = value.get<std::int64_t>() * 1'000'000;
    } else {
      return unexpected(
          api::invalid_request("unknown field '" + name + "'", name, "unknown_parameter"));
    }
  }
  return request;
}

}  // namespace

Expected<std::monostate, api::ApiError> GatewayService::authenticate(const http::Request& request,
                                                                     bool admin,
                                                                     Exchange& exchange) {
  exchange.request_id = request_id_of(request, ++requests_seen_);
  const auto& tls = config_->server.tls;
  if (admin && tls && tls->admin_client_certificate && request.client_certificate_subject.empty()) {
    metrics_.auth_failures.add({{"reason", "client_certificate_required"}}, 1);
    return unexpected(auth_error(
        403, "Admin endpoints need a client certificate signed by the configured client CA",
        "permission_error", "client_certificate_required"));
  }
  if (trust_ == nullptr || !trust_->keys_exist()) {
    // No key exists: the gateway only listens on loopback (serve.cpp), the caller names its
    // tenant itself.
    exchange.tenant = std::string(request.header("x-hearth-tenant"));
    return std::monostate{};
  }
  auto presented =
      auth::presented_key(request.header("authorization"), request.header("x-api-key"));
  if (!presented) {
    const bool missing = presented.error().problem == auth::CredentialProblem::missing;
    metrics_.auth_failures.add({{"reason", missing ? "missing" : "malformed"}}, 1);
    return unexpected(auth_error(401, presented.error().message, "authentication_error",
                                 missing ? "missing_api_key" : "invalid_api_key"));
  }
  auto key = trust_->keys().authenticate(presented.value(), now_us());
  if (!key) {
    const std::string code(failure_code(key.error().failure));
    metrics_.auth_failures.add({{"reason", code}}, 1);
    return unexpected(auth_error(401, key.error().message, "authentication_error", code));
  }
  exchange.key = std::move(key.value());
  exchange.tenant = exchange.key->tenant;
  if (admin) {
    auth::ScopeRequest wanted;
    wanted.admin = true;
    if (auto violation = auth::scope_violation(exchange.key->scopes, wanted)) {
      metrics_.auth_failures.add({{"reason", "admin_required"}}, 1);
      return unexpected(auth_error(403, *violation, "permission_error", "admin_required"));
    }
  }
  return std::monostate{};
}

Expected<std::monostate, api::ApiError> GatewayService::admit(const http::Request& request,
                                                              const Plan& plan,
                                                              Exchange& exchange) {
  exchange.workload = plan.facts.workload;
  exchange.task = std::string(config::to_string(plan.facts.task));
  if (!exchange.key) {
    return std::monostate{};
  }
  const auto& key = *exchange.key;
  auth::ScopeRequest wanted;
  wanted.workload = plan.facts.workload;
  wanted.model = plan.fields.model;
  wanted.placement_override = request.header("x-hearth-placement");
  if (auto violation = auth::scope_violation(key.scopes, wanted)) {
    metrics_.auth_failures.add({{"reason", "insufficient_scope"}}, 1);
    return unexpected(auth_error(403, *violation, "permission_error", "insufficient_scope"));
  }
  if (!key.requests_per_minute && !key.tokens_per_minute) {
    return std::monostate{};
  }
  const bool generates = plan.facts.task == config::RequestTask::chat ||
                         plan.facts.task == config::RequestTask::completion;
  const std::int64_t estimate =
      plan.facts.estimated_prompt_tokens +
      (generates ? plan.facts.max_tokens.value_or(policy::kAssumedOutputTokens) : 0);
  auto decision = trust_->rates().admit(key, estimate, auth::SteadyClock::now());
  if (!decision.admitted) {
    metrics_.rate_limited.add({{"key", key.id}}, 1);
    auto error =
        auth_error(429, "Rate limit reached for API key " + key.id + ": " + decision.message,
                   "rate_limit_error", "rate_limit_exceeded");
    error.retry_after_seconds =
        static_cast<int>(std::max<std::int64_t>(1, (decision.retry_after.count() + 999) / 1000));
    return unexpected(std::move(error));
  }
  exchange.rate_estimate = estimate;
  return std::monostate{};
}

Expected<std::monostate, api::ApiError> GatewayService::apply_budgets(Plan& plan,
                                                                      Exchange& exchange) {
  // The cloud model the policy would use: the rule's first cloud target, even one the policy
  // excluded (local_only, never_cloud): what a local answer saves is priced at it.
  const auto cloud_of = [](const config::ModelEntry* entry) -> const config::CloudBackend* {
    return entry == nullptr ? nullptr : std::get_if<config::CloudBackend>(&entry->backend);
  };
  for (const auto* entry : plan.decision.targets) {
    if (const auto* cloud = cloud_of(entry)) {
      exchange.reference_cloud = *cloud;
      break;
    }
  }
  if (!exchange.reference_cloud) {
    for (const auto& excluded : plan.decision.excluded) {
      if (const auto* cloud = cloud_of(plan.config->find_model(excluded.target))) {
        exchange.reference_cloud = *cloud;
        break;
      }
    }
  }
  if (trust_ == nullptr) {
    return std::monostate{};
  }
  std::optional<double> key_budget = exchange.key ? exchange.key->monthly_budget_usd : std::nullopt;
  std::optional<double> tenant_budget;
  if (auto found = plan.config->auth.tenant_budgets.find(exchange.tenant);
      found != plan.config->auth.tenant_budgets.end()) {
    tenant_budget = found->second;
  }
  if (!key_budget && !tenant_budget) {
    return std::monostate{};
  }
  double estimate = -1;
  for (const auto* entry : plan.decision.targets) {
    if (const auto* cloud = cloud_of(entry)) {
      estimate = std::max(estimate, policy::estimated_cost(*cloud, plan.facts));
    }
  }
  if (estimate < 0) {
    return std::monostate{};  // no cloud target in the chain: nothing to spend
  }
  const std::string key_id = exchange.key ? exchange.key->id : "";
  auto reservation =
      trust_->budgets().reserve(key_id, key_budget, exchange.tenant, tenant_budget, estimate);
  if (reservation) {
    exchange.budget = std::move(reservation.value());
    return std::monostate{};
  }
  const std::string& why = reservation.error().message;
  metrics_.budget_refusals.add(
      {{"action", std::string(config::to_string(plan.config->auth.over_budget))}}, 1);
  exchange.audit_kind = "budget.exceeded";
  exchange.audit_detail = why;
  spdlog::info("request {}: over budget ({}): {}", exchange.request_id,
               config::to_string(plan.config->auth.over_budget), why);
  auto refusal = auth_error(429, "Monthly cloud budget exhausted: " + why, "insufficient_quota",
                            "insufficient_quota");
  if (plan.config->auth.over_budget == config::OverBudget::refuse) {
    return unexpected(std::move(refusal));
  }
  auto& targets = plan.decision.targets;
  for (const auto* entry : targets) {
    if (cloud_of(entry) != nullptr) {
      exchange.fallbacks.push_back(entry->name + ": over_budget");
    }
  }
  std::erase_if(targets, [&](const config::ModelEntry* entry) { return cloud_of(entry); });
  if (targets.empty()) {
    refusal.message += " (and the rule has no local target)";
    return unexpected(std::move(refusal));
  }
  return std::monostate{};
}

void GatewayService::account(Exchange& exchange, Clock::duration total) {
  if (trust_ == nullptr) {
    return;
  }
  // The exchange is done with (the access log and metrics were written): its strings move into
  // the record rather than being copied, one request at a time on the event loop.
  ledger::UsageRecord record;
  // Read before the strings it depends on move.
  record.avoided_cost_usd = exchange.avoided_cost_usd();
  record.time_us = now_us() - std::chrono::duration_cast<std::chrono::microseconds>(total).count();
  record.request_id = std::move(exchange.request_id);
  record.key_id = exchange.key ? exchange.key->id : "";
  record.tenant = std::move(exchange.tenant);
  record.workload = std::move(exchange.workload);
  record.task = std::move(exchange.task);
  record.route = std::move(exchange.route);
  record.rule = std::move(exchange.rule);
  record.placement = std::move(exchange.placement);
  record.backend = std::move(exchange.backend);
  record.model = std::move(exchange.model);
  record.status = exchange.client_gone ? 499 : exchange.status;
  record.stream = exchange.stream;
  record.prompt_tokens = exchange.prompt_tokens;
  record.cached_tokens = exchange.cached_tokens;
  record.completion_tokens = exchange.completion_tokens;
  record.latency_ms = to_milliseconds(total);
  if (exchange.first_token) {
    record.time_to_first_token_ms = to_milliseconds(*exchange.first_token);
  }
  record.overhead_ms = to_milliseconds(total - exchange.upstream);
  record.busy_ms = exchange.busy_ms;
  record.fallbacks = fallback_header(exchange.fallbacks);
  record.escalation = std::move(exchange.escalation);
  record.privacy_action = std::move(exchange.privacy_action);
  record.sensitivity = privacy::describe_counts(exchange.findings);
  record.cloud_cost_usd = exchange.cloud_cost;
  if (exchange.store_content) {
    record.content =
        nlohmann::json{{"request", exchange.content_request}, {"answer", exchange.content_answer}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  // Decisions that kept data local, redacted it, blocked it, or refused a request on policy.
  const std::string& actor = exchange.key ? exchange.key->id : kAnonymousActor;
  const auto audit_privacy = [&](std::string kind, const privacy::FindingCounts& counts) {
    nlohmann::json detail{
        {"request_id", record.request_id}, {"key_id", record.key_id}, {"tenant", record.tenant},
        {"workload", record.workload},     {"rule", record.rule},     {"types", counts}};
    trust_->audit(std::move(kind), actor, detail.dump());
  };
  if (record.privacy_action == "local_only") {
    audit_privacy("privacy.local_only", exchange.findings);
  } else if (record.privacy_action == "block") {
    audit_privacy("privacy.blocked", exchange.findings);
  }
  if (!exchange.redacted.empty()) {
    audit_privacy("privacy.redacted", exchange.redacted);
  }
  if (!exchange.audit_kind.empty()) {
    nlohmann::json detail{{"request_id", record.request_id},
                          {"key_id", record.key_id},
                          {"tenant", record.tenant},
                          {"rule", record.rule},
                          {"reason", exchange.audit_detail}};
    trust_->audit(exchange.audit_kind, actor, detail.dump());
  }

  const bool answered_by_cloud = record.placement == "cloud";
  const auto ticket = trust_->record_usage(std::move(record));
  if (exchange.key && exchange.rate_estimate >= 0) {
    trust_->rates().settle(exchange.key->id, exchange.rate_estimate,
                           exchange.prompt_tokens + exchange.completion_tokens,
                           auth::SteadyClock::now());
  }
  if (exchange.budget) {
    if (answered_by_cloud) {
      trust_->budgets().settle(*exchange.budget, exchange.cloud_cost, ticket);
    } else {
      trust_->budgets().release(*exchange.budget);
    }
  }
}

net::awaitable<void> GatewayService::admin_keys(const http::Request& request, Writer& writer,
                                                Exchange& exchange) {
  const std::string actor = exchange.key ? exchange.key->id : "loopback";
  if (trust_ == nullptr) {
    auto error = api::api_error(503, "No ledger store is open", "unavailable");
    co_return co_await send_error(writer, error, exchange);
  }
  if (request.path == "/admin/keys" && request.method == "GET") {
    auto keys = trust_->list_keys();
    if (!keys) {
      auto error = api::api_error(500, keys.error(), "store_error");
      co_return co_await send_error(writer, error, exchange);
    }
    auto& budgets = trust_->budgets();
    std::string body = key_list_json(keys.value(), now_us(),
                                     [&](const std::string& id) { return budgets.key_spend(id); });
    exchange.status = 200;
    co_await writer.send(200, kJson, std::move(body));
    co_return;
  }
  if (request.path == "/admin/keys" && request.method == "POST") {
    auto wanted = key_request_from(request.body);
    if (!wanted) {
      co_return co_await send_error(writer, wanted.error(), exchange);
    }
    auto created = trust_->create_key(wanted.value(), actor);
    if (!created) {
      auto error = api::invalid_request(created.error(), std::nullopt, "invalid_key_request");
      co_return co_await send_error(writer, error, exchange);
    }
    // The only time the secret is shown.
    std::string body = key_json(created->record, now_us(), 0, created->key);
    exchange.status = 201;
    co_await writer.send(201, kJson, std::move(body));
    co_return;
  }
  const std::string prefix = "/admin/keys/";
  if (request.path.starts_with(prefix) && request.method == "DELETE") {
    const std::string id = request.path.substr(prefix.size());
    auto revoked = trust_->revoke_key(id, actor);
    if (!revoked) {
      auto error = api::api_error(500, revoked.error(), "store_error");
      co_return co_await send_error(writer, error, exchange);
    }
    if (!revoked.value()) {
      auto error =
          api::api_error(404, "No active API key has the id '" + id + "'", "key_not_found");
      co_return co_await send_error(writer, error, exchange);
    }
    exchange.status = 200;
    std::string body = nlohmann::json{{"id", id}, {"object", "api_key"}, {"revoked", true}}.dump();
    co_await writer.send(200, kJson, std::move(body));
    co_return;
  }
  const auto error = api::method_not_allowed(request.method, request.path);
  co_await send_error(writer, error, exchange);
}

}  // namespace hearth::gateway
