// The Store conformance suite (see store_conformance.hpp): usage rows, summaries, spend, keys,
// the audit chain with its anchors, purge, tampering, concurrent appenders.
#include "ledger/store_conformance.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "audit/chain.hpp"

namespace hearth::ledger::testing {

void StoreConformance::SetUp() {
  db_ = GetParam()(kDefaultAnchorInterval);
  if (!db_.store) GTEST_SKIP() << "store unavailable: " << db_.unavailable;
}

void StoreConformance::release() {
  // The store and the hooks before what keeps their database alive.
  db_.store.reset();
  db_.execute_raw = nullptr;
  db_.open_again = nullptr;
  db_.resources.reset();
}

void StoreConformance::use_anchor_interval(std::int64_t anchor_interval) {
  release();
  db_ = GetParam()(anchor_interval);
  ASSERT_NE(db_.store, nullptr) << db_.unavailable;
}

void StoreConformance::execute_raw(std::string_view sql) {
  ASSERT_TRUE(db_.execute_raw) << "the factory gives no execute_raw";
  auto executed = db_.execute_raw(sql);
  ASSERT_TRUE(executed) << sql << ": " << executed.error();
}

namespace {

constexpr std::int64_t kHourUs = 3'600'000'000;
constexpr std::int64_t kDayUs = 24 * kHourUs;
constexpr std::int64_t kMarch9th2024Us = 1'709'942'400'000'000;  // 2024-03-09T00:00:00Z
constexpr std::int64_t kEarliest = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kLatest = std::numeric_limits<std::int64_t>::max();

UsageRecord usage_at(std::int64_t time_us, std::string request_id = "req") {
  UsageRecord record;
  record.time_us = time_us;
  record.request_id = std::move(request_id);
  record.status = 200;
  return record;
}

AuditEvent event(std::int64_t n, std::string actor = "cli") {
  return AuditEvent{.time_us = 1000 * n,
                    .kind = "key.created",
                    .actor = std::move(actor),
                    .detail = R"({"n":)" + std::to_string(n) + "}"};
}

std::vector<AuditEvent> events(std::int64_t first, std::int64_t count) {
  std::vector<AuditEvent> made;
  for (std::int64_t n = first; n < first + count; ++n) made.push_back(event(n));
  return made;
}

std::vector<AuditRecord> append_events(Store& store, std::int64_t first, std::int64_t count) {
  auto appended = store.append({}, events(first, count));
  EXPECT_TRUE(appended) << appended.error();
  return appended ? *appended : std::vector<AuditRecord>{};
}

std::vector<AuditRecord> all_records(Store& store) {
  auto records = store.audit_records(0);
  EXPECT_TRUE(records) << records.error();
  return records ? *records : std::vector<AuditRecord>{};
}

std::vector<AuditAnchor> all_anchors(Store& store) {
  auto anchors = store.audit_anchors();
  EXPECT_TRUE(anchors) << anchors.error();
  return anchors ? *anchors : std::vector<AuditAnchor>{};
}

std::vector<std::int64_t> sequences(const std::vector<AuditRecord>& records) {
  std::vector<std::int64_t> numbers;
  for (const auto& record : records) numbers.push_back(record.sequence);
  return numbers;
}

std::vector<std::int64_t> sequences(const std::vector<AuditAnchor>& anchors) {
  std::vector<std::int64_t> numbers;
  for (const auto& anchor : anchors) numbers.push_back(anchor.sequence);
  return numbers;
}

audit::Verification verify(Store& store) {
  const auto records = all_records(store);
  const auto anchors = all_anchors(store);
  return audit::verify_chain(records, anchors);
}

std::vector<UsageRecord> all_usage(Store& store) {
  auto records = store.usage_records(kEarliest, kLatest, 1'000'000);
  EXPECT_TRUE(records) << records.error();
  return records ? *records : std::vector<UsageRecord>{};
}

std::vector<std::int64_t> times(const std::vector<UsageRecord>& records) {
  std::vector<std::int64_t> found;
  for (const auto& record : records) found.push_back(record.time_us);
  return found;
}

// ---- schema ----

TEST_P(StoreConformance, MigrationsRunAndReopeningIsIdempotent) {
  auto version = store().schema_version();
  ASSERT_TRUE(version) << version.error();
  EXPECT_GE(*version, 1);
  EXPECT_FALSE(store().kind().empty());

  ASSERT_TRUE(store().append(std::vector{usage_at(5)}, events(1, 2)));
  for (int reopening = 0; reopening < 2; ++reopening) {
    ASSERT_TRUE(db_.open_again) << "the factory gives no open_again";
    auto again = db_.open_again();
    ASSERT_TRUE(again) << again.error();
    auto again_version = (*again)->schema_version();
    ASSERT_TRUE(again_version) << again_version.error();
    EXPECT_EQ(*again_version, *version);
    EXPECT_EQ(times(all_usage(**again)), std::vector<std::int64_t>{5});
    EXPECT_EQ(sequences(all_records(**again)), (std::vector<std::int64_t>{1, 2}));
  }
}

// ---- usage ----

TEST_P(StoreConformance, UsageRecordsKeepEveryField) {
  UsageRecord full;
  full.time_us = kMarch9th2024Us + 123'456;
  full.request_id = "req-7f3a";
  full.key_id = "hk_0123456789abcdef";
  full.tenant = "Acmé Ünïcode 租户";
  full.workload = "support-chat";
  full.task = "chat";
  full.route = "/v1/chat/completions";
  full.rule = "private-data";
  full.placement = "cloud";
  full.backend = "openai";
  full.model = "gpt-4o-mini";
  full.status = 499;
  full.stream = true;
  full.prompt_tokens = 1234;
  full.cached_tokens = 1000;
  full.completion_tokens = 5678;
  full.latency_ms = 1234.5;
  full.time_to_first_token_ms = 87.25;
  full.overhead_ms = 1.75;
  full.busy_ms = 812.5;
  full.fallbacks = "local/llama: timeout; remote/x: 503";
  full.escalation = "schema_invalid";
  full.privacy_action = "redact";
  full.sensitivity = "pii=2, secret=1";
  full.cloud_cost_usd = 0.001234;
  full.avoided_cost_usd = 98765.4321;
  full.content = R"({"messages":[{"role":"user","content":"Grüße 😀 'quoted' \"double\""}]})";

  UsageRecord minimal = usage_at(kMarch9th2024Us + 200'000, "");
  minimal.status = 0;
  minimal.time_to_first_token_ms.reset();

  UsageRecord zero_ttft = usage_at(kMarch9th2024Us + 300'000, "zero");
  zero_ttft.time_to_first_token_ms = 0.0;  // present, and distinct from absent

  // What a bulk format could take for its own syntax: separators, line ends, escapes, the
  // spelling of NULL.
  UsageRecord separators = usage_at(kMarch9th2024Us + 400'000, "tab\there");
  separators.tenant = "line\nbreak\r\n";
  separators.workload = "back\\slash \\t \\n";
  separators.fallbacks = "\\N";
  separators.escalation = "\\";
  separators.content = "a,b;c|d\"e'f\tg\n\\.\n";

  const std::vector<UsageRecord> written{full, minimal, zero_ttft, separators};
  auto appended = store().append(written, {});
  ASSERT_TRUE(appended) << appended.error();
  EXPECT_TRUE(appended->empty());
  EXPECT_EQ(all_usage(store()), written);
}

TEST_P(StoreConformance, UsageRangeIsHalfOpenOldestFirstAndLimited) {
  std::vector<UsageRecord> written;
  for (std::int64_t time_us : {300, 100, 500, 200, 400}) {
    written.push_back(usage_at(time_us, "r" + std::to_string(time_us)));
  }
  ASSERT_TRUE(store().append(written, {}));

  auto in_range = store().usage_records(200, 500, 100);
  ASSERT_TRUE(in_range) << in_range.error();
  EXPECT_EQ(times(*in_range), (std::vector<std::int64_t>{200, 300, 400}));
  EXPECT_EQ((*in_range)[0].request_id, "r200");

  auto limited = store().usage_records(200, 500, 2);
  ASSERT_TRUE(limited);
  EXPECT_EQ(times(*limited), (std::vector<std::int64_t>{200, 300}));

  auto first = store().usage_records(100, 101, 100);
  ASSERT_TRUE(first);
  EXPECT_EQ(times(*first), std::vector<std::int64_t>{100});
  auto last = store().usage_records(500, 501, 100);
  ASSERT_TRUE(last);
  EXPECT_EQ(times(*last), std::vector<std::int64_t>{500});
  auto before = store().usage_records(0, 100, 100);
  ASSERT_TRUE(before);
  EXPECT_TRUE(before->empty());
  auto after = store().usage_records(501, kLatest, 100);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());
}

// ---- scan ----

std::vector<UsageRecord> scan(Store& store, std::int64_t from_us, std::int64_t to_us,
                              UsageColumns columns) {
  std::vector<UsageRecord> seen;
  auto passed =
      store.scan_usage(from_us, to_us, columns, [&](const UsageRecord& r) { seen.push_back(r); });
  EXPECT_TRUE(passed) << passed.error();
  if (passed) {
    EXPECT_EQ(*passed, static_cast<std::int64_t>(seen.size()));
  }
  // The order is the store's choice.
  std::sort(seen.begin(), seen.end(), [](const UsageRecord& a, const UsageRecord& b) {
    return std::tie(a.time_us, a.request_id) < std::tie(b.time_us, b.request_id);
  });
  return seen;
}

UsageRecord scan_sample(std::int64_t time_us, std::string request_id) {
  UsageRecord record = usage_at(time_us, std::move(request_id));
  record.key_id = "hk_0123456789abcdef";
  record.tenant = "acme";
  record.workload = "triage-" + std::to_string(time_us % 3);
  record.task = "chat";
  record.route = "/v1/chat/completions";
  record.rule = "local-first";
  record.placement = time_us % 2 == 0 ? "local" : "cloud";
  record.backend = "worker";
  record.model = "llama";
  record.status = 200 + static_cast<int>(time_us % 5);
  record.stream = time_us % 2 == 1;
  record.prompt_tokens = time_us * 3;
  record.cached_tokens = time_us;
  record.completion_tokens = time_us * 2;
  record.latency_ms = 10.5 + static_cast<double>(time_us);
  record.time_to_first_token_ms = time_us % 4 == 0 ? std::optional<double>(2.25) : std::nullopt;
  record.overhead_ms = 0.5;
  record.busy_ms = 7.75 * static_cast<double>(time_us);
  record.fallbacks = time_us % 7 == 0 ? "local: timeout" : "";
  record.escalation = time_us % 11 == 0 ? "llama: empty" : "";
  record.privacy_action = "redact";
  record.sensitivity = time_us % 13 == 0 ? "pii=1" : "";
  record.cloud_cost_usd = 0.125;
  record.avoided_cost_usd = 0.0625;
  record.content = "{\"big\": \"never scanned\"}";
  return record;
}

// A record's time is when its request arrived, and records reach the store when their requests
// end: a long request's record comes batches after records of later times. Every read by time,
// and the purge, still find exactly the records of their window, whatever batch brought them.
TEST_P(StoreConformance, WindowsFindRecordsOfAnyTimeInAnyBatch) {
  std::vector<UsageRecord> early;
  std::vector<UsageRecord> later;
  for (std::int64_t n = 0; n < 10; ++n) {
    early.push_back(usage_at(1000 + n, "early"));
    later.push_back(usage_at(5000 + n, "later"));
  }
  ASSERT_TRUE(store().append(early, {}));
  ASSERT_TRUE(store().append(later, {}));
  ASSERT_TRUE(store().append(std::vector{usage_at(1005, "late"), usage_at(9000, "last")}, {}));
  for (std::int64_t n = 0; n < 20; ++n) {
    ASSERT_TRUE(store().append(std::vector{usage_at(9001 + n, "one")}, {}));
  }

  auto around_the_late_one = store().usage_records(1004, 1006, 100);
  ASSERT_TRUE(around_the_late_one) << around_the_late_one.error();
  EXPECT_EQ(times(*around_the_late_one), (std::vector<std::int64_t>{1004, 1005, 1005}));
  EXPECT_EQ((*around_the_late_one)[2].request_id, "late");  // oldest first, then as stored
  EXPECT_EQ(scan(store(), 1004, 1006, UsageColumns::accounting).size(), 3U);
  auto summary = store().summarise_usage(UsageGrouping::workload, 1000, 1010);
  ASSERT_TRUE(summary) << summary.error();
  ASSERT_EQ(summary->size(), 1U);
  EXPECT_EQ((*summary)[0].requests, 11);
  auto between = store().usage_records(1010, 5000, 100);
  ASSERT_TRUE(between);
  EXPECT_TRUE(between->empty());
  auto singles = store().usage_records(9000, 9021, 100);
  ASSERT_TRUE(singles);
  EXPECT_EQ(singles->size(), 21U);

  auto purged = store().purge(1006, 0);
  ASSERT_TRUE(purged) << purged.error();
  EXPECT_EQ(purged->usage_deleted, 7);  // 1000 to 1005, and the late 1005
  EXPECT_EQ(scan(store(), kEarliest, kLatest, UsageColumns::accounting).size(), 35U);
  auto rest_of_early = store().usage_records(kEarliest, 5000, 100);
  ASSERT_TRUE(rest_of_early);
  EXPECT_EQ(times(*rest_of_early), (std::vector<std::int64_t>{1006, 1007, 1008, 1009}));

  // After the purge, new records, late ones among them, are found as before.
  ASSERT_TRUE(store().append(std::vector{usage_at(1007, "later still"), usage_at(9500)}, {}));
  auto again = store().usage_records(1007, 1008, 100);
  ASSERT_TRUE(again);
  EXPECT_EQ(times(*again), (std::vector<std::int64_t>{1007, 1007}));
  EXPECT_EQ(scan(store(), 9000, 10000, UsageColumns::accounting).size(), 22U);
}

TEST_P(StoreConformance, ScanPassesEveryFieldButContentInTheHalfOpenRange) {
  std::vector<UsageRecord> written;
  for (std::int64_t time_us : {30, 10, 50, 20, 40, 20}) {
    written.push_back(scan_sample(time_us, "r" + std::to_string(written.size())));
  }
  ASSERT_TRUE(store().append(written, {}));

  auto seen = scan(store(), 20, 50, UsageColumns::all_but_content);
  std::vector<UsageRecord> expected{written[3], written[5], written[0], written[4]};
  for (auto& record : expected) record.content.clear();
  EXPECT_EQ(seen, expected);

  EXPECT_TRUE(scan(store(), 0, 10, UsageColumns::all_but_content).empty());
  EXPECT_TRUE(scan(store(), 51, kLatest, UsageColumns::accounting).empty());
  EXPECT_EQ(times(scan(store(), kEarliest, kLatest, UsageColumns::accounting)),
            (std::vector<std::int64_t>{10, 20, 20, 30, 40, 50}));
}

TEST_P(StoreConformance, ScanOfAccountingColumnsFillsOnlyThose) {
  const UsageRecord written = scan_sample(44, "acct");
  ASSERT_TRUE(store().append(std::vector{written}, {}));
  auto seen = scan(store(), kEarliest, kLatest, UsageColumns::accounting);
  ASSERT_EQ(seen.size(), 1U);
  UsageRecord expected;
  expected.time_us = written.time_us;
  expected.workload = written.workload;
  expected.placement = written.placement;
  expected.model = written.model;
  expected.status = written.status;
  expected.prompt_tokens = written.prompt_tokens;
  expected.cached_tokens = written.cached_tokens;
  expected.completion_tokens = written.completion_tokens;
  expected.latency_ms = written.latency_ms;
  expected.busy_ms = written.busy_ms;
  expected.fallbacks = written.fallbacks;
  expected.escalation = written.escalation;
  expected.sensitivity = written.sensitivity;
  expected.cloud_cost_usd = written.cloud_cost_usd;
  expected.avoided_cost_usd = written.avoided_cost_usd;
  EXPECT_EQ(seen[0], expected);
}

TEST_P(StoreConformance, ScanStreamsMoreRowsThanOneBatch) {
  // More rows than a PostgreSQL fetch batch (10,000), so the scan crosses batches.
  constexpr std::int64_t kRows = 25'003;
  std::vector<UsageRecord> written;
  for (std::int64_t i = 0; i < kRows; ++i) {
    UsageRecord record = usage_at(1000 + i, "");
    record.workload = i % 2 == 0 ? "even" : "odd";
    record.busy_ms = static_cast<double>(i);
    written.push_back(std::move(record));
  }
  ASSERT_TRUE(store().append(written, {}));
  for (const auto& [from_us, to_us] : {std::pair{kEarliest, kLatest},  // all: the table
                                       std::pair{std::int64_t{1100}, std::int64_t{1200}}}) {
    std::vector<bool> seen(kRows);
    std::int64_t count = 0;
    double busy_sum = 0;
    auto passed = store().scan_usage(
        from_us, to_us, UsageColumns::accounting, [&](const UsageRecord& record) {
          seen.at(static_cast<std::size_t>(record.time_us - 1000)) = true;
          busy_sum += record.busy_ms;
          ++count;
        });
    ASSERT_TRUE(passed) << passed.error();
    const std::int64_t expected =
        std::min(to_us, 1000 + kRows) - std::max<std::int64_t>(from_us, 1000);
    EXPECT_EQ(*passed, expected);
    EXPECT_EQ(count, expected);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), true), expected);
    const double first = static_cast<double>(std::max<std::int64_t>(from_us, 1000) - 1000);
    const double last = first + static_cast<double>(expected) - 1;
    EXPECT_EQ(busy_sum, (first + last) * static_cast<double>(expected) / 2);
  }
}

