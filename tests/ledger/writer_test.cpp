// The background ledger writer: everything pushed is committed, in order, exactly once, through
// store failures; flush waits for it; full() reports back-pressure; the destructor drains.
#include "ledger/writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

#include "audit/chain.hpp"
#include "ledger/sqlite_store.hpp"

namespace hearth::ledger {
namespace {

using namespace std::chrono_literals;

// Keeps what it is given in memory. It can fail the next N appends, fail until told otherwise,
// or hold appends until released.
class FakeStore : public Store {
 public:
  std::string_view kind() const override { return "fake"; }
  Expected<int, std::string> schema_version() override { return 1; }

  Expected<std::vector<AuditRecord>, std::string> append(
      std::span<const UsageRecord> usage, std::span<const AuditEvent> audit) override {
    std::unique_lock lock(mutex_);
    ++attempts_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !held_; });
    if (failures_left_ > 0 || failing_) {
      if (failures_left_ > 0) --failures_left_;
      return unexpected(std::string("database is locked (fake)"));
    }
    usage_.insert(usage_.end(), usage.begin(), usage.end());
    std::vector<AuditRecord> appended;
    for (const auto& event : audit) {
      appended.push_back(AuditRecord{.sequence = static_cast<std::int64_t>(audit_.size()) + 1,
                                     .time_us = event.time_us,
                                     .kind = event.kind,
                                     .actor = event.actor,
                                     .detail = event.detail,
                                     .previous_hash = {},
                                     .hash = {}});
      audit_.push_back(event);
    }
    ++batches_;
    largest_usage_batch_ = std::max(largest_usage_batch_, usage.size());
    largest_audit_batch_ = std::max(largest_audit_batch_, audit.size());
    return appended;
  }

  Expected<std::vector<UsageRecord>, std::string> usage_records(std::int64_t, std::int64_t,
                                                                std::int64_t) override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<std::int64_t, std::string> scan_usage(
      std::int64_t, std::int64_t, UsageColumns,
      const std::function<void(const UsageRecord&)>&) override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<std::vector<UsageSummaryRow>, std::string> summarise_usage(UsageGrouping, std::int64_t,
                                                                      std::int64_t) override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<SpendTotals, std::string> month_cloud_spend(std::int64_t) override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<Done, std::string> insert_key(const ApiKeyRecord&) override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<std::vector<ApiKeyRecord>, std::string> list_keys() override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<bool, std::string> revoke_key(std::string_view, std::int64_t) override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<std::vector<AuditRecord>, std::string> audit_records(std::int64_t) override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<std::vector<AuditAnchor>, std::string> audit_anchors() override {
    return unexpected(std::string("not in the fake"));
  }
  Expected<PurgeResult, std::string> purge(std::int64_t, std::int64_t) override {
    return unexpected(std::string("not in the fake"));
  }

