#include "advisor/html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hearth::advisor {

namespace {

using Formatter = std::function<std::string(double)>;

// ---- Text ----------------------------------------------------------------------------------

std::string fixed(double value, int decimals) {
  // -0.00 would read as a loss of nothing.
  if (std::abs(value) < 0.5 * std::pow(10.0, -decimals)) {
    value = 0;
  }
  return fmt::format("{:.{}f}", value, decimals);
}

std::string money(double usd) {
  return fmt::format("{}${}", usd < 0 ? "-" : "", fixed(std::abs(usd), 2));
}

std::string percent(double rate) { return fixed(rate * 100, 2) + "%"; }

std::string optional_percent(const std::optional<double>& rate) {
  return rate ? percent(*rate) : "n/a";
}

std::string milliseconds(const std::optional<double>& ms) {
  return ms ? fixed(*ms, 1) + " ms" : "n/a";
}

// Axis labels: at most two decimals, trailing zeros dropped.
std::string short_number(double value) {
  std::string text = fixed(value, 2);
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') {
      text.pop_back();
    }
    if (text.back() == '.') {
      text.pop_back();
    }
  }
  return text;
}

std::string utc_time(std::int64_t time_us) {
  const auto seconds = static_cast<std::time_t>(time_us / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &utc);
  return text;
}

std::string workload_name(const WorkloadReport& workload) {
  return workload.workload.empty() ? "(none)" : workload.workload;
}

// ---- Charts (inline SVG) -------------------------------------------------------------------

struct Series {
  std::string name;
  std::string css;  // the class that colours it: local, cloud, other, avoided
  std::vector<double> values;
};

constexpr double kWidth = 720;
constexpr double kHeight = 240;
constexpr double kLeft = 70;
constexpr double kRight = 16;
constexpr double kTop = 14;
constexpr double kBottom = 36;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kPlotHeight = kHeight - kTop - kBottom;
constexpr int kYTicks = 4;
constexpr std::size_t kMaxXLabels = 10;

// The smallest 1, 2, 2.5 or 5 x 10^k at or above `value`: round axis maxima.
double nice_ceiling(double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    return 1;
  }
  const double power = std::pow(10.0, std::floor(std::log10(value)));
  for (double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (step * power >= value * (1 - 1e-12)) {
      return step * power;
    }
  }
  return 10 * power;
}

std::string px(double value) { return fixed(value, 1); }

std::string legend(const std::vector<Series>& series) {
  std::string html = "<div class=\"legend\">";
  for (const auto& item : series) {
    html += fmt::format("<span><i class=\"swatch {}\"></i>{}</span>", html_escape(item.css),
                        html_escape(item.name));
  }
  return html + "</div>";
}

std::string svg_open(std::string_view title) {
  return fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
      kWidth, kHeight, kWidth, kHeight, html_escape(title), html_escape(title));
}

// Horizontal grid lines and y labels from 0 to `top`.
std::string y_axis(double top, const Formatter& format) {
  std::string svg;
  for (int tick = 0; tick <= kYTicks; ++tick) {
    const double value = top * tick / kYTicks;
    const double y = kTop + kPlotHeight - kPlotHeight * tick / kYTicks;
    svg += fmt::format(
        "<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>"
        "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        px(kLeft), px(y), px(kLeft + kPlotWidth), px(y), px(kLeft - 6), px(y + 4),
        html_escape(format(value)));
  }
  return svg;
}