TEST_P(StoreConformance, UpgradeFromSchemaVersion1GivesOldRowsZeroBusyTime) {
  // Back to version 1: the busy_ms column and its migration record gone.
  ASSERT_TRUE(store().append(std::vector{scan_sample(8, "new")}, {}));
  execute_raw("ALTER TABLE usage DROP COLUMN busy_ms");
  execute_raw("DROP TABLE cloud_spend");
  execute_raw("DROP TABLE IF EXISTS usage_spans");  // SQLite's version 4
  execute_raw("DELETE FROM schema_migrations WHERE version >= 2");
  ASSERT_TRUE(db_.open_again);
  auto again = db_.open_again();
  ASSERT_TRUE(again) << again.error();
  auto version = (*again)->schema_version();
  ASSERT_TRUE(version);
  EXPECT_GE(*version, 2);
  auto seen = scan(**again, kEarliest, kLatest, UsageColumns::all_but_content);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].busy_ms, 0.0);
  EXPECT_EQ(seen[0].request_id, "new");
}

// Six requests over three UTC days; every figure is a binary fraction so sums are exact.
std::vector<UsageRecord> summary_fixture() {
  struct Row {
    std::int64_t time_us;
    const char* key;
    const char* tenant;
    const char* workload;
    const char* placement;
    const char* model;
    int status;
    std::int64_t prompt;
    std::int64_t completion;
    double cloud;
    double avoided;
    double latency;
  };
  const Row rows[] = {
      {kMarch9th2024Us + kHourUs, "hk_a", "acme", "chat", "local", "llama", 200, 10, 20, 0, 0.5,
       100},
      {kMarch9th2024Us + 2 * kHourUs, "hk_a", "acme", "chat", "cloud", "gpt", 200, 30, 40, 0.25, 0,
       300},
      {kMarch9th2024Us + kDayUs - 1, "hk_b", "acme", "batch", "local", "llama", 500, 5, 0, 0, 0.25,
       50},
      {kMarch9th2024Us + kDayUs, "hk_b", "globex", "chat", "cloud", "gpt", 429, 7, 0, 0.125, 0, 25},
      {kMarch9th2024Us + kDayUs + 3 * kHourUs, "", "globex", "chat", "local", "llama", 499, 1, 2, 0,
       0.125, 75},
      {kMarch9th2024Us + 2 * kDayUs + 1, "hk_a", "acme", "chat", "local", "llama", 200, 100, 200, 0,
       1.0, 200},
  };
  std::vector<UsageRecord> records;
  for (const auto& row : rows) {
    UsageRecord record = usage_at(row.time_us);
    record.key_id = row.key;
    record.tenant = row.tenant;
    record.workload = row.workload;
    record.placement = row.placement;
    record.model = row.model;
    record.status = row.status;
    record.prompt_tokens = row.prompt;
    record.completion_tokens = row.completion;
    record.cloud_cost_usd = row.cloud;
    record.avoided_cost_usd = row.avoided;
    record.latency_ms = row.latency;
    records.push_back(record);
  }
  return records;
}

