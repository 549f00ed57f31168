#include "ledger/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <optional>

#include "audit/chain.hpp"
#include "common/calendar.hpp"

namespace hearth::ledger {
namespace {

struct Migration {
  int version;
  const char* sql;
};

// Applied in order, each once, in the transaction that opens the database; a released step is
// never edited (a database that ran it would not see the change): add a new step instead.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE usage (
  id INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  workload TEXT NOT NULL,
  task TEXT NOT NULL,
  route TEXT NOT NULL,
  rule TEXT NOT NULL,
  placement TEXT NOT NULL,
  backend TEXT NOT NULL,
  model TEXT NOT NULL,
  status INTEGER NOT NULL,
  stream INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  time_to_first_token_ms REAL,
  overhead_ms REAL NOT NULL,
  fallbacks TEXT NOT NULL,
  escalation TEXT NOT NULL,
  privacy_action TEXT NOT NULL,
  sensitivity TEXT NOT NULL,
  cloud_cost_usd REAL NOT NULL,
  avoided_cost_usd REAL NOT NULL,
  content TEXT NOT NULL
);
CREATE INDEX usage_by_time ON usage (time_us);
CREATE INDEX usage_by_key ON usage (key_id, time_us);
CREATE INDEX usage_by_tenant ON usage (tenant, time_us);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  requests_per_minute INTEGER,
  tokens_per_minute INTEGER,
  monthly_budget_usd REAL,
  created_us INTEGER NOT NULL,
  expires_us INTEGER,
  revoked_us INTEGER
);

CREATE TABLE audit_log (
  sequence INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  detail TEXT NOT NULL,
  previous_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (time_us);

CREATE TABLE audit_anchors (
  sequence INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  hash TEXT NOT NULL
);
)sql"},
    // busy_ms: the worker's compute time charged to a local answer (0 for rows written before).
    {2, R"sql(
ALTER TABLE usage ADD COLUMN busy_ms REAL NOT NULL DEFAULT 0;
)sql"},
    // Running cloud spend per calendar month (UTC), by key and by tenant, kept by append() in the
    // transaction that adds the records: budgets read a few rows, not a month of usage. Filled
    // from the records already stored. Nothing reads usage by key or by tenant any more (only
    // that sum did): two fewer B-trees to update per record.
    {3, R"sql(
CREATE TABLE cloud_spend (
  month_start_us INTEGER NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  name TEXT NOT NULL,
  cost_usd REAL NOT NULL,
  PRIMARY KEY (month_start_us, scope, name)
) WITHOUT ROWID;
WITH spent AS (
  SELECT CAST(strftime('%s', time_us / 1000000, 'unixepoch', 'start of month') AS INTEGER)
           * 1000000 AS month_start_us, key_id, tenant, cloud_cost_usd
  FROM usage WHERE cloud_cost_usd != 0)
INSERT INTO cloud_spend (month_start_us, scope, name, cost_usd)
  SELECT month_start_us, 'key', key_id, SUM(cloud_cost_usd) FROM spent GROUP BY 1, 3
  UNION ALL
  SELECT month_start_us, 'tenant', tenant, SUM(cloud_cost_usd) FROM spent GROUP BY 1, 3;
DROP INDEX IF EXISTS usage_by_key;
DROP INDEX IF EXISTS usage_by_tenant;
)sql"},
    // Rows are found by time through usage_spans instead of an index on time_us. The index cost
    // each record a B-tree insert, not an append (records arrive in order of completion, their
    // time is their arrival): a fifth of SQLite's work per record. A span is a row per batch,
    // or one row widened by the next batches up to kRowsPerSpan records (append()): it bounds
    // the ids and the times of the records it covers, and a window's records lie within the ids
    // of the spans whose times meet the window. Filled from the records already stored.
    {4, R"sql(
CREATE TABLE usage_spans (
  first_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL,
  min_time_us INTEGER NOT NULL,
  max_time_us INTEGER NOT NULL
);
CREATE INDEX usage_spans_by_time ON usage_spans (max_time_us);
INSERT INTO usage_spans (first_id, last_id, min_time_us, max_time_us)
  SELECT MIN(id), MAX(id), MIN(time_us), MAX(time_us) FROM usage GROUP BY id / 4096;
DROP INDEX IF EXISTS usage_by_time;
)sql"},
};

// A span stops being widened once it covers this many ids; with batches of a few records (a
// quiet gateway) spans still stay few, and a window's edges read at most this many records
// outside it.
constexpr std::int64_t kRowsPerSpan = 4096;

// "id BETWEEN a AND b" for the usage rows that may meet `span_condition` (on usage_spans): the
// ids of the spans that meet it, a range scan in table order. Rows another program inserted
// after the newest span (append() always adds one) are in no span until the next append: while
// there are any, the range also runs from the spans' end to the largest id.
std::string usage_ids_meeting(const std::string& span_condition) {
  const std::string covered_to =
      "COALESCE((SELECT last_id FROM usage_spans ORDER BY rowid DESC LIMIT 1), 0)";
  const std::string largest_id = "(SELECT MAX(id) FROM usage)";
  return "id BETWEEN COALESCE((SELECT MIN(first_id) FROM usage_spans WHERE " + span_condition +
         "), " + covered_to +
         " + 1) AND MAX(COALESCE((SELECT MAX(last_id) FROM usage_spans WHERE " + span_condition +
         "), 0), CASE WHEN " + largest_id + " > " + covered_to + " THEN " + largest_id +
         " ELSE 0 END)";
}

