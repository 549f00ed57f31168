#include "auth/limits.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace hearth::auth {
namespace {

constexpr double kNanosecondsPerMinute = 60e9;
// Budgets compare sums of doubles: N reservations of budget/N may add up to a hair more than the
// budget. A nano-dollar is far below anything a price list can express.
constexpr double kBudgetToleranceUsd = 1e-9;

std::chrono::milliseconds whole_seconds_at_least_one(std::chrono::milliseconds wait) {
  const auto seconds = std::max<std::int64_t>(1, (wait.count() + 999) / 1000);
  return std::chrono::seconds(seconds);
}

std::string format_usd(double amount) {
  char text[64];
  // Cents when that is exact enough, else enough digits to see a fraction of a cent.
  const bool whole_cents = std::fabs(amount * 100 - std::round(amount * 100)) < 1e-6;
  std::snprintf(text, sizeof text, whole_cents ? "$%.2f" : "$%.6f", amount);
  return text;
}

}  // namespace

TokenBucket::TokenBucket(double capacity, SteadyClock::time_point now)
    : capacity_(capacity), tokens_(capacity), last_(now) {
  assert(capacity > 0 && "a token bucket needs a positive capacity");
}

void TokenBucket::refill(SteadyClock::time_point now) {
  if (now <= last_) return;  // time points from several threads may arrive slightly out of order
  const auto elapsed_ns = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count());
  // capacity * elapsed first, then the division: whole multiples of the refill period come out
  // exact (10 per minute over 6 s is exactly 1).
  tokens_ = std::min(capacity_, tokens_ + capacity_ * elapsed_ns / kNanosecondsPerMinute);
  last_ = now;
}

std::optional<std::chrono::milliseconds> TokenBucket::try_take(double units,
                                                               SteadyClock::time_point now) {
  refill(now);
  // Refills add up in many small steps; without the slack a client retrying exactly when told
  // could find the bucket a rounding error short.
  const double slack = 1e-9 * std::max(1.0, capacity_);
  if (tokens_ + slack >= units) {
    tokens_ -= units;
    return std::nullopt;
  }
  // More than the capacity never fits; the wait until full is what the caller can report.
  const double needed = std::min(units, capacity_) - tokens_;
  if (needed <= 0) return std::chrono::milliseconds(0);
  const double wait_ns = needed * kNanosecondsPerMinute / capacity_;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(wait_ns / 1e6)));
}

void TokenBucket::adjust(double units, SteadyClock::time_point now) {
  refill(now);
  tokens_ = std::min(capacity_, tokens_ + units);
}

double TokenBucket::available(SteadyClock::time_point now) {
  refill(now);
  return tokens_;
}

RateDecision RateLimiter::admit(const ledger::ApiKeyRecord& key, std::int64_t estimated_tokens,
                                SteadyClock::time_point now) {
  const auto tokens_needed = static_cast<double>(std::max<std::int64_t>(0, estimated_tokens));
  std::lock_guard lock(mutex_);
  if (!key.requests_per_minute && !key.tokens_per_minute) {
    buckets_.erase(key.id);
    return {};
  }
  auto& buckets = buckets_[key.id];
  // A changed limit starts a fresh bucket at its new capacity.
  const auto follow_limit = [&](std::optional<TokenBucket>& bucket, std::int64_t& current_limit,
                                const std::optional<std::int64_t>& limit) {
    if (!limit || *limit <= 0) {
      bucket.reset();
      current_limit = 0;
    } else if (!bucket || current_limit != *limit) {
      bucket.emplace(static_cast<double>(*limit), now);
      current_limit = *limit;
    }
  };
  follow_limit(buckets.requests, buckets.requests_limit, key.requests_per_minute);
  follow_limit(buckets.tokens, buckets.tokens_limit, key.tokens_per_minute);

  if (buckets.tokens && estimated_tokens > buckets.tokens_limit) {
    return {false, std::chrono::seconds(60),
            "tokens per minute (" + std::to_string(buckets.tokens_limit) +
                "): this request's estimated " + std::to_string(estimated_tokens) +
                " tokens can never fit"};
  }
  const auto requests_wait = buckets.requests ? buckets.requests->try_take(1, now) : std::nullopt;
  const auto tokens_wait =
      buckets.tokens ? buckets.tokens->try_take(tokens_needed, now) : std::nullopt;
  if (!requests_wait && !tokens_wait) return {};

  // Both or neither: give back what one bucket gave when the other refused.
  if (buckets.requests && !requests_wait) buckets.requests->adjust(1, now);
  if (buckets.tokens && !tokens_wait) buckets.tokens->adjust(tokens_needed, now);
  RateDecision refused;
  refused.admitted = false;
  refused.retry_after =
      whole_seconds_at_least_one(std::max(requests_wait.value_or(std::chrono::milliseconds(0)),
                                          tokens_wait.value_or(std::chrono::milliseconds(0))));
  if (requests_wait) {
    refused.message = "requests per minute (" + std::to_string(buckets.requests_limit) + ")";
  }
  if (tokens_wait) {
    if (!refused.message.empty()) refused.message += " and ";
    refused.message += "tokens per minute (" + std::to_string(buckets.tokens_limit) + ")";
  }
  return refused;
}

