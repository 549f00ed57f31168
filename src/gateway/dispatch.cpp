// Placement of one request: the policy's target chain, tried in order behind a circuit breaker per
// target, with jittered retries of the same target inside the request's deadline, fallback to the
// next target on any failure before the first byte of an answer, and quality escalation of local
// answers. Once the first byte of an answer has been relayed the request is committed to its
// target: a stream that breaks later ends with an explicit error event, never a silent switch.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cmath>
#include <ctime>

#include "api/json_schema.hpp"
#include "api/parse.hpp"
#include "api/serialize.hpp"
#include "api/sse.hpp"
#include "cloud/anthropic_translation.hpp"
#include "common/number_text.hpp"
#include "gateway/exchange.hpp"
#include "gateway/gateway_service.hpp"
#include "gateway/privacy_guard.hpp"
#include "gateway/usage_filter.hpp"
#include "privacy/answer_texts.hpp"

namespace hearth::gateway {

namespace net = boost::asio;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kDoneMarker = "data: [DONE]";
// A streamed answer kept for the ledger (opted-in workloads only) is cut here.
constexpr std::size_t kMaxStoredAnswerBytes = 1 << 20;

double milliseconds(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

// The headers a backend's answer keeps on its way to the client.
bool is_relayed_header(std::string_view name) {
  return name == "retry-after" || name == "x-request-id";
}

api::ApiError broken_answer(const std::string& model, const std::string& backend,
                            const std::string& why) {
  return api::api_error(
      502, "The backend for model '" + model + "' (" + backend + ") broke off its answer: " + why,
      "backend_error");
}

int local_minute_of_day() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return local.tm_hour * 60 + local.tm_min;
}

// The path a cloud provider serves a task on, under its base URL.
std::string cloud_path(config::RequestTask task) {
  switch (task) {
    case config::RequestTask::chat:
      return "/chat/completions";
    case config::RequestTask::completion:
      return "/completions";
    case config::RequestTask::embedding:
      return "/embeddings";
    case config::RequestTask::rerank:
      return "/rerank";
  }
  return "/chat/completions";
}

Expected<policy::RequestFacts, api::ApiError> facts_of(const http::Request& request,
                                                       const api::RoutingFields& fields,
                                                       const std::string& route) {
  policy::RequestFacts facts;
  facts.task = policy::task_of_route(route).value_or(config::RequestTask::chat);
  facts.model = fields.model;
  const auto workload = request.header("x-hearth-workload");
  facts.workload = workload.empty() ? fields.workload : std::string(workload);
  facts.tenant = std::string(request.header("x-hearth-tenant"));
  facts.sensitivity = policy::parse_labels(request.header("x-hearth-sensitivity"));
  facts.estimated_prompt_tokens = fields.estimated_prompt_tokens;
  facts.max_tokens = fields.max_tokens;
  facts.tools = fields.has_tools;
  facts.images = fields.has_images;
  facts.minute_of_day = local_minute_of_day();
  if (const auto placement = request.header("x-hearth-placement"); !placement.empty()) {
    auto parsed = policy::parse_placement(placement);
    if (!parsed) {
      auto error = api::invalid_request(
          "x-hearth-placement must be local, cloud or auto, got '" + std::string(placement) + "'",
          "x-hearth-placement", "invalid_placement");
      return unexpected(std::move(error));
    }
    facts.placement = *parsed;
  }
  return facts;
}

// Why a local answer is not good enough to return ("" when it is).
std::string quality_problem(const config::Escalation& escalation, const api::RoutingFields& fields,
                            const std::string& body) {
  auto summary = api::summarize_answer(body);
  if (!summary || !summary->has_choices) {
    return "unreadable_answer";
  }
  if (escalation.on_empty && summary->content.empty() && summary->tool_calls == 0) {
    return "empty_answer";
  }
  if (escalation.on_truncated && summary->finish_reason == "length") {
    return "truncated_answer";
  }
  if (escalation.json_schema && !fields.response_format.empty() && summary->tool_calls == 0) {
    const std::string_view schema =
        fields.response_format == "json_schema" ? std::string_view(fields.json_schema) : "";
    if (auto violation = api::validate_json_texts(schema, summary->content)) {
      return "schema_violation: " + (violation->path.empty() ? std::string("/") : violation->path) +
             ": " + violation->message;
    }
  }
  if (escalation.min_mean_logprob && summary->mean_logprob &&
      *summary->mean_logprob < *escalation.min_mean_logprob) {
    return fmt::format("low_logprob: mean {:.3f} < {:.3f}", *summary->mean_logprob,
                       *escalation.min_mean_logprob);
  }
  return "";
}

// The metric label of a reason: its first word ("schema_violation: /a: ..." -> schema_violation).
std::string reason_label(const std::string& reason) { return reason.substr(0, reason.find(':')); }

double answer_cost(const config::CloudBackend& cloud, const api::AnswerSummary& usage) {
  return policy::answer_cost(cloud, usage.prompt_tokens, usage.cached_tokens,
                             usage.completion_tokens);
}

void add_label(std::vector<std::string>& labels, const std::string& label) {
  if (std::find(labels.begin(), labels.end(), label) == labels.end()) {
    labels.push_back(label);
  }
}

// The 400 for a request the privacy policy blocks: the types found, never the values.
api::ApiError blocked_by_privacy(const std::string& rule, const std::vector<std::string>& labels,
                                 const privacy::FindingCounts& found) {
  std::string what;
  for (const auto& [type, count] : found) {
    what += what.empty() ? "" : ", ";
    what += fmt::format("{} ({} found)", type, count);
  }
  std::string label_list;
  for (const auto& label : labels) {
    label_list += label_list.empty() ? "" : ", ";
    label_list += label;
  }
  const std::string message = "The privacy policy (rule '" + rule + "') blocks requests labelled " +
                              label_list +
                              (what.empty() ? std::string(" (declared in x-hearth-sensitivity)")
                                            : "; this request contains: " + what) +
                              ". Remove that data or ask for a policy that allows it.";
  return api::api_error(400, message, "sensitive_data_blocked");
}

// A hearth worker's compute time for the request (x-hearth-busy-ms); 0 without a readable one.
double busy_ms_of(std::string_view header) {
  double value = 0;
  const auto [end, error] = std::from_chars(header.data(), header.data() + header.size(), value);
  const bool readable = error == std::errc() && end == header.data() + header.size();
  return readable && std::isfinite(value) && value > 0 ? value : 0.0;
}

// Nothing to restore: a stream that is only scanned for secrets goes through this.
const privacy::Redaction kNoRedaction;

}  // namespace