// The usage rows of the window [?1, ?2): the spans whose times meet it bound their ids, then
// each row's time is tested.
const std::string& usage_in_window() {
  static const std::string sql = " WHERE " +
                                 usage_ids_meeting("max_time_us >= ?1 AND min_time_us < ?2") +
                                 " AND time_us >= ?1 AND time_us < ?2";
  return sql;
}

constexpr int kKnownSchemaVersion = std::end(kMigrations)[-1].version;
constexpr const char* kSchemaVersionSql = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

// The column order of usage rows, shared by the insert and the selects: every column but
// content, then content.
constexpr const char* kUsageColumnsButContent =
    "time_us, request_id, key_id, tenant, workload, task, route, rule, placement, backend, "
    "model, status, stream, prompt_tokens, cached_tokens, completion_tokens, latency_ms, "
    "time_to_first_token_ms, overhead_ms, busy_ms, fallbacks, escalation, privacy_action, "
    "sensitivity, cloud_cost_usd, avoided_cost_usd";
std::string usage_columns() { return std::string(kUsageColumnsButContent) + ", content"; }
constexpr int kUsageColumnCount = 27;
// Usage rows per INSERT statement in append(): one statement's execution has a fixed cost (its
// program's start and halt) that a row alone paid about as much as for inserting itself.
constexpr std::size_t kUsageRowsPerInsert = 32;

// "INSERT INTO usage (...) VALUES (?, ...), ...": `rows` rows of placeholders.
std::string usage_insert_sql(std::size_t rows) {
  std::string placeholders = "(?";
  for (int column = 1; column < kUsageColumnCount; ++column) placeholders += ", ?";
  placeholders += ")";
  std::string sql = "INSERT INTO usage (" + usage_columns() + ") VALUES " + placeholders;
  for (std::size_t row = 1; row < rows; ++row) sql += ", " + placeholders;
  return sql;
}
// UsageColumns::accounting, in the order read_accounting reads them.
constexpr const char* kAccountingColumns =
    "time_us, workload, placement, model, status, prompt_tokens, cached_tokens, "
    "completion_tokens, latency_ms, busy_ms, fallbacks, escalation, sensitivity, cloud_cost_usd, "
    "avoided_cost_usd";

constexpr const char* kKeyColumns =
    "id, secret_hash, tenant, name, scopes, requests_per_minute, tokens_per_minute, "
    "monthly_budget_usd, created_us, expires_us, revoked_us";

