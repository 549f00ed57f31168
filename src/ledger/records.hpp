// What the ledger and the audit log keep: plain rows, no content unless a workload opts in.
// Times are Unix microseconds (UTC) so that SQLite and PostgreSQL store and compare them alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::ledger {

// One request through the gateway.
struct UsageRecord {
  std::int64_t time_us = 0;  // when the request arrived
  std::string request_id;    // unique per gateway process (x-request-id when given)
  std::string key_id;        // "" when the gateway runs without keys
  std::string tenant;
  std::string workload;
  std::string task;  // chat, completion, embedding, rerank, or "" (non-inference routes)
  std::string route;
  std::string rule;
  std::string placement;  // local, cloud, or "" when nothing answered
  std::string backend;
  std::string model;
  int status = 0;  // 499: the client went away
  bool stream = false;
  std::int64_t prompt_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t completion_tokens = 0;
  double latency_ms = 0;
  std::optional<double> time_to_first_token_ms;
  double overhead_ms = 0;  // latency minus time spent waiting on backends
  // Local answers: the worker's measured compute time charged to this request (each batch
  // step's duration divided among the requests in that step); 0 for cloud answers.
  double busy_ms = 0;
  std::string fallbacks;  // "TARGET: REASON; TARGET: REASON"
  std::string escalation;
  std::string privacy_action;  // "" : no labels
  std::string sensitivity;     // "type=count, type=count" (types and counts, never values)
  double cloud_cost_usd = 0;
  double avoided_cost_usd = 0;  // what the cloud target the policy would otherwise use would cost
  std::string content;          // request and answer JSON, only for opted-in workloads

  bool operator==(const UsageRecord&) const = default;
};

// An API key as stored: never the secret itself.
struct ApiKeyRecord {
  std::string id;           // public, shown in listings and in the ledger ("hk_" + 16 hex)
  std::string secret_hash;  // hex SHA-256 of the whole key string
  std::string tenant;
  std::string name;
  std::vector<std::string> scopes;  // empty: everything but admin
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<double> monthly_budget_usd;
  std::int64_t created_us = 0;
  std::optional<std::int64_t> expires_us;
  std::optional<std::int64_t> revoked_us;

  bool operator==(const ApiKeyRecord&) const = default;
};

// One audit event; sequence and hashes are assigned by the store when appended (audit/chain.hpp
// defines the hash).
struct AuditRecord {
  std::int64_t sequence = 0;  // 1, 2, 3, ... with no gaps
  std::int64_t time_us = 0;
  std::string kind;    // e.g. "key.created", "key.revoked", "config.reloaded", "privacy.local_only"
  std::string actor;   // a key id, "cli", or "gateway"
  std::string detail;  // a JSON object, never prompt or answer text
  std::string previous_hash;  // hex; 64 zeros for sequence 1
  std::string hash;           // hex SHA-256, audit::record_hash

  bool operator==(const AuditRecord&) const = default;
};

// The hash of one audit record, kept apart from the records so that a purge of old records leaves
// the chain verifiable from the anchor on.
struct AuditAnchor {
  std::int64_t sequence = 0;
  std::int64_t time_us = 0;
  std::string hash;

  bool operator==(const AuditAnchor&) const = default;
};

// `hearth usage`: rows grouped by one dimension.
enum class UsageGrouping { workload, key, placement, day, tenant, model };

struct UsageSummaryRow {
  std::string group;  // the workload, key id, placement, or day ("YYYY-MM-DD", UTC)
  std::int64_t requests = 0;
  std::int64_t errors = 0;  // status >= 400
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cloud_cost_usd = 0;
  double avoided_cost_usd = 0;
  double mean_latency_ms = 0;

  bool operator==(const UsageSummaryRow&) const = default;
};

struct PurgeResult {
  std::int64_t usage_deleted = 0;
  std::int64_t audit_deleted = 0;
};

}  // namespace hearth::ledger