std::string x_label(double x, std::string_view text) {
  return fmt::format("<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                     px(x), px(kTop + kPlotHeight + 18), html_escape(text));
}

std::string no_data(std::string_view title) {
  return svg_open(title) +
         fmt::format(
             "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data in "
             "the window</text></svg>",
             px(kWidth / 2), px(kHeight / 2));
}

// Bars per label: stacked (one bar, the series on top of each other) or grouped (side by side).
std::string bar_chart(std::string_view title, const std::vector<std::string>& labels,
                      const std::vector<Series>& series, bool stacked, const Formatter& format) {
  double largest = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    double sum = 0;
    for (const auto& item : series) {
      const double value = i < item.values.size() ? std::max(0.0, item.values[i]) : 0;
      sum = stacked ? sum + value : std::max(sum, value);
    }
    largest = std::max(largest, sum);
  }
  std::string html = legend(series);
  if (labels.empty() || largest <= 0) {
    return html + no_data(title);
  }
  const double top = nice_ceiling(largest);
  const double slot = kPlotWidth / static_cast<double>(labels.size());
  std::string svg = svg_open(title) + y_axis(top, format);
  const std::size_t label_step = (labels.size() + kMaxXLabels - 1) / kMaxXLabels;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double slot_left = kLeft + slot * static_cast<double>(i);
    double stacked_height = 0;
    for (std::size_t s = 0; s < series.size(); ++s) {
      const double value = i < series[s].values.size() ? std::max(0.0, series[s].values[i]) : 0;
      if (value <= 0) {
        continue;
      }
      const double height = kPlotHeight * value / top;
      double x = 0;
      double width = 0;
      double y = 0;
      if (stacked) {
        width = slot * 0.7;
        x = slot_left + slot * 0.15;
        stacked_height += height;
        y = kTop + kPlotHeight - stacked_height;
      } else {
        width = slot * 0.8 / static_cast<double>(series.size());
        x = slot_left + slot * 0.1 + width * static_cast<double>(s);
        y = kTop + kPlotHeight - height;
      }
      svg += fmt::format(
          "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}: {} "
          "{}</title></rect>",
          html_escape(series[s].css), px(x), px(y), px(std::max(width, 0.5)),
          px(std::max(height, 0.5)), html_escape(labels[i]), html_escape(series[s].name),
          html_escape(format(value)));
    }
    if (i % label_step == 0) {
      svg += x_label(slot_left + slot / 2, labels[i]);
    }
  }
  svg +=
      fmt::format("<line class=\"axis-line\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", px(kLeft),
                  px(kTop + kPlotHeight), px(kLeft + kPlotWidth), px(kTop + kPlotHeight));
  return html + svg + "</svg>";
}

// Lines over months 0..N, with a marker at `marker_month` (the break-even month).
std::string line_chart(std::string_view title, const std::vector<int>& months,
                       const std::vector<Series>& series, const Formatter& format,
                       std::optional<int> marker_month) {
  double largest = 0;
  for (const auto& item : series) {
    for (double value : item.values) {
      largest = std::max(largest, value);
    }
  }
  std::string html = legend(series);
  if (months.size() < 2 || largest <= 0) {
    return html + no_data(title);
  }
  const double top = nice_ceiling(largest);
  const double first = months.front();
  const double span = std::max(1.0, static_cast<double>(months.back()) - first);
  const auto x_of = [&](double month) { return kLeft + kPlotWidth * (month - first) / span; };
  const auto y_of = [&](double value) {
    return kTop + kPlotHeight - kPlotHeight * std::max(0.0, value) / top;
  };
  std::string svg = svg_open(title) + y_axis(top, format);
  const std::size_t label_step = (months.size() + kMaxXLabels - 1) / kMaxXLabels;
  for (std::size_t i = 0; i < months.size(); i += label_step) {
    svg += x_label(x_of(months[i]), fmt::format("m{}", months[i]));
  }
  if (marker_month) {
    const double x = x_of(*marker_month);
    svg += fmt::format(
        "<line class=\"marker\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>"
        "<text class=\"marker-label\" x=\"{}\" y=\"{}\">break-even: month {}</text>",
        px(x), px(kTop), px(x), px(kTop + kPlotHeight), px(x + 4), px(kTop + 12), *marker_month);
  }
  for (const auto& item : series) {
    std::string points;
    std::string dots;
    for (std::size_t i = 0; i < months.size() && i < item.values.size(); ++i) {
      const double x = x_of(months[i]);
      const double y = y_of(item.values[i]);
      points += fmt::format("{}{},{}", points.empty() ? "" : " ", px(x), px(y));
      dots += fmt::format(
          "<circle class=\"{}\" cx=\"{}\" cy=\"{}\" r=\"2.5\"><title>month {}: {} "
          "{}</title></circle>",
          html_escape(item.css), px(x), px(y), months[i], html_escape(item.name),
          html_escape(format(item.values[i])));
    }
    svg +=
        fmt::format("<polyline class=\"line {}\" points=\"{}\"/>", html_escape(item.css), points) +
        dots;
  }
  return html + svg + "</svg>";
}

