// What one request did, for the response headers, the access log and the metrics. Private to
// gateway_service.cpp and dispatch.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/parse.hpp"
#include "auth/limits.hpp"
#include "config/config.hpp"
#include "gateway/gateway_service.hpp"
#include "gateway/privacy_guard.hpp"
#include "ledger/records.hpp"
#include "policy/policy.hpp"

namespace hearth::gateway {

struct GatewayService::Exchange {
  Clock::time_point start = Clock::now();
  std::string route;
  std::string model;  // the model entry that answered (or was tried last)
  std::string backend;
  int status = 0;
  bool stream = false;
  Clock::duration upstream{};  // time waiting on backends (header and body), all attempts
  std::size_t bytes_out = 0;
  std::string error;
  bool client_gone = false;
  // Placement.
  std::string rule;
  std::string placement;               // "local" or "cloud" of the target that answered
  std::vector<std::string> fallbacks;  // "TARGET: REASON" for each target given up on
  std::string escalation;              // why a local answer was rejected, if one was
  // Privacy: types and counts only.
  std::string privacy_action;       // the action for the request's labels; "" when it has none
  privacy::FindingCounts findings;  // in the request
  privacy::FindingCounts redacted;  // replaced by placeholders for the cloud target that answered
  privacy::FindingCounts answer_secrets;  // secrets in a cloud answer
  // Trust: who asked, what it cost, what the ledger records.
  std::string request_id;
  std::shared_ptr<const ledger::ApiKeyRecord> key;  // null: no keys exist (loopback only)
  std::string tenant;
  std::string workload;
  std::string task;
  std::int64_t prompt_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::optional<Clock::duration> first_token;  // streams: the first event relayed
  double cloud_cost = 0;
  // Local answers: the worker's compute time charged to this request (x-hearth-busy-ms, or the
  // stream's `: hearth-busy-ms` comment), over every attempt; 0 otherwise.
  double busy_ms = 0;
  // The cloud model the policy would otherwise have used, for the cost a local answer avoided.
  std::optional<config::CloudBackend> reference_cloud;
  std::int64_t rate_estimate = -1;  // tokens reserved with the rate limiter; -1: none
  std::optional<auth::BudgetTracker::Reservation> budget;
  std::string audit_kind;    // a policy refusal to audit ("policy.refused", "budget.refused")
  std::string audit_detail;  // its reason
  bool store_content = false;
  std::string content_request;
  std::string content_answer;

  // What the cloud target the policy would otherwise have used would have charged for a local
  // answer: the usage record's avoided_cost_usd and the avoided-spend metric.
  double avoided_cost_usd() const {
    if (placement != "local" || !reference_cloud) return 0;
    return policy::answer_cost(*reference_cloud, prompt_tokens, cached_tokens, completion_tokens);
  }
};

struct GatewayService::Plan {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const privacy::Scanner> scanner;
  // The body a cloud target gets when findings are to be redacted, and the mapping that restores
  // its answer; the mapping dies with the request.
  std::optional<RedactedBody> redacted;
  api::RoutingFields fields;
  policy::RequestFacts facts;
  policy::Decision decision;
  Clock::time_point deadline;
};

// x-hearth-fallback: "TARGET: REASON; TARGET: REASON", printable ASCII only.
inline std::string fallback_header(const std::vector<std::string>& fallbacks) {
  std::string text;
  for (const auto& item : fallbacks) {
    if (!text.empty()) {
      text += "; ";
    }
    for (char c : item) {
      text += (c >= 0x20 && c < 0x7f && c != ';') ? c : ' ';
    }
  }
  return text;
}

// x-hearth-privacy: "ACTION" or "ACTION; type=count, ..." (types and counts, never values).
inline std::string privacy_header(const std::string& action,
                                  const privacy::FindingCounts& findings) {
  return findings.empty() ? action : action + "; " + privacy::describe_counts(findings);
}

}  // namespace hearth::gateway
