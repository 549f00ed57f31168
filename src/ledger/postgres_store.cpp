#include "ledger/postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "audit/chain.hpp"
#include "common/calendar.hpp"
#include "common/utf8.hpp"

namespace hearth::ledger {
namespace {

// Advisory lock keys ("hearth" and a number): one for migrations, one for the head of the audit
// chain. Advisory locks are per database, so unrelated databases on one server never wait on
// each other.
constexpr std::int64_t kMigrationLockKey = 0x6865617274680001;
constexpr std::int64_t kAuditChainLockKey = 0x6865617274680002;

// One step per schema version, applied in order; never edit a step that has shipped, add one.
struct Migration {
  int version;
  std::string_view sql;
};

constexpr std::array kMigrations{
    Migration{1, R"sql(
CREATE TABLE usage (
  id BIGSERIAL PRIMARY KEY,
  time_us BIGINT NOT NULL,
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
  stream BOOLEAN NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  latency_ms DOUBLE PRECISION NOT NULL,
  time_to_first_token_ms DOUBLE PRECISION,
  overhead_ms DOUBLE PRECISION NOT NULL,
  fallbacks TEXT NOT NULL,
  escalation TEXT NOT NULL,
  privacy_action TEXT NOT NULL,
  sensitivity TEXT NOT NULL,
  cloud_cost_usd DOUBLE PRECISION NOT NULL,
  avoided_cost_usd DOUBLE PRECISION NOT NULL,
  content TEXT NOT NULL
);
CREATE INDEX usage_time_us ON usage (time_us);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  requests_per_minute BIGINT,
  tokens_per_minute BIGINT,
  monthly_budget_usd DOUBLE PRECISION,
  created_us BIGINT NOT NULL,
  expires_us BIGINT,
  revoked_us BIGINT
);
CREATE TABLE audit_log (
  sequence BIGINT PRIMARY KEY,
  time_us BIGINT NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  detail TEXT NOT NULL,
  previous_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_log_time_us ON audit_log (time_us);
CREATE TABLE audit_anchors (
  sequence BIGINT PRIMARY KEY,
  time_us BIGINT NOT NULL,
  hash TEXT NOT NULL
);
)sql"},
    // busy_ms: the worker's compute time charged to a local answer (0 for rows written before).
    Migration{2, R"sql(
ALTER TABLE usage ADD COLUMN busy_ms DOUBLE PRECISION NOT NULL DEFAULT 0;
)sql"},
    // Running cloud spend per calendar month (UTC), by key and by tenant, kept by append() in the
    // transaction that adds the records: budgets read a few rows, not a month of usage. Filled
    // from the records already stored.
    Migration{3, R"sql(
CREATE TABLE cloud_spend (
  month_start_us BIGINT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  name TEXT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (month_start_us, scope, name)
);
WITH spent AS (
  SELECT EXTRACT(EPOCH FROM date_trunc('month',
           to_timestamp(time_us / 1000000) AT TIME ZONE 'UTC'))::BIGINT * 1000000
           AS month_start_us, key_id, tenant, cloud_cost_usd
  FROM usage WHERE cloud_cost_usd <> 0)
INSERT INTO cloud_spend (month_start_us, scope, name, cost_usd)
  SELECT month_start_us, 'key', key_id, SUM(cloud_cost_usd) FROM spent GROUP BY 1, 3
  UNION ALL
  SELECT month_start_us, 'tenant', tenant, SUM(cloud_cost_usd) FROM spent GROUP BY 1, 3;
)sql"},
};
static_assert(kMigrations.back().version == PostgresStore::kSchemaVersion);

// Every usage column but content, in the order usage_from_row reads them; content comes last.
constexpr std::string_view kUsageColumnsButContent =
    "time_us, request_id, key_id, tenant, workload, task, route, rule, placement, backend, "
    "model, status, stream, prompt_tokens, cached_tokens, completion_tokens, latency_ms, "
    "time_to_first_token_ms, overhead_ms, busy_ms, fallbacks, escalation, privacy_action, "
    "sensitivity, cloud_cost_usd, avoided_cost_usd";
constexpr int kUsageColumnCount = 27;
// UsageColumns::accounting, in the order accounting_from_row reads them.
constexpr std::string_view kAccountingColumns =
    "time_us, workload, placement, model, status, prompt_tokens, cached_tokens, "
    "completion_tokens, latency_ms, busy_ms, fallbacks, escalation, sensitivity, cloud_cost_usd, "
    "avoided_cost_usd";
// Rows fetched per round trip by scan_usage.
constexpr int kScanBatchRows = 10'000;
constexpr std::string_view kKeyColumns =
    "id, secret_hash, tenant, name, scopes, requests_per_minute, tokens_per_minute, "
    "monthly_budget_usd, created_us, expires_us, revoked_us";
constexpr std::string_view kAuditColumns =
    "sequence, time_us, kind, actor, detail, previous_hash, hash";
constexpr int kAuditColumnCount = 7;
// PostgreSQL takes at most 65535 parameters per statement.
constexpr std::size_t kMaxParameters = 65535;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// PostgreSQL text holds neither NUL nor malformed UTF-8, and a batch it refuses would be retried
// forever by the writer: such bytes become U+FFFD instead. `text` itself when it holds none
// (the usual case, without a copy), else the text with them replaced, kept in `replaced`.
std::string_view storable(std::string_view text, std::string& replaced) {
  const bool has_nul = text.find('\0') != std::string_view::npos;
  if (!has_nul && is_valid_utf8(text)) {
    return text;
  }
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string& result = replaced;
  result.clear();
  result.reserve(text.size() + 8);
  while (!text.empty()) {
    const auto bad = first_invalid_utf8(text);
    const auto good = text.substr(0, std::min(bad, text.size()));
    for (const char c : good) {
      if (c == '\0') {
        result += kReplacement;
      } else {
        result += c;
      }
    }
    if (bad == std::string_view::npos) {
      break;
    }
    result += kReplacement;
    text.remove_prefix(bad + 1);
  }
  return result;
}

std::string storable_text(std::string_view text) {
  std::string replaced;
  return std::string(storable(text, replaced));
}

// The shortest text that reads back as exactly `value`, appended to `out`.
template <class Number>
void append_number(std::string& out, Number value) {
  std::array<char, 64> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  assert(ec == std::errc() && "64 characters hold any number");
  out.append(buffer.data(), end);
}

// Scopes as a JSON array of strings, the form both stores keep them in.
std::string scopes_to_json(const std::vector<std::string>& scopes) {
  std::string json = "[";
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    if (i > 0) {
      json += ',';
    }
    json += '"';
    for (const char c : scopes[i]) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        json += '\\';
        json += c;
      } else if (byte < 0x20) {
        static constexpr char kDigits[] = "0123456789abcdef";
        json += "\\u00";
        json += kDigits[byte >> 4];
        json += kDigits[byte & 0xf];
      } else {
        json += c;
      }
    }
    json += '"';
  }
  json += ']';
  return json;
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// The inverse of scopes_to_json, also for arrays written by hand (whitespace, any escape).
Expected<std::vector<std::string>, std::string> scopes_from_json(std::string_view json) {
  const auto error = [&] {
    return unexpected("stored scopes are not a JSON array of strings: " + std::string(json));
  };
  std::vector<std::string> scopes;
  std::size_t at = 0;
  const auto skip_space = [&] {
    while (at < json.size() &&
           (json[at] == ' ' || json[at] == '\t' || json[at] == '\n' || json[at] == '\r')) {
      ++at;
    }
  };
  const auto hex4 = [&](std::uint32_t& value) {
    if (at + 4 > json.size()) {
      return false;
    }
    const auto* first = json.data() + at;
    const auto [end, ec] = std::from_chars(first, first + 4, value, 16);
    at += 4;
    return ec == std::errc() && end == first + 4;
  };
  skip_space();
  if (at >= json.size() || json[at] != '[') {
    return error();
  }
  ++at;
  skip_space();
  if (at < json.size() && json[at] == ']') {
    ++at;
  } else {
    while (true) {
      skip_space();
      if (at >= json.size() || json[at] != '"') {
        return error();
      }
      ++at;
      std::string scope;
      while (true) {
        if (at >= json.size()) {
          return error();
        }
        const char c = json[at++];
        if (c == '"') {
          break;
        }
        if (c != '\\') {
          scope += c;
          continue;
        }
        if (at >= json.size()) {
          return error();
        }
        const char escaped = json[at++];
        switch (escaped) {
          case '"':
          case '\\':
          case '/':
            scope += escaped;
            break;
          case 'b':
            scope += '\b';
            break;
          case 'f':
            scope += '\f';
            break;
          case 'n':
            scope += '\n';
            break;
          case 'r':
            scope += '\r';
            break;
          case 't':
            scope += '\t';
            break;
          case 'u': {
            std::uint32_t code_point = 0;
            if (!hex4(code_point)) {
              return error();
            }
            if (code_point >= 0xD800 && code_point < 0xDC00 && at + 6 <= json.size() &&
                json[at] == '\\' && json[at + 1] == 'u') {
              at += 2;
              std::uint32_t low = 0;
              if (!hex4(low) || low < 0xDC00 || low >= 0xE000) {
                return error();
              }
              code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
            }
            append_utf8(scope, code_point);
            break;
          }
          default:
            return error();
        }
      }
      scopes.push_back(std::move(scope));
      skip_space();
      if (at < json.size() && json[at] == ',') {
        ++at;
        continue;
      }
      if (at < json.size() && json[at] == ']') {
        ++at;
        break;
      }
      return error();
    }
  }
  skip_space();
  if (at != json.size()) {
    return error();
  }
  return scopes;
}