Formatter money_axis() {
  return [](double value) { return fmt::format("${}", short_number(value)); };
}

Formatter count_axis() {
  return [](double value) { return short_number(value); };
}

std::string figure(std::string_view caption, std::string chart) {
  return fmt::format("<figure><figcaption>{}</figcaption>{}</figure>", html_escape(caption), chart);
}

std::string spend_chart(const WorkloadReport& workload) {
  std::vector<std::string> days;
  Series cloud{"cloud spend", "cloud", {}};
  Series local{"local electricity", "local", {}};
  Series avoided{"avoided cloud spend", "avoided", {}};
  for (const auto& point : workload.daily) {
    days.push_back(point.day.size() > 5 ? point.day.substr(5) : point.day);
    cloud.values.push_back(point.cloud_spend_usd);
    local.values.push_back(point.local_energy_cost_usd);
    avoided.values.push_back(point.avoided_cost_usd);
  }
  return figure("Spend per day by placement (UTC days)",
                bar_chart(fmt::format("Spend per day for {}", workload_name(workload)), days,
                          {cloud, local, avoided}, false, money_axis()));
}

std::string volume_chart(const WorkloadReport& workload) {
  std::vector<std::string> days;
  Series local{"local", "local", {}};
  Series cloud{"cloud", "cloud", {}};
  Series other{"unanswered", "other", {}};
  for (const auto& point : workload.daily) {
    days.push_back(point.day.size() > 5 ? point.day.substr(5) : point.day);
    local.values.push_back(static_cast<double>(point.local_requests));
    cloud.values.push_back(static_cast<double>(point.cloud_requests));
    other.values.push_back(static_cast<double>(point.other_requests));
  }
  return figure("Requests per day by placement",
                bar_chart(fmt::format("Requests per day for {}", workload_name(workload)), days,
                          {local, cloud, other}, true, count_axis()));
}

std::string latency_chart(const WorkloadReport& workload) {
  std::vector<std::string> buckets;
  const auto bounds =
      std::vector<double>(std::begin(kLatencyBucketBoundsMs), std::end(kLatencyBucketBoundsMs));
  for (double bound : bounds) {
    buckets.push_back(bound >= 1000 ? fmt::format("≤{}s", short_number(bound / 1000))
                                    : fmt::format("≤{}ms", short_number(bound)));
  }
  buckets.push_back(fmt::format(">{}s", short_number(bounds.back() / 1000)));
  std::vector<Series> series;
  for (const auto& histogram : workload.latency_histograms) {
    Series item{histogram.placement, histogram.placement == "local" ? "local" : "cloud", {}};
    for (auto count : histogram.counts) {
      item.values.push_back(static_cast<double>(count));
    }
    series.push_back(std::move(item));
  }
  return figure("Latency distribution of succeeded requests (count per bucket)",
                bar_chart(fmt::format("Latency distribution for {}", workload_name(workload)),
                          buckets, series, false, count_axis()));
}

std::string break_even_chart(const WorkloadReport& workload) {
  std::vector<int> months;
  Series local{"local: hardware + running cost", "local", {}};
  Series cloud{"cloud-equivalent", "cloud", {}};
  for (const auto& point : workload.break_even_curve) {
    months.push_back(point.month);
    local.values.push_back(point.local_cumulative_usd);
    cloud.values.push_back(point.cloud_cumulative_usd);
  }
  return figure("Cumulative cost by month: break-even curve",
                line_chart(fmt::format("Break-even curve for {}", workload_name(workload)), months,
                           {local, cloud}, money_axis(), workload.break_even.month));
}

// ---- Tables ----------------------------------------------------------------------------------

std::string row(std::initializer_list<std::string> cells, std::string_view tag = "td") {
  std::string html = "<tr>";
  for (const auto& cell : cells) {
    html += fmt::format("<{0}>{1}</{0}>", tag, cell);
  }
  return html + "</tr>";
}