void RateLimiter::settle(const std::string& key_id, std::int64_t estimated_tokens,
                         std::int64_t used_tokens, SteadyClock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto found = buckets_.find(key_id);
  if (found == buckets_.end() || !found->second.tokens) return;
  const auto estimated = std::max<std::int64_t>(0, estimated_tokens);
  const auto used = std::max<std::int64_t>(0, used_tokens);
  found->second.tokens->adjust(static_cast<double>(estimated - used), now);
}

namespace {

// Spend of one key (by_key) or one tenant: the store's total, settled since, reserved now.
template <class SettledList, class ReservedMap>
double spend_of(const std::map<std::string, double, std::less<>>& stored,
                const SettledList& settled, const ReservedMap& reserved, std::string_view who,
                bool by_key) {
  double spend = 0;
  if (const auto found = stored.find(who); found != stored.end()) spend += found->second;
  for (const auto& entry : settled) {
    if ((by_key ? entry.key_id : entry.tenant) == who) spend += entry.amount_usd;
  }
  for (const auto& [id, reservation] : reserved) {
    if ((by_key ? reservation.key_id : reservation.tenant) == who) spend += reservation.amount_usd;
  }
  return spend;
}

}  // namespace

Expected<BudgetTracker::Reservation, BudgetTracker::Refusal> BudgetTracker::reserve(
    const std::string& key_id, std::optional<double> key_budget_usd, const std::string& tenant,
    std::optional<double> tenant_budget_usd, double estimate_usd) {
  assert(std::isfinite(estimate_usd) && estimate_usd >= 0 && "a cost estimate is a finite amount");
  const double estimate = std::isfinite(estimate_usd) ? std::max(0.0, estimate_usd) : 0.0;
  std::lock_guard lock(mutex_);
  const auto refusal = [&](std::string whose, double budget, double spent) {
    return unexpected(Refusal{whose + " monthly budget " + format_usd(budget) + " reached (" +
                              format_usd(spent) + " spent or reserved this month, this request " +
                              "may cost " + format_usd(estimate) + ")"});
  };
  if (key_budget_usd) {
    const double spent = spend_of(stored_.by_key, settled_, reserved_, key_id, true);
    if (spent + estimate > *key_budget_usd + kBudgetToleranceUsd) {
      return refusal("key " + key_id, *key_budget_usd, spent);
    }
  }
  if (tenant_budget_usd) {
    const double spent = spend_of(stored_.by_tenant, settled_, reserved_, tenant, false);
    if (spent + estimate > *tenant_budget_usd + kBudgetToleranceUsd) {
      return refusal("tenant " + tenant, *tenant_budget_usd, spent);
    }
  }
  Reservation reservation{next_id_++, key_id, tenant, estimate};
  reserved_.emplace(reservation.id, reservation);
  return reservation;
}

void BudgetTracker::settle(const Reservation& reservation, double actual_usd,
                           std::uint64_t ledger_ticket) {
  std::lock_guard lock(mutex_);
  // Gone when settled or released already: count nothing twice.
  if (reserved_.erase(reservation.id) == 0) return;
  const double actual = std::isfinite(actual_usd) ? std::max(0.0, actual_usd) : 0.0;
  settled_.push_back(Settled{reservation.key_id, reservation.tenant, actual, ledger_ticket});
}

void BudgetTracker::release(const Reservation& reservation) {
  std::lock_guard lock(mutex_);
  reserved_.erase(reservation.id);
}

void BudgetTracker::refresh(const ledger::SpendTotals& totals, std::int64_t month_start,
                            std::uint64_t committed_through) {
  std::lock_guard lock(mutex_);
  if (month_start < month_start_us_) return;  // a late answer about the month before
  if (month_start > month_start_us_) {
    // Settled amounts of last month are not in this month's totals and must not count. Requests
    // in flight keep their reservations until they settle: overcounting for one refresh is the
    // safe side of a budget.
    if (month_start_us_ != 0) settled_.clear();
    month_start_us_ = month_start;
  }
  stored_ = totals;
  std::erase_if(settled_, [&](const Settled& entry) { return entry.ticket <= committed_through; });
}

double BudgetTracker::key_spend(const std::string& key_id) const {
  std::lock_guard lock(mutex_);
  return spend_of(stored_.by_key, settled_, reserved_, key_id, true);
}

double BudgetTracker::tenant_spend(const std::string& tenant) const {
  std::lock_guard lock(mutex_);
  return spend_of(stored_.by_tenant, settled_, reserved_, tenant, false);
}

}  // namespace hearth::auth
