// Rate limits and budgets: token bucket arithmetic on injected time points, the rate limiter's
// all-or-nothing admission, retry times, settling and limit changes, exact admission counts under
// contention, budget reservations, settling and refreshes from the store.
#include "auth/limits.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/calendar.hpp"

namespace hearth::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const SteadyClock::time_point kStart = SteadyClock::time_point{} + std::chrono::hours(1000);

ledger::ApiKeyRecord key_with(std::optional<std::int64_t> requests_per_minute,
                              std::optional<std::int64_t> tokens_per_minute,
                              std::string id = "hk_0000000000000001") {
  ledger::ApiKeyRecord key;
  key.id = std::move(id);
  key.tenant = "acme";
  key.requests_per_minute = requests_per_minute;
  key.tokens_per_minute = tokens_per_minute;
  return key;
}

// ---- TokenBucket

TEST(TokenBucket, StartsFullAndRefillsContinuouslyUpToCapacity) {
  TokenBucket bucket(60, kStart);  // one unit per second
  EXPECT_DOUBLE_EQ(bucket.available(kStart), 60);
  EXPECT_EQ(bucket.try_take(60, kStart), std::nullopt);
  EXPECT_DOUBLE_EQ(bucket.available(kStart), 0);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + milliseconds(500)), 0.5);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(3)), 3);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(59)), 59);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(61)), 60);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(1000)), 60);
}

TEST(TokenBucket, RefillRateIsCapacityPerMinute) {
  TokenBucket bucket(10, kStart);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(bucket.try_take(1, kStart), std::nullopt);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(6)), 1);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(30)), 5);
}