struct RelayedAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
  http::Headers headers;
};

struct GatewayService::Attempt {
  enum class Outcome { delivered, client_gone, failed, escalated };
  Outcome outcome = Outcome::failed;
  std::string reason;            // short, for x-hearth-fallback and the metrics
  bool retryable = false;        // worth another try of the same target
  bool backend_failure = false;  // counts against the target's circuit breaker
  // What the client gets if this target was its only one: our error, or the backend's answer.
  std::optional<api::ApiError> error;
  std::optional<RelayedAnswer> relayed;
};

policy::CircuitBreaker& GatewayService::breaker_for(const std::string& target,
                                                    const config::PolicySettings& settings) {
  auto [position, created] =
      breakers_.try_emplace(target, settings.breaker_failures, settings.breaker_open);
  if (!created) {
    position->second.configure(settings.breaker_failures, settings.breaker_open);
  }
  return position->second;
}

void GatewayService::publish_breaker(const std::string& target,
                                     const policy::CircuitBreaker& breaker) {
  metrics_.breaker_state.set({{"target", target}}, static_cast<double>(breaker.state()));
}

std::chrono::milliseconds GatewayService::retry_backoff(const config::PolicySettings& settings,
                                                        int retry) {
  auto ceiling = settings.retry_backoff_initial * (1LL << std::min(retry, 20));
  ceiling = std::min<std::chrono::milliseconds>(ceiling, settings.retry_backoff_max);
  // Full jitter in the upper half: spreads retries of many requests without making any of them
  // wait much less than the backoff asks.
  std::uniform_real_distribution<double> spread(0.5, 1.0);
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(ceiling.count()) * spread(jitter_)));
}