// Query parameters in text format; nullopt is SQL NULL.
class Params {
 public:
  Params& text(std::string_view value) {
    values_.emplace_back(storable_text(value));
    return *this;
  }
  Params& integer(std::int64_t value) {
    values_.emplace_back(std::to_string(value));
    return *this;
  }
  Params& real(double value) {
    std::string text;
    append_number(text, value);
    values_.emplace_back(std::move(text));
    return *this;
  }
  Params& boolean(bool value) {
    values_.emplace_back(value ? "t" : "f");
    return *this;
  }
  Params& integer(std::optional<std::int64_t> value) {
    if (!value) {
      values_.emplace_back(std::nullopt);
      return *this;
    }
    return integer(*value);
  }
  Params& real(std::optional<double> value) {
    if (!value) {
      values_.emplace_back(std::nullopt);
      return *this;
    }
    return real(*value);
  }

  std::size_t size() const { return values_.size(); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> result;
    result.reserve(values_.size());
    for (const auto& value : values_) {
      result.push_back(value ? value->c_str() : nullptr);
    }
    return result;
  }

 private:
  std::vector<std::optional<std::string>> values_;
};

// Rows in the text format of COPY ... FROM STDIN: tab-separated fields, \N for NULL, and
// backslash escapes for backslash, newline, carriage return and tab in text. The usage rows go
// this way: the server neither parses nor plans a statement of thousands of parameters for them
// (it spent most of its time on that), and the gateway formats no parameter array.
class CopyRows {
 public:
  CopyRows& text(std::string_view value) {
    for (const char c : storable(value, replaced_)) {
      switch (c) {
        case '\\':
          data_ += "\\\\";
          break;
        case '\n':
          data_ += "\\n";
          break;
        case '\r':
          data_ += "\\r";
          break;
        case '\t':
          data_ += "\\t";
          break;
        default:
          data_ += c;
      }
    }
    data_ += '\t';
    return *this;
  }
  CopyRows& integer(std::int64_t value) {
    append_number(data_, value);
    data_ += '\t';
    return *this;
  }
  CopyRows& real(double value) {
    append_number(data_, value);
    data_ += '\t';
    return *this;
  }
  CopyRows& real(std::optional<double> value) {
    if (!value) {
      data_ += "\\N\t";
      return *this;
    }
    return real(*value);
  }
  CopyRows& boolean(bool value) {
    data_ += value ? "t\t" : "f\t";
    return *this;
  }
  // Ends the row: its last field's tab becomes the row's newline.
  void end_row() {
    assert(!data_.empty() && data_.back() == '\t' && "a row ends after at least one field");
    data_.back() = '\n';
  }
  const std::string& data() const { return data_; }

