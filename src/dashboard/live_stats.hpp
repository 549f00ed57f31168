// What the dashboard shows of the requests this gateway answered since it started: the placement
// split, spend and avoided spend, latency percentiles over the most recent requests, the busiest
// workloads, and a per-10-second series of the last 10 minutes. The ledger holds the lasting
// record; this is the live view, kept in memory at a fixed size.
//
// Not thread-safe: the gateway records and reads it on its event-loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::dashboard {

// One finished inference request.
struct RequestSample {
  std::int64_t time_us = 0;  // Unix microseconds, when it finished
  std::string workload;      // "" : none given
  std::string placement;     // "local", "cloud", or "" when nothing answered
  int status = 0;
  double latency_ms = 0;
  double cloud_cost_usd = 0;
  double avoided_cost_usd = 0;  // a local answer, priced at the cloud target the policy would use
};

struct Totals {
  std::int64_t requests = 0;
  std::int64_t local = 0;
  std::int64_t cloud = 0;
  std::int64_t unplaced = 0;  // refused or failed before any target answered
  std::int64_t errors = 0;    // status >= 400 (499 included)
  double cloud_cost_usd = 0;
  double avoided_cost_usd = 0;
};

struct WorkloadTotals {
  std::string workload;
  Totals totals;
};

// Over the answered requests (a placement and status < 400) in the latency window.
struct LatencySummary {
  std::int64_t count = 0;
  double p50_ms = 0;
  double p95_ms = 0;
};

struct SeriesBucket {
  std::int64_t start_us = 0;
  std::int64_t local = 0;
  std::int64_t cloud = 0;
  std::int64_t unplaced = 0;
};

class LiveStats {
 public:
  static constexpr std::size_t kLatencyWindow = 2048;
  // Workload names come from request headers: beyond this many distinct ones, the rest are
  // counted under kOtherWorkloads so that a client cannot grow the map without bound.
  static constexpr std::size_t kMaxWorkloads = 500;
  static constexpr std::string_view kOtherWorkloads = "(other)";
  static constexpr std::int64_t kBucketMicros = 10'000'000;
  static constexpr std::size_t kBuckets = 60;

  void record(const RequestSample& sample);

  const Totals& totals() const { return totals_; }
  // placement "local" or "cloud"; "" for both.
  LatencySummary latency(std::string_view placement) const;
  // Most requests first; ties by name.
  std::vector<WorkloadTotals> top_workloads(std::size_t limit) const;
  // kBuckets buckets ending with the one holding `now_us`, oldest first; empty ones included.
  std::vector<SeriesBucket> series(std::int64_t now_us) const;

  // {"totals":..., "latency":{"all","local","cloud"}, "workloads":[...], "series":[...]}.
  nlohmann::json to_json(std::int64_t now_us, std::size_t workload_limit) const;

 private:
  struct LatencyPoint {
    bool local = false;
    double latency_ms = 0;
  };

  Totals totals_;
  std::map<std::string, Totals, std::less<>> workloads_;
  std::deque<LatencyPoint> latencies_;
  std::deque<SeriesBucket> buckets_;  // ascending start_us, only non-empty ones
};

}  // namespace hearth::dashboard
