// The ledger in one SQLite file: the embedded default. WAL journal with synchronous=NORMAL, so a
// process killed at any point leaves every committed transaction in place (only a power loss can
// take back the last ones); a busy timeout, so that the gateway and the `hearth` CLI (separate
// processes) can share the file; BEGIN IMMEDIATE for every write, so that audit records appended
// by two processes still form one chain. One connection per store, used under a mutex, with its
// prepared statements cached.
//
// Schema (version 2: busy_ms added), the same table and column names as the PostgreSQL store:
//   schema_migrations(version, applied_us)
//   usage(id, <every UsageRecord field by its name>)  -- time_to_first_token_ms NULL when absent
//   api_keys(id, secret_hash, tenant, name, scopes, requests_per_minute, tokens_per_minute,
//            monthly_budget_usd, created_us, expires_us, revoked_us)
//            -- scopes: the scope names joined by '\n' ("" for none); a scope name may therefore
//               be neither empty nor contain a line break (insert_key refuses it)
//   audit_log(sequence, time_us, kind, actor, detail, previous_hash, hash)
//   audit_anchors(sequence, time_us, hash)
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ledger/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace hearth::ledger {

class SqliteStore : public Store {
 public:
  // How long a writer waits for another process's transaction before failing with "busy".
  static constexpr int kBusyTimeoutMs = 10'000;

  // Opens `path` (created when missing), switches it to WAL and applies the migrations it lacks
  // in one transaction. A database migrated by a newer hearth is refused.
  static Expected<std::unique_ptr<Store>, std::string> open(const std::string& path,
                                                            std::int64_t anchor_interval);
  // The newest schema version this code knows.
  static int known_schema_version();

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  std::string_view kind() const override { return "sqlite"; }
  Expected<int, std::string> schema_version() override;

  Expected<std::vector<AuditRecord>, std::string> append(
      std::span<const UsageRecord> usage, std::span<const AuditEvent> audit) override;

  Expected<std::vector<UsageRecord>, std::string> usage_records(std::int64_t from_us,
                                                                std::int64_t to_us,
                                                                std::int64_t limit) override;
  Expected<std::int64_t, std::string> scan_usage(
      std::int64_t from_us, std::int64_t to_us, UsageColumns columns,
      const std::function<void(const UsageRecord&)>& each) override;
  Expected<std::vector<UsageSummaryRow>, std::string> summarise_usage(UsageGrouping grouping,
                                                                      std::int64_t from_us,
                                                                      std::int64_t to_us) override;
  Expected<SpendTotals, std::string> month_cloud_spend(std::int64_t month_start_us) override;

  Expected<Done, std::string> insert_key(const ApiKeyRecord& key) override;
  Expected<std::vector<ApiKeyRecord>, std::string> list_keys() override;
  Expected<bool, std::string> revoke_key(std::string_view id, std::int64_t time_us) override;

  Expected<std::vector<AuditRecord>, std::string> audit_records(
      std::int64_t from_sequence) override;
  Expected<std::vector<AuditAnchor>, std::string> audit_anchors() override;

  Expected<PurgeResult, std::string> purge(std::int64_t usage_before_us,
                                           std::int64_t audit_before_us) override;

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* statement) const;
  };
  using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;
  class Transaction;

  SqliteStore(sqlite3* db, std::string path, std::int64_t anchor_interval);

  Expected<Done, std::string> configure();
  Expected<Done, std::string> migrate();
  // The cached prepared statement for `sql` (prepared on first use). Callers hold mutex_.
  Expected<sqlite3_stmt*, std::string> statement(const std::string& sql);
  // Runs statements that return no rows (and need no parameters). Callers hold mutex_.
  Expected<Done, std::string> execute(const std::string& sql);
  std::string error(std::string_view doing) const;
  // The first column of the first row of `sql` (no parameters) as an integer; `doing` names it
  // in the error. Callers hold mutex_.
  Expected<std::int64_t, std::string> query_integer(const std::string& sql, std::string_view doing);
  // Records that the usage rows with ids first_id..last_id, times min_time_us..max_time_us, were
  // added: widens the newest span or adds one. In append()'s transaction.
  Expected<Done, std::string> add_usage_span(std::int64_t first_id, std::int64_t last_id,
                                             std::int64_t min_time_us, std::int64_t max_time_us);

  std::mutex mutex_;
  sqlite3* db_;
  std::string path_;
  std::int64_t anchor_interval_;
  std::unordered_map<std::string, StatementPtr> statements_;
};

}  // namespace hearth::ledger