// The cells above are already escaped; this is for text that is not.
std::string text(std::string_view value) { return html_escape(value); }

std::string placement_rows(const PlacementStats& stats) {
  return row({text(stats.placement), std::to_string(stats.requests),
              optional_percent(stats.success_rate), milliseconds(stats.latency_p50_ms),
              milliseconds(stats.latency_p95_ms), std::to_string(stats.prompt_tokens),
              std::to_string(stats.completion_tokens), fixed(stats.busy_ms, 1),
              money(stats.cloud_cost_usd), money(stats.avoided_cost_usd)});
}

std::string projection_row(const Projection& projection, Recommendation recommendation) {
  const bool chosen =
      (projection.placement == "local" && recommendation == Recommendation::move_local) ||
      (projection.placement == "cloud" && recommendation == Recommendation::keep_cloud) ||
      (projection.placement == "hybrid" && recommendation == Recommendation::hybrid);
  std::string html = chosen ? "<tr class=\"chosen\">" : "<tr>";
  for (const auto& cell :
       {text(projection.placement), money(projection.monthly_cost_usd),
        money(projection.variable_cost_usd), money(projection.fixed_cost_usd),
        money(projection.cloud_spend_usd),
        projection.energy_kwh ? fixed(*projection.energy_kwh, 3) : std::string("n/a"),
        projection.co2_kg ? fixed(*projection.co2_kg, 3) : std::string("n/a"),
        text(projection.note)}) {
    html += fmt::format("<td>{}</td>", cell);
  }
  return html + "</tr>";
}

std::string break_even_words(const BreakEven& break_even) {
  if (break_even.never && break_even.monthly_savings_usd < 0) {
    return fmt::format(
        "Never: local hosting costs {} a month more than the cloud, so the {} of hardware does "
        "not pay back.",
        money(-break_even.monthly_savings_usd), money(break_even.hardware_price_usd));
  }
  if (break_even.never) {
    return fmt::format(
        "Never: local hosting saves {} a month, so the {} of hardware does not pay back.",
        money(break_even.monthly_savings_usd), money(break_even.hardware_price_usd));
  }
  if (break_even.month) {
    return fmt::format(
        "Month {}: local hosting saves {} a month against the cloud, which pays back the {} of "
        "hardware by the end of month {}.",
        *break_even.month, money(break_even.monthly_savings_usd),
        money(break_even.hardware_price_usd), *break_even.month);
  }
  return fmt::format("Not reached within the curve: monthly savings {}, hardware {}.",
                     money(break_even.monthly_savings_usd), money(break_even.hardware_price_usd));
}