void expect_summary(const std::vector<UsageSummaryRow>& actual,
                    const std::vector<UsageSummaryRow>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i) + " (" + expected[i].group + ")");
    EXPECT_EQ(actual[i].group, expected[i].group);
    EXPECT_EQ(actual[i].requests, expected[i].requests);
    EXPECT_EQ(actual[i].errors, expected[i].errors);
    EXPECT_EQ(actual[i].prompt_tokens, expected[i].prompt_tokens);
    EXPECT_EQ(actual[i].completion_tokens, expected[i].completion_tokens);
    EXPECT_DOUBLE_EQ(actual[i].cloud_cost_usd, expected[i].cloud_cost_usd);
    EXPECT_DOUBLE_EQ(actual[i].avoided_cost_usd, expected[i].avoided_cost_usd);
    EXPECT_DOUBLE_EQ(actual[i].mean_latency_ms, expected[i].mean_latency_ms);
  }
}

TEST_P(StoreConformance, SummariesGroupByEachDimension) {
  ASSERT_TRUE(store().append(summary_fixture(), {}));
  const auto summarise = [&](UsageGrouping grouping) {
    auto rows = store().summarise_usage(grouping, kMarch9th2024Us, kMarch9th2024Us + 3 * kDayUs);
    EXPECT_TRUE(rows) << rows.error();
    return rows ? *rows : std::vector<UsageSummaryRow>{};
  };
  // group, requests, errors (status >= 400), prompt, completion, cloud, avoided, mean latency
  {
    SCOPED_TRACE("workload");
    expect_summary(summarise(UsageGrouping::workload), {{"chat", 5, 2, 148, 262, 0.375, 1.625, 140},
                                                        {"batch", 1, 1, 5, 0, 0, 0.25, 50}});
  }
  {
    SCOPED_TRACE("key");
    expect_summary(summarise(UsageGrouping::key), {{"hk_a", 3, 0, 140, 260, 0.25, 1.5, 200},
                                                   {"hk_b", 2, 2, 12, 0, 0.125, 0.25, 37.5},
                                                   {"", 1, 1, 1, 2, 0, 0.125, 75}});
  }
  {
    SCOPED_TRACE("placement");
    expect_summary(
        summarise(UsageGrouping::placement),
        {{"local", 4, 2, 116, 222, 0, 1.875, 106.25}, {"cloud", 2, 1, 37, 40, 0.375, 0, 162.5}});
  }
  {
    SCOPED_TRACE("day");
    expect_summary(summarise(UsageGrouping::day), {{"2024-03-09", 3, 1, 45, 60, 0.25, 0.75, 150},
                                                   {"2024-03-10", 2, 2, 8, 2, 0.125, 0.125, 50},
                                                   {"2024-03-11", 1, 0, 100, 200, 0, 1.0, 200}});
  }
  {
    SCOPED_TRACE("tenant");
    expect_summary(summarise(UsageGrouping::tenant), {{"acme", 4, 1, 145, 260, 0.25, 1.75, 162.5},
                                                      {"globex", 2, 2, 8, 2, 0.125, 0.125, 50}});
  }
  {
    SCOPED_TRACE("model");
    expect_summary(summarise(UsageGrouping::model), {{"llama", 4, 2, 116, 222, 0, 1.875, 106.25},
                                                     {"gpt", 2, 1, 37, 40, 0.375, 0, 162.5}});
  }
}