 private:
  std::string data_;
  std::string replaced_;  // storable()'s room for a text it must change
};

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::string trimmed(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  return message;
}

std::string cell(const PGresult* result, int row, int column) {
  return std::string(PQgetvalue(result, row, column),
                     static_cast<std::size_t>(PQgetlength(result, row, column)));
}

bool is_null(const PGresult* result, int row, int column) {
  return PQgetisnull(result, row, column) == 1;
}

std::int64_t cell_integer(const PGresult* result, int row, int column) {
  const char* text = PQgetvalue(result, row, column);
  const char* end = text + PQgetlength(result, row, column);
  std::int64_t value = 0;
  const auto parsed = std::from_chars(text, end, value);
  assert(parsed.ec == std::errc() && "integer columns come back as decimal text");
  (void)parsed;
  return value;
}

double cell_real(const PGresult* result, int row, int column) {
  const char* text = PQgetvalue(result, row, column);
  const char* end = text + PQgetlength(result, row, column);
  double value = 0;
  std::string_view view(text, static_cast<std::size_t>(end - text));
  // from_chars knows neither "Infinity" nor "NaN" spelled PostgreSQL's way.
  if (view == "Infinity") {
    return std::numeric_limits<double>::infinity();
  }
  if (view == "-Infinity") {
    return -std::numeric_limits<double>::infinity();
  }
  if (view == "NaN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const auto parsed = std::from_chars(text, end, value);
  assert(parsed.ec == std::errc() && "double columns come back as decimal text");
  (void)parsed;
  return value;
}

std::optional<std::int64_t> cell_optional_integer(const PGresult* result, int row, int column) {
  if (is_null(result, row, column)) {
    return std::nullopt;
  }
  return cell_integer(result, row, column);
}

std::optional<double> cell_optional_real(const PGresult* result, int row, int column) {
  if (is_null(result, row, column)) {
    return std::nullopt;
  }
  return cell_real(result, row, column);
}

std::int64_t affected_rows(PGresult* result) {
  const std::string_view text = PQcmdTuples(result);
  std::int64_t count = 0;
  std::from_chars(text.data(), text.data() + text.size(), count);
  return count;
}

// One operation's use of the connection: runs statements and remembers how the last failure
// left the connection, which decides whether the operation may be retried on a new one.
class PostgresSession {
 public:
  explicit PostgresSession(PGconn* connection) : connection_(connection) {}

  // The result, or null with failure() describing what went wrong.
  Result exec(std::string_view sql, const Params& params = {}) {
    const auto pointers = params.pointers();
    const std::string statement(sql);
    return checked(sql,
                   PQexecParams(connection_, statement.c_str(), static_cast<int>(pointers.size()),
                                nullptr, pointers.data(), nullptr, nullptr, 0));
  }

  // COPY ... FROM STDIN (`sql`) with `data` in COPY's text format.
  Result copy_in(std::string_view sql, std::string_view data) {
    const std::string statement(sql);
    Result started(PQexec(connection_, statement.c_str()));
    if (!started || PQresultStatus(started.get()) != PGRES_COPY_IN) {
      return checked(sql, started.release());
    }
    // In pieces: PQputCopyData takes an int length.
    constexpr std::size_t kPiece = std::size_t{1} << 20;
    bool sent = true;
    for (std::size_t offset = 0; sent && offset < data.size(); offset += kPiece) {
      const auto piece = data.substr(offset, kPiece);
      sent = PQputCopyData(connection_, piece.data(), static_cast<int>(piece.size())) == 1;
    }
    if (!sent || PQputCopyEnd(connection_, nullptr) != 1) {
      return checked(sql, nullptr);
    }
    Result finished(PQgetResult(connection_));
    // The connection is ready for the next statement only after the null result.
    while (PGresult* extra = PQgetResult(connection_)) {
      PQclear(extra);
    }
    return checked(sql, finished.release());
  }

  // Several statements in one string, without parameters: for the fixed migration scripts.
  Result exec_script(std::string_view sql) {
    const std::string script(sql);
    return checked(sql, PQexec(connection_, script.c_str()));
  }

  Unexpected<std::string> failure(std::string_view what) const {
    return unexpected("postgresql: " + std::string(what) + ": " + message_);
  }
  const std::string& sqlstate() const { return sqlstate_; }
  bool broken() const { return broken_; }
  bool commit_unknown() const { return commit_unknown_; }

 private:
  Result checked(std::string_view sql, PGresult* raw) {
    Result result(raw);
    const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      return result;
    }
    const char* sqlstate = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    sqlstate_ = sqlstate ? sqlstate : "";
    message_ = trimmed(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(connection_));
    if (message_.empty()) {
      message_ = trimmed(PQerrorMessage(connection_));
    }
    broken_ = PQstatus(connection_) == CONNECTION_BAD;
    // A COMMIT the server may have carried out before the connection broke: running the
    // operation again could store it twice.
    commit_unknown_ = broken_ && sql == "COMMIT";
    return nullptr;
  }

  PGconn* connection_;
  std::string message_;
  std::string sqlstate_;
  bool broken_ = false;
  bool commit_unknown_ = false;
};

