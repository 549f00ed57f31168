// The ledger in PostgreSQL, for several gateways sharing keys, budgets and one audit chain. One
// libpq connection per store, used under a mutex; a connection the server dropped is re-opened
// once on the next call. Values only ever travel as query parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "ledger/store.hpp"

struct pg_conn;

namespace hearth::ledger {

class PostgresStore : public Store {
 public:
  // The newest schema version this code knows; a database migrated further is refused.
  static constexpr int kSchemaVersion = 3;

  // Connects to `url` (a libpq connection string or URI) and brings the schema up to
  // kSchemaVersion. Several gateways may open the same database at once.
  static Expected<std::unique_ptr<Store>, std::string> open(const std::string& url,
                                                            std::int64_t anchor_interval);

  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  std::string_view kind() const override { return "postgresql"; }
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
  PostgresStore(pg_conn* connection, std::int64_t anchor_interval);

  // Runs `operation` on the connection under the mutex. When it fails because the connection
  // broke, and the failure cannot have committed anything, the connection is reset and the
  // operation runs once more.
  template <class T, class Operation>
  Expected<T, std::string> run(Operation&& operation);

  std::mutex mutex_;
  pg_conn* connection_;
  std::int64_t anchor_interval_;
};

}  // namespace hearth::ledger