constexpr const char* kAuditColumns = "sequence, time_us, kind, actor, detail, previous_hash, hash";

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One use of a cached statement: binds parameters (1-based), steps, reads columns (0-based), and
// resets the statement when the use ends so that it holds no read snapshot and no values.
class Use {
 public:
  explicit Use(sqlite3_stmt* statement) : statement_(statement) {}
  ~Use() {
    sqlite3_reset(statement_);
    if (clear_bindings_) sqlite3_clear_bindings(statement_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  void bind_int(int index, std::int64_t value) {
    note(sqlite3_bind_int64(statement_, index, value));
  }
  void bind_real(int index, double value) { note(sqlite3_bind_double(statement_, index, value)); }
  void bind_text(int index, std::string_view value) {
    // A null pointer would bind NULL, not "".
    const char* data = value.empty() ? "" : value.data();
    note(sqlite3_bind_text64(statement_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  // Without SQLite's copy: `value` must stay unchanged until this Use ends (it clears the
  // bindings). For the usage rows, the writer's hottest loop: a copy each was a malloc and a free.
  void bind_text_in_place(int index, std::string_view value) {
    const char* data = value.empty() ? "" : value.data();
    note(sqlite3_bind_text64(statement_, index, data, value.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void bind_int(int index, const std::optional<std::int64_t>& value) {
    value ? bind_int(index, *value) : note(sqlite3_bind_null(statement_, index));
  }
  void bind_real(int index, const std::optional<double>& value) {
    value ? bind_real(index, *value) : note(sqlite3_bind_null(statement_, index));
  }
  // For a statement whose every use binds every parameter: the end of this use leaves the values
  // bound (even in-place ones that then dangle) instead of clearing each; the next use replaces
  // them all before it steps. Clearing the usage insert's 864 parameters cost as much per record
  // as binding a text.
  void keep_bindings() { clear_bindings_ = false; }
  // SQLITE_OK when every bind succeeded.
  int bind_result() const { return bind_result_; }

  int step() { return sqlite3_step(statement_); }

  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }
  double real(int column) const { return sqlite3_column_double(statement_, column); }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(statement_, column);
    const auto size = sqlite3_column_bytes(statement_, column);
    return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), size);
  }
  // Into an existing string, reusing its storage (scans).
  void text_into(int column, std::string& out) const {
    const auto* data = sqlite3_column_text(statement_, column);
    const auto size = sqlite3_column_bytes(statement_, column);
    if (data == nullptr) {
      out.clear();
    } else {
      out.assign(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
    }
  }
  bool is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  std::optional<std::int64_t> optional_integer(int column) const {
    return is_null(column) ? std::nullopt : std::optional<std::int64_t>(integer(column));
  }
  std::optional<double> optional_real(int column) const {
    return is_null(column) ? std::nullopt : std::optional<double>(real(column));
  }

 private:
  void note(int result) {
    if (bind_result_ == SQLITE_OK) bind_result_ = result;
  }

  sqlite3_stmt* statement_;
  int bind_result_ = SQLITE_OK;
  bool clear_bindings_ = true;
};

std::string join_scopes(const std::vector<std::string>& scopes) {
  std::string joined;
  for (const auto& scope : scopes) {
    if (&scope != &scopes.front()) joined += '\n';
    joined += scope;
  }
  return joined;
}

std::vector<std::string> split_scopes(const std::string& joined) {
  std::vector<std::string> scopes;
  if (joined.empty()) return scopes;
  std::size_t start = 0;
  while (true) {
    const auto end = joined.find('\n', start);
    scopes.push_back(joined.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) return scopes;
    start = end + 1;
  }
}

// The columns of kUsageColumnsButContent; returns how many it read.
int read_usage_but_content(const Use& row, UsageRecord& record) {
  int column = 0;
  record.time_us = row.integer(column++);
  row.text_into(column++, record.request_id);
  row.text_into(column++, record.key_id);
  row.text_into(column++, record.tenant);
  row.text_into(column++, record.workload);
  row.text_into(column++, record.task);
  row.text_into(column++, record.route);
  row.text_into(column++, record.rule);
  row.text_into(column++, record.placement);
  row.text_into(column++, record.backend);
  row.text_into(column++, record.model);
  record.status = static_cast<int>(row.integer(column++));
  record.stream = row.integer(column++) != 0;
  record.prompt_tokens = row.integer(column++);
  record.cached_tokens = row.integer(column++);
  record.completion_tokens = row.integer(column++);
  record.latency_ms = row.real(column++);
  record.time_to_first_token_ms = row.optional_real(column++);
  record.overhead_ms = row.real(column++);
  record.busy_ms = row.real(column++);
  row.text_into(column++, record.fallbacks);
  row.text_into(column++, record.escalation);
  row.text_into(column++, record.privacy_action);
  row.text_into(column++, record.sensitivity);
  record.cloud_cost_usd = row.real(column++);
  record.avoided_cost_usd = row.real(column++);
  return column;
}

UsageRecord read_usage(const Use& row) {
  UsageRecord record;
  int column = read_usage_but_content(row, record);
  record.content = row.text(column++);
  assert(column == kUsageColumnCount && "read_usage reads every usage column");
  return record;
}

// The columns of kAccountingColumns.
void read_accounting(const Use& row, UsageRecord& record) {
  int column = 0;
  record.time_us = row.integer(column++);
  row.text_into(column++, record.workload);
  row.text_into(column++, record.placement);
  row.text_into(column++, record.model);
  record.status = static_cast<int>(row.integer(column++));
  record.prompt_tokens = row.integer(column++);
  record.cached_tokens = row.integer(column++);
  record.completion_tokens = row.integer(column++);
  record.latency_ms = row.real(column++);
  record.busy_ms = row.real(column++);
  row.text_into(column++, record.fallbacks);
  row.text_into(column++, record.escalation);
  row.text_into(column++, record.sensitivity);
  record.cloud_cost_usd = row.real(column++);
  record.avoided_cost_usd = row.real(column++);
}

// Binds the record's columns from parameter `first` on. The record must outlive `insert` (its
// text is bound in place).
void bind_usage(Use& insert, const UsageRecord& record, int first) {
  int index = first;
  insert.bind_int(index++, record.time_us);
  insert.bind_text_in_place(index++, record.request_id);
  insert.bind_text_in_place(index++, record.key_id);
  insert.bind_text_in_place(index++, record.tenant);
  insert.bind_text_in_place(index++, record.workload);
  insert.bind_text_in_place(index++, record.task);
  insert.bind_text_in_place(index++, record.route);
  insert.bind_text_in_place(index++, record.rule);
  insert.bind_text_in_place(index++, record.placement);
  insert.bind_text_in_place(index++, record.backend);
  insert.bind_text_in_place(index++, record.model);
  insert.bind_int(index++, record.status);
  insert.bind_int(index++, record.stream ? 1 : 0);
  insert.bind_int(index++, record.prompt_tokens);
  insert.bind_int(index++, record.cached_tokens);
  insert.bind_int(index++, record.completion_tokens);
  insert.bind_real(index++, record.latency_ms);
  insert.bind_real(index++, record.time_to_first_token_ms);
  insert.bind_real(index++, record.overhead_ms);
  insert.bind_real(index++, record.busy_ms);
  insert.bind_text_in_place(index++, record.fallbacks);
  insert.bind_text_in_place(index++, record.escalation);
  insert.bind_text_in_place(index++, record.privacy_action);
  insert.bind_text_in_place(index++, record.sensitivity);
  insert.bind_real(index++, record.cloud_cost_usd);
  insert.bind_real(index++, record.avoided_cost_usd);
  insert.bind_text_in_place(index++, record.content);
  assert(index == first + kUsageColumnCount && "bind_usage binds every usage column");
}

AuditRecord read_audit(const Use& row) {
  AuditRecord record;
  record.sequence = row.integer(0);
  record.time_us = row.integer(1);
  record.kind = row.text(2);
  record.actor = row.text(3);
  record.detail = row.text(4);
  record.previous_hash = row.text(5);
  record.hash = row.text(6);
  return record;
}

// The UTC day of time_us as YYYY-MM-DD, flooring (not truncating) to whole seconds.
constexpr const char* kDayExpression =
    "strftime('%Y-%m-%d', (time_us - ((time_us % 1000000) + 1000000) % 1000000) / 1000000, "
    "'unixepoch')";

const char* group_expression(UsageGrouping grouping) {
  switch (grouping) {
    case UsageGrouping::workload:
      return "workload";
    case UsageGrouping::key:
      return "key_id";
    case UsageGrouping::placement:
      return "placement";
    case UsageGrouping::day:
      return kDayExpression;
    case UsageGrouping::tenant:
      return "tenant";
    case UsageGrouping::model:
      return "model";
  }
  assert(false && "every UsageGrouping has a column");
  return "workload";
}

}  // namespace

void SqliteStore::StatementDeleter::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

// BEGIN IMMEDIATE: takes the database's write lock at once (waiting up to the busy timeout for
// another process), so that what the transaction reads (the last audit hash) cannot change
// before it writes. Rolls back unless committed.
class SqliteStore::Transaction {
 public:
  explicit Transaction(SqliteStore& store) : store_(store) {}
  ~Transaction() {
    // A failed statement may already have rolled the transaction back (SQLITE_FULL, IOERR).
    if (open_ && sqlite3_get_autocommit(store_.db_) == 0) (void)store_.execute("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Expected<Done, std::string> begin() {
    auto begun = store_.execute("BEGIN IMMEDIATE");
    open_ = begun.has_value();
    return begun;
  }
  Expected<Done, std::string> commit() {
    auto committed = store_.execute("COMMIT");
    if (committed) open_ = false;
    return committed;
  }

 private:
  SqliteStore& store_;
  bool open_ = false;
};

SqliteStore::SqliteStore(sqlite3* db, std::string path, std::int64_t anchor_interval)
    : db_(db), path_(std::move(path)), anchor_interval_(anchor_interval) {}

SqliteStore::~SqliteStore() {
  statements_.clear();
  sqlite3_close(db_);
}

int SqliteStore::known_schema_version() { return kKnownSchemaVersion; }

Expected<std::unique_ptr<Store>, std::string> SqliteStore::open(const std::string& path,
                                                                std::int64_t anchor_interval) {
  if (anchor_interval < 1) {
    return unexpected("the audit anchor interval must be at least 1 (got " +
                      std::to_string(anchor_interval) + ")");
  }
  // Before SQLite's first use in the process (if something used it before, this changes
  // nothing): without memory statistics each of its allocations skips a global mutex, and the
  // ledger writer allocates per row.
  static const int memory_statistics_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  static_cast<void>(memory_statistics_off);
  sqlite3* db = nullptr;
  const int opened = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (opened != SQLITE_OK) {
    std::string message = "cannot open the ledger database " + path + ": " +
                          (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(opened));
    sqlite3_close(db);
    return unexpected(std::move(message));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path, anchor_interval));
  if (auto configured = store->configure(); !configured) {
    return unexpected("cannot open the ledger database " + path + ": " + configured.error());
  }
  if (auto migrated = store->migrate(); !migrated) {
    return unexpected("cannot open the ledger database " + path + ": " + migrated.error());
  }
  return std::unique_ptr<Store>(std::move(store));
}

Expected<Done, std::string> SqliteStore::configure() {
  std::lock_guard lock(mutex_);
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  // For a new file only (an existing one keeps its page size; WAL mode cannot change it): four
  // times SQLite's default page, so a batch of records is a quarter as many pages for the WAL and
  // for the checkpoint to write, each a system call or two. The writer's system time per record
  // fell from 0.42 to 0.25 us in a standalone test of the usage insert.
  if (auto set = execute("PRAGMA page_size=16384"); !set) return set;
  auto journal = statement("PRAGMA journal_mode=WAL");
  if (!journal) return unexpected(journal.error());
  std::string mode;
  {
    Use use(*journal);
    if (use.step() != SQLITE_ROW) return unexpected(error("switching to WAL"));
    mode = use.text(0);
  }
  if (mode != "wal" && path_ != ":memory:") {
    return unexpected("it cannot use the WAL journal (journal mode \"" + mode + "\")");
  }
  // NORMAL in WAL mode: a commit survives the process being killed at any point; only a power
  // loss or OS crash may take back the last commits (never corrupting the file).
  if (auto set = execute("PRAGMA synchronous=NORMAL"); !set) return set;
  // A checkpoint once the WAL holds about 4 MiB whatever the page size (SQLite's default is 1000
  // pages: 16 MiB of 16 KiB pages, in rarer and longer pauses of the writer).
  const auto page_bytes = query_integer("PRAGMA page_size", "reading the page size");
  if (!page_bytes) return unexpected(page_bytes.error());
  const std::int64_t checkpoint_pages = std::max<std::int64_t>(1, (4 << 20) / *page_bytes);
  if (auto set = execute("PRAGMA wal_autocheckpoint=" + std::to_string(checkpoint_pages)); !set) {
    return set;
  }
  return execute("PRAGMA foreign_keys=ON");
}

Expected<Done, std::string> SqliteStore::migrate() {
  std::lock_guard lock(mutex_);
  Transaction transaction(*this);
  if (auto begun = transaction.begin(); !begun) return begun;
  if (auto created =
          execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                  "applied_us INTEGER NOT NULL)");
      !created) {
    return created;
  }
  const auto version = query_integer(kSchemaVersionSql, "reading the schema version");
  if (!version) return unexpected(version.error());
  const std::int64_t current = *version;
  if (current > kKnownSchemaVersion) {
    return unexpected("its schema version " + std::to_string(current) +
                      " is newer than the newest this hearth knows (" +
                      std::to_string(kKnownSchemaVersion) +
                      "): a newer hearth migrated it; upgrade hearth to use it");
  }
  for (const auto& migration : kMigrations) {
    if (migration.version <= current) continue;
    char* message = nullptr;
    if (sqlite3_exec(db_, migration.sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string problem = "migration " + std::to_string(migration.version) +
                            " failed: " + (message != nullptr ? message : sqlite3_errmsg(db_));
      sqlite3_free(message);
      return unexpected(std::move(problem));
    }
    auto insert = statement("INSERT INTO schema_migrations (version, applied_us) VALUES (?1, ?2)");
    if (!insert) return unexpected(insert.error());
    Use use(*insert);
    use.bind_int(1, migration.version);
    use.bind_int(2, now_us());
    if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
      return unexpected(error("recording migration " + std::to_string(migration.version)));
    }
  }
  return transaction.commit();
}

Expected<sqlite3_stmt*, std::string> SqliteStore::statement(const std::string& sql) {
  auto found = statements_.find(sql);
  if (found != statements_.end()) return found->second.get();
  sqlite3_stmt* prepared = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &prepared, nullptr) != SQLITE_OK) {
    return unexpected(error("preparing \"" + sql + "\""));
  }
  statements_.emplace(sql, StatementPtr(prepared));
  return prepared;
}

Expected<Done, std::string> SqliteStore::execute(const std::string& sql) {
  auto prepared = statement(sql);
  if (!prepared) return unexpected(prepared.error());
  Use use(*prepared);
  int result = use.step();
  while (result == SQLITE_ROW) result = use.step();
  if (result != SQLITE_DONE) return unexpected(error("running \"" + sql + "\""));
  return Done{};
}

Expected<std::int64_t, std::string> SqliteStore::query_integer(const std::string& sql,
                                                               std::string_view doing) {
  auto select = statement(sql);
  if (!select) return unexpected(select.error());
  Use use(*select);
  if (use.step() != SQLITE_ROW) return unexpected(error(doing));
  return use.integer(0);
}

std::string SqliteStore::error(std::string_view doing) const {
  return "SQLite error " + std::string(doing) + ": " + sqlite3_errmsg(db_);
}

Expected<int, std::string> SqliteStore::schema_version() {
  std::lock_guard lock(mutex_);
  const auto version = query_integer(kSchemaVersionSql, "reading the schema version");
  if (!version) return unexpected(version.error());
  return static_cast<int>(*version);
}

Expected<std::vector<AuditRecord>, std::string> SqliteStore::append(
    std::span<const UsageRecord> usage, std::span<const AuditEvent> audit) {
  std::vector<AuditRecord> appended;
  if (usage.empty() && audit.empty()) return appended;
  std::lock_guard lock(mutex_);
  Transaction transaction(*this);
  if (auto begun = transaction.begin(); !begun) return unexpected(begun.error());

  if (!usage.empty()) {
    // One statement per row count (index: rows - 1), each prepared once.
    static const auto insert_sql = [] {
      std::array<std::string, kUsageRowsPerInsert> sql;
      for (std::size_t rows = 1; rows <= kUsageRowsPerInsert; ++rows) {
        sql[rows - 1] = usage_insert_sql(rows);
      }
      return sql;
    }();
    for (std::size_t next = 0; next < usage.size();) {
      const std::size_t rows = std::min(kUsageRowsPerInsert, usage.size() - next);
      auto insert = statement(insert_sql[rows - 1]);
      if (!insert) return unexpected(insert.error());
      Use use(*insert);
      use.keep_bindings();
      for (std::size_t row = 0; row < rows; ++row) {
        bind_usage(use, usage[next + row], static_cast<int>(row) * kUsageColumnCount + 1);
      }
      if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
        return unexpected(error("inserting usage records"));
      }
      next += rows;
    }
    const auto [earliest, latest] = std::minmax_element(
        usage.begin(), usage.end(),
        [](const UsageRecord& a, const UsageRecord& b) { return a.time_us < b.time_us; });
    // Each new row took the id after the largest (SQLite's rule for a rowid until it reaches
    // 2^63 - 1), so the batch's ids are the last one inserted and the ones just before it.
    const std::int64_t last_id = sqlite3_last_insert_rowid(db_);
    const std::int64_t first_id = last_id - static_cast<std::int64_t>(usage.size()) + 1;
    if (auto added = add_usage_span(first_id, last_id, earliest->time_us, latest->time_us);
        !added) {
      return unexpected(added.error());
    }
    const auto spend = spend_increments(usage);
    if (!spend.empty()) {
      auto upsert = statement(
          "INSERT INTO cloud_spend (month_start_us, scope, name, cost_usd) "
          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (month_start_us, scope, name) "
          "DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd");
      if (!upsert) return unexpected(upsert.error());
      for (const auto& increment : spend) {
        Use use(*upsert);
        use.bind_int(1, increment.month_start_us);
        use.bind_text(2, increment.scope);
        use.bind_text(3, increment.name);
        use.bind_real(4, increment.cost_usd);
        if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
          return unexpected(error("adding to the month's cloud spend"));
        }
      }
    }
  }

  if (!audit.empty()) {
    // The chain continues after the newest of the last record and the last anchor (after a purge
    // that left no records, only the anchor knows the last hash).
    std::int64_t sequence = 0;
    std::string previous_hash(audit::kGenesisHash);
    for (const char* sql : {"SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1",
                            "SELECT sequence, hash FROM audit_anchors ORDER BY sequence DESC "
                            "LIMIT 1"}) {
      auto select = statement(sql);
      if (!select) return unexpected(select.error());
      Use use(*select);
      const int result = use.step();
      if (result == SQLITE_ROW && use.integer(0) > sequence) {
        sequence = use.integer(0);
        previous_hash = use.text(1);
      } else if (result != SQLITE_ROW && result != SQLITE_DONE) {
        return unexpected(error("reading the end of the audit chain"));
      }
    }
    auto insert = statement(std::string("INSERT INTO audit_log (") + kAuditColumns +
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!insert) return unexpected(insert.error());
    auto insert_anchor = statement(
        "INSERT OR IGNORE INTO audit_anchors (sequence, time_us, hash) VALUES (?1, ?2, ?3)");
    if (!insert_anchor) return unexpected(insert_anchor.error());
    appended.reserve(audit.size());
    for (const auto& event : audit) {
      AuditRecord record{.sequence = ++sequence,
                         .time_us = event.time_us,
                         .kind = event.kind,
                         .actor = event.actor,
                         .detail = event.detail,
                         .previous_hash = std::move(previous_hash),
                         .hash = {}};
      record.hash = audit::record_hash(record);
      {
        Use use(*insert);
        use.bind_int(1, record.sequence);
        use.bind_int(2, record.time_us);
        use.bind_text(3, record.kind);
        use.bind_text(4, record.actor);
        use.bind_text(5, record.detail);
        use.bind_text(6, record.previous_hash);
        use.bind_text(7, record.hash);
        if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
          return unexpected(error("inserting an audit record"));
        }
      }
      if (record.sequence % anchor_interval_ == 0) {
        Use use(*insert_anchor);
        use.bind_int(1, record.sequence);
        use.bind_int(2, record.time_us);
        use.bind_text(3, record.hash);
        if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
          return unexpected(error("inserting an audit anchor"));
        }
      }
      previous_hash = record.hash;
      appended.push_back(std::move(record));
    }
  }

  if (auto committed = transaction.commit(); !committed) return unexpected(committed.error());
  return appended;
}