TEST_P(StoreConformance, SummariesCoverOnlyTheirRange) {
  ASSERT_TRUE(store().append(summary_fixture(), {}));
  // The second day exactly: its first microsecond in, the next day's first out.
  auto day = store().summarise_usage(UsageGrouping::day, kMarch9th2024Us + kDayUs,
                                     kMarch9th2024Us + 2 * kDayUs);
  ASSERT_TRUE(day) << day.error();
  expect_summary(*day, {{"2024-03-10", 2, 2, 8, 2, 0.125, 0.125, 50}});

  auto none = store().summarise_usage(UsageGrouping::workload, 0, kMarch9th2024Us);
  ASSERT_TRUE(none) << none.error();
  EXPECT_TRUE(none->empty());
}

constexpr std::int64_t kMarch2024Us = 1'709'251'200'000'000;  // 2024-03-01T00:00:00Z
constexpr std::int64_t kApril2024Us = 1'711'929'600'000'000;  // 2024-04-01T00:00:00Z

using SpendMap = std::map<std::string, double, std::less<>>;

TEST_P(StoreConformance, MonthCloudSpendSumsByKeyAndTenant) {
  ASSERT_TRUE(store().append(summary_fixture(), {}));
  auto march = store().month_cloud_spend(kMarch2024Us);
  ASSERT_TRUE(march) << march.error();
  // Keys and tenants that spent nothing (the local rows, the keyless one) are left out.
  EXPECT_EQ(march->by_key, (SpendMap{{"hk_a", 0.25}, {"hk_b", 0.125}}));
  EXPECT_EQ(march->by_tenant, (SpendMap{{"acme", 0.25}, {"globex", 0.125}}));

  auto february = store().month_cloud_spend(1'706'745'600'000'000);  // 2024-02-01
  ASSERT_TRUE(february) << february.error();
  EXPECT_TRUE(february->by_key.empty());
  EXPECT_TRUE(february->by_tenant.empty());
}

TEST_P(StoreConformance, MonthCloudSpendAddsUpAcrossAppendsAndSplitsAtTheMonthsEdge) {
  ASSERT_TRUE(store().append(summary_fixture(), {}));
  const auto spent = [](std::int64_t time_us, const char* key, const char* tenant, double cost) {
    UsageRecord record = usage_at(time_us);
    record.key_id = key;
    record.tenant = tenant;
    record.placement = "cloud";
    record.cloud_cost_usd = cost;
    return record;
  };
  // Twice the same key in one batch, the last microsecond of March and the first of April.
  ASSERT_TRUE(store().append(std::vector{spent(kApril2024Us - 1, "hk_a", "acme", 0.5),
                                         spent(kApril2024Us - 2, "hk_a", "acme", 0.0625),
                                         spent(kApril2024Us, "hk_a", "acme", 2.0),
                                         spent(kApril2024Us + kDayUs, "hk_c", "globex", 4.0)},
                             {}));
  auto march = store().month_cloud_spend(kMarch2024Us);
  ASSERT_TRUE(march) << march.error();
  EXPECT_EQ(march->by_key, (SpendMap{{"hk_a", 0.8125}, {"hk_b", 0.125}}));
  EXPECT_EQ(march->by_tenant, (SpendMap{{"acme", 0.8125}, {"globex", 0.125}}));
  auto april = store().month_cloud_spend(kApril2024Us);
  ASSERT_TRUE(april) << april.error();
  EXPECT_EQ(april->by_key, (SpendMap{{"hk_a", 2.0}, {"hk_c", 4.0}}));
  EXPECT_EQ(april->by_tenant, (SpendMap{{"acme", 2.0}, {"globex", 4.0}}));
}

TEST_P(StoreConformance, PurgeKeepsAMonthsSpendUntilTheWholeMonthIsOlderThanTheLimit) {
  ASSERT_TRUE(store().append(summary_fixture(), {}));
  UsageRecord april = usage_at(kApril2024Us + kDayUs);
  april.key_id = "hk_a";
  april.tenant = "acme";
  april.cloud_cost_usd = 1.0;
  ASSERT_TRUE(store().append(std::vector{april}, {}));

  // Every March record purged by a limit still in March: budgets still see what March spent
  // while March may be the current month.
  auto purged = store().purge(kApril2024Us - 1, 0);
  ASSERT_TRUE(purged) << purged.error();
  EXPECT_EQ(purged->usage_deleted, 6);
  auto march = store().month_cloud_spend(kMarch2024Us);
  ASSERT_TRUE(march) << march.error();
  EXPECT_EQ(march->by_key, (SpendMap{{"hk_a", 0.25}, {"hk_b", 0.125}}));

  // A limit from April on: March is wholly older, its totals go; April's stay.
  ASSERT_TRUE(store().purge(kApril2024Us, 0));
  march = store().month_cloud_spend(kMarch2024Us);
  ASSERT_TRUE(march) << march.error();
  EXPECT_TRUE(march->by_key.empty());
  EXPECT_TRUE(march->by_tenant.empty());
  auto april_spend = store().month_cloud_spend(kApril2024Us);
  ASSERT_TRUE(april_spend) << april_spend.error();
  EXPECT_EQ(april_spend->by_key, (SpendMap{{"hk_a", 1.0}}));
  EXPECT_EQ(april_spend->by_tenant, (SpendMap{{"acme", 1.0}}));
}

TEST_P(StoreConformance, UpgradeFromSchemaVersion2FillsTheMonthlySpendFromStoredRecords) {
  ASSERT_TRUE(store().append(summary_fixture(), {}));
  UsageRecord last_of_march = usage_at(kApril2024Us - 1);
  last_of_march.key_id = "hk_a";
  last_of_march.tenant = "acme";
  last_of_march.cloud_cost_usd = 0.5;
  UsageRecord first_of_april = usage_at(kApril2024Us);
  first_of_april.key_id = "hk_a";
  first_of_april.tenant = "acme";
  first_of_april.cloud_cost_usd = 2.0;
  ASSERT_TRUE(store().append(std::vector{last_of_march, first_of_april}, {}));
  // Back to version 2: no totals table, no record of migration 3 (nor of SQLite's version 4).
  execute_raw("DROP TABLE cloud_spend");
  execute_raw("DROP TABLE IF EXISTS usage_spans");
  execute_raw("DELETE FROM schema_migrations WHERE version >= 3");
  ASSERT_TRUE(db_.open_again);
  auto again = db_.open_again();
  ASSERT_TRUE(again) << again.error();
  auto version = (*again)->schema_version();
  ASSERT_TRUE(version);
  EXPECT_GE(*version, 3);
  auto march = (*again)->month_cloud_spend(kMarch2024Us);
  ASSERT_TRUE(march) << march.error();
  EXPECT_EQ(march->by_key, (SpendMap{{"hk_a", 0.75}, {"hk_b", 0.125}}));
  EXPECT_EQ(march->by_tenant, (SpendMap{{"acme", 0.75}, {"globex", 0.125}}));
  auto april = (*again)->month_cloud_spend(kApril2024Us);
  ASSERT_TRUE(april) << april.error();
  EXPECT_EQ(april->by_key, (SpendMap{{"hk_a", 2.0}}));
  EXPECT_EQ(april->by_tenant, (SpendMap{{"acme", 2.0}}));
}

// ---- keys ----

TEST_P(StoreConformance, KeysInsertListAndRevoke) {
  const ApiKeyRecord full{.id = "hk_0123456789abcdef",
                          .secret_hash = std::string(64, 'a'),
                          .tenant = "acme",
                          .name = "Grüße 😀 deploy key",
                          .scopes = {"chat", "embeddings", "admin"},
                          .requests_per_minute = 60,
                          .tokens_per_minute = 100'000,
                          .monthly_budget_usd = 12.5,
                          .created_us = 2000,
                          .expires_us = 9'000'000,
                          .revoked_us = std::nullopt};
  const ApiKeyRecord minimal{.id = "hk_fedcba9876543210",
                             .secret_hash = std::string(64, 'b'),
                             .tenant = "",
                             .name = "",
                             .scopes = {},
                             .requests_per_minute = std::nullopt,
                             .tokens_per_minute = std::nullopt,
                             .monthly_budget_usd = std::nullopt,
                             .created_us = 1000,
                             .expires_us = std::nullopt,
                             .revoked_us = std::nullopt};
  ASSERT_TRUE(store().insert_key(full));
  ASSERT_TRUE(store().insert_key(minimal));

  ApiKeyRecord duplicate = minimal;
  duplicate.id = full.id;
  auto refused = store().insert_key(duplicate);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find(full.id), std::string::npos) << refused.error();

  const auto sorted_keys = [&] {
    auto keys = store().list_keys();
    EXPECT_TRUE(keys) << keys.error();
    auto list = keys ? *keys : std::vector<ApiKeyRecord>{};
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return list;
  };
  EXPECT_EQ(sorted_keys(), (std::vector<ApiKeyRecord>{full, minimal}));

  auto revoked = store().revoke_key(full.id, 5000);
  ASSERT_TRUE(revoked) << revoked.error();
  EXPECT_TRUE(*revoked);
  auto again = store().revoke_key(full.id, 6000);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again) << "already revoked";
  auto unknown = store().revoke_key("hk_doesnotexist00", 6000);
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(*unknown);

  ApiKeyRecord full_revoked = full;
  full_revoked.revoked_us = 5000;  // the first revocation's time stays
  EXPECT_EQ(sorted_keys(), (std::vector<ApiKeyRecord>{full_revoked, minimal}));
}

