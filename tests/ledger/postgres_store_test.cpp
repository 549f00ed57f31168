// The PostgreSQL ledger store: the shared conformance suite, and what only a shared server
// brings — several gateways appending to one chain, opening (migrating) at once, a connection
// dropped under the store, a schema from a newer hearth. One throwaway server per executable
// (tests/support/postgres_server.hpp), one fresh schema (on the search path: a database of its own
// as far as the store can tell) per test.
#include "ledger/postgres_store.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/chain.hpp"
#include "ledger/store_conformance.hpp"
#include "support/postgres_server.hpp"

namespace hearth::ledger {
namespace {

using test_support::PostgresServer;

constexpr std::string_view kDatabase = "hearth_tests";

// The server every test here shares, started once per executable, with one database in which
// each test gets a schema of its own. A server that cannot start fails the run (PostgreSQL is a
// required test dependency), it does not skip it.
class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto started = PostgresServer::start();
    if (!started) {
      error_ = "cannot start a PostgreSQL server for the tests: " + started.error();
      // Not fatal: a fatal failure here would have gtest skip every test, which reads as
      // "0 failed"; each test fails on its own with this message instead.
      ADD_FAILURE() << error_;
      return;
    }
    const auto created = (*started)->create_database(kDatabase);
    if (!created) {
      error_ = "cannot create the test database: " + created.error();
      ADD_FAILURE() << error_;
      return;
    }
    server_ = std::move(*started);
  }
  void TearDown() override { server_.reset(); }

  static PostgresServer* server() { return server_.get(); }
  static const std::string& error() { return error_; }

 private:
  static inline std::unique_ptr<PostgresServer> server_;
  static inline std::string error_;
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

// A fatal failure of the current test from a function that returns a value: the test body does
// not run (a non-fatal failure next to a skip would let it run on a missing store).
void fail_test(const std::string& message) { FAIL() << message; }

struct FreshSchema {
  std::string name;
  std::string url;  // the test database with only this schema on the search path
};

// A new, empty schema, or an error (also recorded as a fatal test failure).
Expected<FreshSchema, std::string> fresh_schema() {
  static std::atomic<int> counter{0};
  auto* server = PostgresEnvironment::server();
  if (server == nullptr) {
    fail_test(PostgresEnvironment::error());
    return unexpected(PostgresEnvironment::error());
  }
  const auto name = "test_" + std::to_string(++counter);
  auto url = server->create_schema(kDatabase, name);
  if (!url) {
    fail_test(url.error());
    return unexpected(url.error());
  }
  return FreshSchema{name, *url};
}

// Runs a query on its own connection and returns the first column of the first row ("" when
// there is none); a failure fails the test.
std::string query_value(const std::string& url, const std::string& sql) {
  PGconn* connection = PQconnectdb(url.c_str());
  std::string value;
  if (PQstatus(connection) != CONNECTION_OK) {
    ADD_FAILURE() << "connecting to " << url << ": " << PQerrorMessage(connection);
  } else {
    PGresult* result = PQexec(connection, sql.c_str());
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(result);
    } else if (PQntuples(result) > 0) {
      value = PQgetvalue(result, 0, 0);
    }
    PQclear(result);
  }
  PQfinish(connection);
  return value;
}

testing::StoreUnderTest postgres_database(std::int64_t anchor_interval) {
  testing::StoreUnderTest db;
  auto schema = fresh_schema();
  if (!schema) {
    db.unavailable = schema.error();
    return db;
  }
  // Dropped when the test lets go of it, after its stores closed, so that the catalog does not
  // grow with every test; bounded, should a connection still hold a lock.
  auto* server = PostgresEnvironment::server();
  db.resources = std::shared_ptr<void>(nullptr, [server, name = schema->name](void*) {
    (void)PostgresServer::execute(server->url(kDatabase),
                                  "SET lock_timeout = '5s'; DROP SCHEMA " + name + " CASCADE");
  });
  const std::string url = schema->url;
  db.execute_raw = [url](std::string_view sql) -> Expected<Done, std::string> {
    auto executed = PostgresServer::execute(url, sql);
    if (!executed) {
      return unexpected(std::move(executed.error()));
    }
    return Done{};
  };
  db.open_again = [url, anchor_interval] { return PostgresStore::open(url, anchor_interval); };
  auto store = PostgresStore::open(url, anchor_interval);
  if (!store) {
    fail_test(store.error());
    db.unavailable = store.error();
    return db;
  }
  db.store = std::move(*store);
  return db;
}

}  // namespace

namespace testing {
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(StoreFactory(postgres_database)),
                         [](const auto&) { return std::string("postgresql"); });
}  // namespace testing

namespace {

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto schema = fresh_schema();
    ASSERT_TRUE(schema.has_value());
    url_ = schema->url;
  }

  std::unique_ptr<Store> open(std::int64_t anchor_interval = 256) {
    auto store = PostgresStore::open(url_, anchor_interval);
    EXPECT_TRUE(store.has_value()) << store.error();
    return store ? std::move(*store) : nullptr;
  }

  void execute(const std::string& sql) {
    const auto executed = PostgresServer::execute(url_, sql);
    ASSERT_TRUE(executed.has_value()) << executed.error();
  }

  std::string url_;
};