Expected<Done, std::string> SqliteStore::add_usage_span(std::int64_t first_id, std::int64_t last_id,
                                                        std::int64_t min_time_us,
                                                        std::int64_t max_time_us) {
  assert(first_id <= last_id && "a span covers at least one row");
  std::int64_t covered_to = 0;         // the last id the spans cover
  std::optional<std::int64_t> newest;  // the rowid of the newest span, if it may widen
  {
    auto select =
        statement("SELECT rowid, first_id, last_id FROM usage_spans ORDER BY rowid DESC LIMIT 1");
    if (!select) return unexpected(select.error());
    Use use(*select);
    const int result = use.step();
    if (result == SQLITE_ROW) {
      covered_to = use.integer(2);
      if (last_id - use.integer(1) < kRowsPerSpan) newest = use.integer(0);
    } else if (result != SQLITE_DONE) {
      return unexpected(error("reading the newest usage span"));
    }
  }
  if (first_id > covered_to + 1) {
    // Rows another program inserted since the last span (the window queries saw them as the
    // uncovered tail): this span takes them in, with their times.
    auto select =
        statement("SELECT MIN(time_us), MAX(time_us) FROM usage WHERE id > ?1 AND id < ?2");
    if (!select) return unexpected(select.error());
    Use use(*select);
    use.bind_int(1, covered_to);
    use.bind_int(2, first_id);
    if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_ROW) {
      return unexpected(error("reading the times of uncovered usage rows"));
    }
    if (!use.is_null(0)) {
      min_time_us = std::min(min_time_us, use.integer(0));
      max_time_us = std::max(max_time_us, use.integer(1));
    }
    first_id = covered_to + 1;
  }
  auto write =
      statement(newest ? "UPDATE usage_spans SET last_id = ?2, min_time_us = MIN(min_time_us, ?3), "
                         "max_time_us = MAX(max_time_us, ?4) WHERE rowid = ?1"
                       : "INSERT INTO usage_spans (first_id, last_id, min_time_us, max_time_us) "
                         "VALUES (?1, ?2, ?3, ?4)");
  if (!write) return unexpected(write.error());
  Use use(*write);
  use.bind_int(1, newest.value_or(first_id));
  use.bind_int(2, last_id);
  use.bind_int(3, min_time_us);
  use.bind_int(4, max_time_us);
  if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
    return unexpected(error("recording a usage span"));
  }
  return Done{};
}

