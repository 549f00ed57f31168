// The ledger's storage: usage records, API keys, the hash-chained audit log and its anchors.
// One interface, two implementations: SQLite (embedded default, WAL) and PostgreSQL (several
// gateways sharing keys, budgets and one ledger). Every method may be called from any thread; an
// implementation serialises use of its connection. Failures are values; nothing here throws.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/expected.hpp"
#include "ledger/records.hpp"

namespace hearth::ledger {

using Done = std::monostate;

// An audit event before the store gives it its place in the chain.
struct AuditEvent {
  std::int64_t time_us = 0;
  std::string kind;
  std::string actor;
  std::string detail;  // a JSON object

  bool operator==(const AuditEvent&) const = default;
};

// The cloud spend of one calendar month, for budgets.
struct SpendTotals {
  std::map<std::string, double, std::less<>> by_key;
  std::map<std::string, double, std::less<>> by_tenant;
};

// Which fields Store::scan_usage fills in.
enum class UsageColumns {
  all_but_content,  // every field but `content`
  // What accounting needs: time_us, workload, placement, model, status, prompt_tokens,
  // cached_tokens, completion_tokens, latency_ms, busy_ms, fallbacks, escalation, sensitivity,
  // cloud_cost_usd, avoided_cost_usd.
  accounting,
};

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "postgresql".
  virtual std::string_view kind() const = 0;
  // The schema version the migrations brought the database to.
  virtual Expected<int, std::string> schema_version() = 0;

  // Usage records and audit events in one transaction: all or nothing. Audit events are chained
  // in the order given after the last stored record (safe against other gateways appending to
  // the same database at the same time); every `anchor_interval`-th record also gets an anchor.
  virtual Expected<std::vector<AuditRecord>, std::string> append(
      std::span<const UsageRecord> usage, std::span<const AuditEvent> audit) = 0;

  // Usage records with from_us <= time_us < to_us, oldest first, at most `limit`.
  virtual Expected<std::vector<UsageRecord>, std::string> usage_records(std::int64_t from_us,
                                                                        std::int64_t to_us,
                                                                        std::int64_t limit) = 0;
  // Calls `each` once per usage record with from_us <= time_us < to_us, in no particular order
  // (whatever reads fastest), reading them from the database as it goes (never all at once: fit
  // for tens of millions of rows).
  // Only the fields named by `columns` are filled in; the others keep their defaults, and
  // `content` is never read. The record passed is reused from one call to the next. `each` runs
  // while the store is in use: it must not call the store. Returns how many records were passed.
  // A failure part-way (the connection lost) is an error, after some records were passed.
  virtual Expected<std::int64_t, std::string> scan_usage(
      std::int64_t from_us, std::int64_t to_us, UsageColumns columns,
      const std::function<void(const UsageRecord&)>& each) = 0;
  // Grouped totals over from_us <= time_us < to_us, largest request count first.
  virtual Expected<std::vector<UsageSummaryRow>, std::string> summarise_usage(
      UsageGrouping grouping, std::int64_t from_us, std::int64_t to_us) = 0;
  // Cloud spend (cloud_cost_usd) of the records in the calendar month (UTC) that starts at
  // `month_start_us`, by key and by tenant; a key or tenant that spent nothing is left out.
  // append() keeps these as running totals in the same transaction as the records, so reading
  // them costs the same on the month's first day and on its last (a sum over the month's rows
  // grew with every request: at 10,000 requests/s, by 26 million rows a month). The totals
  // outlive purged records until their month is older than everything purged.
  virtual Expected<SpendTotals, std::string> month_cloud_spend(std::int64_t month_start_us) = 0;

  // Fails when the id exists.
  virtual Expected<Done, std::string> insert_key(const ApiKeyRecord& key) = 0;
  virtual Expected<std::vector<ApiKeyRecord>, std::string> list_keys() = 0;
  // False when no such key exists or it is already revoked.
  virtual Expected<bool, std::string> revoke_key(std::string_view id, std::int64_t time_us) = 0;

  // The audit records with sequence >= from_sequence, in sequence order, and every anchor.
  virtual Expected<std::vector<AuditRecord>, std::string> audit_records(
      std::int64_t from_sequence) = 0;
  virtual Expected<std::vector<AuditAnchor>, std::string> audit_anchors() = 0;

  // Deletes usage records older than usage_before_us and audit records older than
  // audit_before_us. Before deleting audit records it anchors the newest one it deletes, so the
  // chain of what remains still verifies; anchors are never deleted.
  virtual Expected<PurgeResult, std::string> purge(std::int64_t usage_before_us,
                                                   std::int64_t audit_before_us) = 0;
};

// What one append() adds to the running monthly spend totals (Store::month_cloud_spend).
struct SpendIncrement {
  std::int64_t month_start_us = 0;
  std::string_view scope;  // "key" or "tenant"
  std::string_view name;   // the key id or tenant, viewed in the records passed
  double cost_usd = 0;
};

// The cloud spend of `usage` summed per month, scope and name, in that order: every store and
// every gateway upserts the totals rows in this one order, so that concurrent PostgreSQL
// transactions lock them in the same order and cannot deadlock. Records without cloud cost add
// nothing.
std::vector<SpendIncrement> spend_increments(std::span<const UsageRecord> usage);

enum class StoreKind { sqlite, postgresql };

struct StoreSettings {
  StoreKind kind = StoreKind::sqlite;
  std::string sqlite_path = "hearth.db";
  std::string postgresql_url;  // a libpq connection string or URI
  std::int64_t anchor_interval = 256;
};

// Opens (creating when needed) and migrates to the current schema version.
Expected<std::unique_ptr<Store>, std::string> open_store(const StoreSettings& settings);

}  // namespace hearth::ledger