net::awaitable<void> GatewayService::proxy(const http::Request& request, Writer& writer,
                                           Exchange& exchange) {
  Plan plan;
  plan.config = config_;  // requests in flight keep the configuration they started with
  auto fields = api::parse_routing_fields(request.body);
  if (!fields) {
    co_return co_await send_error(writer, fields.error(), exchange);
  }
  plan.fields = std::move(fields.value());
  exchange.stream = plan.fields.stream;
  auto facts = facts_of(request, plan.fields, exchange.route);
  if (!facts) {
    co_return co_await send_error(writer, facts.error(), exchange);
  }
  plan.facts = std::move(facts.value());
  plan.facts.tenant = exchange.tenant;  // the key's tenant once keys exist
  if (auto admitted = admit(request, plan, exchange); !admitted) {
    co_return co_await send_error(writer, admitted.error(), exchange);
  }
  if (std::find(plan.config->ledger.content_workloads.begin(),
                plan.config->ledger.content_workloads.end(),
                plan.facts.workload) != plan.config->ledger.content_workloads.end()) {
    exchange.store_content = true;
    exchange.content_request = request.body;
  }
  plan.scanner = scanner_;
  std::optional<privacy::ScannedRequest> scanned;
  if (plan.config->privacy.scan) {
    const auto scan_start = Clock::now();
    auto result = privacy::scan_request(*plan.scanner, request.body);
    metrics_.privacy_scan_seconds.add(
        {}, std::chrono::duration<double>(Clock::now() - scan_start).count());
    if (!result) {
      co_return co_await send_error(writer, result.error(), exchange);
    }
    scanned = std::move(result.value());
    exchange.findings = scanned->counts;
    for (const auto& [type, count] : scanned->counts) {
      metrics_.privacy_findings.add({{"type", type}, {"source", "request"}}, count);
    }
    for (const auto& label : scanned->labels) {
      add_label(plan.facts.sensitivity, label);
    }
  }
  auto decision = policy::decide(*plan.config, plan.facts);
  if (!decision) {
    if (decision.error().code != "model_not_found") {
      metrics_.policy_refusals.add({{"code", decision.error().code.value_or("")}}, 1);
      spdlog::warn("policy refused a request: {}", decision.error().message);
      exchange.audit_kind = "policy.refused";
      exchange.audit_detail = decision.error().message;
    }
    co_return co_await send_error(writer, decision.error(), exchange);
  }
  plan.decision = std::move(decision.value());
  exchange.rule = plan.decision.rule_name;
  if (!plan.facts.sensitivity.empty()) {
    exchange.privacy_action = std::string(config::to_string(plan.decision.privacy));
    metrics_.privacy_actions.add({{"action", exchange.privacy_action}}, 1);
  }
  if (plan.decision.privacy == config::PrivacyAction::block) {
    const auto found =
        scanned ? counts_with_labels(*plan.scanner, *scanned, plan.decision.privacy_labels)
                : privacy::FindingCounts{};
    auto error = blocked_by_privacy(exchange.rule, plan.decision.privacy_labels, found);
    spdlog::warn("privacy policy blocked a request (rule {}): {}", exchange.rule,
                 privacy::describe_counts(found));
    co_return co_await send_error(writer, error, exchange);
  }
  if (auto within_budget = apply_budgets(plan, exchange); !within_budget) {
    co_return co_await send_error(writer, within_budget.error(), exchange);
  }
  const bool any_cloud_target =
      std::any_of(plan.decision.targets.begin(), plan.decision.targets.end(),
                  [](const config::ModelEntry* entry) {
                    return config::placement_of(*entry) == config::Placement::cloud;
                  });
  if (scanned && any_cloud_target) {
    plan.redacted =
        redact_for_cloud(*plan.scanner, *scanned, plan.config->privacy, plan.decision.rule);
  }
  for (const auto& excluded : plan.decision.excluded) {
    exchange.fallbacks.push_back(excluded.target + ": " + excluded.reason);
  }
  const auto& settings = plan.config->policy;
  plan.deadline = exchange.start + settings.deadline;

  std::optional<Attempt> last_failure;
  int attempted_targets = 0;
  const auto& targets = plan.decision.targets;
  for (std::size_t index = 0; index < targets.size(); ++index) {
    const config::ModelEntry& entry = *targets[index];
    const bool last_target = index + 1 == targets.size();
    // Workers are supervised by the model manager (health checks, restarts, a load failure
    // answered at once until its backoff ends); the breaker guards the backends it cannot see.
    const bool supervised = std::holds_alternative<config::LocalBackend>(entry.backend);
    auto& breaker = breaker_for(entry.name, settings);
    if (!supervised && !breaker.allow()) {
      exchange.fallbacks.push_back(entry.name + ": circuit_open");
      metrics_.fallbacks.add(
          {{"rule", exchange.rule}, {"target", entry.name}, {"reason", "circuit_open"}}, 1);
      continue;
    }
    ++attempted_targets;
    for (int retry = 0;; ++retry) {
      auto attempt = co_await try_target(request, writer, exchange, plan, entry, last_target);
      if (attempt.outcome == Attempt::Outcome::delivered) {
        breaker.record_success();
        publish_breaker(entry.name, breaker);
        co_return;
      }
      if (attempt.outcome == Attempt::Outcome::client_gone) {
        breaker.release_probe();
        co_return;
      }
      if (attempt.outcome == Attempt::Outcome::escalated) {
        breaker.record_success();  // the backend answered; the answer was not good enough
        publish_breaker(entry.name, breaker);
        exchange.fallbacks.push_back(entry.name + ": escalated: " + attempt.reason);
        metrics_.fallbacks.add(
            {{"rule", exchange.rule}, {"target", entry.name}, {"reason", "escalated"}}, 1);
        break;
      }
      if (attempt.backend_failure && !supervised) {
        if (breaker.record_failure()) {
          metrics_.breaker_opened.add({{"target", entry.name}}, 1);
          spdlog::warn("target {}: circuit opened after {} consecutive failures (last: {})",
                       entry.name, breaker.consecutive_failures(), attempt.reason);
        }
      } else {
        breaker.release_probe();
      }
      publish_breaker(entry.name, breaker);
      const auto backoff = retry_backoff(settings, retry);
      const bool may_retry = attempt.retryable && retry + 1 < settings.attempts_per_target &&
                             Clock::now() + backoff < plan.deadline &&
                             (supervised || breaker.allow());
      const std::string reason = attempt.reason;
      last_failure = std::move(attempt);
      if (!may_retry) {
        exchange.fallbacks.push_back(entry.name + ": " + reason);
        metrics_.fallbacks.add(
            {{"rule", exchange.rule}, {"target", entry.name}, {"reason", reason_label(reason)}}, 1);
        break;
      }
      metrics_.retries.add({{"target", entry.name}}, 1);
      spdlog::info("target {}: {}; retrying in {} ms", entry.name, reason, backoff.count());
      net::steady_timer timer(co_await net::this_coro::executor);
      timer.expires_after(backoff);
      boost::system::error_code ignored;
      const auto slept_from = Clock::now();
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
      exchange.upstream += Clock::now() - slept_from;  // waiting on the backend, not our work
      if (writer.cancellation().cancelled()) {
        exchange.client_gone = true;
        co_return;
      }
    }
    if (Clock::now() >= plan.deadline && !last_target) {
      exchange.fallbacks.push_back("deadline: policy.deadline passed");
      break;
    }
  }

  // Nothing was delivered.
  if (targets.size() == 1 && attempted_targets == 1 && last_failure && !plan.decision.never_cloud) {
    // A single target: the client gets that backend's own answer or error, as without policy.
    // (A never_cloud request gets the error below, which names the policy that kept it local.)
    if (last_failure->relayed) {
      auto& relayed = *last_failure->relayed;
      exchange.status = relayed.status;
      relayed.headers.emplace_back("x-hearth-model", exchange.model);
      relayed.headers.emplace_back("x-hearth-backend", exchange.backend);
      relayed.headers.emplace_back("x-hearth-rule", exchange.rule);
      exchange.bytes_out = relayed.body.size();
      if (!co_await writer.send(relayed.status, relayed.content_type, std::move(relayed.body),
                                relayed.headers)) {
        exchange.client_gone = true;
      }
      co_return;
    }
    if (last_failure->error) {
      co_return co_await send_error(writer, *last_failure->error, exchange);
    }
  }
  std::string message = "Every target of policy rule '" + exchange.rule + "' failed (" +
                        fallback_header(exchange.fallbacks) + ")";
  if (plan.decision.never_cloud) {
    message += "; the rule is never_cloud, so no cloud model may answer this request";
  }
  auto error = api::api_error(503, message, "all_targets_failed");
  error.retry_after_seconds = 1;
  metrics_.policy_refusals.add({{"code", "all_targets_failed"}}, 1);
  spdlog::warn("{}", message);
  co_await send_error(writer, error, exchange);
}