// BEGIN now, ROLLBACK unless committed: an early return never leaves a transaction open.
class Transaction {
 public:
  explicit Transaction(PostgresSession& session) : session_(session) {}
  ~Transaction() {
    if (begun_ && !finished_ && !session_.broken()) {
      PostgresSession rollback = session_;
      rollback.exec("ROLLBACK");
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  bool begin() {
    begun_ = session_.exec("BEGIN") != nullptr;
    return begun_;
  }
  bool commit() {
    finished_ = true;
    return session_.exec("COMMIT") != nullptr;
  }

 private:
  PostgresSession& session_;
  bool begun_ = false;
  bool finished_ = false;
};

// Brings the schema to kSchemaVersion under a transaction-scoped advisory lock, so that gateways
// starting together migrate one after the other and the later ones find nothing left to do.
Expected<Done, std::string> migrate(PostgresSession& session) {
  Transaction transaction(session);
  if (!transaction.begin()) {
    return session.failure("migrating the schema");
  }
  if (!session.exec("SELECT pg_advisory_xact_lock($1)", Params().integer(kMigrationLockKey))) {
    return session.failure("waiting for the migration lock");
  }
  // Created only when missing: CREATE ... IF NOT EXISTS would still need the CREATE privilege,
  // which a gateway's role on an up-to-date database does not need to have.
  const auto exists = session.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists) {
    return session.failure("looking for schema_migrations");
  }
  if (cell(exists.get(), 0, 0) != "t" &&
      !session.exec("CREATE TABLE schema_migrations ("
                    "version INTEGER PRIMARY KEY, applied_us BIGINT NOT NULL)")) {
    return session.failure("creating schema_migrations");
  }
  const auto current = session.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current) {
    return session.failure("reading the schema version");
  }
  const auto version = cell_integer(current.get(), 0, 0);
  if (version > PostgresStore::kSchemaVersion) {
    return unexpected("postgresql: the database's schema version is " + std::to_string(version) +
                      ", newer than this hearth knows (" +
                      std::to_string(PostgresStore::kSchemaVersion) +
                      "): it was migrated by a newer hearth; upgrade this one");
  }
  for (const auto& migration : kMigrations) {
    if (migration.version <= version) {
      continue;
    }
    const auto step = "applying schema migration " + std::to_string(migration.version);
    if (!session.exec_script(migration.sql)) {
      return session.failure(step);
    }
    if (!session.exec("INSERT INTO schema_migrations (version, applied_us) VALUES ($1, $2)",
                      Params().integer(migration.version).integer(now_us()))) {
      return session.failure(step);
    }
  }
  if (!transaction.commit()) {
    return session.failure("committing the schema migrations");
  }
  return Done{};
}

std::string usage_columns() { return std::string(kUsageColumnsButContent) + ", content"; }

void cell_into(const PGresult* result, int row, int column, std::string& out) {
  out.assign(PQgetvalue(result, row, column),
             static_cast<std::size_t>(PQgetlength(result, row, column)));
}

// The columns of kUsageColumnsButContent into `record`; returns how many it read.
int usage_but_content_from_row(const PGresult* result, int row, UsageRecord& record) {
  int column = 0;
  record.time_us = cell_integer(result, row, column++);
  cell_into(result, row, column++, record.request_id);
  cell_into(result, row, column++, record.key_id);
  cell_into(result, row, column++, record.tenant);
  cell_into(result, row, column++, record.workload);
  cell_into(result, row, column++, record.task);
  cell_into(result, row, column++, record.route);
  cell_into(result, row, column++, record.rule);
  cell_into(result, row, column++, record.placement);
  cell_into(result, row, column++, record.backend);
  cell_into(result, row, column++, record.model);
  record.status = static_cast<int>(cell_integer(result, row, column++));
  record.stream = cell(result, row, column++) == "t";
  record.prompt_tokens = cell_integer(result, row, column++);
  record.cached_tokens = cell_integer(result, row, column++);
  record.completion_tokens = cell_integer(result, row, column++);
  record.latency_ms = cell_real(result, row, column++);
  record.time_to_first_token_ms = cell_optional_real(result, row, column++);
  record.overhead_ms = cell_real(result, row, column++);
  record.busy_ms = cell_real(result, row, column++);
  cell_into(result, row, column++, record.fallbacks);
  cell_into(result, row, column++, record.escalation);
  cell_into(result, row, column++, record.privacy_action);
  cell_into(result, row, column++, record.sensitivity);
  record.cloud_cost_usd = cell_real(result, row, column++);
  record.avoided_cost_usd = cell_real(result, row, column++);
  return column;
}

// The columns of kAccountingColumns into `record`.
void accounting_from_row(const PGresult* result, int row, UsageRecord& record) {
  int column = 0;
  record.time_us = cell_integer(result, row, column++);
  cell_into(result, row, column++, record.workload);
  cell_into(result, row, column++, record.placement);
  cell_into(result, row, column++, record.model);
  record.status = static_cast<int>(cell_integer(result, row, column++));
  record.prompt_tokens = cell_integer(result, row, column++);
  record.cached_tokens = cell_integer(result, row, column++);
  record.completion_tokens = cell_integer(result, row, column++);
  record.latency_ms = cell_real(result, row, column++);
  record.busy_ms = cell_real(result, row, column++);
  cell_into(result, row, column++, record.fallbacks);
  cell_into(result, row, column++, record.escalation);
  cell_into(result, row, column++, record.sensitivity);
  record.cloud_cost_usd = cell_real(result, row, column++);
  record.avoided_cost_usd = cell_real(result, row, column++);
}

UsageRecord usage_from_row(const PGresult* result, int row) {
  UsageRecord record;
  int column = usage_but_content_from_row(result, row, record);
  record.content = cell(result, row, column++);
  assert(column == kUsageColumnCount && "one cell per usage column");
  return record;
}

void add_usage(CopyRows& rows, const UsageRecord& record) {
  rows.integer(record.time_us)
      .text(record.request_id)
      .text(record.key_id)
      .text(record.tenant)
      .text(record.workload)
      .text(record.task)
      .text(record.route)
      .text(record.rule)
      .text(record.placement)
      .text(record.backend)
      .text(record.model)
      .integer(std::int64_t{record.status})
      .boolean(record.stream)
      .integer(record.prompt_tokens)
      .integer(record.cached_tokens)
      .integer(record.completion_tokens)
      .real(record.latency_ms)
      .real(record.time_to_first_token_ms)
      .real(record.overhead_ms)
      .real(record.busy_ms)
      .text(record.fallbacks)
      .text(record.escalation)
      .text(record.privacy_action)
      .text(record.sensitivity)
      .real(record.cloud_cost_usd)
      .real(record.avoided_cost_usd)
      .text(record.content)
      .end_row();
}

