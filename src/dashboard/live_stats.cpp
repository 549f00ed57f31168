#include "dashboard/live_stats.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/percentile.hpp"

namespace hearth::dashboard {

namespace {

void add(Totals& totals, const RequestSample& sample) {
  ++totals.requests;
  if (sample.placement == "local") {
    ++totals.local;
  } else if (sample.placement == "cloud") {
    ++totals.cloud;
  } else {
    ++totals.unplaced;
  }
  if (sample.status >= 400) {
    ++totals.errors;
  }
  totals.cloud_cost_usd += sample.cloud_cost_usd;
  totals.avoided_cost_usd += sample.avoided_cost_usd;
}

nlohmann::json totals_json(const Totals& totals) {
  return {{"requests", totals.requests},
          {"local", totals.local},
          {"cloud", totals.cloud},
          {"unplaced", totals.unplaced},
          {"errors", totals.errors},
          {"cloud_cost_usd", totals.cloud_cost_usd},
          {"avoided_cost_usd", totals.avoided_cost_usd}};
}

nlohmann::json latency_json(const LatencySummary& summary) {
  return {{"count", summary.count}, {"p50_ms", summary.p50_ms}, {"p95_ms", summary.p95_ms}};
}

std::int64_t bucket_start(std::int64_t time_us) {
  const auto index = time_us / LiveStats::kBucketMicros - (time_us % LiveStats::kBucketMicros < 0);
  return index * LiveStats::kBucketMicros;
}

}  // namespace

void LiveStats::record(const RequestSample& sample) {
  add(totals_, sample);
  auto found = workloads_.find(sample.workload);
  if (found == workloads_.end()) {
    const std::string name =
        workloads_.size() < kMaxWorkloads ? sample.workload : std::string(kOtherWorkloads);
    found = workloads_.try_emplace(name).first;
  }
  add(found->second, sample);

  if (!sample.placement.empty() && sample.status < 400) {
    latencies_.push_back({sample.placement == "local", sample.latency_ms});
    if (latencies_.size() > kLatencyWindow) {
      latencies_.pop_front();
    }
  }

  const auto start = bucket_start(sample.time_us);
  if (buckets_.empty() || buckets_.back().start_us < start) {
    buckets_.push_back({start, 0, 0, 0});
  }
  // A sample older than the newest bucket (the wall clock stepped back) goes into the newest one.
  auto& bucket = buckets_.back();
  if (sample.placement == "local") {
    ++bucket.local;
  } else if (sample.placement == "cloud") {
    ++bucket.cloud;
  } else {
    ++bucket.unplaced;
  }
  while (!buckets_.empty() &&
         buckets_.front().start_us <= start - static_cast<std::int64_t>(kBuckets) * kBucketMicros) {
    buckets_.pop_front();
  }
}

LatencySummary LiveStats::latency(std::string_view placement) const {
  std::vector<double> values;
  values.reserve(latencies_.size());
  for (const auto& point : latencies_) {
    if (placement.empty() || (placement == "local") == point.local) {
      values.push_back(point.latency_ms);
    }
  }
  LatencySummary summary;
  summary.count = static_cast<std::int64_t>(values.size());
  summary.p50_ms = nearest_rank(values, 50);
  summary.p95_ms = nearest_rank(values, 95);
  return summary;
}

std::vector<WorkloadTotals> LiveStats::top_workloads(std::size_t limit) const {
  std::vector<WorkloadTotals> rows;
  rows.reserve(workloads_.size());
  for (const auto& [name, totals] : workloads_) {
    rows.push_back({name, totals});
  }
  // workloads_ is ordered by name and stable_sort keeps that order among equal counts.
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.totals.requests > b.totals.requests;
  });
  if (rows.size() > limit) {
    rows.resize(limit);
  }
  return rows;
}

std::vector<SeriesBucket> LiveStats::series(std::int64_t now_us) const {
  const auto last = std::max(bucket_start(now_us), buckets_.empty() ? 0 : buckets_.back().start_us);
  std::vector<SeriesBucket> result;
  result.reserve(kBuckets);
  auto next = buckets_.begin();
  for (std::size_t i = 0; i < kBuckets; ++i) {
    const auto start =
        last - static_cast<std::int64_t>(kBuckets - 1 - i) * LiveStats::kBucketMicros;
    while (next != buckets_.end() && next->start_us < start) {
      ++next;
    }
    if (next != buckets_.end() && next->start_us == start) {
      result.push_back(*next);
    } else {
      result.push_back({start, 0, 0, 0});
    }
  }
  return result;
}

nlohmann::json LiveStats::to_json(std::int64_t now_us, std::size_t workload_limit) const {
  nlohmann::json workloads = nlohmann::json::array();
  for (const auto& row : top_workloads(workload_limit)) {
    auto entry = totals_json(row.totals);
    entry["workload"] = row.workload;
    entry["share"] = totals_.requests == 0 ? 0.0
                                           : static_cast<double>(row.totals.requests) /
                                                 static_cast<double>(totals_.requests);
    workloads.push_back(std::move(entry));
  }
  nlohmann::json series_json = nlohmann::json::array();
  for (const auto& bucket : series(now_us)) {
    series_json.push_back({{"start", static_cast<double>(bucket.start_us) / 1e6},
                           {"local", bucket.local},
                           {"cloud", bucket.cloud},
                           {"unplaced", bucket.unplaced}});
  }
  return {{"totals", totals_json(totals_)},
          {"latency",
           {{"window", kLatencyWindow},
            {"all", latency_json(latency(""))},
            {"local", latency_json(latency("local"))},
            {"cloud", latency_json(latency("cloud"))}}},
          {"workloads", std::move(workloads)},
          {"series", {{"bucket_seconds", kBucketMicros / 1'000'000}, {"buckets", series_json}}}};
}

}  // namespace hearth::dashboard
