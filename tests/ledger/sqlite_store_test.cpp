// The SQLite store: the conformance suite on a temporary file, and what only a file shared by
// processes can show: a newer schema refused, a writer killed with SIGKILL losing nothing it
// committed, a failed append leaving nothing behind.
#include "ledger/sqlite_store.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>

#include "audit/chain.hpp"
#include "ledger/store_conformance.hpp"

namespace hearth::ledger {
namespace {

namespace fs = std::filesystem;
using testing::StoreConformance;

// A directory of its own under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "hearth-ledger-XXXXXX").string();
    const char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Runs SQL on its own connection, as another program (the sqlite3 shell) would.
Expected<Done, std::string> execute_raw(const std::string& path, std::string_view sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    return unexpected(std::move(message));
  }
  sqlite3_busy_timeout(db, 10'000);
  char* error = nullptr;
  const std::string statements(sql);
  const int result = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  if (result != SQLITE_OK) return unexpected(std::move(message));
  return Done{};
}

// The first column of the first row of `sql`, as text ("" when there is no row).
std::string query_text(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string value;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(statement, 0);
      if (text != nullptr) value = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return value;
}

testing::StoreUnderTest make_sqlite_store(std::int64_t anchor_interval) {
  auto dir = std::make_shared<TempDir>();
  const std::string path = (dir->path() / "ledger.db").string();
  testing::StoreUnderTest db;
  db.resources = dir;
  auto opened = SqliteStore::open(path, anchor_interval);
  if (!opened) {
    db.unavailable = opened.error();
    ADD_FAILURE() << opened.error();  // SQLite is always available: not opening is a failure
    return db;
  }
  db.store = std::move(*opened);
  db.execute_raw = [path](std::string_view sql) { return execute_raw(path, sql); };
  db.open_again = [path, anchor_interval] { return SqliteStore::open(path, anchor_interval); };
  return db;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(testing::StoreFactory(&make_sqlite_store)),
                         [](const auto&) { return std::string("file"); });

TEST(SqliteStore, CreatesWalDatabaseWithEveryMigrationRecordedOnce) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  for (int opening = 0; opening < 3; ++opening) {
    auto store = SqliteStore::open(path, 16);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ((*store)->kind(), "sqlite");
    auto version = (*store)->schema_version();
    ASSERT_TRUE(version) << version.error();
    EXPECT_EQ(*version, SqliteStore::known_schema_version());
  }
  EXPECT_EQ(query_text(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_text(path, "PRAGMA page_size"), "16384");
  EXPECT_EQ(query_text(path, "SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(SqliteStore::known_schema_version()));
  for (const char* table : {"usage", "api_keys", "audit_log", "audit_anchors", "cloud_spend"}) {
    EXPECT_EQ(query_text(path, std::string("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name = '") +
                                   table + "'"),
              table);
  }
  // Usage is read by time only, through its spans: the indexes by key and by tenant of version 1
  // went in version 3, the one by time in version 4.
  EXPECT_EQ(query_text(path,
                       "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' "
                       "AND tbl_name = 'usage' AND sql IS NOT NULL"),
            "");
  EXPECT_EQ(query_text(path,
                       "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' "
                       "AND tbl_name = 'usage_spans'"),
            "usage_spans_by_time");
}

std::vector<UsageRecord> records_at(std::int64_t first_time_us, std::int64_t count) {
  std::vector<UsageRecord> made;
  for (std::int64_t n = 0; n < count; ++n) {
    UsageRecord record;
    record.time_us = first_time_us + n;
    record.request_id = std::to_string(first_time_us + n);
    record.status = 200;
    made.push_back(std::move(record));
  }
  return made;
}

std::int64_t count_in(Store& store, std::int64_t from_us, std::int64_t to_us) {
  auto counted = store.scan_usage(from_us, to_us, UsageColumns::accounting, [](const auto&) {});
  EXPECT_TRUE(counted) << counted.error();
  return counted ? *counted : -1;
}

// The 16 KiB page is for new files: one made before (SQLite's default 4 KiB pages) keeps its
// page size and works as before.
TEST(SqliteStore, KeepsThePageSizeOfAnExistingFile) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA page_size=4096; CREATE TABLE other (x)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::open(path, 16);
  ASSERT_TRUE(store) << store.error();
  EXPECT_EQ(query_text(path, "PRAGMA page_size"), "4096");
  ASSERT_TRUE((*store)->append(records_at(0, 30'000), {}));
  EXPECT_EQ(count_in(**store, 1000, 2000), 1000);
}

// A quiet gateway commits a record or two at a time: its spans must not grow to a row per batch,
// or they would cost what the time index did.
TEST(SqliteStore, SmallBatchesWidenOneSpanUpToItsLimit) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  auto store = SqliteStore::open(path, 16);
  ASSERT_TRUE(store) << store.error();
  for (std::int64_t batch = 0; batch < 100; ++batch) {
    ASSERT_TRUE((*store)->append(records_at(batch * 50, 50), {}));
  }
  // 5000 ids: the first span takes batches while it covers at most 4096 ids (81 batches, 4050),
  // the second the rest.
  EXPECT_EQ(query_text(path, "SELECT COUNT(*) FROM usage_spans"), "2");
  EXPECT_EQ(query_text(path, "SELECT last_id FROM usage_spans ORDER BY rowid LIMIT 1"), "4050");
  // One batch larger than the limit has a span of its own.
  ASSERT_TRUE((*store)->append(records_at(5000, 5000), {}));
  EXPECT_EQ(query_text(path, "SELECT COUNT(*) FROM usage_spans"), "3");
  EXPECT_EQ(count_in(**store, 0, 10'000), 10'000);
  EXPECT_EQ(count_in(**store, 4049, 4051), 2);
  EXPECT_EQ(count_in(**store, 4999, 5001), 2);
}

// Rows another program inserted (the sqlite3 shell, an import) are in no span until the store's
// next append: they are found by time before it, and that append's span takes them in.
TEST(SqliteStore, RowsInsertedByAnotherProgramAreFoundByTime) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  auto store = SqliteStore::open(path, 16);
  ASSERT_TRUE(store) << store.error();
  const std::string columns =
      "(time_us, request_id, key_id, tenant, workload, task, route, rule, placement, backend, "
      "model, status, stream, prompt_tokens, cached_tokens, completion_tokens, latency_ms, "
      "overhead_ms, fallbacks, escalation, privacy_action, sensitivity, cloud_cost_usd, "
      "avoided_cost_usd, content)";
  const auto insert_at = [&](std::int64_t time_us) {
    return execute_raw(path, "INSERT INTO usage " + columns + " VALUES (" +
                                 std::to_string(time_us) +
                                 ", 'x', '', '', '', '', '', '', '', '', '', 200, 0, 0, 0, 0, 0, "
                                 "0, '', '', '', '', 0, 0, '')");
  };
  ASSERT_TRUE(insert_at(50));  // before any span
  EXPECT_EQ(count_in(**store, 50, 51), 1);
  ASSERT_TRUE((*store)->append(records_at(1000, 10), {}));
  ASSERT_TRUE(insert_at(20));  // after the newest span, older than all
  ASSERT_TRUE(insert_at(5000));
  EXPECT_EQ(count_in(**store, 0, 100), 2);
  EXPECT_EQ(count_in(**store, 1000, 1010), 10);
  EXPECT_EQ(count_in(**store, 4000, 6000), 1);
  EXPECT_EQ(count_in(**store, 100, 1000), 0);
  // The next append's span covers them, with their times.
  ASSERT_TRUE((*store)->append(records_at(2000, 5), {}));
  EXPECT_EQ(count_in(**store, 0, 100), 2);
  EXPECT_EQ(count_in(**store, 4000, 6000), 1);
  EXPECT_EQ(query_text(path, "SELECT MIN(min_time_us) FROM usage_spans"), "20");
  EXPECT_EQ(query_text(path, "SELECT MAX(max_time_us) FROM usage_spans"), "5000");
  // The purge finds uncovered rows too.
  ASSERT_TRUE(insert_at(10));
  auto purged = (*store)->purge(60, 0);
  ASSERT_TRUE(purged) << purged.error();
  EXPECT_EQ(purged->usage_deleted, 3);  // 50, 20 and 10
  EXPECT_EQ(count_in(**store, std::numeric_limits<std::int64_t>::min(),
                     std::numeric_limits<std::int64_t>::max()),
            16);
}

// A database of version 3 (usage found through an index by time) gets spans for the records it
// holds, and they are found by time as before.
TEST(SqliteStore, UpgradeFromSchemaVersion3CoversStoredRecordsWithSpans) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  {
    auto store = SqliteStore::open(path, 16);
    ASSERT_TRUE(store) << store.error();
    ASSERT_TRUE((*store)->append(records_at(0, 10'000), {}));
    ASSERT_TRUE((*store)->append(records_at(500, 3), {}));  // late records
  }
  ASSERT_TRUE(execute_raw(path,
                          "DROP TABLE usage_spans; CREATE INDEX usage_by_time ON usage (time_us); "
                          "DELETE FROM schema_migrations WHERE version >= 4"));
  auto store = SqliteStore::open(path, 16);
  ASSERT_TRUE(store) << store.error();
  EXPECT_EQ(query_text(path, "SELECT name FROM sqlite_master WHERE name = 'usage_by_time'"), "");
  // Ids 1 to 10003 in groups of 4096 ids.
  EXPECT_EQ(query_text(path, "SELECT COUNT(*) FROM usage_spans"), "3");
  EXPECT_EQ(count_in(**store, 0, 10'000), 10'003);
  EXPECT_EQ(count_in(**store, 500, 501), 2);
  EXPECT_EQ(count_in(**store, 4095, 4097), 2);
  EXPECT_EQ(count_in(**store, 10'000, 20'000), 0);
  auto purged = (*store)->purge(501, 0);
  ASSERT_TRUE(purged) << purged.error();
  EXPECT_EQ(purged->usage_deleted, 502);
  EXPECT_EQ(count_in(**store, std::numeric_limits<std::int64_t>::min(),
                     std::numeric_limits<std::int64_t>::max()),
            10'003 - 502);
}

TEST(SqliteStore, RefusesADatabaseFromANewerHearth) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  ASSERT_TRUE(SqliteStore::open(path, 16));
  const int newer = SqliteStore::known_schema_version() + 1;
  ASSERT_TRUE(execute_raw(path, "INSERT INTO schema_migrations (version, applied_us) VALUES (" +
                                    std::to_string(newer) + ", 0)"));
  auto refused = SqliteStore::open(path, 16);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("newer"), std::string::npos) << refused.error();
  EXPECT_NE(refused.error().find("schema version " + std::to_string(newer)), std::string::npos)
      << refused.error();
  EXPECT_NE(refused.error().find(path), std::string::npos) << refused.error();
}

TEST(SqliteStore, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  std::ofstream(path) << "this is not an SQLite database, just some text long enough to look at\n";
  auto refused = SqliteStore::open(path, 16);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find(path), std::string::npos) << refused.error();
  EXPECT_NE(refused.error().find("not a database"), std::string::npos) << refused.error();
}

TEST(SqliteStore, RefusesAnAnchorIntervalBelowOne) {
  TempDir dir;
  auto refused = SqliteStore::open((dir.path() / "ledger.db").string(), 0);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("anchor interval"), std::string::npos) << refused.error();
}

TEST(SqliteStore, FailedAppendLeavesNothingBehind) {
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  auto store = SqliteStore::open(path, 16);
  ASSERT_TRUE(store) << store.error();
  ASSERT_TRUE(execute_raw(path,
                          "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                          "BEGIN SELECT RAISE(ABORT, 'audit refused by test'); END"));
  UsageRecord usage;
  usage.time_us = 42;
  const AuditEvent event{.time_us = 1, .kind = "k", .actor = "a", .detail = "{}"};
  auto failed = (*store)->append(std::vector{usage, usage}, std::vector{event});
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().find("audit refused by test"), std::string::npos) << failed.error();
  auto usage_left = (*store)->usage_records(0, 100, 10);
  ASSERT_TRUE(usage_left);
  EXPECT_TRUE(usage_left->empty()) << "the usage rows of a failed append were kept";

  ASSERT_TRUE(execute_raw(path, "DROP TRIGGER refuse_audit"));
  auto appended = (*store)->append(std::vector{usage}, std::vector{event});
  ASSERT_TRUE(appended) << appended.error();
  ASSERT_EQ(appended->size(), 1u);
  EXPECT_EQ(appended->front().sequence, 1);
}

TEST(SqliteStore, RejectsScopesThatCannotBeStored) {
  TempDir dir;
  auto store = SqliteStore::open((dir.path() / "ledger.db").string(), 16);
  ASSERT_TRUE(store) << store.error();
  ApiKeyRecord key;
  key.id = "hk_1";
  key.secret_hash = "h";
  key.scopes = {"chat\nadmin"};
  EXPECT_FALSE((*store)->insert_key(key));
  key.scopes = {""};
  EXPECT_FALSE((*store)->insert_key(key));
  auto keys = (*store)->list_keys();
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->empty());
}

TEST(OpenStore, OpensTheConfiguredKind) {
  TempDir dir;
  StoreSettings settings;
  settings.kind = StoreKind::sqlite;
  settings.sqlite_path = (dir.path() / "ledger.db").string();
  settings.anchor_interval = 2;
  auto opened = open_store(settings);
  ASSERT_TRUE(opened) << opened.error();
  EXPECT_EQ((*opened)->kind(), "sqlite");
  const AuditEvent event{.time_us = 1, .kind = "k", .actor = "a", .detail = "{}"};
  ASSERT_TRUE((*opened)->append({}, std::vector{event, event}));
  auto anchors = (*opened)->audit_anchors();
  ASSERT_TRUE(anchors);
  EXPECT_EQ(anchors->size(), 1u) << "the anchor interval reaches the store";

  settings.kind = StoreKind::postgresql;
  settings.postgresql_url = "postgresql://hearth@127.0.0.1:1/hearth";  // nothing listens there
  auto refused = open_store(settings);
  EXPECT_FALSE(refused);
}

// A child process appends batches (kUsagePerBatch usage rows + 2 audit events each) and reports
// each commit on a pipe; it is killed with SIGKILL while it writes. Every batch it reported must
// be there, whole, and no batch may be there in part.
TEST(SqliteStore, WriterKilledMidWayLosesNoCommittedBatch) {
  constexpr int kUsagePerBatch = 50;
  constexpr int kReportsBeforeKill = 25;
  TempDir dir;
  const auto path = (dir.path() / "ledger.db").string();
  ASSERT_TRUE(SqliteStore::open(path, 7));  // created and migrated before the child starts

  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0) << "fork failed";
  if (child == 0) {
    close(report[0]);
    auto store = SqliteStore::open(path, 7);
    if (!store) _exit(2);
    for (std::int64_t batch = 0;; ++batch) {
      std::vector<UsageRecord> usage(kUsagePerBatch);
      for (auto& record : usage) {
        record.time_us = batch;
        record.request_id = "batch-" + std::to_string(batch);
        record.content = std::string(200, 'x');
      }
      const std::vector<AuditEvent> audit{
          {.time_us = batch, .kind = "test.batch", .actor = "child", .detail = "{}"},
          {.time_us = batch, .kind = "test.batch", .actor = "child", .detail = "{}"}};
      if (!(*store)->append(usage, audit)) _exit(3);
      const std::string line = std::to_string(batch) + "\n";
      if (write(report[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        _exit(4);
      }
    }
  }
  close(report[1]);

  // Read reports until enough batches are committed, then kill the child in the middle of its
  // next ones.
  std::string reported;
  const auto reports = [&] { return std::count(reported.begin(), reported.end(), '\n'); };
  while (reports() < kReportsBeforeKill) {
    pollfd readable{.fd = report[0], .events = POLLIN, .revents = 0};
    ASSERT_EQ(poll(&readable, 1, 30'000), 1) << "the child reported no commit for 30 s";
    char buffer[256];
    const ssize_t got = read(report[0], buffer, sizeof buffer);
    ASSERT_GT(got, 0) << "the child stopped early";
    reported.append(buffer, static_cast<std::size_t>(got));
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  // Reports written before it died.
  char buffer[4096];
  for (ssize_t got; (got = read(report[0], buffer, sizeof buffer)) > 0;) {
    reported.append(buffer, static_cast<std::size_t>(got));
  }
  close(report[0]);
  const auto committed_reported = reports();

  EXPECT_EQ(query_text(path, "PRAGMA integrity_check"), "ok");
  auto store = SqliteStore::open(path, 7);
  ASSERT_TRUE(store) << store.error();
  auto usage = (*store)->usage_records(0, std::numeric_limits<std::int64_t>::max(), 10'000'000);
  ASSERT_TRUE(usage) << usage.error();
  std::map<std::int64_t, int> rows_per_batch;
  for (const auto& record : *usage) ++rows_per_batch[record.time_us];
  const auto batches = static_cast<std::int64_t>(rows_per_batch.size());
  EXPECT_GE(batches, committed_reported);
  for (const auto& [batch, rows] : rows_per_batch) {
    EXPECT_LT(batch, batches) << "batches are committed in order";
    EXPECT_EQ(rows, kUsagePerBatch) << "batch " << batch << " is there in part";
  }
  auto records = (*store)->audit_records(0);
  auto anchors = (*store)->audit_anchors();
  ASSERT_TRUE(records && anchors);
  EXPECT_EQ(static_cast<std::int64_t>(records->size()), 2 * batches);
  const auto verification = audit::verify_chain(*records, *anchors);
  EXPECT_TRUE(verification.ok) << verification.problem;
}

}  // namespace
}  // namespace hearth::ledger