TEST(TokenBucket, TryTakeReportsTheWaitUntilEnoughUnits) {
  TokenBucket bucket(60, kStart);
  ASSERT_EQ(bucket.try_take(60, kStart), std::nullopt);
  EXPECT_EQ(bucket.try_take(1, kStart), milliseconds(1000));
  EXPECT_EQ(bucket.try_take(0.5, kStart), milliseconds(500));
  EXPECT_EQ(bucket.try_take(10, kStart), milliseconds(10'000));
  // A refused take takes nothing.
  EXPECT_DOUBLE_EQ(bucket.available(kStart), 0);
  EXPECT_EQ(bucket.try_take(1, kStart + milliseconds(200)), milliseconds(800));
  // Partial milliseconds round up: the units are there when the wait is over, never before.
  EXPECT_EQ(bucket.try_take(1, kStart + std::chrono::microseconds(200'500)), milliseconds(800));
  EXPECT_EQ(bucket.try_take(1, kStart + seconds(1)), std::nullopt);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(1)), 0);
}

TEST(TokenBucket, MoreThanTheCapacityWaitsOnlyUntilFull) {
  TokenBucket bucket(60, kStart);
  // Full already: nothing to wait for, and still not taken.
  EXPECT_EQ(bucket.try_take(61, kStart), milliseconds(0));
  EXPECT_DOUBLE_EQ(bucket.available(kStart), 60);
  ASSERT_EQ(bucket.try_take(30, kStart), std::nullopt);
  EXPECT_EQ(bucket.try_take(100, kStart), milliseconds(30'000));
}

TEST(TokenBucket, AdjustReturnsUpToCapacityAndMayGoBelowZero) {
  TokenBucket bucket(60, kStart);
  ASSERT_EQ(bucket.try_take(50, kStart), std::nullopt);
  bucket.adjust(20, kStart);
  EXPECT_DOUBLE_EQ(bucket.available(kStart), 30);
  bucket.adjust(100, kStart);
  EXPECT_DOUBLE_EQ(bucket.available(kStart), 60);
  bucket.adjust(-70, kStart);
  EXPECT_DOUBLE_EQ(bucket.available(kStart), -10);
  // Back above zero only after the debt is refilled.
  EXPECT_EQ(bucket.try_take(0, kStart), milliseconds(10'000));
  EXPECT_EQ(bucket.try_take(1, kStart), milliseconds(11'000));
  EXPECT_EQ(bucket.try_take(1, kStart + seconds(11)), std::nullopt);
}

TEST(TokenBucket, AnEarlierTimePointDoesNotRefillOrRewind) {
  TokenBucket bucket(60, kStart);
  ASSERT_EQ(bucket.try_take(60, kStart), std::nullopt);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(10)), 10);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(5)), 10);
  EXPECT_DOUBLE_EQ(bucket.available(kStart + seconds(11)), 11);
}

// ---- RateLimiter

TEST(RateLimiter, KeysWithoutLimitsAlwaysPass) {
  RateLimiter limiter;
  const auto key = key_with(std::nullopt, std::nullopt);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limiter.admit(key, 1'000'000, kStart).admitted);
  }
}

TEST(RateLimiter, RequestsPerMinuteAdmitsExactlyTheLimitThenAsksToRetry) {
  RateLimiter limiter;
  const auto key = key_with(10, std::nullopt);
  for (int i = 0; i < 10; ++i) {
    const auto decision = limiter.admit(key, 0, kStart);
    ASSERT_TRUE(decision.admitted) << i;
    EXPECT_EQ(decision.retry_after, milliseconds(0));
  }
  const auto refused = limiter.admit(key, 0, kStart);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, seconds(6));  // 60 s / 10
  EXPECT_EQ(refused.message, "requests per minute (10)");

  // Partial seconds round up, and never below one second.
  const auto half = limiter.admit(key, 0, kStart + milliseconds(2500));
  EXPECT_FALSE(half.admitted);
  EXPECT_EQ(half.retry_after, seconds(4));
  const auto almost = limiter.admit(key, 0, kStart + milliseconds(5900));
  EXPECT_FALSE(almost.admitted);
  EXPECT_EQ(almost.retry_after, seconds(1));

  EXPECT_TRUE(limiter.admit(key, 0, kStart + seconds(6)).admitted);
  const auto again = limiter.admit(key, 0, kStart + seconds(6));
  EXPECT_FALSE(again.admitted);
  EXPECT_EQ(again.retry_after, seconds(6));
}

TEST(RateLimiter, KeysHaveTheirOwnBuckets) {
  RateLimiter limiter;
  const auto first = key_with(1, std::nullopt, "hk_0000000000000001");
  const auto second = key_with(1, std::nullopt, "hk_0000000000000002");
  EXPECT_TRUE(limiter.admit(first, 0, kStart).admitted);
  EXPECT_FALSE(limiter.admit(first, 0, kStart).admitted);
  EXPECT_TRUE(limiter.admit(second, 0, kStart).admitted);
}

TEST(RateLimiter, TokensPerMinuteTakesTheEstimate) {
  RateLimiter limiter;
  const auto key = key_with(std::nullopt, 1000);
  EXPECT_TRUE(limiter.admit(key, 400, kStart).admitted);
  EXPECT_TRUE(limiter.admit(key, 400, kStart).admitted);
  const auto refused = limiter.admit(key, 400, kStart);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.message, "tokens per minute (1000)");
  EXPECT_EQ(refused.retry_after, seconds(12));  // 200 missing at 1000 per 60 s
  EXPECT_TRUE(limiter.admit(key, 200, kStart).admitted);
  EXPECT_TRUE(limiter.admit(key, 400, kStart + seconds(24)).admitted);
}

TEST(RateLimiter, ARequestThatCanNeverFitIsRefusedSaying) {
  RateLimiter limiter;
  const auto key = key_with(100, 1000);
  const auto refused = limiter.admit(key, 1001, kStart);
  EXPECT_FALSE(refused.admitted);
  EXPECT_GE(refused.retry_after, seconds(1));
  EXPECT_NE(refused.message.find("tokens per minute (1000)"), std::string::npos) << refused.message;
  EXPECT_NE(refused.message.find("never"), std::string::npos) << refused.message;
  // Nothing was taken: a full minute's worth still fits.
  EXPECT_TRUE(limiter.admit(key, 1000, kStart).admitted);
}

TEST(RateLimiter, ATokenRefusalTakesNoRequest) {
  RateLimiter limiter;
  const auto key = key_with(3, 1000);
  ASSERT_TRUE(limiter.admit(key, 400, kStart).admitted);
  ASSERT_TRUE(limiter.admit(key, 400, kStart).admitted);
  ASSERT_FALSE(limiter.admit(key, 400, kStart).admitted);
  ASSERT_FALSE(limiter.admit(key, 400, kStart).admitted);
  // The third request unit is still there.
  EXPECT_TRUE(limiter.admit(key, 100, kStart).admitted);
  const auto refused = limiter.admit(key, 0, kStart);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.message, "requests per minute (3)");
}