net::awaitable<GatewayService::Attempt> GatewayService::try_target(
    const http::Request& request, Writer& writer, Exchange& exchange, const Plan& plan,
    const config::ModelEntry& entry, bool last_target) {
  Attempt attempt;
  const auto attempt_start = Clock::now();
  auto client_went_away = [&exchange] {
    exchange.client_gone = true;
    Attempt gone;
    gone.outcome = Attempt::Outcome::client_gone;
    return gone;
  };
  auto cancellation = writer.cancellation();
  exchange.model = entry.name;
  exchange.backend.clear();
  auto lease = co_await models_.acquire(entry, cancellation, /*fail_fast=*/!last_target);
  if (!lease) {
    if (cancellation.cancelled()) {
      co_return client_went_away();
    }
    attempt.reason = lease.error().code.value_or("unavailable");
    attempt.backend_failure = true;
    attempt.error = lease.error();
    co_return attempt;
  }
  exchange.backend = lease->label();
  if (plan.fields.keep_alive) {
    lease->set_keep_alive(*plan.fields.keep_alive);
  }
  const bool local = lease->placement() == config::Placement::local;
  const bool anthropic = lease->provider_api() == config::ProviderApi::anthropic;
  const bool cloud = !local;
  const bool is_chat = plan.facts.task == config::RequestTask::chat;
  // A cloud target gets the redacted body, and its answer is restored.
  const bool redacting = cloud && plan.redacted.has_value();
  const std::string& source_body = redacting ? plan.redacted->body : request.body;
  const auto answer_scan = cloud ? plan.config->privacy.answers : config::AnswerScan::off;
  const config::Rule* rule = plan.decision.rule;
  const config::Escalation* escalation = nullptr;
  if (rule != nullptr && rule->escalate && local && !last_target && !plan.fields.stream &&
      (is_chat || plan.facts.task == config::RequestTask::completion)) {
    escalation = &*rule->escalate;
  }
  const bool add_logprobs =
      escalation != nullptr && escalation->min_mean_logprob && !plan.fields.logprobs;
  // The ledger needs a stream's token counts: every backend is asked for its usage chunk, read
  // by a StreamUsageFilter, which takes it out again when the client did not ask for it.
  const bool read_usage =
      plan.fields.stream && (is_chat || plan.facts.task == config::RequestTask::completion);
  const bool want_usage = read_usage && !plan.fields.include_usage;

  http::ClientRequest upstream;
  upstream.method = "POST";
  if (anthropic) {
    if (!is_chat) {
      attempt.reason = "unsupported_by_provider";
      attempt.error = api::api_error(
          400, "Model '" + entry.name + "' (Anthropic Messages API) serves chat requests only",
          "unsupported_by_provider");
      co_return attempt;
    }
    auto translated = cloud::anthropic_request_from_openai(source_body, lease->upstream_model());
    if (!translated) {
      attempt.reason = "untranslatable_request";
      attempt.error = translated.error();
      co_return attempt;
    }
    upstream.body = std::move(translated.value());
    upstream.target = "/messages";
  } else {
    api::BodyRewrite rewrite;
    if (!lease->is_local_worker() && lease->upstream_model() != plan.fields.model) {
      rewrite.model = lease->upstream_model();
    } else if (lease->is_local_worker() && !plan.fields.model.empty() &&
               plan.config->find_model(plan.fields.model) != &entry) {
      // The policy sent the request to another model than the one it names: the worker knows
      // only its own name and aliases.
      rewrite.model = entry.name;
    }
    rewrite.request_logprobs = add_logprobs;
    rewrite.request_usage = want_usage;
    rewrite.without_stream_options = !plan.fields.has_stream_options;
    if (rewrite.model || rewrite.request_logprobs || rewrite.request_usage) {
      auto rewritten = api::rewrite_body(source_body, rewrite, is_chat);
      if (!rewritten) {
        attempt.reason = "invalid_request";
        attempt.error = rewritten.error();
        co_return attempt;
      }
      upstream.body = std::move(rewritten.value());
    } else {
      upstream.body = source_body;
    }
    upstream.target = cloud ? cloud_path(plan.facts.task) : request.target;
  }
  upstream.headers.emplace_back("content-type", "application/json");
  for (const auto& header : lease->upstream_headers()) {
    upstream.headers.push_back(header);
  }
  if (auto accept = request.header("accept"); !accept.empty() && !cloud) {
    upstream.headers.emplace_back("accept", std::string(accept));
  }

  // The rule's latency SLO bounds the time to the first byte of the answer (for a non-streamed
  // request that is the whole answer). The timer cancels this attempt only; the client's own
  // cancellation reaches it through the same token.
  CancellationToken attempt_cancellation;
  cancellation.on_cancel([attempt_cancellation]() mutable { attempt_cancellation.cancel(); });
  // `committed` is set once the answer's first byte is in: a timer that expired in the same
  // instant (its handler already queued) must not cut an answer that is being relayed.
  struct SloState {
    bool timed_out = false;
    bool committed = false;
  };
  auto slo = std::make_shared<SloState>();
  net::steady_timer slo_timer(co_await net::this_coro::executor);
  if (rule != nullptr && rule->latency_slo) {
    slo_timer.expires_after(*rule->latency_slo);
    slo_timer.async_wait(
        [slo, attempt_cancellation](const boost::system::error_code& error) mutable {
          if (!error && !slo->committed) {
            slo->timed_out = true;
            attempt_cancellation.cancel();
          }
        });
  }
  const std::string slo_reason =
      rule != nullptr && rule->latency_slo
          ? fmt::format("first_byte_timeout: latency_slo {} ms", rule->latency_slo->count())
          : std::string("first_byte_timeout");
  auto slo_error = [&]() {
    return api::api_error(504,
                          "Model '" + entry.name + "' (" + lease->label() +
                              ") did not answer within the latency SLO of rule '" + exchange.rule +
                              "'",
                          "backend_timeout");
  };

  const auto sent_at = Clock::now();
  auto response = co_await lease->client().stream(std::move(upstream), attempt_cancellation);
  exchange.upstream += Clock::now() - sent_at;
  if (!response) {
    const auto& failure = response.error();
    if (cancellation.cancelled()) {
      co_return client_went_away();
    }
    attempt.backend_failure = true;
    if (slo->timed_out) {
      attempt.reason = slo_reason;
      attempt.error = slo_error();
      co_return attempt;
    }
    note_upstream_failure(failure, exchange, cancellation);
    attempt.reason = std::string(http::to_string(failure.kind));
    // Nothing came back: the backend did not answer this request, so trying again (here or
    // elsewhere) cannot answer it twice. A local worker that failed this way has most likely
    // died: the next acquire waits for its restart.
    attempt.retryable =
        !failure.response_started && failure.kind != http::ClientError::Kind::timeout;
    if (attempt.retryable || failure.kind == http::ClientError::Kind::connect_failed) {
      lease->report_unreachable(failure.message);
    }
    const int status = failure.kind == http::ClientError::Kind::timeout ? 504 : 502;
    auto error = api::api_error(status,
                                "The backend for model '" + entry.name + "' (" + lease->label() +
                                    ") failed: " + failure.message,
                                status == 504 ? "backend_timeout" : "backend_error");
    if (failure.kind == http::ClientError::Kind::connect_failed) {
      error.status = 503;
      error.code = "backend_unavailable";
      error.retry_after_seconds = 2;
    }
    attempt.error = std::move(error);
    co_return attempt;
  }

  auto& stream = *response.value();
  int status = stream.status();
  http::Headers headers;
  for (const auto& [header_name, value] : stream.headers()) {
    if (is_relayed_header(header_name)) {
      headers.emplace_back(header_name, value);
    }
  }
  std::string content_type(stream.header("content-type"));
  if (content_type.empty()) {
    content_type = kJson;
  }
  const bool is_event_stream = content_type.rfind("text/event-stream", 0) == 0;
  if (local) {
    // Added up over attempts: the compute of an answer rejected for escalation was spent too.
    exchange.busy_ms += busy_ms_of(stream.header("x-hearth-busy-ms"));
  }
  auto add_placement_headers = [&](http::Headers& out) {
    out.emplace_back("x-hearth-model", entry.name);
    out.emplace_back("x-hearth-backend", lease->label());
    out.emplace_back("x-hearth-placement", std::string(config::to_string(lease->placement())));
    out.emplace_back("x-hearth-rule", exchange.rule);
    out.emplace_back("x-hearth-target", entry.name);
    if (!exchange.fallbacks.empty()) {
      out.emplace_back("x-hearth-fallback", fallback_header(exchange.fallbacks));
    }
    if (!exchange.escalation.empty()) {
      out.emplace_back("x-hearth-escalation", fallback_header({exchange.escalation}));
    }
    if (!exchange.privacy_action.empty()) {
      out.emplace_back("x-hearth-privacy",
                       privacy_header(exchange.privacy_action, exchange.findings));
    }
    out.emplace_back("x-hearth-overhead-ms",
                     fixed3(milliseconds(Clock::now() - exchange.start - exchange.upstream)));
    // Known before the headers only for whole answers (a stream's comes with its end): what
    // `hearth eval` and other clients use for local energy.
    if (lease->placement() == config::Placement::local && exchange.busy_ms > 0) {
      out.emplace_back("x-hearth-busy-ms", fixed3(exchange.busy_ms));
    }
  };

  if (status >= 400 || !is_event_stream) {
    std::string body;
    while (true) {
      auto piece = co_await read_piece(stream, exchange, attempt_cancellation);
      if (!piece) {
        if (cancellation.cancelled()) {
          co_return client_went_away();
        }
        attempt.backend_failure = true;
        // The client has seen nothing and inference has no side effects: another try is safe.
        // A target too slow for the SLO is not tried again, though.
        attempt.retryable = !slo->timed_out;
        if (slo->timed_out) {
          attempt.reason = slo_reason;
          attempt.error = slo_error();
        } else {
          attempt.reason = "broken_answer";
          attempt.error = broken_answer(entry.name, lease->label(), piece.error().message);
        }
        co_return attempt;
      }
      if (!piece.value()) {
        break;
      }
      body += *piece.value();
    }
    slo->committed = true;
    slo_timer.cancel();
    if (anthropic) {
      if (status >= 400) {
        const auto error = cloud::openai_error_from_anthropic(status, body);
        body = api::to_json(error);
        content_type = kJson;
      } else {
        auto translated = cloud::openai_response_from_anthropic(body, entry.name);
        if (!translated) {
          attempt.backend_failure = true;
          attempt.reason = "untranslatable_answer";
          attempt.error = translated.error();
          co_return attempt;
        }
        body = std::move(translated.value());
        content_type = kJson;
      }
    }
    if (status >= 400 && cloud && (status == 401 || status == 403)) {
      // The provider refused the gateway's own key: not the client's fault, and not something
      // the client could fix. Say so, and let the next target answer.
      spdlog::warn("model {}: provider {} refused the gateway's key (HTTP {})", entry.name,
                   lease->label(), status);
      attempt.reason = "provider_auth_failed";
      attempt.backend_failure = true;
      attempt.error = api::api_error(502,
                                     "The provider behind model '" + entry.name + "' (" +
                                         lease->label() + ") refused the gateway's API key (HTTP " +
                                         std::to_string(status) + ")",
                                     "provider_auth_failed");
      co_return attempt;
    }
    if (status >= 400) {
      const bool retryable_status = status == 429 || status >= 500;
      const bool context_too_long = status == 400 && local && !last_target &&
                                    body.find("context_length_exceeded") != std::string::npos;
      if (retryable_status || context_too_long) {
        attempt.reason = context_too_long ? "context_too_long" : "http_" + std::to_string(status);
        attempt.retryable = retryable_status;
        attempt.backend_failure = retryable_status;
        attempt.relayed = RelayedAnswer{status, content_type, std::move(body), std::move(headers)};
        co_return attempt;
      }
    } else if (escalation != nullptr) {
      auto problem = quality_problem(*escalation, plan.fields, body);
      if (!problem.empty()) {
        attempt.outcome = Attempt::Outcome::escalated;
        attempt.reason = problem;
        exchange.escalation = entry.name + ": " + problem;
        metrics_.escalations.add({{"rule", exchange.rule}, {"reason", reason_label(problem)}}, 1);
        metrics_.escalation_seconds.add(
            {{"rule", exchange.rule}},
            std::chrono::duration<double>(Clock::now() - attempt_start).count());
        spdlog::info("rule {}: the answer of {} was rejected ({}); escalating", exchange.rule,
                     entry.name, problem);
        co_return attempt;
      }
    }
    if (add_logprobs) {
      body = api::without_logprobs(body);
    }
    if (status < 400 && answer_scan != config::AnswerScan::off) {
      // Before restoring: the client's own values coming back are not the provider's doing.
      if (answer_scan == config::AnswerScan::redact) {
        body = redact_answer_secrets(*plan.scanner, body, exchange.answer_secrets);
      } else {
        exchange.answer_secrets = secrets_in_texts(*plan.scanner, privacy::answer_texts(body));
      }
      note_answer_secrets(exchange, answer_scan);
    }
    if (redacting && status < 400) {
      body = privacy::restore_answer(body, *plan.redacted->redaction);
    }
    if (redacting) {
      note_redactions(exchange, plan.redacted->counts);
    }
    if (status < 400) {
      if (auto usage = api::summarize_answer(body)) {
        note_usage(exchange, entry, *usage);
      }
    }
    if (exchange.store_content) {
      exchange.content_answer = body;
    }
    exchange.status = status;
    exchange.placement = std::string(config::to_string(lease->placement()));
    metrics_.placements.add(
        {{"rule", exchange.rule}, {"target", entry.name}, {"placement", exchange.placement}}, 1);
    add_placement_headers(headers);
    exchange.bytes_out = body.size();
    attempt.outcome = Attempt::Outcome::delivered;
    if (!co_await writer.send(status, content_type, std::move(body), headers)) {
      exchange.client_gone = true;
    }
    co_return attempt;
  }

  // A stream: its first piece decides whether this target answers. Until then the client has
  // seen nothing and the request may still go elsewhere.
  auto first = co_await read_piece(stream, exchange, attempt_cancellation);
  if (!first || !first.value()) {
    if (cancellation.cancelled()) {
      co_return client_went_away();
    }
    attempt.backend_failure = true;
    attempt.retryable = !slo->timed_out;
    if (slo->timed_out) {
      attempt.reason = slo_reason;
      attempt.error = slo_error();
    } else {
      attempt.reason = "stream_broken_before_first_byte";
      attempt.error =
          broken_answer(entry.name, lease->label(),
                        first ? std::string("the stream ended at once") : first.error().message);
    }
    co_return attempt;
  }
  slo->committed = true;
  slo_timer.cancel();
  std::optional<cloud::AnthropicStreamTranslator> translator;
  if (anthropic) {
    translator.emplace(entry.name, plan.fields.include_usage || want_usage);
    content_type = "text/event-stream";
  }
  // Placeholders restored event by event; the texts kept for the secret scan at the end.
  std::optional<privacy::StreamAnswerRestorer> restorer;
  if (redacting || answer_scan != config::AnswerScan::off) {
    restorer.emplace(redacting ? *plan.redacted->redaction : kNoRedaction);
  }
  if (redacting) {
    note_redactions(exchange, plan.redacted->counts);
  }
  std::optional<StreamUsageFilter> usage_filter;
  if (read_usage) {
    usage_filter.emplace(/*keep_usage_chunk=*/plan.fields.include_usage);
  }
  exchange.first_token = Clock::now() - exchange.start;
  exchange.status = status;
  exchange.placement = std::string(config::to_string(lease->placement()));
  metrics_.placements.add(
      {{"rule", exchange.rule}, {"target", entry.name}, {"placement", exchange.placement}}, 1);
  add_placement_headers(headers);
  attempt.outcome = Attempt::Outcome::delivered;
  if (!co_await writer.begin_stream(status, content_type, headers)) {
    exchange.client_gone = true;
    co_return attempt;
  }
  // The last bytes relayed: "data: [DONE]" may be split across pieces.
  std::string tail;
  constexpr std::size_t tail_keep = 64;
  bool saw_done = false;
  std::string broken_reason;
  std::optional<std::string> data = std::move(*first.value());
  while (true) {
    std::string out;
    if (translator) {
      out = translator->feed(*data);
      saw_done = translator->finished();
      if (auto error = translator->error()) {
        broken_reason = "the provider sent an error event: " + error->message;
      }
    } else {
      out = std::move(*data);
    }
    if (restorer) {
      out = restorer->feed(out);
    }
    if (usage_filter) {
      out = usage_filter->feed(out);
    }
    if (exchange.store_content && exchange.content_answer.size() < kMaxStoredAnswerBytes) {
      exchange.content_answer += out;
    }
    if (!translator) {
      tail += out;
      if (tail.find(kDoneMarker) != std::string::npos) {
        saw_done = true;
      }
      if (tail.size() > tail_keep) {
        tail.erase(0, tail.size() - tail_keep);
      }
    }
    exchange.bytes_out += out.size();
    if (!out.empty() && !co_await writer.write_chunk(out)) {
      exchange.client_gone = true;
      co_return attempt;  // destroying the stream closes the upstream: the backend stops
    }
    if (!broken_reason.empty()) {
      break;
    }
    auto piece = co_await read_piece(stream, exchange, cancellation);
    if (!piece) {
      if (exchange.client_gone) {
        co_return attempt;
      }
      broken_reason = piece.error().message;
      break;
    }
    if (!piece.value()) {
      break;
    }
    data = std::move(*piece.value());
  }
  {
    std::optional<api::AnswerSummary> usage;
    if (translator) {
      const auto& tokens = translator->tokens();
      usage.emplace();
      usage->prompt_tokens = tokens.input + tokens.cache_creation + tokens.cache_read;
      usage->cached_tokens = tokens.cache_read;
      usage->completion_tokens = tokens.output;
    } else if (usage_filter) {
      usage = usage_filter->usage();
      if (local) {
        exchange.busy_ms += usage_filter->busy_ms();
      }
    }
    if (usage) {
      note_usage(exchange, entry, *usage);
    }
  }
  if (restorer || usage_filter) {
    std::string rest = restorer ? restorer->finish() : std::string();
    if (usage_filter) {
      rest = usage_filter->feed(rest);
      rest += usage_filter->finish();
    }
    if (!rest.empty() && !exchange.client_gone) {
      exchange.bytes_out += rest.size();
      if (!co_await writer.write_chunk(rest)) {
        exchange.client_gone = true;
        co_return attempt;
      }
    }
    if (restorer && answer_scan != config::AnswerScan::off) {
      // A stream is audited once complete; what it carried has been relayed already.
      exchange.answer_secrets = secrets_in_texts(*plan.scanner, restorer->upstream_texts());
      note_answer_secrets(exchange, config::AnswerScan::audit_only);
    }
  }
  if (!saw_done) {
    // Never let a broken stream look like a finished one: an explicit error event, no [DONE],
    // and no switch to another target once the client has seen part of an answer.
    if (broken_reason.empty()) {
      broken_reason = "the stream ended without [DONE]";
    }
    metrics_.broken_streams.add({{"model", entry.name}}, 1);
    auto error = api::api_error(502,
                                "The backend for model '" + entry.name + "' (" + lease->label() +
                                    ") broke off the stream: " + broken_reason,
                                "backend_stream_broken");
    exchange.error = error.message;
    spdlog::warn("model {}: {}", entry.name, error.message);
    if (!translator || !translator->error()) {
      co_await writer.write_chunk(api::sse_data(api::to_json(error)));
    }
  }
  co_await writer.end_stream();
  co_return attempt;
}