Expected<std::vector<UsageRecord>, std::string> SqliteStore::usage_records(std::int64_t from_us,
                                                                           std::int64_t to_us,
                                                                           std::int64_t limit) {
  std::vector<UsageRecord> records;
  if (limit <= 0) return records;
  std::lock_guard lock(mutex_);
  auto select = statement("SELECT " + usage_columns() + " FROM usage" + usage_in_window() +
                          " ORDER BY time_us, id LIMIT ?3");
  if (!select) return unexpected(select.error());
  Use use(*select);
  use.bind_int(1, from_us);
  use.bind_int(2, to_us);
  use.bind_int(3, limit);
  int result = use.bind_result() == SQLITE_OK ? use.step() : SQLITE_MISUSE;
  for (; result == SQLITE_ROW; result = use.step()) records.push_back(read_usage(use));
  if (result != SQLITE_DONE) return unexpected(error("reading usage records"));
  return records;
}

Expected<std::int64_t, std::string> SqliteStore::scan_usage(
    std::int64_t from_us, std::int64_t to_us, UsageColumns columns,
    const std::function<void(const UsageRecord&)>& each) {
  std::lock_guard lock(mutex_);
  const bool accounting = columns == UsageColumns::accounting;
  auto select = statement(std::string("SELECT ") +
                          (accounting ? kAccountingColumns : kUsageColumnsButContent) +
                          " FROM usage" + usage_in_window());
  if (!select) return unexpected(select.error());
  Use use(*select);
  use.bind_int(1, from_us);
  use.bind_int(2, to_us);
  UsageRecord record;
  std::int64_t passed = 0;
  int result = use.bind_result() == SQLITE_OK ? use.step() : SQLITE_MISUSE;
  for (; result == SQLITE_ROW; result = use.step()) {
    if (accounting) {
      read_accounting(use, record);
    } else {
      read_usage_but_content(use, record);
    }
    each(record);
    ++passed;
  }
  if (result != SQLITE_DONE) return unexpected(error("scanning usage records"));
  return passed;
}

