#include "ledger/store.hpp"

#include <map>
#include <tuple>

#include "common/calendar.hpp"
#include "ledger/postgres_store.hpp"
#include "ledger/sqlite_store.hpp"

namespace hearth::ledger {

std::vector<SpendIncrement> spend_increments(std::span<const UsageRecord> usage) {
  using Row = std::tuple<std::int64_t, std::string_view, std::string_view>;
  std::map<Row, double> sums;
  for (const auto& record : usage) {
    if (record.cloud_cost_usd == 0) continue;
    const auto month = month_start_us(record.time_us);
    sums[Row{month, "key", record.key_id}] += record.cloud_cost_usd;
    sums[Row{month, "tenant", record.tenant}] += record.cloud_cost_usd;
  }
  std::vector<SpendIncrement> increments;
  increments.reserve(sums.size());
  for (const auto& [row, cost] : sums) {
    const auto& [month, scope, name] = row;
    increments.push_back(
        SpendIncrement{.month_start_us = month, .scope = scope, .name = name, .cost_usd = cost});
  }
  return increments;
}

Expected<std::unique_ptr<Store>, std::string> open_store(const StoreSettings& settings) {
  switch (settings.kind) {
    case StoreKind::sqlite:
      return SqliteStore::open(settings.sqlite_path, settings.anchor_interval);
    case StoreKind::postgresql:
      return PostgresStore::open(settings.postgresql_url, settings.anchor_interval);
  }
  return unexpected(std::string("unknown ledger store kind"));
}

}  // namespace hearth::ledger
