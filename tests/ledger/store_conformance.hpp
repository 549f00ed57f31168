// What every ledger Store must do, whatever the database: value-parameterised tests that each
// backend's test file instantiates with a factory for fresh, empty databases:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(StoreFactory(...)));
//
// Tampering tests edit the database behind the store's back through `execute_raw`, with plain
// SQL that both SQLite and PostgreSQL accept, on the tables and columns both stores share:
//   audit_log(sequence, time_us, kind, actor, detail, previous_hash, hash)
//   audit_anchors(sequence, time_us, hash)
//   schema_migrations(version, applied_us)
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "ledger/store.hpp"

namespace hearth::ledger::testing {

struct StoreUnderTest {
  // Whatever the database needs kept alive (a temporary directory, a scratch schema); released
  // after everything else here.
  std::shared_ptr<void> resources;
  // A store on a fresh, empty database. Null when the backend is unavailable here: the test is
  // skipped with `unavailable` as the reason.
  std::unique_ptr<Store> store;
  std::string unavailable;
  // Runs one or more SQL statements on the same database outside any Store.
  std::function<Expected<Done, std::string>(std::string_view sql)> execute_raw;
  // Opens another Store on the same database (another process or gateway would).
  std::function<Expected<std::unique_ptr<Store>, std::string>()> open_again;
};

// Each call gives a fresh, empty database, with audit anchors every `anchor_interval` records.
// The fixture releases the previous StoreUnderTest before asking for the next.
using StoreFactory = std::function<StoreUnderTest(std::int64_t anchor_interval)>;

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  static constexpr std::int64_t kDefaultAnchorInterval = 256;

  void SetUp() override;
  void TearDown() override { release(); }

  // Replaces the database by a fresh one with another anchor interval.
  void use_anchor_interval(std::int64_t anchor_interval);
  Store& store() { return *db_.store; }
  // Runs raw SQL and fails the test when it fails.
  void execute_raw(std::string_view sql);

  StoreUnderTest db_;

 private:
  void release();
};

}  // namespace hearth::ledger::testing
