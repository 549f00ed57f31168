#include <gtest/gtest.h>

#include "gateway/dashboard.hpp"

namespace hearth::gateway {
namespace {

TEST(DashboardData, WorkerGaugesAreReadFromTheRelabelledScrape) {
  const auto gauges = parse_worker_gauges(
      "# HELP hearth_worker_queue_depth Requests waiting for a free slot\n"
      "# TYPE hearth_worker_queue_depth gauge\n"
      "hearth_worker_queue_depth{model=\"stories\"} 3\n"
      "hearth_worker_busy_slots{model=\"stories\"} 2\n"
      "hearth_worker_slots{model=\"stories\"} 4\n"
      "hearth_worker_queue_depth{model=\"tiny\",x=\"y\"} 0.5\n"
      "hearth_worker_requests_total{model=\"stories\",endpoint=\"chat\"} 99\n"
      "hearth_worker_queue_depth{model=\"broken\"} not-a-number\n"
      "hearth_worker_slots 7\n");
  ASSERT_EQ(gauges.size(), 2u);
  EXPECT_EQ(gauges.at("stories").queue_depth, 3);
  EXPECT_EQ(gauges.at("stories").busy_slots, 2);
  EXPECT_EQ(gauges.at("stories").slots, 4);
  EXPECT_EQ(gauges.at("tiny").queue_depth, 0.5);
}

TEST(DashboardData, TheMonthAddsUpThePlacements) {
  std::vector<ledger::UsageSummaryRow> rows(3);
  rows[0].group = "local";
  rows[0].requests = 6;
  rows[0].avoided_cost_usd = 0.25;
  rows[1].group = "cloud";
  rows[1].requests = 4;
  rows[1].errors = 1;
  rows[1].cloud_cost_usd = 0.5;
  rows[2].group = "";
  rows[2].requests = 2;
  rows[2].errors = 2;
  const auto json = month_json(rows, 1'700'000'000'000'000);
  EXPECT_EQ(json["status"], "ok");
  EXPECT_EQ(json["since"], 1'700'000'000.0);
  EXPECT_EQ(json["requests"], 12);
  EXPECT_EQ(json["local"], 6);
  EXPECT_EQ(json["cloud"], 4);
  EXPECT_EQ(json["unplaced"], 2);
  EXPECT_EQ(json["errors"], 3);
  EXPECT_EQ(json["cloud_cost_usd"], 0.5);
  EXPECT_EQ(json["avoided_cost_usd"], 0.25);
}

TEST(DashboardData, RecommendationsCarryTheProjectedCostOfTheirPlacement) {
  advisor::Report report;
  advisor::WorkloadReport moved;
  moved.workload = "support";
  moved.recommendation = advisor::Recommendation::move_local;
  moved.reasons = {"cheaper"};
  moved.local_projection.monthly_cost_usd = 10;
  moved.cloud_projection.monthly_cost_usd = 30;
  moved.break_even.month = 4;
  advisor::WorkloadReport unknown;
  unknown.workload = "new";
  unknown.cloud_equivalent_monthly_usd = 7;
  unknown.break_even.never = true;
  report.workloads = {moved, unknown};
  const auto items = recommendation_items(report);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["workload"], "support");
  EXPECT_EQ(items[0]["recommendation"], "move_local");
  EXPECT_EQ(items[0]["recommendation_words"], "Move local");
  EXPECT_EQ(items[0]["reasons"], nlohmann::json::array({"cheaper"}));
  EXPECT_EQ(items[0]["projected_monthly_cost_usd"], 10.0);
  EXPECT_EQ(items[0]["break_even_month"], 4);
  EXPECT_EQ(items[1]["recommendation"], "not_enough_data");
  EXPECT_EQ(items[1]["projected_monthly_cost_usd"], 7.0);
  EXPECT_TRUE(items[1]["break_even_month"].is_null());
  EXPECT_EQ(items[1]["break_even_never"], true);
}

TEST(DashboardData, WithoutALedgerTheLedgerSideIsUnavailable) {
  Dashboard dashboard(nullptr);
  const auto side = dashboard.ledger_side(nullptr);
  EXPECT_EQ(side.month["status"], "unavailable");
  EXPECT_EQ(side.recommendations["status"], "unavailable");
  EXPECT_TRUE(side.recommendations["items"].empty());
}

}  // namespace
}  // namespace hearth::gateway