std::string workload_section(const WorkloadReport& workload, std::size_t index) {
  const std::string name = workload_name(workload);
  const std::string kind(to_string(workload.recommendation));
  std::string html = fmt::format(
      "<section class=\"workload\" id=\"workload-{}\"><h2>{} <span class=\"badge {}\">{}</span>"
      "</h2>",
      index, html_escape(name), html_escape(kind),
      html_escape(recommendation_words(workload.recommendation)));

  html += "<ul class=\"reasons\">";
  for (const auto& reason : workload.reasons) {
    html += fmt::format("<li>{}</li>", html_escape(reason));
  }
  html += "</ul>";

  html += "<h3>Traffic</h3><table class=\"facts\"><tbody>";
  html += row({"Requests in the window", std::to_string(workload.requests)});
  html += row({"Monthly volume", fixed(workload.monthly_requests, 1) + " requests"});
  html += row({"Trend (second half of the window against the first)",
               fmt::format("{} ({} then {} requests{})", text(workload.trend_words),
                           workload.first_half_requests, workload.second_half_requests,
                           workload.trend ? fmt::format(", {}", percent(*workload.trend))
                                          : std::string())});
  html += row({"Requests with sensitive labels", fmt::format("{} ({})", workload.sensitive_requests,
                                                             percent(workload.sensitive_share))});
  html += row({"Fallbacks", fmt::format("{} requests ({}), {} of them answered in the end",
                                        workload.fallback_requests, percent(workload.fallback_rate),
                                        workload.fallback_succeeded)});
  html += row({"Escalations", std::to_string(workload.escalated_requests)});
  html += row({"Unanswered requests", std::to_string(workload.unanswered_requests)});
  html += row({"Current monthly cloud spend", money(workload.current_monthly_cloud_spend_usd)});
  html += row({"Cloud-equivalent monthly cost", money(workload.cloud_equivalent_monthly_usd)});
  html +=
      row({"Measured local busy time per token",
           workload.local_busy_ms_per_token ? fixed(*workload.local_busy_ms_per_token, 3) + " ms"
                                            : std::string("n/a")});
  html += "</tbody></table>";

  html += "<h3>By placement</h3><table><thead>";
  html += row({"Placement", "Requests", "Success rate", "Latency p50", "Latency p95",
               "Prompt tokens", "Completion tokens", "Busy ms", "Cloud cost", "Avoided cost"},
              "th");
  html += fmt::format("</thead><tbody>{}{}</tbody></table>", placement_rows(workload.local),
                      placement_rows(workload.cloud));

  html += "<h3>Decision rubric</h3><table class=\"rubric\"><thead>";
  html += row({"Question", "Answer", "The numbers"}, "th");
  html += "</thead><tbody>";
  for (const auto& answer : workload.rubric) {
    html += fmt::format("<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                        html_escape(answer.question), answer.yes ? "yes" : "no",
                        answer.yes ? "yes" : "no", html_escape(answer.numbers));
  }
  html += fmt::format(
      "<tr class=\"total\"><td>Yes answers (two make a local candidate)</td><td "
      "class=\"{}\">{}</td><td>{}</td></tr>",
      workload.local_candidate ? "yes" : "no", workload.rubric_yes,
      workload.local_candidate ? "local candidate" : "not a local candidate");
  const auto& capability = workload.capability;
  html += fmt::format(
      "<tr><td>Capability check: escalation rate at most {} and eval agreement at least "
      "{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
      percent(capability.max_escalation_rate), percent(capability.min_eval_agreement),
      capability.passed ? "yes" : "no", capability.passed ? "passed" : "failed",
      html_escape(capability.numbers));
  html += "</tbody></table>";

  html += "<h3>Projected monthly cost by placement</h3><table><thead>";
  html += row({"Placement", "Monthly cost", "Variable", "Fixed", "Paid to cloud", "Energy (kWh)",
               "CO2 (kg)", "Note"},
              "th");
  html += fmt::format("</thead><tbody>{}{}{}</tbody></table>",
                      projection_row(workload.local_projection, workload.recommendation),
                      projection_row(workload.cloud_projection, workload.recommendation),
                      projection_row(workload.hybrid_projection, workload.recommendation));

  html += fmt::format("<h3>Break-even</h3><p>{}</p>",
                      html_escape(break_even_words(workload.break_even)));
  html += fmt::format("<div class=\"charts\">{}{}{}{}</div>", break_even_chart(workload),
                      spend_chart(workload), volume_chart(workload), latency_chart(workload));

  if (!workload.policy_snippet.empty()) {
    html += fmt::format("<h3>Policy snippet</h3><pre><code>{}</code></pre>",
                        html_escape(workload.policy_snippet));
  }
  return html + "</section>";
}

std::string summary_table(const Report& report) {
  std::string html = "<table class=\"summary\"><thead>";
  html += row({"Workload", "Recommendation", "Monthly requests", "Current cloud spend / month",
               "Local / month", "Cloud / month", "Hybrid / month", "Break-even"},
              "th");
  html += "</thead><tbody>";
  for (std::size_t i = 0; i < report.workloads.size(); ++i) {
    const auto& workload = report.workloads[i];
    const auto& break_even = workload.break_even;
    html += row(
        {fmt::format("<a href=\"#workload-{}\">{}</a>", i, html_escape(workload_name(workload))),
         fmt::format("<span class=\"badge {}\">{}</span>",
                     html_escape(to_string(workload.recommendation)),
                     html_escape(recommendation_words(workload.recommendation))),
         fixed(workload.monthly_requests, 1), money(workload.current_monthly_cloud_spend_usd),
         money(workload.local_projection.monthly_cost_usd),
         money(workload.cloud_projection.monthly_cost_usd),
         money(workload.hybrid_projection.monthly_cost_usd),
         break_even.month   ? fmt::format("month {}", *break_even.month)
         : break_even.never ? std::string("never")
                            : std::string("n/a")});
  }
  return html + "</tbody></table>";
}

