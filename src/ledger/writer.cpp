#include "ledger/writer.hpp"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <optional>
#include <vector>

namespace hearth::ledger {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kLongestBackoff{2'000};

// Takes up to `count` items from the front of `queue` into `batch` (empty, kept from an earlier
// batch for its capacity). The usual case, everything queued fitting one batch, swaps the
// vectors: no record is moved, and the queue goes on in storage that already has room.
template <class T>
void take_front(std::vector<T>& queue, std::size_t count, std::vector<T>& batch) {
  assert(batch.empty() && "a batch starts empty");
  if (queue.size() <= count) {
    queue.swap(batch);
    return;
  }
  const auto end = queue.begin() + static_cast<std::ptrdiff_t>(count);
  batch.assign(std::make_move_iterator(queue.begin()), std::make_move_iterator(end));
  queue.erase(queue.begin(), end);
}

// Puts a batch that failed back at the front of `queue`, ahead of what was pushed meanwhile.
template <class T>
void put_back(std::vector<T>& queue, std::vector<T>& batch) {
  queue.insert(queue.begin(), std::make_move_iterator(batch.begin()),
               std::make_move_iterator(batch.end()));
  batch.clear();
}

}  // namespace

LedgerWriter::LedgerWriter(Store& store, WriterSettings settings)
    : store_(store), settings_(settings) {
  assert(settings_.max_batch > 0 && "a batch holds at least one record");
  thread_ = std::thread([this] { run(); });
}

LedgerWriter::~LedgerWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

// The writer collects a batch for flush_interval (one transaction per interval, not per record:
// a commit costs far more than a row); only a full batch wakes it early.
void LedgerWriter::push(UsageRecord&& record) {
  bool batch_full = false;
  {
    std::lock_guard lock(mutex_);
    usage_.push_back(std::move(record));
    ++usage_pushed_;
    stats_.queued.fetch_add(1, std::memory_order_relaxed);
    batch_full = usage_.size() == settings_.max_batch;
  }
  if (batch_full) {
    wake_.notify_one();
  }
}

void LedgerWriter::push(AuditEvent&& event) {
  bool batch_full = false;
  {
    std::lock_guard lock(mutex_);
    audit_.push_back(std::move(event));
    ++audit_pushed_;
    stats_.queued.fetch_add(1, std::memory_order_relaxed);
    batch_full = audit_.size() == settings_.max_batch;
  }
  if (batch_full) {
    wake_.notify_one();
  }
}

bool LedgerWriter::full() const {
  return stats_.queued.load(std::memory_order_relaxed) >=
         static_cast<std::int64_t>(settings_.queue_capacity);
}

void LedgerWriter::note_full() { stats_.queue_full.fetch_add(1, std::memory_order_relaxed); }

bool LedgerWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const auto usage_target = usage_pushed_;
  const auto audit_target = audit_pushed_;
  ++flush_waiters_;
  wake_.notify_one();
  const bool done = committed_.wait_for(lock, timeout, [&] {
    return usage_committed_ >= usage_target && audit_committed_ >= audit_target;
  });
  --flush_waiters_;
  return done;
}

std::string LedgerWriter::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void LedgerWriter::run() {
  // The batch being written; between batches, empty storage the queue swaps into.
  std::vector<UsageRecord> usage;
  std::vector<AuditEvent> audit;
  std::chrono::milliseconds backoff{0};
  std::optional<Clock::time_point> drain_deadline;
  std::unique_lock lock(mutex_);
  while (true) {
    if (stopping_ && !drain_deadline) drain_deadline = Clock::now() + drain_timeout_;
    if (usage_.empty() && audit_.empty()) {
      if (stopping_) return;
      wake_.wait_for(lock, settings_.flush_interval,
                     [&] { return stopping_ || !usage_.empty() || !audit_.empty(); });
      continue;
    }
    // Something is queued: let the batch fill for up to flush_interval from now, unless it is
    // full already, a flush() waits, the writer stops, or this is a retry (it waited already).
    if (backoff.count() == 0) {
      wake_.wait_for(lock, settings_.flush_interval, [&] {
        return stopping_ || flush_waiters_ > 0 || usage_.size() >= settings_.max_batch ||
               audit_.size() >= settings_.max_batch;
      });
    }

    take_front(usage_, settings_.max_batch, usage);
    take_front(audit_, settings_.max_batch, audit);
    // The store has its own lock; pushes go on while the batch is written.
    lock.unlock();
    const auto started = Clock::now();
    auto appended = store_.append(usage, audit);
    const std::chrono::duration<double> took = Clock::now() - started;
    const auto usage_count = usage.size();
    const auto audit_count = audit.size();
    if (appended) {
      // Freed before the lock is taken again, so pushes do not wait on it; the storage stays.
      usage.clear();
      audit.clear();
    }
    lock.lock();

    if (appended) {
      usage_committed_ += usage_count;
      audit_committed_ += audit_count;
      stats_.usage_written.fetch_add(usage_count, std::memory_order_relaxed);
      stats_.audit_written.fetch_add(audit_count, std::memory_order_relaxed);
      stats_.batches.fetch_add(1, std::memory_order_relaxed);
      stats_.queued.fetch_sub(static_cast<std::int64_t>(usage_count + audit_count),
                              std::memory_order_relaxed);
      stats_.last_batch_seconds.store(took.count(), std::memory_order_relaxed);
      last_error_.clear();
      backoff = std::chrono::milliseconds{0};
      committed_.notify_all();
      continue;
    }

    put_back(usage_, usage);
    put_back(audit_, audit);
    stats_.write_failures.fetch_add(1, std::memory_order_relaxed);
    last_error_ = std::move(appended.error());
    backoff = backoff.count() == 0 ? kFirstBackoff : std::min(backoff * 2, kLongestBackoff);
    auto retry_at = Clock::now() + backoff;
    if (drain_deadline) {
      // Stopping: what is still queued after drain_timeout is given up (counted in stats().queued).
      if (Clock::now() >= *drain_deadline) return;
      retry_at = std::min(retry_at, *drain_deadline);
    }
    // A stop request ends the wait early, only to start the drain deadline.
    wake_.wait_until(lock, retry_at, [&] { return stopping_ && !drain_deadline; });
  }
}

}  // namespace hearth::ledger