Expected<std::vector<UsageSummaryRow>, std::string> SqliteStore::summarise_usage(
    UsageGrouping grouping, std::int64_t from_us, std::int64_t to_us) {
  std::lock_guard lock(mutex_);
  auto select = statement(
      std::string("SELECT ") + group_expression(grouping) +
      " AS grouped, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), "
      "SUM(prompt_tokens), SUM(completion_tokens), SUM(cloud_cost_usd), SUM(avoided_cost_usd), "
      "AVG(latency_ms) FROM usage" +
      usage_in_window() +
      " GROUP BY grouped "
      "ORDER BY COUNT(*) DESC, grouped");
  if (!select) return unexpected(select.error());
  Use use(*select);
  use.bind_int(1, from_us);
  use.bind_int(2, to_us);
  std::vector<UsageSummaryRow> rows;
  int result = use.bind_result() == SQLITE_OK ? use.step() : SQLITE_MISUSE;
  for (; result == SQLITE_ROW; result = use.step()) {
    rows.push_back(UsageSummaryRow{.group = use.text(0),
                                   .requests = use.integer(1),
                                   .errors = use.integer(2),
                                   .prompt_tokens = use.integer(3),
                                   .completion_tokens = use.integer(4),
                                   .cloud_cost_usd = use.real(5),
                                   .avoided_cost_usd = use.real(6),
                                   .mean_latency_ms = use.real(7)});
  }
  if (result != SQLITE_DONE) return unexpected(error("summarising usage"));
  return rows;
}

