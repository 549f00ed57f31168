// Writes usage records and audit events off the request path: a bounded queue drained by one
// thread in batched transactions. Nothing is dropped: a failed write is retried (with backoff)
// until it succeeds or the writer is destroyed, and a caller sees the queue is full (full())
// and holds back new work until there is room: back-pressure, counted and logged.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "ledger/store.hpp"

namespace hearth::ledger {

struct WriterSettings {
  std::size_t queue_capacity = 8192;              // records and events waiting
  std::chrono::milliseconds flush_interval{100};  // the longest a record waits to be committed
  std::size_t max_batch = 4096;
};

struct WriterStats {
  std::atomic<std::uint64_t> usage_written{0};
  std::atomic<std::uint64_t> audit_written{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> write_failures{0};
  std::atomic<std::uint64_t> queue_full{0};  // times a caller found the queue full
  std::atomic<std::int64_t> queued{0};
  std::atomic<double> last_batch_seconds{0};
};

class LedgerWriter {
 public:
  LedgerWriter(Store& store, WriterSettings settings);
  // Commits everything queued (retrying failures for at most `drain_timeout`) and stops.
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  // Queue without waiting; capacity is a threshold for full(), not a hard cap, so that a request
  // already answered always gets its record.
  void push(UsageRecord&& record);
  void push(AuditEvent&& event);
  // True when at least queue_capacity items wait: callers should hold back new requests (and
  // count it: note_full()).
  bool full() const;
  void note_full();
  // Blocks until everything queued before the call is committed, or `timeout` passes; false on
  // timeout.
  bool flush(std::chrono::milliseconds timeout);
  const WriterStats& stats() const { return stats_; }
  // The last write error, "" after a successful write.
  std::string last_error() const;

 private:
  void run();

  Store& store_;
  WriterSettings settings_;
  WriterStats stats_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable committed_;
  std::vector<UsageRecord> usage_;
  std::vector<AuditEvent> audit_;
  // Counted per kind: the two queues drain at their own pace (max_batch each per batch), so only
  // per-kind counts tell flush() that everything pushed before it is committed.
  std::uint64_t usage_pushed_ = 0;  // ever
  std::uint64_t usage_committed_ = 0;
  std::uint64_t audit_pushed_ = 0;
  std::uint64_t audit_committed_ = 0;
  std::string last_error_;
  int flush_waiters_ = 0;  // threads in flush(): the writer commits at once for them
  bool stopping_ = false;
  std::chrono::milliseconds drain_timeout_{10'000};
  std::thread thread_;
};

}  // namespace hearth::ledger
