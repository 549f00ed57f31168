// The data behind the dashboard (GET /admin/dashboard, shown by the page at /ui): the live view
// of the requests this gateway answered (dashboard::LiveStats, on the event-loop thread), and
// what only the ledger knows: this month's totals and the advisor's recommendations over the last
// 30 days. Those read the store, which can take seconds on a large ledger, so a background
// thread computes them when the dashboard asks and they are stale (month: 10 s, advice: 60 s);
// the endpoint answers at once with the latest results, never waiting for the store. Nobody
// looking at the dashboard: no query runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "advisor/advisor.hpp"
#include "config/config.hpp"
#include "dashboard/live_stats.hpp"
#include "ledger/records.hpp"
#include "ledger/store.hpp"

namespace hearth::gateway {

// Per worker, the gauges its /metrics reports (relabelled with model="NAME" by the gateway).
struct WorkerGauges {
  double queue_depth = 0;
  double busy_slots = 0;
  double slots = 0;
};
// From ModelManager::scrape_worker_metrics() text, by model name.
std::map<std::string, WorkerGauges> parse_worker_gauges(std::string_view metrics_text);

// {"status":"ok","since":S,"requests","local","cloud","unplaced","errors","cloud_cost_usd",
// "avoided_cost_usd"} from the store's totals grouped by placement.
nlohmann::json month_json(const std::vector<ledger::UsageSummaryRow>& by_placement,
                          std::int64_t since_us);
// The items of "recommendations": per workload, the recommendation, its reasons and the numbers
// a table row shows.
nlohmann::json recommendation_items(const advisor::Report& report);

class Dashboard {
 public:
  static constexpr std::chrono::seconds kMonthRefresh{10};
  static constexpr std::chrono::seconds kAdviceRefresh{60};
  static constexpr int kAdviceWindowDays = 30;
  static constexpr std::size_t kTopWorkloads = 10;

  // `store` null: no ledger (ledger.store: off); the ledger-side parts say "unavailable".
  explicit Dashboard(ledger::Store* store);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Waits for a computation in progress, then joins the thread. Call before the store closes.
  void stop();

  // Event-loop thread only.
  void record(const dashboard::RequestSample& sample) { live_.record(sample); }
  const dashboard::LiveStats& live() const { return live_; }

  // "month" and "recommendations" of the endpoint as last computed; asks for fresh ones when
  // they are stale (computed with `config`, the configuration of the asking request).
  struct LedgerSide {
    nlohmann::json month;
    nlohmann::json recommendations;
  };
  LedgerSide ledger_side(std::shared_ptr<const config::Config> config);

  std::int64_t started_us() const { return started_us_; }

 private:
  void run();

  ledger::Store* store_;
  std::int64_t started_us_;
  dashboard::LiveStats live_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool month_wanted_ = false;
  bool advice_wanted_ = false;
  std::shared_ptr<const config::Config> wanted_config_;
  std::chrono::steady_clock::time_point month_asked_{};
  std::chrono::steady_clock::time_point advice_asked_{};
  bool month_asked_once_ = false;
  bool advice_asked_once_ = false;
  nlohmann::json month_;
  nlohmann::json recommendations_;
  std::thread thread_;
};

}  // namespace hearth::gateway