Expected<SpendTotals, std::string> SqliteStore::month_cloud_spend(std::int64_t month_start_us) {
  std::lock_guard lock(mutex_);
  SpendTotals totals;
  auto select =
      statement("SELECT scope, name, cost_usd FROM cloud_spend WHERE month_start_us = ?1");
  if (!select) return unexpected(select.error());
  Use use(*select);
  use.bind_int(1, month_start_us);
  int result = use.bind_result() == SQLITE_OK ? use.step() : SQLITE_MISUSE;
  for (; result == SQLITE_ROW; result = use.step()) {
    auto& into = use.text(0) == "key" ? totals.by_key : totals.by_tenant;
    into[use.text(1)] = use.real(2);
  }
  if (result != SQLITE_DONE) return unexpected(error("reading the month's cloud spend"));
  return totals;
}

Expected<Done, std::string> SqliteStore::insert_key(const ApiKeyRecord& key) {
  for (const auto& scope : key.scopes) {
    if (scope.empty() || scope.find('\n') != std::string::npos) {
      return unexpected("API key " + key.id + ": a scope name must be non-empty and one line");
    }
  }
  std::lock_guard lock(mutex_);
  auto insert = statement(std::string("INSERT INTO api_keys (") + kKeyColumns +
                          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  if (!insert) return unexpected(insert.error());
  Use use(*insert);
  use.bind_text(1, key.id);
  use.bind_text(2, key.secret_hash);
  use.bind_text(3, key.tenant);
  use.bind_text(4, key.name);
  use.bind_text(5, join_scopes(key.scopes));
  use.bind_int(6, key.requests_per_minute);
  use.bind_int(7, key.tokens_per_minute);
  use.bind_real(8, key.monthly_budget_usd);
  use.bind_int(9, key.created_us);
  use.bind_int(10, key.expires_us);
  use.bind_int(11, key.revoked_us);
  if (use.bind_result() != SQLITE_OK) return unexpected(error("inserting API key " + key.id));
  const int result = use.step();
  if ((result & 0xff) == SQLITE_CONSTRAINT) {
    return unexpected("an API key with id " + key.id + " already exists");
  }
  if (result != SQLITE_DONE) return unexpected(error("inserting API key " + key.id));
  return Done{};
}

Expected<std::vector<ApiKeyRecord>, std::string> SqliteStore::list_keys() {
  std::lock_guard lock(mutex_);
  auto select =
      statement(std::string("SELECT ") + kKeyColumns + " FROM api_keys ORDER BY created_us, id");
  if (!select) return unexpected(select.error());
  Use use(*select);
  std::vector<ApiKeyRecord> keys;
  int result = use.step();
  for (; result == SQLITE_ROW; result = use.step()) {
    keys.push_back(ApiKeyRecord{.id = use.text(0),
                                .secret_hash = use.text(1),
                                .tenant = use.text(2),
                                .name = use.text(3),
                                .scopes = split_scopes(use.text(4)),
                                .requests_per_minute = use.optional_integer(5),
                                .tokens_per_minute = use.optional_integer(6),
                                .monthly_budget_usd = use.optional_real(7),
                                .created_us = use.integer(8),
                                .expires_us = use.optional_integer(9),
                                .revoked_us = use.optional_integer(10)});
  }
  if (result != SQLITE_DONE) return unexpected(error("listing API keys"));
  return keys;
}

Expected<bool, std::string> SqliteStore::revoke_key(std::string_view id, std::int64_t time_us) {
  std::lock_guard lock(mutex_);
  auto update =
      statement("UPDATE api_keys SET revoked_us = ?1 WHERE id = ?2 AND revoked_us IS NULL");
  if (!update) return unexpected(update.error());
  Use use(*update);
  use.bind_int(1, time_us);
  use.bind_text(2, id);
  if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
    return unexpected(error("revoking API key " + std::string(id)));
  }
  return sqlite3_changes64(db_) == 1;
}