// The answer's tokens, and for a cloud model what they cost.
void GatewayService::note_usage(Exchange& exchange, const config::ModelEntry& entry,
                                const api::AnswerSummary& usage) {
  exchange.prompt_tokens = usage.prompt_tokens;
  exchange.cached_tokens = usage.cached_tokens;
  exchange.completion_tokens = usage.completion_tokens;
  if (const auto* priced = std::get_if<config::CloudBackend>(&entry.backend)) {
    const double cost = answer_cost(*priced, usage);
    exchange.cloud_cost += cost;
    metrics_.cloud_cost.add({{"model", entry.name}}, cost);
    if (!exchange.escalation.empty()) {
      metrics_.escalation_cost.add({{"rule", exchange.rule}}, cost);
    }
  }
}

void GatewayService::note_redactions(Exchange& exchange, const privacy::FindingCounts& counts) {
  exchange.redacted = counts;
  for (const auto& [type, count] : counts) {
    metrics_.privacy_redactions.add({{"type", type}}, count);
  }
}

void GatewayService::note_answer_secrets(Exchange& exchange, config::AnswerScan scan) {
  if (exchange.answer_secrets.empty()) {
    return;
  }
  for (const auto& [type, count] : exchange.answer_secrets) {
    metrics_.privacy_findings.add({{"type", type}, {"source", "answer"}}, count);
  }
  spdlog::warn("model {}: the cloud answer carried secrets ({}){}", exchange.model,
               privacy::describe_counts(exchange.answer_secrets),
               scan == config::AnswerScan::redact ? "; replaced before the client saw them" : "");
}

net::awaitable<void> GatewayService::explain_route(const http::Request& request, Writer& writer,
                                                   Exchange& exchange) {
  auto facts = policy::facts_from_json(request.body, local_minute_of_day());
  if (!facts) {
    co_return co_await send_error(writer, facts.error(), exchange);
  }
  auto decision = policy::decide(*config_, facts.value());
  if (!decision) {
    co_return co_await send_error(writer, decision.error(), exchange);
  }
  auto live = [this](const std::string& model) {
    policy::TargetState state;
    state.backend_state = std::string(to_string(models_.status(model).state));
    auto found = breakers_.find(model);
    state.circuit = std::string(found == breakers_.end()
                                    ? policy::to_string(policy::CircuitBreaker::State::closed)
                                    : policy::to_string(found->second.state()));
    return state;
  };
  auto answer = policy::decision_to_json(decision.value(), facts.value(), live);
  exchange.status = 200;
  co_await writer.send(200, kJson, std::move(answer));
}

}  // namespace hearth::gateway