// "INSERT INTO table (columns) VALUES ($1, ..., $n), (...)": placeholders only, never values.
std::string multi_row_insert(std::string_view table, std::string_view columns, int column_count,
                             std::size_t rows) {
  std::string sql = "INSERT INTO ";
  sql += table;
  sql += " (";
  sql += columns;
  sql += ") VALUES ";
  int parameter = 1;
  for (std::size_t row = 0; row < rows; ++row) {
    sql += row == 0 ? "(" : ", (";
    for (int column = 0; column < column_count; ++column) {
      if (column > 0) {
        sql += ", ";
      }
      sql += '$';
      sql += std::to_string(parameter++);
    }
    sql += ')';
  }
  return sql;
}

std::string_view grouping_expression(UsageGrouping grouping) {
  switch (grouping) {
    case UsageGrouping::workload:
      return "workload";
    case UsageGrouping::key:
      return "key_id";
    case UsageGrouping::placement:
      return "placement";
    case UsageGrouping::day:
      // Integer days since the epoch, floored, so that no rounding moves a record across
      // midnight and times before 1970 land on the right day too.
      return "to_char(DATE '1970-01-01' + floor(time_us::numeric / 86400000000)::integer, "
             "'YYYY-MM-DD')";
    case UsageGrouping::tenant:
      return "tenant";
    case UsageGrouping::model:
      return "model";
  }
  assert(false && "every grouping has an expression");
  return "workload";
}

}  // namespace

template <class T, class Operation>
Expected<T, std::string> PostgresStore::run(Operation&& operation) {
  std::lock_guard lock(mutex_);
  if (PQstatus(connection_) != CONNECTION_OK) {
    PQreset(connection_);
    if (PQstatus(connection_) != CONNECTION_OK) {
      return unexpected("postgresql: the connection is lost and reconnecting failed: " +
                        trimmed(PQerrorMessage(connection_)));
    }
  }
  PostgresSession session(connection_);
  auto result = operation(session);
  if (result.has_value() || !session.broken() || session.commit_unknown()) {
    return result;
  }
  // The server dropped the connection (restarted, or the session was terminated) before the
  // operation could commit anything: reconnect once and run it again.
  PQreset(connection_);
  if (PQstatus(connection_) != CONNECTION_OK) {
    return unexpected(result.error() +
                      "; reconnecting failed: " + trimmed(PQerrorMessage(connection_)));
  }
  PostgresSession retry(connection_);
  return operation(retry);
}

PostgresStore::PostgresStore(pg_conn* connection, std::int64_t anchor_interval)
    : connection_(connection), anchor_interval_(anchor_interval) {}

PostgresStore::~PostgresStore() { PQfinish(connection_); }

Expected<std::unique_ptr<Store>, std::string> PostgresStore::open(const std::string& url,
                                                                  std::int64_t anchor_interval) {
  // Keywords before dbname are defaults the URL may override (a bounded connect, and TCP
  // keepalives so that a server gone silent fails a call within about a minute instead of
  // holding the ledger forever); those after it are not: the text encoding must hold on every
  // reconnection (PQreset), which a SET after connecting would not.
  const std::array<const char*, 8> keywords{
      "connect_timeout",  "keepalives_idle", "keepalives_interval", "keepalives_count",
      "application_name", "dbname",          "client_encoding",     nullptr};
  const std::array<const char*, 8> values{"10",     "30",        "10",   "3",
                                          "hearth", url.c_str(), "UTF8", nullptr};
  PGconn* connection = PQconnectdbParams(keywords.data(), values.data(), 1);
  if (connection == nullptr) {
    return unexpected(std::string("postgresql: out of memory opening a connection"));
  }
  if (PQstatus(connection) != CONNECTION_OK) {
    std::string message = "postgresql: cannot connect: " + trimmed(PQerrorMessage(connection));
    PQfinish(connection);
    return unexpected(std::move(message));
  }
  // libpq would print the server's notices on stderr; nothing here needs them.
  PQsetNoticeProcessor(
      connection, [](void*, const char*) {}, nullptr);
  std::unique_ptr<PostgresStore> store(new PostgresStore(connection, anchor_interval));
  auto migrated = store->run<Done>([](PostgresSession& session) { return migrate(session); });
  if (!migrated) {
    return unexpected(std::move(migrated.error()));
  }
  return std::unique_ptr<Store>(std::move(store));
}

Expected<int, std::string> PostgresStore::schema_version() {
  return run<int>([](PostgresSession& session) -> Expected<int, std::string> {
    const auto result = session.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!result) {
      return session.failure("reading the schema version");
    }
    return static_cast<int>(cell_integer(result.get(), 0, 0));
  });
}

