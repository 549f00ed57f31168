// The advisor's Report as JSON (the Report's field names, one to one) and as a terminal table.
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "advisor/advisor.hpp"

namespace hearth::advisor {
namespace {

using Json = nlohmann::ordered_json;

template <class T>
Json optional_json(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json eval_json(const EvalSummary& eval) {
  return Json{{"workload", eval.workload},
              {"target", eval.target},
              {"placement", eval.placement},
              {"agreement", eval.agreement},
              {"samples", eval.samples},
              {"time_us", eval.time_us},
              {"file", eval.file}};
}

Json placement_json(const PlacementStats& stats) {
  return Json{{"placement", stats.placement},
              {"requests", stats.requests},
              {"succeeded", stats.succeeded},
              {"success_rate", optional_json(stats.success_rate)},
              {"latency_p50_ms", optional_json(stats.latency_p50_ms)},
              {"latency_p95_ms", optional_json(stats.latency_p95_ms)},
              {"prompt_tokens", stats.prompt_tokens},
              {"completion_tokens", stats.completion_tokens},
              {"busy_ms", stats.busy_ms},
              {"cloud_cost_usd", stats.cloud_cost_usd},
              {"avoided_cost_usd", stats.avoided_cost_usd}};
}

Json projection_json(const Projection& projection) {
  return Json{{"placement", projection.placement},
              {"monthly_cost_usd", projection.monthly_cost_usd},
              {"variable_cost_usd", projection.variable_cost_usd},
              {"fixed_cost_usd", projection.fixed_cost_usd},
              {"cloud_spend_usd", projection.cloud_spend_usd},
              {"energy_kwh", optional_json(projection.energy_kwh)},
              {"co2_kg", optional_json(projection.co2_kg)},
              {"note", projection.note}};
}

Json workload_json(const WorkloadReport& workload) {
  Json rubric = Json::array();
  for (const auto& answer : workload.rubric) {
    rubric.push_back(Json{{"id", answer.id},
                          {"question", answer.question},
                          {"yes", answer.yes},
                          {"numbers", answer.numbers}});
  }
  const auto& capability = workload.capability;
  Json curve = Json::array();
  for (const auto& point : workload.break_even_curve) {
    curve.push_back(Json{{"month", point.month},
                         {"local_cumulative_usd", point.local_cumulative_usd},
                         {"cloud_cumulative_usd", point.cloud_cumulative_usd}});
  }
  Json daily = Json::array();
  for (const auto& day : workload.daily) {
    daily.push_back(Json{{"day", day.day},
                         {"local_requests", day.local_requests},
                         {"cloud_requests", day.cloud_requests},
                         {"other_requests", day.other_requests},
                         {"cloud_spend_usd", day.cloud_spend_usd},
                         {"local_energy_cost_usd", day.local_energy_cost_usd},
                         {"avoided_cost_usd", day.avoided_cost_usd}});
  }
  Json histograms = Json::array();
  for (const auto& histogram : workload.latency_histograms) {
    histograms.push_back(Json{{"placement", histogram.placement},
                              {"upper_bounds_ms", histogram.upper_bounds_ms},
                              {"counts", histogram.counts}});
  }
  return Json{
      {"workload", workload.workload},
      {"first_us", workload.first_us},
      {"last_us", workload.last_us},
      {"requests", workload.requests},
      {"monthly_requests", workload.monthly_requests},
      {"first_half_requests", workload.first_half_requests},
      {"second_half_requests", workload.second_half_requests},
      {"trend", optional_json(workload.trend)},
      {"trend_words", workload.trend_words},
      {"sensitive_requests", workload.sensitive_requests},
      {"sensitive_share", workload.sensitive_share},
      {"local", placement_json(workload.local)},
      {"cloud", placement_json(workload.cloud)},
      {"unanswered_requests", workload.unanswered_requests},
      {"fallback_requests", workload.fallback_requests},
      {"fallback_succeeded", workload.fallback_succeeded},
      {"fallback_rate", workload.fallback_rate},
      {"escalated_requests", workload.escalated_requests},
      {"current_monthly_cloud_spend_usd", workload.current_monthly_cloud_spend_usd},
      {"cloud_equivalent_monthly_usd", workload.cloud_equivalent_monthly_usd},
      {"local_busy_ms_per_token", optional_json(workload.local_busy_ms_per_token)},
      {"local_projection", projection_json(workload.local_projection)},
      {"cloud_projection", projection_json(workload.cloud_projection)},
      {"hybrid_projection", projection_json(workload.hybrid_projection)},
      {"break_even", Json{{"month", optional_json(workload.break_even.month)},
                          {"never", workload.break_even.never},
                          {"monthly_savings_usd", workload.break_even.monthly_savings_usd},
                          {"hardware_price_usd", workload.break_even.hardware_price_usd}}},
      {"break_even_curve", curve},
      {"rubric", rubric},
      {"rubric_yes", workload.rubric_yes},
      {"local_candidate", workload.local_candidate},
      {"capability", Json{{"passed", capability.passed},
                          {"local_attempts", capability.local_attempts},
                          {"escalation_rate", optional_json(capability.escalation_rate)},
                          {"max_escalation_rate", capability.max_escalation_rate},
                          {"eval", capability.eval ? eval_json(*capability.eval) : Json(nullptr)},
                          {"min_eval_agreement", capability.min_eval_agreement},
                          {"numbers", capability.numbers}}},
      {"recommendation", std::string(to_string(workload.recommendation))},
      {"reasons", workload.reasons},
      {"policy_snippet", workload.policy_snippet},
      {"daily", daily},
      {"latency_histograms", histograms}};
}

std::string utc_time(std::int64_t time_us) {
  std::int64_t seconds = time_us / 1'000'000;
  if (time_us % 1'000'000 < 0) --seconds;
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M", &parts);
  return buffer;
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}
std::string money(double usd) { return fixed(usd, 2); }
std::string percent(const std::optional<double>& rate) {
  return rate ? fixed(*rate * 100, 1) + "%" : "-";
}
std::string ms(const std::optional<double>& value) { return value ? fixed(*value, 1) : "-"; }
std::string amount(const std::optional<double>& value, int decimals) {
  return value ? fixed(*value, decimals) : "-";
}

// One table row: a left-aligned label and right-aligned columns.
std::string row(const std::string& label, const std::vector<std::string>& cells) {
  char buffer[512];
  std::string line = "  ";
  std::snprintf(buffer, sizeof buffer, "%-26s", label.c_str());
  line += buffer;
  for (const auto& cell : cells) {
    std::snprintf(buffer, sizeof buffer, "%14s", cell.c_str());
    line += buffer;
  }
  return line + "\n";
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '_') {
      c = ' ';
    } else if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

}  // namespace

std::string to_json(const Report& report) {
  Json evals = Json::array();
  for (const auto& eval : report.evals) evals.push_back(eval_json(eval));
  Json workloads = Json::array();
  for (const auto& workload : report.workloads) workloads.push_back(workload_json(workload));
  const auto& costs = report.local_costs;
  const auto& thresholds = report.thresholds;
  const Json document{
      {"since_us", report.since_us},
      {"until_us", report.until_us},
      {"window_days", report.window_days},
      {"generated_us", report.generated_us},
      {"ledger_kind", report.ledger_kind},
      {"records", report.records},
      {"local_costs", Json{{"hardware_price_usd", costs.hardware_price_usd},
                           {"amortisation_months", costs.amortisation_months},
                           {"power_busy_watts", costs.power_busy_watts},
                           {"power_idle_watts", costs.power_idle_watts},
                           {"electricity_usd_per_kwh", costs.electricity_usd_per_kwh},
                           {"carbon_grams_per_kwh", costs.carbon_grams_per_kwh},
                           {"operations_usd_per_month", costs.operations_usd_per_month}}},
      {"thresholds", Json{{"min_requests", thresholds.min_requests},
                          {"frequent_requests_per_month", thresholds.frequent_requests_per_month},
                          {"sensitive_share", thresholds.sensitive_share},
                          {"min_local_success_rate", thresholds.min_local_success_rate},
                          {"max_escalation_rate", thresholds.max_escalation_rate},
                          {"min_eval_agreement", thresholds.min_eval_agreement}}},
      {"eval_dir", report.eval_dir},
      {"evals", evals},
      {"warnings", report.warnings},
      {"workloads", workloads},
      {"current_monthly_cloud_spend_usd", report.current_monthly_cloud_spend_usd},
      {"projected_monthly_cost_usd", report.projected_monthly_cost_usd}};
  return document.dump(2);
}

std::string render_table(const Report& report) {
  std::ostringstream out;
  out << "Placement advice from the " << report.ledger_kind << " ledger, "
      << utc_time(report.since_us) << " to " << utc_time(report.until_us) << " UTC ("
      << fixed(report.window_days, 2) << " days, " << report.records << " requests)\n";
  for (const auto& warning : report.warnings) out << "warning: " << warning << "\n";
  if (report.workloads.empty()) {
    out << "No requests in this window.\n";
    return out.str();
  }
  out << "Cloud spend now: $" << money(report.current_monthly_cloud_spend_usd)
      << "/month; with the recommendations: $" << money(report.projected_monthly_cost_usd)
      << "/month\n";
  for (const auto& w : report.workloads) {
    out << "\n"
        << "Workload " << (w.workload.empty() ? "(none)" : w.workload) << ": "
        << upper(to_string(w.recommendation)) << "\n";
    std::string trend;
    if (w.trend) {
      if (*w.trend >= 0) trend = "+";
      trend += fixed(*w.trend * 100, 1);
      trend += "% ";
    }
    out << "  requests " << w.requests << " (" << fixed(w.monthly_requests, 1) << "/month), trend "
        << trend << w.trend_words << ", sensitive " << percent(w.sensitive_share) << " ("
        << w.sensitive_requests << ")\n";
    out << row("", {"local", "cloud"});
    out << row("requests", {std::to_string(w.local.requests), std::to_string(w.cloud.requests)});
    out << row("success rate", {percent(w.local.success_rate), percent(w.cloud.success_rate)});
    out << row("latency p50 ms", {ms(w.local.latency_p50_ms), ms(w.cloud.latency_p50_ms)});
    out << row("latency p95 ms", {ms(w.local.latency_p95_ms), ms(w.cloud.latency_p95_ms)});
    out << "  fallbacks " << percent(w.fallback_rate) << " (" << w.fallback_requests
        << "), escalations " << percent(w.capability.escalation_rate) << " ("
        << w.escalated_requests << "), cloud spend now $"
        << money(w.current_monthly_cloud_spend_usd) << "/month\n";
    out << row("per month", {"local", "cloud", "hybrid"});
    const auto projections = {&w.local_projection, &w.cloud_projection, &w.hybrid_projection};
    std::vector<std::string> cost, spend, energy, co2;
    for (const auto* p : projections) {
      cost.push_back(money(p->monthly_cost_usd));
      spend.push_back(money(p->cloud_spend_usd));
      energy.push_back(amount(p->energy_kwh, 3));
      co2.push_back(amount(p->co2_kg, 3));
    }
    out << row("cost USD", cost) << row("paid to cloud USD", spend) << row("energy kWh", energy)
        << row("CO2 kg", co2);
    if (w.break_even.never) {
      out << "  break-even: never (savings $" << money(w.break_even.monthly_savings_usd)
          << "/month)\n";
    } else {
      out << "  break-even: month " << *w.break_even.month << " (savings $"
          << money(w.break_even.monthly_savings_usd) << "/month against $"
          << money(w.break_even.hardware_price_usd) << " hardware)\n";
    }
    out << "  rubric (" << w.rubric_yes << "/3 yes):\n";
    for (const auto& answer : w.rubric) {
      out << "    [" << (answer.yes ? "yes" : "no ") << "] " << answer.id << ": " << answer.numbers
          << "\n";
    }
    out << "  capability " << (w.capability.passed ? "passed" : "failed") << ": "
        << w.capability.numbers << "\n";
    out << "  why:\n";
    for (const auto& reason : w.reasons) out << "    - " << reason << "\n";
    if (!w.policy_snippet.empty()) {
      out << "  policy snippet:\n";
      std::istringstream lines(w.policy_snippet);
      for (std::string line; std::getline(lines, line);) out << "    " << line << "\n";
    }
  }
  return out.str();
}

}  // namespace hearth::advisor