Expected<std::vector<AuditRecord>, std::string> SqliteStore::audit_records(
    std::int64_t from_sequence) {
  std::lock_guard lock(mutex_);
  auto select = statement(std::string("SELECT ") + kAuditColumns +
                          " FROM audit_log WHERE sequence >= ?1 ORDER BY sequence");
  if (!select) return unexpected(select.error());
  Use use(*select);
  use.bind_int(1, from_sequence);
  std::vector<AuditRecord> records;
  int result = use.bind_result() == SQLITE_OK ? use.step() : SQLITE_MISUSE;
  for (; result == SQLITE_ROW; result = use.step()) records.push_back(read_audit(use));
  if (result != SQLITE_DONE) return unexpected(error("reading audit records"));
  return records;
}

Expected<std::vector<AuditAnchor>, std::string> SqliteStore::audit_anchors() {
  std::lock_guard lock(mutex_);
  auto select = statement("SELECT sequence, time_us, hash FROM audit_anchors ORDER BY sequence");
  if (!select) return unexpected(select.error());
  Use use(*select);
  std::vector<AuditAnchor> anchors;
  int result = use.step();
  for (; result == SQLITE_ROW; result = use.step()) {
    anchors.push_back(
        AuditAnchor{.sequence = use.integer(0), .time_us = use.integer(1), .hash = use.text(2)});
  }
  if (result != SQLITE_DONE) return unexpected(error("reading audit anchors"));
  return anchors;
}

Expected<PurgeResult, std::string> SqliteStore::purge(std::int64_t usage_before_us,
                                                      std::int64_t audit_before_us) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*this);
  if (auto begun = transaction.begin(); !begun) return unexpected(begun.error());
  PurgeResult result;

  // Only a prefix of the chain goes, up to the first record that is not old enough: with several
  // gateways times need not rise with the sequence, and no record within retention is deleted.
  // The newest record always stays: a log emptied down to its anchors reads as truncated
  // (audit::verify_chain), and it is where the next record chains on.
  std::optional<AuditAnchor> newest_deleted;
  {
    auto select = statement(
        "SELECT sequence, time_us, hash FROM audit_log "
        "WHERE sequence < (SELECT MAX(sequence) FROM audit_log) "
        "AND sequence < COALESCE((SELECT MIN(sequence) FROM audit_log WHERE time_us >= ?1), "
        "9223372036854775807) "
        "ORDER BY sequence DESC LIMIT 1");
    if (!select) return unexpected(select.error());
    Use use(*select);
    use.bind_int(1, audit_before_us);
    const int found = use.bind_result() == SQLITE_OK ? use.step() : SQLITE_MISUSE;
    if (found == SQLITE_ROW) {
      newest_deleted =
          AuditAnchor{.sequence = use.integer(0), .time_us = use.integer(1), .hash = use.text(2)};
    } else if (found != SQLITE_DONE) {
      return unexpected(error("finding the audit records to purge"));
    }
  }
  if (newest_deleted) {
    {
      auto insert = statement(
          "INSERT OR IGNORE INTO audit_anchors (sequence, time_us, hash) VALUES (?1, ?2, ?3)");
      if (!insert) return unexpected(insert.error());
      Use use(*insert);
      use.bind_int(1, newest_deleted->sequence);
      use.bind_int(2, newest_deleted->time_us);
      use.bind_text(3, newest_deleted->hash);
      if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
        return unexpected(error("anchoring the audit chain before a purge"));
      }
    }
    auto remove = statement("DELETE FROM audit_log WHERE sequence <= ?1");
    if (!remove) return unexpected(remove.error());
    Use use(*remove);
    use.bind_int(1, newest_deleted->sequence);
    if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
      return unexpected(error("purging audit records"));
    }
    result.audit_deleted = sqlite3_changes64(db_);
  }
  {
    // The records older than usage_before_us lie within the ids of the spans that begin before
    // it, or after every span; the spans that end before it cover nothing else and go too. A span
    // that straddles it stays as it is: still a bound (wider than needed) of what is left of it.
    auto remove = statement("DELETE FROM usage WHERE " + usage_ids_meeting("min_time_us < ?1") +
                            " AND time_us < ?1");
    if (!remove) return unexpected(remove.error());
    Use use(*remove);
    use.bind_int(1, usage_before_us);
    if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
      return unexpected(error("purging usage records"));
    }
    result.usage_deleted = sqlite3_changes64(db_);
  }
  {
    auto remove = statement("DELETE FROM usage_spans WHERE max_time_us < ?1");
    if (!remove) return unexpected(remove.error());
    Use use(*remove);
    use.bind_int(1, usage_before_us);
    if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
      return unexpected(error("purging usage spans"));
    }
  }
  {
    // A month's totals go once every record of it is gone (the month before the one holding
    // usage_before_us, and older): until then budgets still count what was purged.
    auto remove = statement("DELETE FROM cloud_spend WHERE month_start_us < ?1");
    if (!remove) return unexpected(remove.error());
    Use use(*remove);
    use.bind_int(1, month_start_us(usage_before_us));
    if (use.bind_result() != SQLITE_OK || use.step() != SQLITE_DONE) {
      return unexpected(error("purging monthly cloud spend"));
    }
  }
  if (auto committed = transaction.commit(); !committed) return unexpected(committed.error());
  return result;
}

}  // namespace hearth::ledger