TEST(RateLimiter, ARequestRefusalTakesNoTokens) {
  RateLimiter limiter;
  const auto key = key_with(10, 1000);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.admit(key, 50, kStart).admitted);
  // 500 tokens left; a request refused for its request unit must not take its 400 tokens.
  ASSERT_FALSE(limiter.admit(key, 400, kStart).admitted);
  // Six seconds later: one request and 500 + 100 tokens.
  EXPECT_TRUE(limiter.admit(key, 600, kStart + seconds(6)).admitted);
}

TEST(RateLimiter, RetryAfterWaitsForBothLimits) {
  RateLimiter limiter;
  const auto key = key_with(10, 1000);
  ASSERT_TRUE(limiter.admit(key, 1000, kStart).admitted);  // tokens empty, 9 requests left
  for (int i = 0; i < 9; ++i) ASSERT_TRUE(limiter.admit(key, 0, kStart).admitted);
  const auto refused = limiter.admit(key, 500, kStart);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, seconds(30));  // tokens: 500 at 1000/min; requests: 6 s
  EXPECT_NE(refused.message.find("requests per minute (10)"), std::string::npos);
  EXPECT_NE(refused.message.find("tokens per minute (1000)"), std::string::npos);
  EXPECT_FALSE(limiter.admit(key, 500, kStart + seconds(29)).admitted);
  EXPECT_TRUE(limiter.admit(key, 500, kStart + seconds(30)).admitted);
}

TEST(RateLimiter, SettleReplacesTheEstimateByTheUse) {
  RateLimiter limiter;
  const auto key = key_with(std::nullopt, 1000);
  ASSERT_TRUE(limiter.admit(key, 800, kStart).admitted);
  ASSERT_FALSE(limiter.admit(key, 300, kStart).admitted);
  limiter.settle(key.id, 800, 100, kStart);  // 700 back: 900 left
  EXPECT_TRUE(limiter.admit(key, 900, kStart).admitted);
  EXPECT_FALSE(limiter.admit(key, 1, kStart).admitted);

  // Using more than estimated goes into debt.
  limiter.settle(key.id, 900, 1500, kStart);  // 600 more taken: -600
  const auto refused = limiter.admit(key, 0, kStart);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, seconds(36));
  EXPECT_TRUE(limiter.admit(key, 0, kStart + seconds(36)).admitted);

  // Settling a key without a bucket does nothing.
  limiter.settle("hk_ffffffffffffffff", 10, 0, kStart);
}

TEST(RateLimiter, ALimitChangeStartsAFreshBucket) {
  RateLimiter limiter;
  auto key = key_with(10, std::nullopt);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.admit(key, 0, kStart).admitted);
  ASSERT_FALSE(limiter.admit(key, 0, kStart).admitted);

  key.requests_per_minute = 20;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(limiter.admit(key, 0, kStart).admitted) << i;
  const auto refused = limiter.admit(key, 0, kStart);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, seconds(3));
  EXPECT_EQ(refused.message, "requests per minute (20)");

  // The same limit again keeps the bucket.
  EXPECT_FALSE(limiter.admit(key, 0, kStart).admitted);

  // Without a limit, everything passes; a limit set again starts full.
  key.requests_per_minute.reset();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(limiter.admit(key, 0, kStart).admitted);
  key.requests_per_minute = 20;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(limiter.admit(key, 0, kStart).admitted) << i;
  EXPECT_FALSE(limiter.admit(key, 0, kStart).admitted);

  // A tokens limit added later applies at once.
  key.requests_per_minute.reset();
  key.tokens_per_minute = 100;
  EXPECT_TRUE(limiter.admit(key, 100, kStart).admitted);
  EXPECT_FALSE(limiter.admit(key, 1, kStart).admitted);
}

