// Per-key rate limits (token buckets for requests and tokens per minute) and monthly cloud
// budgets per key and tenant. Both reserve before a request is sent and settle with the real
// figure afterwards, so that concurrent requests cannot overshoot by more than one request's
// misestimate. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "ledger/records.hpp"
#include "ledger/store.hpp"

namespace hearth::auth {

using SteadyClock = std::chrono::steady_clock;

// A bucket holding up to `capacity` units, refilled at capacity per minute.
class TokenBucket {
 public:
  TokenBucket(double capacity, SteadyClock::time_point now);
  // Takes n units when that many are there; otherwise how long until they would be.
  std::optional<std::chrono::milliseconds> try_take(double units, SteadyClock::time_point now);
  // Returns (positive) or takes more (negative, may go below zero) units after the fact.
  void adjust(double units, SteadyClock::time_point now);
  double available(SteadyClock::time_point now);

 private:
  void refill(SteadyClock::time_point now);
  double capacity_;
  double tokens_;
  SteadyClock::time_point last_;
};

struct RateDecision {
  bool admitted = true;
  std::chrono::milliseconds retry_after{0};  // whole seconds, at least 1, when not admitted
  std::string message;                       // which limit, e.g. "requests per minute (60)"
};

class RateLimiter {
 public:
  // Takes one request and `estimated_tokens` from the key's buckets (keys without limits always
  // pass). A bucket's capacity follows the key's current limits.
  RateDecision admit(const ledger::ApiKeyRecord& key, std::int64_t estimated_tokens,
                     SteadyClock::time_point now);
  // Replaces the estimate by what the request really used.
  void settle(const std::string& key_id, std::int64_t estimated_tokens, std::int64_t used_tokens,
              SteadyClock::time_point now);

 private:
  struct KeyBuckets {
    std::optional<TokenBucket> requests;
    std::optional<TokenBucket> tokens;
    std::int64_t requests_limit = 0;
    std::int64_t tokens_limit = 0;
  };
  std::mutex mutex_;
  std::map<std::string, KeyBuckets, std::less<>> buckets_;
};

// Cloud spend this calendar month (UTC), per key and per tenant: what the store says plus what
// this gateway settled since, plus what requests in flight reserved.
class BudgetTracker {
 public:
  struct Reservation {
    std::uint64_t id = 0;  // 0: nothing reserved
    std::string key_id;
    std::string tenant;
    double amount_usd = 0;
  };
  struct Refusal {
    std::string message;  // names the budget: "key hk_... monthly budget $5.00" or the tenant's
  };

  // Reserves `estimate_usd` when both budgets (either may be absent) have room for it.
  Expected<Reservation, Refusal> reserve(const std::string& key_id,
                                         std::optional<double> key_budget_usd,
                                         const std::string& tenant,
                                         std::optional<double> tenant_budget_usd,
                                         double estimate_usd);
  // Replaces the reservation by the real cost; `ledger_ticket` is the writer position of the usage
  // record carrying that cost (see refresh).
  void settle(const Reservation& reservation, double actual_usd, std::uint64_t ledger_ticket);
  void release(const Reservation& reservation);  // the request never reached the cloud
  // Takes the month's totals from the store, which include every usage record up to writer
  // position `committed_through`; settled amounts at or before it are dropped as counted.
  // `month_start_us` starts a new month (everything older is forgotten).
  void refresh(const ledger::SpendTotals& totals, std::int64_t month_start_us,
               std::uint64_t committed_through);
  // Spend as counted now (store + settled + reserved), for metrics and tests.
  double key_spend(const std::string& key_id) const;
  double tenant_spend(const std::string& tenant) const;

 private:
  struct Settled {
    std::string key_id;
    std::string tenant;
    double amount_usd;
    std::uint64_t ticket;
  };
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::int64_t month_start_us_ = 0;
  ledger::SpendTotals stored_;
  std::vector<Settled> settled_;
  std::map<std::uint64_t, Reservation> reserved_;
};

}  // namespace hearth::auth