// ---- the audit chain ----

TEST_P(StoreConformance, AuditRecordsChainFromGenesisAcrossBatches) {
  std::vector<AuditRecord> appended;
  const std::pair<int, int> batches[] = {{1, 3}, {4, 1}, {5, 0}, {5, 5}};  // first, count
  for (const auto& [first, count] : batches) {
    auto batch = append_events(store(), first, count);
    ASSERT_EQ(batch.size(), static_cast<std::size_t>(count));
    appended.insert(appended.end(), batch.begin(), batch.end());
  }
  // A batch of usage alone leaves the chain as it is.
  ASSERT_TRUE(store().append(std::vector{usage_at(1)}, {}));
  AuditEvent unicode{.time_us = 99'000,
                     .kind = "privacy.local_only",
                     .actor = "hk_0123456789abcdef",
                     .detail = R"({"types":["pii"],"note":"Grüße 😀"})"};
  auto last = store().append({}, std::vector{unicode});
  ASSERT_TRUE(last) << last.error();
  appended.insert(appended.end(), last->begin(), last->end());

  ASSERT_EQ(appended.size(), 10u);
  std::string previous(audit::kGenesisHash);
  for (std::size_t i = 0; i < appended.size(); ++i) {
    const auto& record = appended[i];
    SCOPED_TRACE("record " + std::to_string(record.sequence));
    EXPECT_EQ(record.sequence, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(record.previous_hash, previous);
    EXPECT_EQ(record.hash, audit::record_hash(record));
    EXPECT_EQ(record.hash.size(), 64u);
    previous = record.hash;
  }
  EXPECT_EQ(appended[9].detail, unicode.detail);
  EXPECT_EQ(appended[9].actor, unicode.actor);
  EXPECT_EQ(appended[2].time_us, 3000);

  EXPECT_EQ(all_records(store()), appended);
  auto tail = store().audit_records(8);
  ASSERT_TRUE(tail) << tail.error();
  EXPECT_EQ(*tail, std::vector<AuditRecord>(appended.begin() + 7, appended.end()));

  const auto verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;
  EXPECT_EQ(verification.records_checked, 10);
}

TEST_P(StoreConformance, EmptyAppendChangesNothing) {
  auto appended = store().append({}, {});
  ASSERT_TRUE(appended) << appended.error();
  EXPECT_TRUE(appended->empty());
  EXPECT_TRUE(all_records(store()).empty());
  EXPECT_TRUE(all_usage(store()).empty());
}

TEST_P(StoreConformance, AnchorsEveryIntervalRecords) {
  use_anchor_interval(4);
  append_events(store(), 1, 3);
  append_events(store(), 4, 4);
  append_events(store(), 8, 3);
  const auto records = all_records(store());
  const auto anchors = all_anchors(store());
  ASSERT_EQ(records.size(), 10u);
  ASSERT_EQ(sequences(anchors), (std::vector<std::int64_t>{4, 8}));
  for (const auto& anchor : anchors) {
    const auto& record = records[static_cast<std::size_t>(anchor.sequence - 1)];
    EXPECT_EQ(anchor.hash, record.hash);
    EXPECT_EQ(anchor.time_us, record.time_us);
  }
  EXPECT_TRUE(audit::verify_chain(records, anchors).ok);
}

TEST_P(StoreConformance, PurgeDeletesOldRowsAndKeepsTheChainVerifiable) {
  use_anchor_interval(4);
  std::vector<UsageRecord> usage;
  for (std::int64_t time_us : {1000, 2000, 3000, 4000, 5000}) usage.push_back(usage_at(time_us));
  ASSERT_TRUE(store().append(usage, events(1, 10)));  // audit time_us = 1000 * sequence

  auto purged = store().purge(3000, 5500);
  ASSERT_TRUE(purged) << purged.error();
  EXPECT_EQ(purged->usage_deleted, 2);
  EXPECT_EQ(purged->audit_deleted, 5);
  EXPECT_EQ(times(all_usage(store())), (std::vector<std::int64_t>{3000, 4000, 5000}));
  EXPECT_EQ(sequences(all_records(store())), (std::vector<std::int64_t>{6, 7, 8, 9, 10}));
  // The newest purged record (5) is anchored; interval anchors stay.
  const auto anchors = all_anchors(store());
  ASSERT_EQ(sequences(anchors), (std::vector<std::int64_t>{4, 5, 8}));
  EXPECT_EQ(anchors[1].time_us, 5000);
  auto verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;

  // Purging again with the same limits finds nothing more.
  auto again = store().purge(3000, 5500);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->usage_deleted, 0);
  EXPECT_EQ(again->audit_deleted, 0);
  EXPECT_EQ(sequences(all_anchors(store())), (std::vector<std::int64_t>{4, 5, 8}));

  // Limits older than everything delete nothing.
  auto nothing = store().purge(0, 0);
  ASSERT_TRUE(nothing);
  EXPECT_EQ(nothing->usage_deleted, 0);
  EXPECT_EQ(nothing->audit_deleted, 0);

  // The chain goes on after a purge.
  const auto appended = append_events(store(), 11, 3);
  ASSERT_EQ(sequences(appended), (std::vector<std::int64_t>{11, 12, 13}));
  verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;

  // Even when every record is older than the limit, the newest one stays: it is where the next
  // record chains on, and a log emptied down to its anchors would read as truncated.
  auto everything = store().purge(kLatest, kLatest);
  ASSERT_TRUE(everything) << everything.error();
  EXPECT_EQ(everything->usage_deleted, 3);
  EXPECT_EQ(everything->audit_deleted, 7);
  EXPECT_EQ(sequences(all_records(store())), std::vector<std::int64_t>{13});
  EXPECT_EQ(sequences(all_anchors(store())), (std::vector<std::int64_t>{4, 5, 8, 12}));
  verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;

  append_events(store(), 14, 1);
  EXPECT_EQ(sequences(all_records(store())), (std::vector<std::int64_t>{13, 14}));
  verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;
}