TEST(RateLimiter, ConcurrentAdmissionsTakeExactlyTheLimit) {
  RateLimiter limiter;
  const auto key = key_with(100, 100'000);
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (limiter.admit(key, 10, kStart).admitted) {
          admitted.fetch_add(1);
        } else {
          refused.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), 100);
  EXPECT_EQ(refused.load(), 7900);
}

// ---- BudgetTracker

const std::string kKey = "hk_00000000000000aa";
const std::string kOtherKey = "hk_00000000000000bb";
const std::string kTenant = "acme";

TEST(BudgetTracker, ReservationsFillTheBudgetExactly) {
  for (const int parts : {1, 3, 7, 10, 49, 100}) {
    SCOPED_TRACE("parts " + std::to_string(parts));
    BudgetTracker tracker;
    const double budget = 1.0;
    const double each = budget / parts;
    for (int i = 0; i < parts; ++i) {
      const auto reservation = tracker.reserve(kKey, budget, kTenant, std::nullopt, each);
      ASSERT_TRUE(reservation) << i << ": " << reservation.error().message;
      EXPECT_NE(reservation->id, 0u);
      EXPECT_EQ(reservation->key_id, kKey);
      EXPECT_EQ(reservation->tenant, kTenant);
      EXPECT_DOUBLE_EQ(reservation->amount_usd, each);
    }
    const auto refused = tracker.reserve(kKey, budget, kTenant, std::nullopt, each);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("key " + kKey + " monthly budget $1.00"),
              std::string::npos)
        << refused.error().message;
    EXPECT_NEAR(tracker.key_spend(kKey), budget, 1e-12);
    EXPECT_NEAR(tracker.tenant_spend(kTenant), budget, 1e-12);
  }
}

TEST(BudgetTracker, ReservationIdsAreDistinct) {
  BudgetTracker tracker;
  const auto first = tracker.reserve(kKey, std::nullopt, kTenant, std::nullopt, 1);
  const auto second = tracker.reserve(kKey, std::nullopt, kTenant, std::nullopt, 1);
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->id, second->id);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 2);
}

TEST(BudgetTracker, AbsentBudgetsAreUnlimitedButSpendIsCounted) {
  BudgetTracker tracker;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(tracker.reserve(kKey, std::nullopt, kTenant, std::nullopt, 1000));
  }
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 100'000);
  EXPECT_DOUBLE_EQ(tracker.tenant_spend(kTenant), 100'000);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kOtherKey), 0);
}

TEST(BudgetTracker, AZeroBudgetRefusesAnyCostButAllowsFreeRequests) {
  BudgetTracker tracker;
  EXPECT_FALSE(tracker.reserve(kKey, 0.0, kTenant, std::nullopt, 0.0001));
  EXPECT_TRUE(tracker.reserve(kKey, 0.0, kTenant, std::nullopt, 0));
}