std::string assumptions(const Report& report) {
  const auto& costs = report.local_costs;
  const auto& thresholds = report.thresholds;
  std::string html = "<table class=\"facts\"><tbody>";
  html += row({"Hardware price", money(costs.hardware_price_usd)});
  html += row({"Amortisation", std::to_string(costs.amortisation_months) + " months"});
  html += row({"Power busy / idle", fmt::format("{} W / {} W", short_number(costs.power_busy_watts),
                                                short_number(costs.power_idle_watts))});
  html += row({"Electricity", fmt::format("${} per kWh", fixed(costs.electricity_usd_per_kwh, 4))});
  html += row({"Grid carbon intensity", short_number(costs.carbon_grams_per_kwh) + " g CO2/kWh"});
  html += row({"Operations", money(costs.operations_usd_per_month) + " per month"});
  html += row({"Enough data", std::to_string(thresholds.min_requests) + " requests or more"});
  html += row({"Frequent", std::to_string(thresholds.frequent_requests_per_month) +
                               " requests per month or more"});
  html += row({"Sensitive", fmt::format("more than {} of requests with sensitivity labels",
                                        percent(thresholds.sensitive_share))});
  html += row({"Trusted local", fmt::format("success rate of at least {}",
                                            percent(thresholds.min_local_success_rate))});
  html += row({"Capability", fmt::format("escalation rate at most {}, eval agreement at least {}",
                                         percent(thresholds.max_escalation_rate),
                                         percent(thresholds.min_eval_agreement))});
  return html + "</tbody></table>";
}

std::string evals_table(const Report& report) {
  if (report.evals.empty()) {
    return "<p>No eval results in " +
           html_escape(report.eval_dir.empty() ? "(none)" : report.eval_dir) + ".</p>";
  }
  std::string html = "<table><thead>";
  html +=
      row({"Workload", "Target", "Placement", "Agreement", "Samples", "Finished", "File"}, "th");
  html += "</thead><tbody>";
  for (const auto& eval : report.evals) {
    html +=
        row({text(eval.workload), text(eval.target), text(eval.placement), percent(eval.agreement),
             std::to_string(eval.samples), utc_time(eval.time_us), text(eval.file)});
  }
  return html + "</tbody></table>";
}