// Gateways with different clocks: times need not rise with the sequence. Only the prefix before
// the first record within retention goes, so no record within retention is ever deleted.
TEST_P(StoreConformance, PurgeTakesOnlyTheOldPrefixWhenTimesDoNotRise) {
  std::vector<AuditEvent> made;
  for (std::int64_t time_us : {1000, 2000, 9000, 3000, 4000, 10000}) {
    made.push_back(AuditEvent{
        .time_us = time_us, .kind = "config.reloaded", .actor = "gateway", .detail = "{}"});
  }
  ASSERT_TRUE(store().append({}, made));
  auto purged = store().purge(0, 5000);
  ASSERT_TRUE(purged) << purged.error();
  EXPECT_EQ(purged->audit_deleted, 2);
  EXPECT_EQ(sequences(all_records(store())), (std::vector<std::int64_t>{3, 4, 5, 6}));
  EXPECT_EQ(sequences(all_anchors(store())), std::vector<std::int64_t>{2});
  const auto verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;
}

// ---- tampering, behind the store's back ----

// Six records in two batches; with anchors every four: anchor 4.
void append_six(Store& store) {
  append_events(store, 1, 3);
  append_events(store, 4, 3);
}

TEST_P(StoreConformance, EditedRecordIsDetected) {
  use_anchor_interval(4);
  append_six(store());
  ASSERT_TRUE(verify(store()).ok);
  ASSERT_NO_FATAL_FAILURE(
      execute_raw(R"(UPDATE audit_log SET detail = '{"edited":true}' WHERE sequence = 3)"));
  const auto verification = verify(store());
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_sequence, 3);
}

