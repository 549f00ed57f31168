#include "advisor/html_report.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

namespace hearth::advisor {
namespace {

// A report as `advise` would produce it for one workload, with distinctive figures.
WorkloadReport sample_workload(std::string name) {
  WorkloadReport workload;
  workload.workload = std::move(name);
  workload.requests = 1234;
  workload.monthly_requests = 2468.5;
  workload.first_half_requests = 500;
  workload.second_half_requests = 734;
  workload.trend = 0.468;
  workload.trend_words = "rising";
  workload.sensitive_requests = 37;
  workload.sensitive_share = 0.03;
  workload.local.placement = "local";
  workload.local.requests = 1000;
  workload.local.succeeded = 990;
  workload.local.success_rate = 0.99;
  workload.local.latency_p50_ms = 321.5;
  workload.local.latency_p95_ms = 876.4;
  workload.cloud.placement = "cloud";
  workload.cloud.requests = 234;
  workload.cloud.succeeded = 234;
  workload.cloud.success_rate = 1.0;
  workload.cloud.latency_p50_ms = 654.0;
  workload.cloud.latency_p95_ms = 1999.0;
  workload.cloud.cloud_cost_usd = 17.42;
  workload.fallback_requests = 12;
  workload.fallback_rate = 0.0097;
  workload.current_monthly_cloud_spend_usd = 34.84;
  workload.cloud_equivalent_monthly_usd = 181.07;
  workload.local_projection = {"local", 95.13, 12.13, 83.0, 0, 41.275, 16.51, ""};
  workload.cloud_projection = {"cloud", 181.07, 181.07, 0, 181.07, 0.0, 0.0, ""};
  workload.hybrid_projection = {"hybrid", 110.5, 27.5, 83.0, 15.37, 38.0, 15.2, ""};
  workload.break_even.month = 7;
  workload.break_even.monthly_savings_usd = 142.62;
  workload.break_even.hardware_price_usd = 999.0;
  for (int month = 0; month <= 12; ++month) {
    workload.break_even_curve.push_back({month, 999.0 + 38.45 * month, 181.07 * month});
  }
  workload.rubric = {
      {"frequent", "Is it frequent enough that per-request cost matters?", true,
       "2468.5 requests/month >= 1000"},
      {"sensitive", "Does it touch data that should stay inside?", true, "3.00% >= 1.00%"},
      {"trustworthy", "Can fallback and observability be trusted?", false,
       "local success 99.00% < 99.50%"},
  };
  workload.rubric_yes = 2;
  workload.local_candidate = true;
  workload.capability.passed = true;
  workload.capability.max_escalation_rate = 0.2;
  workload.capability.min_eval_agreement = 0.9;
  workload.capability.numbers = "escalation 1.50% <= 20.00%";
  workload.recommendation = Recommendation::move_local;
  workload.reasons = {"Moving it local saves $85.94 a month."};
  workload.policy_snippet = "- name: support\n  match: {workload: support}\n  targets: [local]\n";
  workload.daily = {{"2024-05-01", 30, 5, 1, 1.25, 0.04, 2.5},
                    {"2024-05-02", 40, 7, 0, 1.75, 0.05, 3.25}};
  LatencyHistogram local_latency{"local", {}, {}};
  LatencyHistogram cloud_latency{"cloud", {}, {}};
  for (double bound : kLatencyBucketBoundsMs) {
    local_latency.upper_bounds_ms.push_back(bound);
    cloud_latency.upper_bounds_ms.push_back(bound);
  }
  local_latency.counts.assign(local_latency.upper_bounds_ms.size() + 1, 0);
  cloud_latency.counts.assign(cloud_latency.upper_bounds_ms.size() + 1, 0);
  local_latency.counts[4] = 600;
  local_latency.counts[5] = 390;
  cloud_latency.counts[5] = 200;
  cloud_latency.counts[6] = 34;
  workload.latency_histograms = {local_latency, cloud_latency};
  return workload;
}

Report sample_report(std::string workload_name = "support") {
  Report report;
  report.since_us = 1714521600LL * 1'000'000;  // 2024-05-01
  report.until_us = report.since_us + 30LL * 86400 * 1'000'000;
  report.window_days = 30;
  report.generated_us = report.until_us;
  report.ledger_kind = "sqlite";
  report.records = 1234;
  report.local_costs.hardware_price_usd = 999;
  report.local_costs.power_busy_watts = 250;
  report.local_costs.power_idle_watts = 60;
  report.local_costs.electricity_usd_per_kwh = 0.3;
  report.workloads.push_back(sample_workload(std::move(workload_name)));
  report.current_monthly_cloud_spend_usd = 34.84;
  report.projected_monthly_cost_usd = 95.13;
  return report;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Checks that the elements open and close in a properly nested order (void elements and `/>`
// excepted) and returns the problem, or "" when the document nests. Text inside <style> is
// skipped; comments are not expected.
std::string nesting_problem(const std::string& html) {
  static const std::set<std::string> kVoid = {"meta",  "br",   "hr",  "img",
                                              "input", "link", "col", "wbr"};
  std::vector<std::string> open;
  std::size_t at = 0;
  while ((at = html.find('<', at)) != std::string::npos) {
    if (html.compare(at, 2, "<!") == 0) {  // <!DOCTYPE html>
      at = html.find('>', at);
      continue;
    }
    const bool closing = html.compare(at, 2, "</") == 0;
    std::size_t name_start = at + (closing ? 2 : 1);
    std::size_t name_end = name_start;
    while (name_end < html.size() &&
           (std::isalnum(static_cast<unsigned char>(html[name_end])) || html[name_end] == '-')) {
      ++name_end;
    }
    const std::string name = html.substr(name_start, name_end - name_start);
    if (name.empty()) {
      return "a '<' that starts no tag at offset " + std::to_string(at);
    }
    const std::size_t end = html.find('>', name_end);
    if (end == std::string::npos) {
      return "an unterminated tag <" + name;
    }
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
      }
      open.pop_back();
    } else if (html[end - 1] != '/' && !kVoid.contains(name)) {
      open.push_back(name);
      if (name == "style") {
        at = html.find("</style>", end);
        continue;
      }
    }
    at = end + 1;
  }
  return open.empty() ? "" : "<" + open.back() + "> is never closed";
}

TEST(HtmlReport, ShowsTheReportsNumbers) {
  const std::string html = render_html(sample_report());
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  for (const char* expected : {"support",
                               "Move local",
                               "Moving it local saves $85.94 a month.",
                               "1234",
                               "2468.5",
                               "rising",
                               "3.00%",
                               "99.00%",
                               "321.5 ms",
                               "876.4 ms",
                               "654.0 ms",
                               "1999.0 ms",
                               "$17.42",
                               "$34.84",
                               "$181.07",
                               "$95.13",
                               "$12.13",
                               "$83.00",
                               "$110.50",
                               "$15.37",
                               "41.275",
                               "16.510",
                               "Month 7",
                               "$142.62",
                               "$999.00",
                               "2468.5 requests/month &gt;= 1000",
                               "local success 99.00% &lt; 99.50%",
                               "escalation 1.50% &lt;= 20.00%",
                               "match: {workload: support}",
                               "2024-05-01 00:00 UTC",
                               "sqlite"}) {
    EXPECT_TRUE(contains(html, expected)) << "missing: " << expected;
  }
}

TEST(HtmlReport, DrawsEachChartAsInlineSvg) {
  const std::string html = render_html(sample_report());
  for (const char* chart : {"Spend per day for support", "Requests per day for support",
                            "Latency distribution for support", "Break-even curve for support"}) {
    EXPECT_TRUE(contains(html, std::string("aria-label=\"") + chart + "\"")) << chart;
  }
  // Bars carry their value as a tooltip; the break-even month is marked on the curve.
  EXPECT_TRUE(contains(html, "05-02: cloud spend $1.75")) << "a spend bar";
  EXPECT_TRUE(contains(html, "05-01: local 30")) << "a volume bar";
  EXPECT_TRUE(contains(html, ": local 600")) << "a latency bucket";
  EXPECT_TRUE(contains(html, "break-even: month 7"));
  EXPECT_TRUE(contains(html, "month 12: cloud-equivalent $2172.84"));
}

TEST(HtmlReport, IsSelfContainedAndNestsProperly) {
  const std::string html = render_html(sample_report());
  EXPECT_EQ(nesting_problem(html), "");
  EXPECT_FALSE(contains(html, "<script"));
  EXPECT_FALSE(contains(html, "src="));
  EXPECT_FALSE(contains(html, "http://") &&
               html.find("http://") != html.find("http://www.w3.org/2000/svg"));
  EXPECT_FALSE(contains(html, "https://"));
  EXPECT_TRUE(contains(html, "default-src 'none'"));
  const auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = html.find(needle); at != std::string::npos;
         at = html.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("<svg"), 4u);
  EXPECT_EQ(count("<svg"), count("</svg>"));
  EXPECT_EQ(count("<table"), count("</table>"));
  EXPECT_EQ(count("<section"), count("</section>"));
}

TEST(HtmlReport, EscapesWorkloadNamesEverywhere) {
  const std::string html = render_html(sample_report("<script>alert('x')</script>"));
  EXPECT_FALSE(contains(html, "<script"));
  EXPECT_TRUE(contains(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  EXPECT_EQ(nesting_problem(html), "");
}

TEST(HtmlReport, AnEmptyReportSaysSo) {
  Report report;
  report.window_days = 30;
  const std::string html = render_html(report);
  EXPECT_TRUE(contains(html, "No requests in the window."));
  EXPECT_EQ(nesting_problem(html), "");
}

TEST(HtmlReport, AWorkloadWithoutDataHasEmptyCharts) {
  Report report;
  WorkloadReport workload;
  workload.workload = "";
  workload.recommendation = Recommendation::not_enough_data;
  workload.reasons = {"Only 3 requests in the window; at least 100 are needed."};
  report.workloads.push_back(workload);
  const std::string html = render_html(report);
  EXPECT_TRUE(contains(html, "(none)"));
  EXPECT_TRUE(contains(html, "Not enough data"));
  EXPECT_TRUE(contains(html, "no data in the window"));
  EXPECT_EQ(nesting_problem(html), "");
}

TEST(HtmlEscape, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(html_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
  EXPECT_EQ(html_escape("plain ü"), "plain ü");
}

}  // namespace
}  // namespace hearth::advisor