Expected<std::vector<AuditRecord>, std::string> PostgresStore::append(
    std::span<const UsageRecord> usage, std::span<const AuditEvent> audit) {
  if (usage.empty() && audit.empty()) {
    return std::vector<AuditRecord>{};
  }
  return run<std::vector<AuditRecord>>([&](PostgresSession& session)
                                           -> Expected<std::vector<AuditRecord>, std::string> {
    Transaction transaction(session);
    if (!transaction.begin()) {
      return session.failure("appending to the ledger");
    }
    if (!usage.empty()) {
      CopyRows rows;
      for (const auto& record : usage) {
        add_usage(rows, record);
      }
      static const std::string copy = "COPY usage (" + usage_columns() + ") FROM STDIN";
      if (!session.copy_in(copy, rows.data())) {
        return session.failure("inserting usage records");
      }
    }
    const auto spend = spend_increments(usage);
    constexpr int kSpendColumnCount = 4;
    constexpr std::size_t kSpendRowsPerStatement = kMaxParameters / kSpendColumnCount;
    for (std::size_t first = 0; first < spend.size(); first += kSpendRowsPerStatement) {
      const auto rows = std::min(kSpendRowsPerStatement, spend.size() - first);
      Params params;
      for (std::size_t i = first; i < first + rows; ++i) {
        params.integer(spend[i].month_start_us)
            .text(spend[i].scope)
            .text(spend[i].name)
            .real(spend[i].cost_usd);
      }
      // spend_increments gives each row once and in one order for every gateway: one statement
      // may not update a row twice, and concurrent upserts lock rows in the same order.
      const auto sql = multi_row_insert("cloud_spend", "month_start_us, scope, name, cost_usd",
                                        kSpendColumnCount, rows) +
                       " ON CONFLICT (month_start_us, scope, name) DO UPDATE SET cost_usd = "
                       "cloud_spend.cost_usd + EXCLUDED.cost_usd";
      if (!session.exec(sql, params)) {
        return session.failure("adding to the month's cloud spend");
      }
    }
    std::vector<AuditRecord> records;
    if (!audit.empty()) {
      // Whoever holds this lock owns the head of the chain until its transaction ends;
      // other gateways' appends wait here and then see this one's records.
      if (!session.exec("SELECT pg_advisory_xact_lock($1)", Params().integer(kAuditChainLockKey))) {
        return session.failure("waiting for the audit chain lock");
      }
      // The head is the newest record, or the newest anchor when a purge removed every
      // record (or records after an anchor are missing: the chain goes on after the
      // anchor, and verification reports the gap).
      const auto head = session.exec(
          "(SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1) UNION ALL "
          "(SELECT sequence, hash FROM audit_anchors ORDER BY sequence DESC LIMIT 1) "
          "ORDER BY 1 DESC LIMIT 1");
      if (!head) {
        return session.failure("reading the head of the audit chain");
      }
      std::int64_t sequence = 0;
      std::string previous_hash(audit::kGenesisHash);
      if (PQntuples(head.get()) > 0) {
        sequence = cell_integer(head.get(), 0, 0);
        previous_hash = cell(head.get(), 0, 1);
      }
      records.reserve(audit.size());
      for (const auto& event : audit) {
        AuditRecord record;
        record.sequence = ++sequence;
        record.time_us = event.time_us;
        record.kind = storable_text(event.kind);
        record.actor = storable_text(event.actor);
        record.detail = storable_text(event.detail);
        record.previous_hash = previous_hash;
        record.hash = audit::record_hash(record);
        previous_hash = record.hash;
        records.push_back(std::move(record));
      }
      constexpr std::size_t kAuditRowsPerStatement = kMaxParameters / kAuditColumnCount;
      for (std::size_t first = 0; first < records.size(); first += kAuditRowsPerStatement) {
        const auto rows = std::min(kAuditRowsPerStatement, records.size() - first);
        Params params;
        for (std::size_t i = first; i < first + rows; ++i) {
          const auto& record = records[i];
          params.integer(record.sequence)
              .integer(record.time_us)
              .text(record.kind)
              .text(record.actor)
              .text(record.detail)
              .text(record.previous_hash)
              .text(record.hash);
        }
        const auto sql = multi_row_insert("audit_log", kAuditColumns, kAuditColumnCount, rows);
        if (!session.exec(sql, params)) {
          return session.failure("inserting audit records");
        }
      }
      if (anchor_interval_ > 0) {
        for (const auto& record : records) {
          if (record.sequence % anchor_interval_ != 0) {
            continue;
          }
          if (!session.exec(
                  "INSERT INTO audit_anchors (sequence, time_us, hash) VALUES ($1, $2, $3)",
                  Params().integer(record.sequence).integer(record.time_us).text(record.hash))) {
            return session.failure("anchoring audit record " + std::to_string(record.sequence));
          }
        }
      }
    }
    if (!transaction.commit()) {
      return session.failure("committing to the ledger");
    }
    return records;
  });
}

Expected<std::vector<UsageRecord>, std::string> PostgresStore::usage_records(std::int64_t from_us,
                                                                             std::int64_t to_us,
                                                                             std::int64_t limit) {
  return run<std::vector<UsageRecord>>(
      [&](PostgresSession& session) -> Expected<std::vector<UsageRecord>, std::string> {
        const auto sql = "SELECT " + usage_columns() +
                         " FROM usage WHERE time_us >= $1 AND time_us < $2 "
                         "ORDER BY time_us, id LIMIT $3";
        const auto result = session.exec(sql, Params().integer(from_us).integer(to_us).integer(
                                                  std::max<std::int64_t>(limit, 0)));
        if (!result) {
          return session.failure("reading usage records");
        }
        std::vector<UsageRecord> records;
        const int rows = PQntuples(result.get());
        records.reserve(static_cast<std::size_t>(rows));
        for (int row = 0; row < rows; ++row) {
          records.push_back(usage_from_row(result.get(), row));
        }
        return records;
      });
}

Expected<std::int64_t, std::string> PostgresStore::scan_usage(
    std::int64_t from_us, std::int64_t to_us, UsageColumns columns,
    const std::function<void(const UsageRecord&)>& each) {
  const bool accounting = columns == UsageColumns::accounting;
  std::int64_t passed = 0;
  // A cursor in a transaction: the server keeps the rows, the client holds one batch at a time.
  return run<std::int64_t>([&](PostgresSession& session) -> Expected<std::int64_t, std::string> {
    if (passed > 0) {
      // run() retries on a new connection; starting over would pass records twice.
      return unexpected("postgresql: the connection was lost while scanning usage records");
    }
    Transaction transaction(session);
    if (!transaction.begin()) {
      return session.failure("scanning usage records");
    }
    const auto declare = "DECLARE hearth_usage_scan NO SCROLL CURSOR FOR SELECT " +
                         std::string(accounting ? kAccountingColumns : kUsageColumnsButContent) +
                         " FROM usage WHERE time_us >= $1 AND time_us < $2";
    if (!session.exec(declare, Params().integer(from_us).integer(to_us))) {
      return session.failure("scanning usage records");
    }
    const auto fetch =
        "FETCH FORWARD " + std::to_string(kScanBatchRows) + " FROM hearth_usage_scan";
    UsageRecord record;
    while (true) {
      const auto batch = session.exec(fetch);
      if (!batch) {
        return session.failure("scanning usage records");
      }
      const int rows = PQntuples(batch.get());
      for (int row = 0; row < rows; ++row) {
        if (accounting) {
          accounting_from_row(batch.get(), row, record);
        } else {
          usage_but_content_from_row(batch.get(), row, record);
        }
        each(record);
        ++passed;
      }
      if (rows < kScanBatchRows) {
        break;
      }
    }
    if (!session.exec("CLOSE hearth_usage_scan") || !transaction.commit()) {
      return session.failure("scanning usage records");
    }
    return passed;
  });
}