TEST(BudgetTracker, TheTenantBudgetCoversAllItsKeys) {
  BudgetTracker tracker;
  ASSERT_TRUE(tracker.reserve(kKey, 10.0, kTenant, 1.0, 0.6));
  const auto refused = tracker.reserve(kOtherKey, 10.0, kTenant, 1.0, 0.6);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("tenant acme monthly budget $1.00"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(tracker.reserve(kOtherKey, 10.0, kTenant, 1.0, 0.4));
  // Another tenant is not affected.
  EXPECT_TRUE(tracker.reserve(kOtherKey, 10.0, "other", 1.0, 1.0));
  EXPECT_DOUBLE_EQ(tracker.key_spend(kOtherKey), 1.4);
  EXPECT_DOUBLE_EQ(tracker.tenant_spend(kTenant), 1.0);
}

TEST(BudgetTracker, ARefusedReservationReservesNothing) {
  BudgetTracker tracker;
  ASSERT_TRUE(tracker.reserve(kKey, 1.0, kTenant, 10.0, 0.9));
  ASSERT_FALSE(tracker.reserve(kKey, 1.0, kTenant, 10.0, 0.2));
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0.9);
  EXPECT_DOUBLE_EQ(tracker.tenant_spend(kTenant), 0.9);
  // Refused by the tenant budget: the key's spend does not grow either.
  ASSERT_FALSE(tracker.reserve(kOtherKey, 100.0, kTenant, 1.0, 0.2));
  EXPECT_DOUBLE_EQ(tracker.key_spend(kOtherKey), 0);
}

TEST(BudgetTracker, SettlingLowerFreesRoom) {
  BudgetTracker tracker;
  const auto first = tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.5);
  const auto second = tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.5);
  ASSERT_TRUE(first && second);
  ASSERT_FALSE(tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.01));
  tracker.settle(*first, 0.1, 1);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0.6);
  EXPECT_TRUE(tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.4));
  EXPECT_FALSE(tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.01));
}

TEST(BudgetTracker, SettlingHigherCountsTheRealCost) {
  BudgetTracker tracker;
  const auto reservation = tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.1);
  ASSERT_TRUE(reservation);
  tracker.settle(*reservation, 0.95, 1);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0.95);
  EXPECT_FALSE(tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.1));
}

TEST(BudgetTracker, ReleaseFreesTheReservation) {
  BudgetTracker tracker;
  const auto reservation = tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 1.0);
  ASSERT_TRUE(reservation);
  ASSERT_FALSE(tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 0.5));
  tracker.release(*reservation);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0);
  EXPECT_DOUBLE_EQ(tracker.tenant_spend(kTenant), 0);
  EXPECT_TRUE(tracker.reserve(kKey, 1.0, kTenant, std::nullopt, 1.0));
}

TEST(BudgetTracker, AReservationCountsOnceWhateverHappensTwice) {
  BudgetTracker tracker;
  const auto reservation = tracker.reserve(kKey, std::nullopt, kTenant, std::nullopt, 1.0);
  ASSERT_TRUE(reservation);
  tracker.settle(*reservation, 0.5, 1);
  tracker.settle(*reservation, 0.5, 2);
  tracker.release(*reservation);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0.5);
  // The empty reservation (id 0) is nothing to settle.
  tracker.settle(BudgetTracker::Reservation{}, 3.0, 3);
  tracker.release(BudgetTracker::Reservation{});
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0.5);
}

TEST(BudgetTracker, ConcurrentReservationsNeverExceedTheBudget) {
  BudgetTracker tracker;
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        // Half the threads on each key, all under one tenant budget of $5.
        const auto& key = t % 2 == 0 ? kKey : kOtherKey;
        if (tracker.reserve(key, std::nullopt, kTenant, 5.0, 0.01)) granted.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(granted.load(), 500);
  EXPECT_LE(tracker.tenant_spend(kTenant), 5.0 + 1e-9);
  EXPECT_NEAR(tracker.key_spend(kKey) + tracker.key_spend(kOtherKey), 5.0, 1e-9);
}