TEST_P(StoreConformance, EditedAndRehashedRecordBreaksTheNextLink) {
  use_anchor_interval(4);
  append_six(store());
  auto forged = all_records(store()).at(2);
  forged.detail = R"({"edited":true})";
  forged.hash = audit::record_hash(forged);
  ASSERT_NO_FATAL_FAILURE(execute_raw("UPDATE audit_log SET detail = '" + forged.detail +
                                      "', hash = '" + forged.hash + "' WHERE sequence = 3"));
  const auto verification = verify(store());
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_sequence, 4);
}

TEST_P(StoreConformance, DeletedMiddleRecordIsDetected) {
  use_anchor_interval(4);
  append_six(store());
  ASSERT_NO_FATAL_FAILURE(execute_raw("DELETE FROM audit_log WHERE sequence = 3"));
  const auto verification = verify(store());
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_sequence, 3);
}

TEST_P(StoreConformance, DeletedLastRecordsAreExposedByAnAnchor) {
  use_anchor_interval(4);
  append_six(store());
  ASSERT_NO_FATAL_FAILURE(execute_raw("DELETE FROM audit_log WHERE sequence >= 4"));
  auto verification = verify(store());
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_sequence, 4);

  ASSERT_NO_FATAL_FAILURE(execute_raw("DELETE FROM audit_log"));
  verification = verify(store());
  EXPECT_FALSE(verification.ok) << "an empty log with anchors was emptied";
}