Expected<std::vector<UsageSummaryRow>, std::string> PostgresStore::summarise_usage(
    UsageGrouping grouping, std::int64_t from_us, std::int64_t to_us) {
  return run<std::vector<UsageSummaryRow>>(
      [&](PostgresSession& session) -> Expected<std::vector<UsageSummaryRow>, std::string> {
        const auto sql =
            "SELECT " + std::string(grouping_expression(grouping)) +
            " AS grouped, COUNT(*), COUNT(*) FILTER (WHERE status >= 400), "
            "COALESCE(SUM(prompt_tokens), 0)::BIGINT, COALESCE(SUM(completion_tokens), 0)::BIGINT, "
            "COALESCE(SUM(cloud_cost_usd), 0), COALESCE(SUM(avoided_cost_usd), 0), "
            "COALESCE(AVG(latency_ms), 0) "
            "FROM usage WHERE time_us >= $1 AND time_us < $2 "
            "GROUP BY grouped ORDER BY 2 DESC, grouped";
        const auto result = session.exec(sql, Params().integer(from_us).integer(to_us));
        if (!result) {
          return session.failure("summarising usage");
        }
        std::vector<UsageSummaryRow> rows;
        const int count = PQntuples(result.get());
        rows.reserve(static_cast<std::size_t>(count));
        for (int row = 0; row < count; ++row) {
          UsageSummaryRow summary;
          summary.group = cell(result.get(), row, 0);
          summary.requests = cell_integer(result.get(), row, 1);
          summary.errors = cell_integer(result.get(), row, 2);
          summary.prompt_tokens = cell_integer(result.get(), row, 3);
          summary.completion_tokens = cell_integer(result.get(), row, 4);
          summary.cloud_cost_usd = cell_real(result.get(), row, 5);
          summary.avoided_cost_usd = cell_real(result.get(), row, 6);
          summary.mean_latency_ms = cell_real(result.get(), row, 7);
          rows.push_back(std::move(summary));
        }
        return rows;
      });
}

Expected<SpendTotals, std::string> PostgresStore::month_cloud_spend(std::int64_t month_start_us) {
  return run<SpendTotals>([&](PostgresSession& session) -> Expected<SpendTotals, std::string> {
    const auto result =
        session.exec("SELECT scope, name, cost_usd FROM cloud_spend WHERE month_start_us = $1",
                     Params().integer(month_start_us));
    if (!result) {
      return session.failure("reading the month's cloud spend");
    }
    SpendTotals totals;
    const int rows = PQntuples(result.get());
    for (int row = 0; row < rows; ++row) {
      auto& into = cell(result.get(), row, 0) == "key" ? totals.by_key : totals.by_tenant;
      into[cell(result.get(), row, 1)] = cell_real(result.get(), row, 2);
    }
    return totals;
  });
}

Expected<Done, std::string> PostgresStore::insert_key(const ApiKeyRecord& key) {
  // The same rule as the SQLite store, which keeps scopes one per line.
  for (const auto& scope : key.scopes) {
    if (scope.empty() || scope.find('\n') != std::string::npos) {
      return unexpected("API key " + key.id + ": a scope name must be non-empty and one line");
    }
  }
  return run<Done>([&](PostgresSession& session) -> Expected<Done, std::string> {
    // In a transaction so that a connection lost on the way is known not to have stored it.
    Transaction transaction(session);
    if (!transaction.begin()) {
      return session.failure("inserting an API key");
    }
    const auto sql = "INSERT INTO api_keys (" + std::string(kKeyColumns) +
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    const auto inserted = session.exec(sql, Params()
                                                .text(key.id)
                                                .text(key.secret_hash)
                                                .text(key.tenant)
                                                .text(key.name)
                                                .text(scopes_to_json(key.scopes))
                                                .integer(key.requests_per_minute)
                                                .integer(key.tokens_per_minute)
                                                .real(key.monthly_budget_usd)
                                                .integer(key.created_us)
                                                .integer(key.expires_us)
                                                .integer(key.revoked_us));
    if (!inserted) {
      if (session.sqlstate() == "23505") {
        return unexpected("postgresql: an API key with id " + key.id + " already exists");
      }
      return session.failure("inserting API key " + key.id);
    }
    if (!transaction.commit()) {
      return session.failure("committing API key " + key.id);
    }
    return Done{};
  });
}

Expected<std::vector<ApiKeyRecord>, std::string> PostgresStore::list_keys() {
  return run<std::vector<ApiKeyRecord>>(
      [&](PostgresSession& session) -> Expected<std::vector<ApiKeyRecord>, std::string> {
        const auto sql =
            "SELECT " + std::string(kKeyColumns) + " FROM api_keys ORDER BY created_us, id";
        const auto result = session.exec(sql);
        if (!result) {
          return session.failure("listing API keys");
        }
        std::vector<ApiKeyRecord> keys;
        const int rows = PQntuples(result.get());
        keys.reserve(static_cast<std::size_t>(rows));
        for (int row = 0; row < rows; ++row) {
          ApiKeyRecord key;
          key.id = cell(result.get(), row, 0);
          key.secret_hash = cell(result.get(), row, 1);
          key.tenant = cell(result.get(), row, 2);
          key.name = cell(result.get(), row, 3);
          auto scopes = scopes_from_json(cell(result.get(), row, 4));
          if (!scopes) {
            return unexpected("postgresql: API key " + key.id + ": " + scopes.error());
          }
          key.scopes = std::move(*scopes);
          key.requests_per_minute = cell_optional_integer(result.get(), row, 5);
          key.tokens_per_minute = cell_optional_integer(result.get(), row, 6);
          key.monthly_budget_usd = cell_optional_real(result.get(), row, 7);
          key.created_us = cell_integer(result.get(), row, 8);
          key.expires_us = cell_optional_integer(result.get(), row, 9);
          key.revoked_us = cell_optional_integer(result.get(), row, 10);
          keys.push_back(std::move(key));
        }
        return keys;
      });
}