  void fail_next(int count) {
    std::lock_guard lock(mutex_);
    failures_left_ = count;
  }
  void set_failing(bool failing) {
    std::lock_guard lock(mutex_);
    failing_ = failing;
  }
  void set_held(bool held) {
    {
      std::lock_guard lock(mutex_);
      held_ = held;
    }
    changed_.notify_all();
  }
  // Waits (at most 10 s) until append has been called `count` times.
  bool wait_for_attempts(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return attempts_ >= count; });
  }

  std::vector<UsageRecord> usage() const {
    std::lock_guard lock(mutex_);
    return usage_;
  }
  std::vector<AuditEvent> audit() const {
    std::lock_guard lock(mutex_);
    return audit_;
  }
  int attempts() const {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  int batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  std::size_t largest_usage_batch() const {
    std::lock_guard lock(mutex_);
    return largest_usage_batch_;
  }
  std::size_t largest_audit_batch() const {
    std::lock_guard lock(mutex_);
    return largest_audit_batch_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<UsageRecord> usage_;
  std::vector<AuditEvent> audit_;
  int failures_left_ = 0;
  bool failing_ = false;
  bool held_ = false;
  int attempts_ = 0;
  int batches_ = 0;
  std::size_t largest_usage_batch_ = 0;
  std::size_t largest_audit_batch_ = 0;
};

UsageRecord usage_record(std::int64_t n, std::string request_id = "") {
  UsageRecord record;
  record.time_us = n;
  record.request_id = request_id.empty() ? "req-" + std::to_string(n) : std::move(request_id);
  record.status = 200;
  return record;
}

AuditEvent audit_event(std::int64_t n) {
  return AuditEvent{.time_us = n,
                    .kind = "config.reloaded",
                    .actor = "gateway",
                    .detail = R"({"n":)" + std::to_string(n) + "}"};
}

std::vector<std::int64_t> times(const std::vector<UsageRecord>& records) {
  std::vector<std::int64_t> found;
  for (const auto& record : records) found.push_back(record.time_us);
  return found;
}

std::vector<std::int64_t> times(const std::vector<AuditEvent>& events) {
  std::vector<std::int64_t> found;
  for (const auto& event : events) found.push_back(event.time_us);
  return found;
}

std::vector<std::int64_t> range(std::int64_t count) {
  std::vector<std::int64_t> numbers;
  for (std::int64_t n = 0; n < count; ++n) numbers.push_back(n);
  return numbers;
}

// A long flush interval: the writer must wake on push, not on its timer.
WriterSettings settings(std::size_t max_batch = 64, std::size_t capacity = 8192) {
  return WriterSettings{.queue_capacity = capacity, .flush_interval = 10s, .max_batch = max_batch};
}

TEST(LedgerWriter, FlushCommitsEverythingInOrderInBoundedBatches) {
  FakeStore store;
  LedgerWriter writer(store, settings(64));
  for (std::int64_t n = 0; n < 1000; ++n) {
    writer.push(usage_record(n));
    if (n % 10 == 0) writer.push(audit_event(n / 10));
  }
  ASSERT_TRUE(writer.flush(10s));
  EXPECT_EQ(times(store.usage()), range(1000));
  EXPECT_EQ(times(store.audit()), range(100));
  EXPECT_LE(store.largest_usage_batch(), 64u);
  EXPECT_LE(store.largest_audit_batch(), 64u);
  EXPECT_GE(store.batches(), 1000 / 64);

  const auto& stats = writer.stats();
  EXPECT_EQ(stats.usage_written.load(), 1000u);
  EXPECT_EQ(stats.audit_written.load(), 100u);
  EXPECT_EQ(stats.queued.load(), 0);
  EXPECT_EQ(stats.batches.load(), static_cast<std::uint64_t>(store.batches()));
  EXPECT_EQ(stats.write_failures.load(), 0u);
  EXPECT_GE(stats.last_batch_seconds.load(), 0.0);
  EXPECT_EQ(writer.last_error(), "");
}

TEST(LedgerWriter, FlushWithNothingQueuedReturnsAtOnce) {
  FakeStore store;
  LedgerWriter writer(store, settings());
  EXPECT_TRUE(writer.flush(0ms));
}

TEST(LedgerWriter, PushesFromManyThreadsKeepEachThreadsOrder) {
  FakeStore store;
  LedgerWriter writer(store, settings(16));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&writer, thread] {
      for (int n = 0; n < kPerThread; ++n) {
        writer.push(usage_record(n, "thread-" + std::to_string(thread)));
        writer.push(audit_event(thread * kPerThread + n));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(writer.flush(10s));

  const auto usage = store.usage();
  ASSERT_EQ(usage.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (int thread = 0; thread < kThreads; ++thread) {
    std::vector<UsageRecord> own;
    for (const auto& record : usage) {
      if (record.request_id == "thread-" + std::to_string(thread)) own.push_back(record);
    }
    EXPECT_EQ(times(own), range(kPerThread)) << "thread " << thread;
  }
  EXPECT_EQ(store.audit().size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(LedgerWriter, FailedWritesAreRetriedAndLoseNothing) {
  FakeStore store;
  store.fail_next(3);
  LedgerWriter writer(store, settings(4));
  for (std::int64_t n = 0; n < 10; ++n) writer.push(usage_record(n));
  for (std::int64_t n = 0; n < 5; ++n) writer.push(audit_event(n));
  // Retries back off 50, 100, 200 ms before the fourth attempt succeeds.
  ASSERT_TRUE(writer.flush(10s));
  EXPECT_EQ(times(store.usage()), range(10)) << "each record exactly once, in order";
  EXPECT_EQ(times(store.audit()), range(5));
  EXPECT_EQ(writer.stats().write_failures.load(), 3u);
  EXPECT_EQ(writer.stats().usage_written.load(), 10u);
  EXPECT_EQ(writer.stats().audit_written.load(), 5u);
  EXPECT_EQ(writer.stats().queued.load(), 0);
  EXPECT_EQ(writer.last_error(), "") << "a successful write clears the error";
}

TEST(LedgerWriter, FlushTimesOutWhileTheStoreFailsAndSucceedsAfter) {
  FakeStore store;
  store.set_failing(true);
  LedgerWriter writer(store, settings());
  writer.push(usage_record(1));
  writer.push(audit_event(1));
  EXPECT_FALSE(writer.flush(150ms));
  ASSERT_TRUE(store.wait_for_attempts(2));
  EXPECT_GE(writer.stats().write_failures.load(), 1u);
  EXPECT_EQ(writer.last_error(), "database is locked (fake)");
  EXPECT_EQ(writer.stats().queued.load(), 2);
  EXPECT_TRUE(store.usage().empty());

  store.set_failing(false);
  ASSERT_TRUE(writer.flush(10s));  // the backoff is at most 2 s
  EXPECT_EQ(times(store.usage()), std::vector<std::int64_t>{1});
  EXPECT_EQ(times(store.audit()), std::vector<std::int64_t>{1});
  EXPECT_EQ(writer.last_error(), "");
}

TEST(LedgerWriter, CollectsABatchForTheFlushInterval) {
  FakeStore store;
  LedgerWriter writer(
      store, WriterSettings{.queue_capacity = 8192, .flush_interval = 300ms, .max_batch = 4});
  const auto start = std::chrono::steady_clock::now();
  writer.push(usage_record(0));
  writer.push(usage_record(1));
  // Two records: the writer waits for more until the interval is over, then commits both at once.
  ASSERT_TRUE(store.wait_for_attempts(1));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_EQ(times(store.usage()), (std::vector<std::int64_t>{0, 1}));
  ASSERT_TRUE(writer.flush(10s));  // the writer's counters follow the store's answer
  EXPECT_EQ(writer.stats().batches.load(), 1u);
}

TEST(LedgerWriter, AFullBatchDoesNotWaitForTheFlushInterval) {
  FakeStore store;
  // An interval far beyond wait_for_attempts' 10 s: only a full batch can be written in time.
  LedgerWriter writer(store,
                      WriterSettings{.queue_capacity = 8192, .flush_interval = 1h, .max_batch = 4});
  for (std::int64_t n = 0; n < 4; ++n) writer.push(usage_record(n));
  ASSERT_TRUE(store.wait_for_attempts(1));
  EXPECT_EQ(times(store.usage()), (std::vector<std::int64_t>{0, 1, 2, 3}));
}

TEST(LedgerWriter, FullAtCapacityCountingWhatIsBeingWritten) {
  FakeStore store;
  store.set_held(true);
  LedgerWriter writer(store, settings(64, 8));
  writer.push(usage_record(0));
  EXPECT_FALSE(writer.flush(1ms));          // a flush starts the batch at once (it is held)
  ASSERT_TRUE(store.wait_for_attempts(1));  // that record is now in flight, still queued
  for (std::int64_t n = 1; n < 7; ++n) writer.push(usage_record(n));
  EXPECT_EQ(writer.stats().queued.load(), 7);
  EXPECT_FALSE(writer.full());
  writer.push(audit_event(7));
  EXPECT_TRUE(writer.full());
  // Capacity is a threshold, not a cap: pushing on is accepted (a request already answered
  // always gets its record).
  for (std::int64_t n = 8; n < 12; ++n) writer.push(usage_record(n));
  EXPECT_TRUE(writer.full());
  EXPECT_EQ(writer.stats().queued.load(), 12);
  writer.note_full();
  writer.note_full();
  EXPECT_EQ(writer.stats().queue_full.load(), 2u);

  store.set_held(false);
  ASSERT_TRUE(writer.flush(10s));
  EXPECT_FALSE(writer.full());
  EXPECT_EQ(writer.stats().queued.load(), 0);
  EXPECT_EQ(times(store.usage()), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11}));
  EXPECT_EQ(times(store.audit()), std::vector<std::int64_t>{7});
}

TEST(LedgerWriter, FlushWaitsForWhatWasPushedBeforeIt) {
  FakeStore store;
  store.set_held(true);
  LedgerWriter writer(store, settings(2));
  for (std::int64_t n = 0; n < 5; ++n) writer.push(usage_record(n));
  ASSERT_TRUE(store.wait_for_attempts(1));
  // Audit events pushed meanwhile are written in the same batches as the first usage records;
  // a flush asked for before them must still wait for all five usage records.
  bool flushed = false;
  std::thread flusher([&] { flushed = writer.flush(10s); });
  for (std::int64_t n = 0; n < 6; ++n) writer.push(audit_event(n));
  store.set_held(false);
  flusher.join();
  EXPECT_TRUE(flushed);
  EXPECT_EQ(times(store.usage()), range(5));
}

TEST(LedgerWriter, DestructorDrainsTheQueue) {
  FakeStore store;
  store.fail_next(2);
  {
    LedgerWriter writer(store, settings(8));
    for (std::int64_t n = 0; n < 100; ++n) writer.push(usage_record(n));
    for (std::int64_t n = 0; n < 10; ++n) writer.push(audit_event(n));
  }
  EXPECT_EQ(times(store.usage()), range(100));
  EXPECT_EQ(times(store.audit()), range(10));
}

TEST(LedgerWriter, WritesIntoARealStoreWithAValidChain) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("hearth-writer-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    auto store = SqliteStore::open((dir / "ledger.db").string(), 16);
    ASSERT_TRUE(store) << store.error();
    {
      LedgerWriter writer(**store, settings(32));
      for (std::int64_t n = 0; n < 300; ++n) {
        writer.push(usage_record(n));
        writer.push(audit_event(n));
      }
      ASSERT_TRUE(writer.flush(10s));
    }
    auto usage = (*store)->usage_records(0, 1'000, 1'000);
    ASSERT_TRUE(usage) << usage.error();
    EXPECT_EQ(times(*usage), range(300));
    auto records = (*store)->audit_records(0);
    auto anchors = (*store)->audit_anchors();
    ASSERT_TRUE(records && anchors);
    ASSERT_EQ(records->size(), 300u);
    for (std::size_t i = 0; i < records->size(); ++i) {
      EXPECT_EQ((*records)[i].time_us, static_cast<std::int64_t>(i));
    }
    EXPECT_TRUE(audit::verify_chain(*records, *anchors).ok);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hearth::ledger