TEST_P(StoreConformance, DeletedFirstRecordsAreDetected) {
  use_anchor_interval(4);
  append_six(store());
  ASSERT_NO_FATAL_FAILURE(execute_raw("DELETE FROM audit_log WHERE sequence <= 2"));
  const auto verification = verify(store());
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_sequence, 3);
}

TEST_P(StoreConformance, ReorderedRecordsAreDetected) {
  use_anchor_interval(4);
  append_six(store());
  ASSERT_NO_FATAL_FAILURE(execute_raw("UPDATE audit_log SET sequence = -1 WHERE sequence = 2"));
  ASSERT_NO_FATAL_FAILURE(execute_raw("UPDATE audit_log SET sequence = 2 WHERE sequence = 3"));
  ASSERT_NO_FATAL_FAILURE(execute_raw("UPDATE audit_log SET sequence = 3 WHERE sequence = -1"));
  const auto verification = verify(store());
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_sequence, 2);
}

// ---- concurrency ----

// Each appender's events in the order it appended them (detail {"n":i}).
void expect_in_order_per_actor(const std::vector<AuditRecord>& records,
                               const std::vector<std::string>& actors, std::int64_t per_actor) {
  for (const auto& actor : actors) {
    std::vector<std::string> details;
    for (const auto& record : records) {
      if (record.actor == actor) details.push_back(record.detail);
    }
    std::vector<std::string> expected;
    for (std::int64_t n = 0; n < per_actor; ++n) expected.push_back(event(n).detail);
    EXPECT_EQ(details, expected) << actor;
  }
}

void append_from(Store& store, const std::string& actor, int batches, int per_batch) {
  std::int64_t n = 0;
  for (int batch = 0; batch < batches; ++batch) {
    std::vector<AuditEvent> made;
    for (int i = 0; i < per_batch; ++i) made.push_back(event(n++, actor));
    auto appended = store.append(std::vector{usage_at(n, actor)}, made);
    EXPECT_TRUE(appended) << appended.error();
  }
}

TEST_P(StoreConformance, ConcurrentAppendsOnOneStoreFormOneChain) {
  use_anchor_interval(8);
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 3;
  std::thread first([&] { append_from(store(), "first", kBatches, kPerBatch); });
  std::thread second([&] { append_from(store(), "second", kBatches, kPerBatch); });
  first.join();
  second.join();

  const auto records = all_records(store());
  ASSERT_EQ(records.size(), 2u * kBatches * kPerBatch);
  const auto verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;
  expect_in_order_per_actor(records, {"first", "second"}, kBatches * kPerBatch);
  EXPECT_EQ(all_usage(store()).size(), 2u * kBatches);
}

TEST_P(StoreConformance, TwoStoresAppendingAtOnceFormOneChain) {
  use_anchor_interval(8);
  ASSERT_TRUE(db_.open_again) << "the factory gives no open_again";
  auto other = db_.open_again();
  ASSERT_TRUE(other) << other.error();
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 3;
  std::thread first([&] { append_from(store(), "first", kBatches, kPerBatch); });
  std::thread second([&] { append_from(**other, "second", kBatches, kPerBatch); });
  first.join();
  second.join();

  const auto records = all_records(store());
  ASSERT_EQ(records.size(), 2u * kBatches * kPerBatch);
  const auto verification = verify(store());
  EXPECT_TRUE(verification.ok) << verification.problem;
  expect_in_order_per_actor(records, {"first", "second"}, kBatches * kPerBatch);
  EXPECT_EQ(all_records(**other), records);
  EXPECT_EQ(sequences(all_anchors(store())).size(), records.size() / 8);
}

}  // namespace
}  // namespace hearth::ledger::testing