Expected<bool, std::string> PostgresStore::revoke_key(std::string_view id, std::int64_t time_us) {
  return run<bool>([&](PostgresSession& session) -> Expected<bool, std::string> {
    Transaction transaction(session);
    if (!transaction.begin()) {
      return session.failure("revoking an API key");
    }
    const auto result =
        session.exec("UPDATE api_keys SET revoked_us = $2 WHERE id = $1 AND revoked_us IS NULL",
                     Params().text(id).integer(time_us));
    if (!result) {
      return session.failure("revoking API key " + std::string(id));
    }
    const bool revoked = affected_rows(result.get()) == 1;
    if (!transaction.commit()) {
      return session.failure("committing the revocation of API key " + std::string(id));
    }
    return revoked;
  });
}

Expected<std::vector<AuditRecord>, std::string> PostgresStore::audit_records(
    std::int64_t from_sequence) {
  return run<std::vector<AuditRecord>>(
      [&](PostgresSession& session) -> Expected<std::vector<AuditRecord>, std::string> {
        const auto sql = "SELECT " + std::string(kAuditColumns) +
                         " FROM audit_log WHERE sequence >= $1 ORDER BY sequence";
        const auto result = session.exec(sql, Params().integer(from_sequence));
        if (!result) {
          return session.failure("reading the audit log");
        }
        std::vector<AuditRecord> records;
        const int rows = PQntuples(result.get());
        records.reserve(static_cast<std::size_t>(rows));
        for (int row = 0; row < rows; ++row) {
          AuditRecord record;
          record.sequence = cell_integer(result.get(), row, 0);
          record.time_us = cell_integer(result.get(), row, 1);
          record.kind = cell(result.get(), row, 2);
          record.actor = cell(result.get(), row, 3);
          record.detail = cell(result.get(), row, 4);
          record.previous_hash = cell(result.get(), row, 5);
          record.hash = cell(result.get(), row, 6);
          records.push_back(std::move(record));
        }
        return records;
      });
}

Expected<std::vector<AuditAnchor>, std::string> PostgresStore::audit_anchors() {
  return run<std::vector<AuditAnchor>>(
      [&](PostgresSession& session) -> Expected<std::vector<AuditAnchor>, std::string> {
        const auto result =
            session.exec("SELECT sequence, time_us, hash FROM audit_anchors ORDER BY sequence");
        if (!result) {
          return session.failure("reading the audit anchors");
        }
        std::vector<AuditAnchor> anchors;
        const int rows = PQntuples(result.get());
        anchors.reserve(static_cast<std::size_t>(rows));
        for (int row = 0; row < rows; ++row) {
          anchors.push_back(AuditAnchor{cell_integer(result.get(), row, 0),
                                        cell_integer(result.get(), row, 1),
                                        cell(result.get(), row, 2)});
        }
        return anchors;
      });
}

Expected<PurgeResult, std::string> PostgresStore::purge(std::int64_t usage_before_us,
                                                        std::int64_t audit_before_us) {
  return run<PurgeResult>([&](PostgresSession& session) -> Expected<PurgeResult, std::string> {
    Transaction transaction(session);
    if (!transaction.begin()) {
      return session.failure("purging");
    }
    PurgeResult purged;
    const auto usage =
        session.exec("DELETE FROM usage WHERE time_us < $1", Params().integer(usage_before_us));
    if (!usage) {
      return session.failure("purging usage records");
    }
    purged.usage_deleted = affected_rows(usage.get());
    // A month's totals go once every record of it is gone (the month before the one holding
    // usage_before_us, and older): until then budgets still count what was purged.
    if (!session.exec("DELETE FROM cloud_spend WHERE month_start_us < $1",
                      Params().integer(month_start_us(usage_before_us)))) {
      return session.failure("purging monthly cloud spend");
    }
    // The chain head must not move while its oldest records go.
    if (!session.exec("SELECT pg_advisory_xact_lock($1)", Params().integer(kAuditChainLockKey))) {
      return session.failure("waiting for the audit chain lock");
    }
    // Only a prefix of the chain is purged, up to the first record that is not old enough:
    // with several gateways, times need not rise with the sequence, and a hole in the middle
    // would break the chain. The newest record always stays: a log emptied down to its anchors
    // reads as truncated (audit::verify_chain).
    const auto newest = session.exec(
        "SELECT sequence, time_us, hash FROM audit_log WHERE sequence < LEAST("
        "(SELECT MIN(sequence) FROM audit_log WHERE time_us >= $1), "
        "(SELECT MAX(sequence) FROM audit_log)) "
        "ORDER BY sequence DESC LIMIT 1",
        Params().integer(audit_before_us));
    if (!newest) {
      return session.failure("finding the audit records to purge");
    }
    if (PQntuples(newest.get()) > 0) {
      const auto sequence = cell_integer(newest.get(), 0, 0);
      if (!session.exec("INSERT INTO audit_anchors (sequence, time_us, hash) VALUES ($1, $2, $3) "
                        "ON CONFLICT (sequence) DO NOTHING",
                        Params()
                            .integer(sequence)
                            .integer(cell_integer(newest.get(), 0, 1))
                            .text(cell(newest.get(), 0, 2)))) {
        return session.failure("anchoring audit record " + std::to_string(sequence));
      }
      const auto deleted =
          session.exec("DELETE FROM audit_log WHERE sequence <= $1", Params().integer(sequence));
      if (!deleted) {
        return session.failure("purging audit records");
      }
      purged.audit_deleted = affected_rows(deleted.get());
    }
    if (!transaction.commit()) {
      return session.failure("committing the purge");
    }
    return purged;
  });
}

}  // namespace hearth::ledger
