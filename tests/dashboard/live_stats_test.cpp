#include "dashboard/live_stats.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace hearth::dashboard {
namespace {

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kNow = 1'700'000'000 * kSecond;

RequestSample sample(std::string workload, std::string placement, int status, double latency_ms,
                     std::int64_t time_us = kNow) {
  RequestSample result;
  result.time_us = time_us;
  result.workload = std::move(workload);
  result.placement = std::move(placement);
  result.status = status;
  result.latency_ms = latency_ms;
  return result;
}

TEST(LiveStats, CountsThePlacementSplitSpendAndErrors) {
  LiveStats stats;
  auto local = sample("support", "local", 200, 100);
  local.avoided_cost_usd = 0.25;
  auto cloud = sample("summaries", "cloud", 200, 300);
  cloud.cloud_cost_usd = 0.5;
  stats.record(local);
  stats.record(local);
  stats.record(cloud);
  stats.record(sample("summaries", "", 503, 5));
  const auto& totals = stats.totals();
  EXPECT_EQ(totals.requests, 4);
  EXPECT_EQ(totals.local, 2);
  EXPECT_EQ(totals.cloud, 1);
  EXPECT_EQ(totals.unplaced, 1);
  EXPECT_EQ(totals.errors, 1);
  EXPECT_DOUBLE_EQ(totals.avoided_cost_usd, 0.5);
  EXPECT_DOUBLE_EQ(totals.cloud_cost_usd, 0.5);

  const auto top = stats.top_workloads(10);
  ASSERT_EQ(top.size(), 2u);
  // Equal counts: by name.
  EXPECT_EQ(top[0].workload, "summaries");
  EXPECT_EQ(top[0].totals.requests, 2);
  EXPECT_EQ(top[0].totals.cloud, 1);
  EXPECT_EQ(top[0].totals.unplaced, 1);
  EXPECT_EQ(top[1].workload, "support");
  EXPECT_EQ(top[1].totals.local, 2);
  EXPECT_EQ(stats.top_workloads(1).size(), 1u);
}

TEST(LiveStats, LatencyPercentilesCoverAnsweredRequestsByPlacement) {
  LiveStats stats;
  for (int i = 1; i <= 20; ++i) {
    stats.record(sample("w", "local", 200, i * 10.0));
  }
  stats.record(sample("w", "cloud", 200, 1000));
  stats.record(sample("w", "cloud", 200, 2000));
  stats.record(sample("w", "local", 500, 99999));  // failed: not a latency of an answer
  stats.record(sample("w", "", 503, 99999));       // nothing answered
  EXPECT_EQ(stats.latency("local").count, 20);
  EXPECT_EQ(stats.latency("local").p50_ms, 100);
  EXPECT_EQ(stats.latency("local").p95_ms, 190);
  EXPECT_EQ(stats.latency("cloud").count, 2);
  EXPECT_EQ(stats.latency("cloud").p50_ms, 1000);
  EXPECT_EQ(stats.latency("cloud").p95_ms, 2000);
  EXPECT_EQ(stats.latency("").count, 22);
  EXPECT_EQ(stats.latency("").p95_ms, 1000);  // the 21st of 22
}

TEST(LiveStats, TheLatencyWindowKeepsTheMostRecent) {
  LiveStats stats;
  for (std::size_t i = 0; i < LiveStats::kLatencyWindow; ++i) {
    stats.record(sample("w", "local", 200, 5000));
  }
  for (std::size_t i = 0; i < LiveStats::kLatencyWindow; ++i) {
    stats.record(sample("w", "local", 200, 10));
  }
  const auto summary = stats.latency("local");
  EXPECT_EQ(summary.count, static_cast<std::int64_t>(LiveStats::kLatencyWindow));
  EXPECT_EQ(summary.p95_ms, 10);
  EXPECT_EQ(stats.totals().requests, static_cast<std::int64_t>(2 * LiveStats::kLatencyWindow));
}

TEST(LiveStats, WorkloadNamesAreBounded) {
  LiveStats stats;
  for (std::size_t i = 0; i < LiveStats::kMaxWorkloads + 50; ++i) {
    std::string name = "w";
    name += std::to_string(i);
    stats.record(sample(name, "local", 200, 1));
  }
  stats.record(sample("w0", "local", 200, 1));  // known: still counted under its own name
  const auto top = stats.top_workloads(LiveStats::kMaxWorkloads + 100);
  EXPECT_EQ(top.size(), LiveStats::kMaxWorkloads + 1);
  EXPECT_EQ(top[0].workload, LiveStats::kOtherWorkloads);
  EXPECT_EQ(top[0].totals.requests, 50);
  EXPECT_EQ(top[1].workload, "w0");
  EXPECT_EQ(top[1].totals.requests, 2);
}

TEST(LiveStats, TheSeriesHasSixtyTenSecondBucketsEndingNow) {
  LiveStats stats;
  const std::int64_t now = kNow + 5 * kSecond;  // kNow is on a bucket boundary
  stats.record(sample("w", "local", 200, 1, kNow - 3600 * kSecond));  // long gone
  stats.record(sample("w", "local", 200, 1, kNow - 25 * kSecond));
  stats.record(sample("w", "cloud", 200, 1, kNow - 25 * kSecond));
  stats.record(sample("w", "local", 200, 1, kNow + 1 * kSecond));
  stats.record(sample("w", "", 503, 1, kNow + 2 * kSecond));
  const auto series = stats.series(now);
  ASSERT_EQ(series.size(), LiveStats::kBuckets);
  EXPECT_EQ(series.back().start_us, kNow);
  EXPECT_EQ(series.back().local, 1);
  EXPECT_EQ(series.back().unplaced, 1);
  EXPECT_EQ(series.front().start_us, kNow - 59 * LiveStats::kBucketMicros);
  const auto& earlier = series[series.size() - 4];  // [kNow - 30 s, kNow - 20 s)
  EXPECT_EQ(earlier.start_us, kNow - 30 * kSecond);
  EXPECT_EQ(earlier.local, 1);
  EXPECT_EQ(earlier.cloud, 1);
  std::int64_t total = 0;
  for (const auto& bucket : series) {
    total += bucket.local + bucket.cloud + bucket.unplaced;
  }
  EXPECT_EQ(total, 4);  // the hour-old request is outside the window
  // Nothing recorded for a while: the window moves on with the clock.
  const auto later = stats.series(now + 20 * 60 * kSecond);
  for (const auto& bucket : later) {
    EXPECT_EQ(bucket.local + bucket.cloud + bucket.unplaced, 0);
  }
}

TEST(LiveStats, JsonCarriesEveryPart) {
  LiveStats stats;
  stats.record(sample("support", "local", 200, 40));
  stats.record(sample("support", "cloud", 200, 80));
  const auto json = stats.to_json(kNow, 10);
  EXPECT_EQ(json["totals"]["requests"], 2);
  EXPECT_EQ(json["totals"]["local"], 1);
  EXPECT_EQ(json["totals"]["cloud"], 1);
  EXPECT_EQ(json["latency"]["local"]["p50_ms"], 40.0);
  EXPECT_EQ(json["latency"]["cloud"]["p95_ms"], 80.0);
  EXPECT_EQ(json["latency"]["all"]["count"], 2);
  ASSERT_EQ(json["workloads"].size(), 1u);
  EXPECT_EQ(json["workloads"][0]["workload"], "support");
  EXPECT_EQ(json["workloads"][0]["share"], 1.0);
  EXPECT_EQ(json["series"]["bucket_seconds"], 10);
  EXPECT_EQ(json["series"]["buckets"].size(), LiveStats::kBuckets);
}

}  // namespace
}  // namespace hearth::dashboard