constexpr std::string_view kStyle = R"(
:root{--local:#2f855a;--cloud:#3b6fd6;--other:#a0a7b4;--avoided:#d69e2e;--ink:#1f2430;
--muted:#5d6675;--line:#dde1e8;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg)}
header,main{max-width:1080px;margin:0 auto;padding:16px 24px}
header h1{margin:8px 0 4px;font-size:24px}
.meta{color:var(--muted);margin:0}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px;
min-width:200px}
.card b{display:block;font-size:22px}
.card span{color:var(--muted)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 20px 16px;
margin:16px 0}
h2{font-size:19px;margin:12px 0}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;background:var(--bg)}
table.facts td:first-child{color:var(--muted);width:45%}
tr.chosen td{background:#eef7f1;font-weight:600}
tr.total td{font-weight:600}
td.yes{color:var(--local);font-weight:600}
td.no{color:#b83232;font-weight:600}
.badge{display:inline-block;border-radius:999px;padding:1px 10px;font-size:13px;font-weight:600;
color:#fff;background:var(--other);vertical-align:middle}
.badge.move_local{background:var(--local)}
.badge.keep_cloud{background:var(--cloud)}
.badge.hybrid{background:#7b5bd6}
.reasons{margin:4px 0 8px;padding-left:20px}
pre{background:#1f2430;color:#e8ebf0;padding:12px;border-radius:6px;overflow:auto}
.charts{display:grid;grid-template-columns:1fr;gap:8px}
figure{margin:8px 0}
figcaption{font-weight:600;margin-bottom:2px}
svg.chart{width:100%;max-width:960px;height:auto;background:#fff}
.legend{display:flex;gap:14px;font-size:12px;color:var(--muted)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.swatch.local{background:var(--local)}.swatch.cloud{background:var(--cloud)}
.swatch.other{background:var(--other)}.swatch.avoided{background:var(--avoided)}
rect.local,circle.local{fill:var(--local)}rect.cloud,circle.cloud{fill:var(--cloud)}
rect.other{fill:var(--other)}rect.avoided{fill:var(--avoided)}
polyline.line{fill:none;stroke-width:2}
polyline.local{stroke:var(--local)}polyline.cloud{stroke:var(--cloud)}
line.grid{stroke:var(--line);stroke-width:1}
line.axis-line{stroke:var(--muted);stroke-width:1}
line.marker{stroke:#b83232;stroke-dasharray:4 3}
text.axis{font-size:11px;fill:var(--muted)}
text.marker-label{font-size:11px;fill:#b83232}
text.empty{font-size:13px;fill:var(--muted)}
.warnings{color:#8a5a00}
footer{max-width:1080px;margin:0 auto;padding:8px 24px 32px;color:var(--muted);font-size:12px}
)";

}  // namespace

std::string_view recommendation_words(Recommendation recommendation) {
  switch (recommendation) {
    case Recommendation::move_local:
      return "Move local";
    case Recommendation::keep_cloud:
      return "Keep cloud";
    case Recommendation::hybrid:
      return "Hybrid: local first, escalate to cloud";
    case Recommendation::not_enough_data:
      break;
  }
  return "Not enough data";
}

std::string html_escape(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\'':
        escaped += "&#39;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

std::string render_html(const Report& report) {
  std::string html;
  html.reserve(64 * 1024);
  html +=
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
      // Nothing may run or be fetched: the report is data, and must open offline.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      "'unsafe-inline'; img-src data:\"/>"
      "<title>Hearth placement advice</title><style>";
  html += kStyle;
  html += "</style></head><body><header><h1>Hearth placement advice</h1>";
  html += fmt::format(
      "<p class=\"meta\">Ledger window {} to {} ({} days), {} records from the {} ledger. "
      "Generated {}.</p>",
      html_escape(utc_time(report.since_us)), html_escape(utc_time(report.until_us)),
      short_number(report.window_days), report.records, html_escape(report.ledger_kind),
      html_escape(utc_time(report.generated_us)));
  html += "<div class=\"cards\">";
  html +=
      fmt::format("<div class=\"card\"><b>{}</b><span>current cloud spend per month</span></div>",
                  money(report.current_monthly_cloud_spend_usd));
  html += fmt::format(
      "<div class=\"card\"><b>{}</b><span>projected cost per month, as recommended</span></div>",
      money(report.projected_monthly_cost_usd));
  html += fmt::format("<div class=\"card\"><b>{}</b><span>workloads</span></div>",
                      report.workloads.size());
  html += "</div></header><main>";

  if (!report.warnings.empty()) {
    html += "<section class=\"warnings\"><h2>Warnings</h2><ul>";
    for (const auto& warning : report.warnings) {
      html += fmt::format("<li>{}</li>", html_escape(warning));
    }
    html += "</ul></section>";
  }
  html += "<section><h2>Summary</h2>";
  html += report.workloads.empty() ? std::string("<p>No requests in the window.</p>")
                                   : summary_table(report);
  html += "</section>";
  for (std::size_t i = 0; i < report.workloads.size(); ++i) {
    html += workload_section(report.workloads[i], i);
  }
  html += fmt::format("<section><h2>Assumptions</h2>{}</section>", assumptions(report));
  html += fmt::format("<section><h2>Eval results</h2>{}</section>", evals_table(report));
  html +=
      "</main><footer>Every figure is defined in docs/ADVISOR.md and can be recomputed from "
      "the ledger.</footer></body></html>\n";
  return html;
}

}  // namespace hearth::advisor