AuditEvent event(std::int64_t time_us, std::string actor) {
  return AuditEvent{time_us, "key.created", std::move(actor), R"({"id":"hk_0123456789abcdef"})"};
}

UsageRecord usage(std::int64_t time_us, std::string tenant) {
  UsageRecord record;
  record.time_us = time_us;
  record.request_id = "req-" + std::to_string(time_us);
  record.tenant = std::move(tenant);
  record.model = "m";
  record.status = 200;
  record.prompt_tokens = 10;
  record.cloud_cost_usd = 0.25;
  return record;
}

TEST_F(PostgresStoreTest, TwoGatewaysAppendingAtOnceBuildOneChain) {
  constexpr int kBatches = 40;
  constexpr int kEventsPerBatch = 3;
  auto first = open(7);
  auto second = open(7);
  ASSERT_TRUE(first && second);
  std::barrier start(2);
  std::vector<std::vector<AuditRecord>> appended(2);
  std::vector<std::string> errors(2);
  const auto gateway = [&](Store& store, int index) {
    start.arrive_and_wait();
    for (int batch = 0; batch < kBatches; ++batch) {
      std::vector<AuditEvent> events;
      for (int i = 0; i < kEventsPerBatch; ++i) {
        events.push_back(event(batch * 10 + i, "gateway-" + std::to_string(index)));
      }
      const std::vector<UsageRecord> records{usage(batch, "tenant-" + std::to_string(index))};
      auto result = store.append(records, events);
      if (!result) {
        errors[index] = result.error();
        return;
      }
      // A batch's events are consecutive in the chain, whoever else is appending.
      for (std::size_t i = 1; i < result->size(); ++i) {
        if ((*result)[i].sequence != (*result)[i - 1].sequence + 1) {
          errors[index] = "a batch was interleaved with another gateway's";
          return;
        }
      }
      appended[index].insert(appended[index].end(), result->begin(), result->end());
    }
  };
  std::thread one(gateway, std::ref(*first), 0);
  std::thread two(gateway, std::ref(*second), 1);
  one.join();
  two.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");

  const auto records = first->audit_records(0);
  const auto anchors = first->audit_anchors();
  ASSERT_TRUE(records && anchors);
  constexpr int kTotal = 2 * kBatches * kEventsPerBatch;
  ASSERT_EQ(records->size(), static_cast<std::size_t>(kTotal));
  const auto verification = audit::verify_chain(*records, *anchors);
  EXPECT_TRUE(verification.ok) << verification.problem;
  EXPECT_EQ(verification.records_checked, kTotal);
  EXPECT_EQ(anchors->size(), static_cast<std::size_t>(kTotal / 7));

  // What each gateway was told it appended is what the log holds, and no sequence was given
  // twice.
  std::set<std::int64_t> sequences;
  for (const auto& gateway_records : appended) {
    for (const auto& record : gateway_records) {
      EXPECT_TRUE(sequences.insert(record.sequence).second) << record.sequence;
      EXPECT_EQ(record, (*records)[static_cast<std::size_t>(record.sequence - 1)]);
    }
  }
  EXPECT_EQ(sequences.size(), static_cast<std::size_t>(kTotal));
  const auto stored_usage = first->usage_records(0, 1'000'000, 10'000);
  ASSERT_TRUE(stored_usage);
  EXPECT_EQ(stored_usage->size(), static_cast<std::size_t>(2 * kBatches));
}

TEST_F(PostgresStoreTest, GatewaysOpeningAtOnceMigrateOnce) {
  constexpr int kGateways = 4;
  std::barrier start(kGateways);
  std::vector<std::string> errors(kGateways);
  std::vector<std::thread> threads;
  for (int i = 0; i < kGateways; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto store = PostgresStore::open(url_, 256);
      if (!store) {
        errors[static_cast<std::size_t>(i)] = store.error();
      } else if (const auto version = (*store)->schema_version();
                 !version || *version != PostgresStore::kSchemaVersion) {
        errors[static_cast<std::size_t>(i)] = "unexpected schema version";
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& error : errors) {
    EXPECT_EQ(error, "");
  }
  EXPECT_EQ(query_value(url_, "SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(PostgresStore::kSchemaVersion));
  EXPECT_EQ(query_value(url_, "SELECT MAX(version) FROM schema_migrations"),
            std::to_string(PostgresStore::kSchemaVersion));
}

TEST_F(PostgresStoreTest, ReopeningMigratesNothing) {
  auto store = open();
  ASSERT_TRUE(store);
  const auto applied = query_value(url_, "SELECT applied_us FROM schema_migrations");
  store.reset();
  store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(query_value(url_, "SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(PostgresStore::kSchemaVersion));
  EXPECT_EQ(query_value(url_, "SELECT applied_us FROM schema_migrations"), applied);
}

// A gateway may run under a role that can read and write the ledger but not create tables, once
// the schema is up to date.
TEST_F(PostgresStoreTest, OpensAMigratedDatabaseWithoutTheCreatePrivilege) {
  ASSERT_TRUE(open());
  static std::atomic<int> counter{0};
  const auto role = "ledger_writer_" + std::to_string(++counter);
  const auto schema = query_value(url_, "SELECT current_schema()");
  execute("CREATE ROLE " + role + " LOGIN; GRANT USAGE ON SCHEMA " + schema + " TO " + role +
          "; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " +
          role + "; GRANT USAGE ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role);
  std::string url = url_;
  url.replace(url.find("hearth@"), 7, role + "@");
  auto store = PostgresStore::open(url, 256);
  ASSERT_TRUE(store) << store.error();
  const std::vector<UsageRecord> rows{usage(1, "t")};
  const std::vector<AuditEvent> events{event(1, "gateway")};
  const auto appended = (*store)->append(rows, events);
  EXPECT_TRUE(appended) << appended.error();
}

// The server ends the store's session (a restart, a failover, an administrator): the next call
// reconnects and succeeds, and a write is stored exactly once.
TEST_F(PostgresStoreTest, RecoversFromAConnectionDroppedUnderIt) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::vector<AuditEvent> events{event(1, "cli")};
  ASSERT_TRUE(store->append({}, events));
  const auto terminate_sessions = [&] {
    // The store's backend (application_name defaults to hearth) is chosen first (MATERIALIZED),
    // so that the planner cannot end this session too; pg_terminate_backend waits (up to 5 s)
    // until the backend is gone.
    EXPECT_EQ(query_value(url_,
                          "WITH others AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
                          "WHERE datname = current_database() AND application_name = 'hearth') "
                          "SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                          "FROM others"),
              "1");
  };

  terminate_sessions();
  const auto records = store->audit_records(0);
  ASSERT_TRUE(records) << records.error();
  EXPECT_EQ(records->size(), 1u);

  terminate_sessions();
  const std::vector<UsageRecord> rows{usage(5, "t")};
  const auto appended = store->append(rows, events);
  ASSERT_TRUE(appended) << appended.error();
  ASSERT_EQ(appended->size(), 1u);
  EXPECT_EQ(appended->front().sequence, 2);
  EXPECT_EQ(query_value(url_, "SELECT COUNT(*) FROM usage"), "1");
  EXPECT_EQ(query_value(url_, "SELECT COUNT(*) FROM audit_log"), "2");

  terminate_sessions();
  ApiKeyRecord key;
  key.id = "hk_00000000000000aa";
  key.secret_hash = std::string(64, 'a');
  key.tenant = "t";
  key.scopes = {"chat", "admin"};
  const auto inserted = store->insert_key(key);
  ASSERT_TRUE(inserted) << inserted.error();
  const auto keys = store->list_keys();
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->front(), key);
}

TEST_F(PostgresStoreTest, ReportsAnErrorWhenTheServerIsGone) {
  // A port nothing listens on: the store must answer with an error, promptly.
  const auto store = PostgresStore::open("postgresql://hearth@127.0.0.1:1/hearth", 256);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().find("cannot connect"), std::string::npos) << store.error();
}

TEST_F(PostgresStoreTest, RefusesASchemaFromANewerHearth) {
  ASSERT_TRUE(open());
  execute("INSERT INTO schema_migrations (version, applied_us) VALUES (" +
          std::to_string(PostgresStore::kSchemaVersion + 1) + ", 0)");
  const auto store = PostgresStore::open(url_, 256);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().find("newer"), std::string::npos) << store.error();
  EXPECT_NE(store.error().find(std::to_string(PostgresStore::kSchemaVersion + 1)),
            std::string::npos)
      << store.error();
}

TEST_F(PostgresStoreTest, StoresTextPostgresCannotHoldAsReplacementCharacters) {
  auto store = open();
  ASSERT_TRUE(store);
  auto record = usage(1, std::string("bad\xff"
                                     "byte\0nul",
                                     12));
  ASSERT_TRUE(store->append(std::vector{record}, {}));
  const auto stored = store->usage_records(0, 10, 10);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->front().tenant,
            "bad\xEF\xBF\xBD"
            "byte\xEF\xBF\xBDnul");
}

// A full writer batch goes in a handful of statements, not one round trip per record.
TEST_F(PostgresStoreTest, AppendsAFullBatchInOneTransaction) {
  auto store = open();
  ASSERT_TRUE(store);
  std::vector<UsageRecord> records;
  for (int i = 0; i < 3000; ++i) {
    records.push_back(usage(i, "tenant-" + std::to_string(i % 3)));
  }
  ASSERT_TRUE(store->append(records, {}));
  const auto stored = store->usage_records(0, 1'000'000, 10'000);
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, records);
  EXPECT_EQ(query_value(url_, "SELECT COUNT(DISTINCT xmin::text) FROM usage"), "1");
}

}  // namespace
}  // namespace hearth::ledger