TEST(BudgetTracker, ConcurrentReserveSettleAndReleaseStayWithinTheBudget) {
  BudgetTracker tracker;
  std::atomic<std::uint64_t> ticket{0};
  std::vector<std::thread> threads;
  std::atomic<bool> exceeded{false};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const auto reservation = tracker.reserve(kKey, 2.0, kTenant, std::nullopt, 0.05);
        if (tracker.key_spend(kKey) > 2.0 + 1e-9) exceeded = true;
        if (!reservation) continue;
        if ((t + i) % 2 == 0) {
          tracker.release(*reservation);
        } else {
          tracker.settle(*reservation, 0.0, ticket.fetch_add(1) + 1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(exceeded.load());
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0);
}

TEST(BudgetTracker, RefreshDropsOnlySettledAmountsTheStoreHasCounted) {
  BudgetTracker tracker;
  const std::int64_t month = month_start_us(1'700'000'000'000'000);
  tracker.refresh({}, month, 0);
  const double amounts[] = {1.0, 2.0, 4.0};
  const std::uint64_t tickets[] = {5, 10, 15};
  for (int i = 0; i < 3; ++i) {
    const auto reservation = tracker.reserve(kKey, 100.0, kTenant, std::nullopt, 5.0);
    ASSERT_TRUE(reservation);
    tracker.settle(*reservation, amounts[i], tickets[i]);
  }
  const auto in_flight = tracker.reserve(kKey, 100.0, kTenant, std::nullopt, 0.5);
  ASSERT_TRUE(in_flight);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 7.5);

  // The store has counted tickets 5 and 10 (and 20 from another gateway) so far.
  ledger::SpendTotals totals;
  totals.by_key[kKey] = 3.0 + 20.0;
  totals.by_tenant[kTenant] = 3.0 + 20.0;
  tracker.refresh(totals, month, 10);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 23.0 + 4.0 + 0.5);
  EXPECT_DOUBLE_EQ(tracker.tenant_spend(kTenant), 23.0 + 4.0 + 0.5);

  // Ticket 15 exactly at committed_through: counted by the store, dropped here.
  totals.by_key[kKey] = 27.0;
  totals.by_tenant[kTenant] = 27.0;
  tracker.refresh(totals, month, 15);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 27.5);

  tracker.release(*in_flight);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 27.0);
  EXPECT_FALSE(tracker.reserve(kKey, 27.5, kTenant, std::nullopt, 0.6));
  EXPECT_TRUE(tracker.reserve(kKey, 27.5, kTenant, std::nullopt, 0.5));
}

TEST(BudgetTracker, StoredSpendFromOtherGatewaysCountsAgainstTheBudget) {
  BudgetTracker tracker;
  ledger::SpendTotals totals;
  totals.by_key[kKey] = 4.5;
  totals.by_tenant[kTenant] = 9.5;
  tracker.refresh(totals, month_start_us(1'700'000'000'000'000), 0);
  EXPECT_FALSE(tracker.reserve(kKey, 5.0, kTenant, std::nullopt, 0.6));
  EXPECT_FALSE(tracker.reserve(kOtherKey, std::nullopt, kTenant, 10.0, 0.6));
  EXPECT_TRUE(tracker.reserve(kKey, 5.0, kTenant, 10.0, 0.5));
}

TEST(BudgetTracker, ANewMonthForgetsTheOldOne) {
  BudgetTracker tracker;
  const std::int64_t january = month_start_us(1'704'067'200'000'000);   // 2024-01-01
  const std::int64_t february = month_start_us(1'706'745'600'000'000);  // 2024-02-01
  ledger::SpendTotals january_totals;
  january_totals.by_key[kKey] = 4.0;
  january_totals.by_tenant[kTenant] = 4.0;
  tracker.refresh(january_totals, january, 0);
  const auto settled = tracker.reserve(kKey, 5.0, kTenant, std::nullopt, 1.0);
  ASSERT_TRUE(settled);
  tracker.settle(*settled, 1.0, 7);
  EXPECT_FALSE(tracker.reserve(kKey, 5.0, kTenant, std::nullopt, 0.1));

  // February: the store's totals start again and ticket 7 (a January request) is gone although
  // committed_through has not reached it.
  tracker.refresh({}, february, 3);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 0);
  EXPECT_DOUBLE_EQ(tracker.tenant_spend(kTenant), 0);
  EXPECT_TRUE(tracker.reserve(kKey, 5.0, kTenant, std::nullopt, 5.0));

  // A late answer about January changes nothing.
  tracker.refresh(january_totals, january, 100);
  EXPECT_DOUBLE_EQ(tracker.key_spend(kKey), 5.0);
}

}  // namespace
}  // namespace hearth::auth
