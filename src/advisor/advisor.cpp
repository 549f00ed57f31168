// `hearth advise`: one pass over the ledger window (Store::scan_usage, accounting columns only),
// per-workload accumulators, then the figures of docs/ADVISOR.md. Everything is summed in full
// double precision and rounded only when stored in the Report.
#include "advisor/advisor.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "common/percentile.hpp"

namespace hearth::advisor {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMicrosPerDay = 86'400'000'000;
constexpr double kDaysPerMonth = 30;
constexpr double kHoursPerMonth = 24 * kDaysPerMonth;
constexpr double kMsPerHour = 3'600'000;
constexpr std::size_t kBuckets = std::size(kLatencyBucketBoundsMs) + 1;
// The break-even curve runs over the amortisation period, or up to the break-even month when
// that comes later, but never beyond this.
constexpr int kMaxCurveMonths = 120;
// A trend within +-10% is "flat".
constexpr double kFlatTrend = 0.1;

double round_to(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  const double rounded = std::round(value * scale) / scale;
  return rounded == 0 ? 0.0 : rounded;  // no "-0"
}
double cents(double usd) { return round_to(usd, 2); }
double rate4(double rate) { return round_to(rate, 4); }
double energy3(double value) { return round_to(value, 3); }

std::string format_fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}
std::string money(double usd) { return "$" + format_fixed(cents(usd), 2); }
std::string percent(double rate) { return format_fixed(rate * 100, 1) + "%"; }
std::string count(std::int64_t n) { return std::to_string(n); }

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::string day_text(std::int64_t day_number) {
  const std::chrono::sys_days days{std::chrono::days{day_number}};
  const std::chrono::year_month_day date{days};
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return buffer;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A YAML double-quoted scalar (JSON string escaping is valid YAML).
std::string yaml_quote(const std::string& text) { return nlohmann::json(text).dump(); }

// ---- Accumulation ------------------------------------------------------------------------------

struct PlacementTotals {
  std::int64_t requests = 0;
  std::int64_t succeeded = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double busy_ms = 0;
  double cloud_cost_usd = 0;
  double avoided_cost_usd = 0;
  std::vector<double> latencies_ms;  // succeeded requests
  std::array<std::int64_t, kBuckets> histogram{};
  std::vector<std::pair<std::string, std::int64_t>> models;  // few: a linear search is enough

  void count_model(const std::string& model) {
    for (auto& [name, n] : models) {
      if (name == model) {
        ++n;
        return;
      }
    }
    models.emplace_back(model, 1);
  }
  // The most used model ("" : none), ties to the first name.
  std::string top_model() const {
    const std::pair<std::string, std::int64_t>* top = nullptr;
    for (const auto& entry : models) {
      if (entry.first.empty()) continue;
      if (top == nullptr || entry.second > top->second ||
          (entry.second == top->second && entry.first < top->first)) {
        top = &entry;
      }
    }
    return top == nullptr ? "" : top->first;
  }
};

struct DayTotals {
  std::int64_t local = 0;
  std::int64_t cloud = 0;
  std::int64_t other = 0;
  double cloud_spend_usd = 0;
  double local_busy_ms = 0;
  double avoided_cost_usd = 0;
};

struct WorkloadTotals {
  std::string name;
  std::int64_t requests = 0;
  std::int64_t first_us = 0;
  std::int64_t last_us = 0;
  std::int64_t first_half = 0;
  std::int64_t second_half = 0;
  std::int64_t sensitive = 0;
  std::int64_t unanswered = 0;
  std::int64_t fallbacks = 0;
  std::int64_t fallbacks_succeeded = 0;
  std::int64_t escalated = 0;
  std::int64_t escalated_not_local = 0;  // escalated answers a non-local target gave
  double cloud_cost_usd = 0;             // every record
  // Local answers with busy_ms > 0: their busy time and tokens (the per-token rate).
  double measured_busy_ms = 0;
  std::int64_t measured_tokens = 0;
  std::int64_t local_succeeded_measured = 0;
  // Answered requests without a busy time of their own (cloud answers, unmeasured local ones).
  std::int64_t unmeasured_tokens = 0;
  PlacementTotals local;
  PlacementTotals cloud;
  std::vector<DayTotals> days;
};

std::size_t bucket_of(double latency_ms) {
  std::size_t i = 0;
  while (i < std::size(kLatencyBucketBoundsMs) && latency_ms > kLatencyBucketBoundsMs[i]) ++i;
  return i;
}

void add_record(WorkloadTotals& totals, const ledger::UsageRecord& record, std::int64_t mid_us,
                std::int64_t first_day) {
  if (totals.requests == 0 || record.time_us < totals.first_us) totals.first_us = record.time_us;
  if (totals.requests == 0 || record.time_us > totals.last_us) totals.last_us = record.time_us;
  ++totals.requests;
  ++(record.time_us < mid_us ? totals.first_half : totals.second_half);
  if (!record.sensitivity.empty()) ++totals.sensitive;
  const bool succeeded = record.status < 400;
  if (!record.fallbacks.empty()) {
    ++totals.fallbacks;
    if (succeeded) ++totals.fallbacks_succeeded;
  }
  const bool local = record.placement == "local";
  const bool cloud = record.placement == "cloud";
  if (!record.escalation.empty()) {
    ++totals.escalated;
    if (!local) ++totals.escalated_not_local;
  }
  totals.cloud_cost_usd += record.cloud_cost_usd;
  const std::int64_t tokens = record.prompt_tokens + record.completion_tokens;

  auto& day =
      totals.days[static_cast<std::size_t>(floor_div(record.time_us, kMicrosPerDay) - first_day)];
  day.cloud_spend_usd += record.cloud_cost_usd;
  day.avoided_cost_usd += record.avoided_cost_usd;
  if (!local && !cloud) {
    ++totals.unanswered;
    ++day.other;
    return;
  }
  PlacementTotals& placement = local ? totals.local : totals.cloud;
  ++(local ? day.local : day.cloud);
  ++placement.requests;
  placement.prompt_tokens += record.prompt_tokens;
  placement.completion_tokens += record.completion_tokens;
  placement.busy_ms += record.busy_ms;
  placement.cloud_cost_usd += record.cloud_cost_usd;
  placement.avoided_cost_usd += record.avoided_cost_usd;
  placement.count_model(record.model);
  if (succeeded) {
    ++placement.succeeded;
    placement.latencies_ms.push_back(record.latency_ms);
    ++placement.histogram[bucket_of(record.latency_ms)];
  }
  if (local && record.busy_ms > 0) {
    totals.measured_busy_ms += record.busy_ms;
    totals.measured_tokens += tokens;
    day.local_busy_ms += record.busy_ms;
    if (succeeded) ++totals.local_succeeded_measured;
  } else {
    totals.unmeasured_tokens += tokens;
  }
}

std::optional<double> percentile(std::vector<double>& values, std::int64_t percent) {
  if (values.empty()) return std::nullopt;
  return nearest_rank(values, percent);
}

PlacementStats placement_stats(std::string name, PlacementTotals& totals) {
  PlacementStats stats;
  stats.placement = std::move(name);
  stats.requests = totals.requests;
  stats.succeeded = totals.succeeded;
  if (totals.requests > 0) {
    stats.success_rate =
        rate4(static_cast<double>(totals.succeeded) / static_cast<double>(totals.requests));
  }
  stats.latency_p50_ms = percentile(totals.latencies_ms, 50);
  stats.latency_p95_ms = percentile(totals.latencies_ms, 95);
  stats.prompt_tokens = totals.prompt_tokens;
  stats.completion_tokens = totals.completion_tokens;
  stats.busy_ms = round_to(totals.busy_ms, 3);
  stats.cloud_cost_usd = round_to(totals.cloud_cost_usd, 6);
  stats.avoided_cost_usd = round_to(totals.avoided_cost_usd, 6);
  return stats;
}

LatencyHistogram histogram(std::string placement, const PlacementTotals& totals) {
  LatencyHistogram result;
  result.placement = std::move(placement);
  result.upper_bounds_ms.assign(std::begin(kLatencyBucketBoundsMs),
                                std::end(kLatencyBucketBoundsMs));
  result.counts.assign(totals.histogram.begin(), totals.histogram.end());
  return result;
}

// ---- Figures
// -------------------------------------------------------------------------------------

struct Context {
  const config::Config& config;
  const config::LocalCostSettings& costs;
  const config::AdvisorSettings& thresholds;
  double window_days;
  std::int64_t first_day;
  const std::vector<EvalSummary>& evals;
};

std::string local_model_for(const WorkloadTotals& totals, const config::Config& config) {
  if (auto model = totals.local.top_model(); !model.empty()) return model;
  for (const auto& entry : config.models) {
    if (config::placement_of(entry) == config::Placement::local) return entry.name;
  }
  return "LOCAL_MODEL";
}

std::string cloud_model_for(const WorkloadTotals& totals, const config::Config& config) {
  if (auto model = totals.cloud.top_model(); !model.empty()) return model;
  for (const auto& entry : config.models) {
    if (config::placement_of(entry) == config::Placement::cloud) return entry.name;
  }
  return "CLOUD_MODEL";
}

std::string policy_snippet(const WorkloadReport& report, const WorkloadTotals& totals,
                           const config::Config& config) {
  if (report.recommendation == Recommendation::not_enough_data) return "";
  const std::string local_model = local_model_for(totals, config);
  const std::string cloud_model = cloud_model_for(totals, config);
  std::ostringstream out;
  out << "# hearth advise: " << to_string(report.recommendation) << " for workload "
      << (report.workload.empty() ? "(none)" : report.workload) << "\n";
  if (report.workload.empty()) {
    out << "# Requests without a workload cannot be matched by workload: send x-hearth-workload\n"
           "# (or metadata.workload) first, then use a rule like this one.\n";
  }
  const std::string workload = report.workload.empty() ? "WORKLOAD" : report.workload;
  out << "policy:\n  rules:\n";
  // Rule names hold no whitespace or control characters.
  std::string rule_name = "advise-" + workload;
  for (char& c : rule_name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte == 0x7f) c = '-';
  }
  out << "    - name: " << yaml_quote(rule_name) << "\n";
  out << "      match:\n        workload: [" << yaml_quote(workload) << "]\n";
  switch (report.recommendation) {
    case Recommendation::move_local:
      out << "      targets: [" << yaml_quote(local_model) << "]\n";
      if (report.rubric.size() > 1 && report.rubric[1].yes) out << "      never_cloud: true\n";
      break;
    case Recommendation::hybrid:
      out << "      targets: [" << yaml_quote(local_model) << ", " << yaml_quote(cloud_model)
          << "]\n";
      out << "      escalate:\n        on_empty: true\n        on_truncated: true\n";
      break;
    case Recommendation::keep_cloud:
      out << "      targets: [" << yaml_quote(cloud_model) << "]\n";
      break;
    case Recommendation::not_enough_data:
      break;
  }
  return out.str();
}

// The latest local eval run with the best agreement for `workload`.
std::optional<EvalSummary> best_local_eval(const std::vector<EvalSummary>& evals,
                                           const std::string& workload) {
  std::optional<EvalSummary> best;
  for (const auto& eval : evals) {
    if (eval.workload != workload || eval.placement != "local") continue;
    if (!best || eval.agreement > best->agreement ||
        (eval.agreement == best->agreement && eval.time_us > best->time_us)) {
      best = eval;
    }
  }
  return best;
}

WorkloadReport workload_report(WorkloadTotals& totals, const Context& context) {
  const auto& costs = context.costs;
  const auto& thresholds = context.thresholds;
  const double per_month = kDaysPerMonth / context.window_days;

  WorkloadReport report;
  report.workload = totals.name;
  report.first_us = totals.first_us;
  report.last_us = totals.last_us;
  report.requests = totals.requests;
  const double monthly_requests = static_cast<double>(totals.requests) * per_month;
  report.monthly_requests = round_to(monthly_requests, 1);
  report.first_half_requests = totals.first_half;
  report.second_half_requests = totals.second_half;
  if (totals.first_half > 0) {
    const double trend =
        static_cast<double>(totals.second_half) / static_cast<double>(totals.first_half) - 1;
    report.trend = rate4(trend);
    report.trend_words = trend > kFlatTrend ? "rising" : trend < -kFlatTrend ? "falling" : "flat";
  } else {
    report.trend_words = totals.second_half > 0 ? "new" : "flat";
  }
  report.sensitive_requests = totals.sensitive;
  const double sensitive_share =
      static_cast<double>(totals.sensitive) / static_cast<double>(totals.requests);
  report.sensitive_share = rate4(sensitive_share);

  report.local = placement_stats("local", totals.local);
  report.cloud = placement_stats("cloud", totals.cloud);
  report.unanswered_requests = totals.unanswered;
  report.fallback_requests = totals.fallbacks;
  report.fallback_succeeded = totals.fallbacks_succeeded;
  report.fallback_rate =
      rate4(static_cast<double>(totals.fallbacks) / static_cast<double>(totals.requests));
  report.escalated_requests = totals.escalated;

  // Money, per month.
  const double current_cloud_spend = totals.cloud_cost_usd * per_month;
  const double cloud_equivalent =
      (totals.cloud.cloud_cost_usd + totals.local.avoided_cost_usd) * per_month;
  report.current_monthly_cloud_spend_usd = cents(current_cloud_spend);
  report.cloud_equivalent_monthly_usd = cents(cloud_equivalent);

  std::optional<double> busy_ms_per_token;
  if (totals.measured_tokens > 0) {
    busy_ms_per_token = totals.measured_busy_ms / static_cast<double>(totals.measured_tokens);
    report.local_busy_ms_per_token = round_to(*busy_ms_per_token, 6);
  }
  const double idle_kwh = costs.power_idle_watts * kHoursPerMonth / 1000;
  const double amortisation =
      costs.hardware_price_usd / static_cast<double>(costs.amortisation_months);
  const double local_fixed =
      amortisation + costs.operations_usd_per_month + idle_kwh * costs.electricity_usd_per_kwh;
  std::optional<double> busy_kwh;
  if (busy_ms_per_token) {
    const double busy_ms = (totals.measured_busy_ms +
                            *busy_ms_per_token * static_cast<double>(totals.unmeasured_tokens)) *
                           per_month;
    busy_kwh = busy_ms / kMsPerHour * costs.power_busy_watts / 1000;
  }
  const double local_variable = busy_kwh.value_or(0) * costs.electricity_usd_per_kwh;
  const double local_monthly = local_fixed + local_variable;
  std::optional<double> local_kwh;
  if (busy_kwh) local_kwh = *busy_kwh + idle_kwh;
  const auto co2_of = [&](std::optional<double> kwh) -> std::optional<double> {
    if (!kwh) return std::nullopt;
    return energy3(*kwh * costs.carbon_grams_per_kwh / 1000);
  };
  const auto energy_of = [](std::optional<double> kwh) -> std::optional<double> {
    if (!kwh) return std::nullopt;
    return energy3(*kwh);
  };
  const std::string no_measurement =
      "no local answer with busy_ms > 0 and tokens: busy-time energy not counted";

  Projection& local = report.local_projection;
  local.placement = "local";
  local.variable_cost_usd = cents(local_variable);
  local.fixed_cost_usd = cents(local_fixed);
  local.monthly_cost_usd = cents(local_monthly);
  local.cloud_spend_usd = 0;
  local.energy_kwh = energy_of(local_kwh);
  local.co2_kg = co2_of(local_kwh);
  if (!busy_kwh) local.note = no_measurement;

  Projection& cloud = report.cloud_projection;
  cloud.placement = "cloud";
  cloud.variable_cost_usd = cents(cloud_equivalent);
  cloud.fixed_cost_usd = 0;
  cloud.monthly_cost_usd = cents(cloud_equivalent);
  cloud.cloud_spend_usd = cents(cloud_equivalent);
  cloud.note = "providers do not report energy";

  // Capability: escalation and eval.
  CapabilityCheck& capability = report.capability;
  capability.local_attempts = totals.local.requests + totals.escalated_not_local;
  capability.max_escalation_rate = thresholds.max_escalation_rate;
  capability.min_eval_agreement = thresholds.min_eval_agreement;
  std::optional<double> escalation_rate;
  if (capability.local_attempts > 0) {
    escalation_rate =
        static_cast<double>(totals.escalated) / static_cast<double>(capability.local_attempts);
    capability.escalation_rate = rate4(*escalation_rate);
  }
  capability.eval = best_local_eval(context.evals, totals.name);
  const bool escalation_ok = !escalation_rate || *escalation_rate <= thresholds.max_escalation_rate;
  const bool eval_ok =
      !capability.eval || capability.eval->agreement >= thresholds.min_eval_agreement;
  capability.passed = escalation_ok && eval_ok;
  {
    std::string numbers;
    if (escalation_rate) {
      numbers = "escalation " + count(totals.escalated) + "/" + count(capability.local_attempts) +
                " = " + percent(*escalation_rate) + (escalation_ok ? " <= " : " > ") +
                percent(thresholds.max_escalation_rate);
    } else {
      numbers = "escalation not measured (no local answers)";
    }
    if (capability.eval) {
      numbers += "; eval " + capability.eval->target + " agreement " +
                 percent(capability.eval->agreement) + " on " + count(capability.eval->samples) +
                 " samples" + (eval_ok ? " >= " : " < ") + percent(thresholds.min_eval_agreement);
    } else {
      numbers += "; no local eval result";
    }
    capability.numbers = numbers;
  }

  // Hybrid: everything local first, the escalated share also paid in the cloud.
  const double hybrid_rate = escalation_rate.value_or(thresholds.max_escalation_rate);
  Projection& hybrid = report.hybrid_projection;
  hybrid.placement = "hybrid";
  hybrid.variable_cost_usd = cents(local_variable + hybrid_rate * cloud_equivalent);
  hybrid.fixed_cost_usd = cents(local_fixed);
  hybrid.monthly_cost_usd = cents(local_monthly + hybrid_rate * cloud_equivalent);
  hybrid.cloud_spend_usd = cents(hybrid_rate * cloud_equivalent);
  hybrid.energy_kwh = energy_of(local_kwh);
  hybrid.co2_kg = co2_of(local_kwh);
  if (!escalation_rate) {
    hybrid.note = "escalation rate not measured: max_escalation_rate " +
                  percent(thresholds.max_escalation_rate) + " assumed";
  }
  if (!busy_kwh) hybrid.note += (hybrid.note.empty() ? "" : "; ") + no_measurement;

  // Break-even: the hardware price against the monthly savings of running locally.
  const double local_running = local_monthly - amortisation;
  const double savings = cloud_equivalent - local_running;
  BreakEven& break_even = report.break_even;
  break_even.hardware_price_usd = cents(costs.hardware_price_usd);
  break_even.monthly_savings_usd = cents(savings);
  if (savings <= 0) {
    break_even.never = true;
  } else {
    const double months = std::ceil(costs.hardware_price_usd / savings - 1e-9);
    break_even.month = std::max(1, static_cast<int>(std::min<double>(months, 1e6)));
  }
  int curve_months = costs.amortisation_months;
  if (break_even.month && *break_even.month > curve_months) curve_months = *break_even.month;
  curve_months = std::min(curve_months, kMaxCurveMonths);
  for (int month = 0; month <= curve_months; ++month) {
    report.break_even_curve.push_back(
        CurvePoint{.month = month,
                   .local_cumulative_usd = cents(costs.hardware_price_usd + month * local_running),
                   .cloud_cumulative_usd = cents(month * cloud_equivalent)});
  }

  // The rubric.
  RubricAnswer frequent{
      .id = "frequent",
      .question = "Is it frequent enough that per-request cost matters?",
      .yes = monthly_requests >= static_cast<double>(thresholds.frequent_requests_per_month),
      .numbers = {}};
  frequent.numbers =
      count(totals.requests) + " requests in " + format_fixed(context.window_days, 2) +
      " days = " + format_fixed(report.monthly_requests, 1) + " per month" +
      (frequent.yes ? " >= " : " < ") + count(thresholds.frequent_requests_per_month);
  RubricAnswer sensitive{
      .id = "sensitive",
      .question = "Does it touch data that should stay inside the boundary?",
      .yes = totals.sensitive > 0 && sensitive_share >= thresholds.sensitive_share,
      .numbers = {}};
  sensitive.numbers = count(totals.sensitive) + "/" + count(totals.requests) +
                      " requests with sensitivity labels = " + percent(sensitive_share) +
                      (sensitive.yes ? " >= " : " < ") + percent(thresholds.sensitive_share);
  if (totals.sensitive == 0) sensitive.numbers = "no request with sensitivity labels";

  const double min_success = thresholds.min_local_success_rate;
  std::optional<double> local_success;
  if (totals.local.requests > 0) {
    local_success =
        static_cast<double>(totals.local.succeeded) / static_cast<double>(totals.local.requests);
  }
  std::optional<double> fallback_success;
  if (totals.fallbacks > 0) {
    fallback_success =
        static_cast<double>(totals.fallbacks_succeeded) / static_cast<double>(totals.fallbacks);
  }
  std::optional<double> measured_share;
  if (totals.local.succeeded > 0) {
    measured_share = static_cast<double>(totals.local_succeeded_measured) /
                     static_cast<double>(totals.local.succeeded);
  }
  const bool success_ok = local_success && *local_success >= min_success;
  const bool fallback_ok = fallback_success && *fallback_success >= min_success;
  const bool metrics_ok = measured_share && *measured_share >= min_success;
  RubricAnswer trustworthy{.id = "trustworthy",
                           .question = "Can fallback and observability be trusted?",
                           .yes = success_ok && fallback_ok && metrics_ok,
                           .numbers = {}};
  trustworthy.numbers =
      (local_success ? "local success " + count(totals.local.succeeded) + "/" +
                           count(totals.local.requests) + " = " + percent(*local_success) +
                           (success_ok ? " >= " : " < ") + percent(min_success)
                     : std::string("no local answers")) +
      "; " +
      (fallback_success
           ? "fallbacks " + count(totals.fallbacks_succeeded) + "/" + count(totals.fallbacks) +
                 " succeeded = " + percent(*fallback_success) + (fallback_ok ? " >= " : " < ") +
                 percent(min_success)
           : std::string("fallback path never exercised")) +
      "; " +
      (measured_share
           ? "busy time recorded on " + count(totals.local_succeeded_measured) + "/" +
                 count(totals.local.succeeded) + " local answers = " + percent(*measured_share) +
                 (metrics_ok ? " >= " : " < ") + percent(min_success)
           : std::string("no local metrics"));
  report.rubric = {frequent, sensitive, trustworthy};
  report.rubric_yes = static_cast<int>(frequent.yes) + static_cast<int>(sensitive.yes) +
                      static_cast<int>(trustworthy.yes);
  report.local_candidate = report.rubric_yes >= 2;

  // The recommendation and its reasons.
  auto& reasons = report.reasons;
  const auto rubric_summary = [&] {
    std::string text;
    for (const auto& answer : report.rubric) {
      if (!text.empty()) text += ", ";
      text += answer.id + ": " + (answer.yes ? "yes" : "no");
    }
    return text;
  };
  // What the local candidate would cost: all local without escalations, else hybrid.
  const double candidate_monthly = escalation_rate && totals.escalated == 0
                                       ? local_monthly
                                       : local_monthly + hybrid_rate * cloud_equivalent;
  if (totals.requests < thresholds.min_requests) {
    report.recommendation = Recommendation::not_enough_data;
    reasons.push_back("Only " + count(totals.requests) + " requests in the window; at least " +
                      count(thresholds.min_requests) + " are needed to judge.");
  } else if (!report.local_candidate) {
    report.recommendation = Recommendation::keep_cloud;
    reasons.push_back(std::to_string(report.rubric_yes) + " of 3 rubric questions answered yes (" +
                      rubric_summary() + "); moving local needs two.");
  } else if (!capability.passed) {
    report.recommendation = Recommendation::keep_cloud;
    reasons.push_back(std::to_string(report.rubric_yes) + " of 3 rubric questions answered yes (" +
                      rubric_summary() + "), but the local model is not capable enough.");
    if (!escalation_ok) {
      reasons.push_back("Its answers were escalated " + percent(*escalation_rate) +
                        " of the time (" + count(totals.escalated) + "/" +
                        count(capability.local_attempts) + "), above the limit of " +
                        percent(thresholds.max_escalation_rate) + ".");
    }
    if (!eval_ok) {
      reasons.push_back("In hearth eval, " + capability.eval->target + " agreed on " +
                        percent(capability.eval->agreement) + " of " +
                        count(capability.eval->samples) + " samples, below the minimum of " +
                        percent(thresholds.min_eval_agreement) + ".");
    }
  } else if (!sensitive.yes && candidate_monthly >= cloud_equivalent) {
    // Cost decides when no sensitive data asks for the boundary: a local candidate that would
    // cost more than the cloud stays there.
    report.recommendation = Recommendation::keep_cloud;
    reasons.push_back(std::to_string(report.rubric_yes) + " of 3 rubric questions answered yes (" +
                      rubric_summary() +
                      "), but with no sensitive data to keep inside, cost decides: serving it "
                      "locally (" +
                      money(candidate_monthly) + " a month) would cost more than the cloud (" +
                      money(cloud_equivalent) + ").");
  } else {
    const bool proven = escalation_rate.has_value();
    report.recommendation =
        proven && totals.escalated == 0 ? Recommendation::move_local : Recommendation::hybrid;
    reasons.push_back(std::to_string(report.rubric_yes) + " of 3 rubric questions answered yes (" +
                      rubric_summary() + "): a local candidate.");
    if (!proven) {
      reasons.push_back(
          "No local answers were observed yet, so serve it local first with cloud escalation "
          "and watch the escalation rate.");
    } else if (totals.escalated == 0) {
      reasons.push_back("None of its " + count(capability.local_attempts) +
                        " local answers needed escalation.");
    } else {
      reasons.push_back(percent(*escalation_rate) + " of its local answers were escalated (" +
                        count(totals.escalated) + "/" + count(capability.local_attempts) +
                        "), within the limit of " + percent(thresholds.max_escalation_rate) +
                        ": keep the cloud model for those.");
    }
    if (capability.eval) {
      reasons.push_back("In hearth eval, " + capability.eval->target + " agreed on " +
                        percent(capability.eval->agreement) + " of " +
                        count(capability.eval->samples) + " samples.");
    }
    if (candidate_monthly >= cloud_equivalent) {
      reasons.push_back("Serving it locally costs more (" + money(candidate_monthly) +
                        " a month against " + money(cloud_equivalent) +
                        " in the cloud), but its sensitive data should stay inside the boundary.");
    }
  }
  if (report.recommendation != Recommendation::not_enough_data) {
    std::string cost = "Per month: local " + money(local_monthly) + ", cloud " +
                       money(cloud_equivalent) + ", hybrid " +
                       money(local_monthly + hybrid_rate * cloud_equivalent) + ".";
    if (break_even.never) {
      cost += " The hardware never pays back at this volume (local running cost " +
              money(local_running) + " is not below the cloud cost).";
    } else {
      cost += " The hardware (" + money(costs.hardware_price_usd) + ") pays back in month " +
              std::to_string(*break_even.month) + " (saving " + money(savings) + " a month).";
    }
    reasons.push_back(cost);
  }
  report.policy_snippet = policy_snippet(report, totals, context.config);

  // Series.
  for (std::size_t i = 0; i < totals.days.size(); ++i) {
    const auto& day = totals.days[i];
    report.daily.push_back(DailyPoint{
        .day = day_text(context.first_day + static_cast<std::int64_t>(i)),
        .local_requests = day.local,
        .cloud_requests = day.cloud,
        .other_requests = day.other,
        .cloud_spend_usd = cents(day.cloud_spend_usd),
        .local_energy_cost_usd = cents(day.local_busy_ms / kMsPerHour * costs.power_busy_watts /
                                       1000 * costs.electricity_usd_per_kwh),
        .avoided_cost_usd = cents(day.avoided_cost_usd)});
  }
  report.latency_histograms = {histogram("local", totals.local), histogram("cloud", totals.cloud)};
  return report;
}

double projected_cost(const WorkloadReport& workload) {
  switch (workload.recommendation) {
    case Recommendation::move_local:
      return workload.local_projection.monthly_cost_usd;
    case Recommendation::hybrid:
      return workload.hybrid_projection.monthly_cost_usd;
    case Recommendation::keep_cloud:
    case Recommendation::not_enough_data:
      return workload.cloud_projection.monthly_cost_usd;
  }
  return workload.cloud_projection.monthly_cost_usd;
}

}  // namespace

std::string_view to_string(Recommendation recommendation) {
  switch (recommendation) {
    case Recommendation::move_local:
      return "move_local";
    case Recommendation::keep_cloud:
      return "keep_cloud";
    case Recommendation::hybrid:
      return "hybrid";
    case Recommendation::not_enough_data:
      return "not_enough_data";
  }
  return "not_enough_data";
}

std::string eval_results_dir(const config::Config& config) {
  if (!config.advisor.eval_results_dir.empty()) return config.advisor.eval_results_dir;
  if (!config.source.empty()) {
    return (fs::path(config.source).parent_path() / "hearth-evals").lexically_normal().string();
  }
  return "hearth-evals";
}

EvalLoad load_eval_summaries(const std::string& directory) {
  EvalLoad load;
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) return load;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) load.problems.push_back(directory + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const std::string name = file.string();
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      load.problems.push_back(name + ": cannot be read");
      continue;
    }
    const auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) {
      load.problems.push_back(name + ": not a JSON object");
      continue;
    }
    const auto field = [&](const char* key) -> const nlohmann::json* {
      auto it = json.find(key);
      return it == json.end() ? nullptr : &*it;
    };
    const auto* workload = field("workload");
    const auto* target = field("target");
    const auto* placement = field("placement");
    const auto* agreement = field("agreement");
    const auto* samples = field("samples");
    const auto* time_us = field("time_us");
    std::string problem;
    if (!workload || !workload->is_string()) {
      problem = "\"workload\" must be a string";
    } else if (!target || !target->is_string() || target->get<std::string>().empty()) {
      problem = "\"target\" must be a non-empty string";
    } else if (!placement || !placement->is_string() ||
               (placement->get<std::string>() != "local" &&
                placement->get<std::string>() != "cloud")) {
      problem = "\"placement\" must be \"local\" or \"cloud\"";
    } else if (!agreement || !agreement->is_number() || agreement->get<double>() < 0 ||
               agreement->get<double>() > 1) {
      problem = "\"agreement\" must be a number from 0 to 1";
    } else if (!samples || !samples->is_number_integer() || samples->get<std::int64_t>() < 0) {
      problem = "\"samples\" must be a non-negative integer";
    } else if (!time_us || !time_us->is_number_integer()) {
      problem = "\"time_us\" must be an integer (Unix microseconds)";
    }
    if (!problem.empty()) {
      load.problems.push_back(name + ": " + problem);
      continue;
    }
    load.summaries.push_back(EvalSummary{.workload = workload->get<std::string>(),
                                         .target = target->get<std::string>(),
                                         .placement = placement->get<std::string>(),
                                         .agreement = agreement->get<double>(),
                                         .samples = samples->get<std::int64_t>(),
                                         .time_us = time_us->get<std::int64_t>(),
                                         .file = name});
  }
  std::sort(load.summaries.begin(), load.summaries.end(),
            [](const EvalSummary& a, const EvalSummary& b) {
              return std::tie(a.workload, a.target, a.time_us, a.file) <
                     std::tie(b.workload, b.target, b.time_us, b.file);
            });
  return load;
}

Expected<Report, std::string> advise(ledger::Store& store, const config::Config& config,
                                     const AdviseOptions& options) {
  if (options.until_us <= options.since_us) {
    return unexpected(std::string("the window is empty: until must be after since"));
  }
  Report report;
  report.since_us = options.since_us;
  report.until_us = options.until_us;
  report.window_days =
      static_cast<double>(options.until_us - options.since_us) / static_cast<double>(kMicrosPerDay);
  report.generated_us = options.now_us != 0 ? options.now_us : now_us();
  report.ledger_kind = std::string(store.kind());
  report.local_costs = config.local_costs;
  report.thresholds = config.advisor;
  report.eval_dir = eval_results_dir(config);

  // Eval results: the latest run per workload and target.
  EvalLoad evals = load_eval_summaries(report.eval_dir);
  for (auto& problem : evals.problems) report.warnings.push_back("eval result " + problem);
  for (std::size_t i = 0; i < evals.summaries.size(); ++i) {
    const auto& eval = evals.summaries[i];
    const bool latest = i + 1 == evals.summaries.size() ||
                        evals.summaries[i + 1].workload != eval.workload ||
                        evals.summaries[i + 1].target != eval.target;
    if (latest && (options.workload.empty() || eval.workload == options.workload)) {
      report.evals.push_back(eval);
    }
  }

  const std::int64_t first_day = floor_div(options.since_us, kMicrosPerDay);
  const std::int64_t day_count = floor_div(options.until_us - 1, kMicrosPerDay) - first_day + 1;
  const std::int64_t mid_us = options.since_us + (options.until_us - options.since_us) / 2;
  std::vector<WorkloadTotals> workloads;
  std::unordered_map<std::string, std::size_t> index;
  std::size_t last = 0;
  auto scanned =
      store.scan_usage(options.since_us, options.until_us, ledger::UsageColumns::accounting,
                       [&](const ledger::UsageRecord& record) {
                         if (!options.workload.empty() && record.workload != options.workload)
                           return;
                         // Consecutive records often share a workload: check the last one before
                         // hashing.
                         if (workloads.empty() || workloads[last].name != record.workload) {
                           auto [it, added] = index.try_emplace(record.workload, workloads.size());
                           if (added) {
                             workloads.emplace_back();
                             workloads.back().name = record.workload;
                             workloads.back().days.resize(static_cast<std::size_t>(day_count));
                           }
                           last = it->second;
                         }
                         ++report.records;
                         add_record(workloads[last], record, mid_us, first_day);
                       });
  if (!scanned) return unexpected("cannot read the ledger: " + scanned.error());

  const Context context{.config = config,
                        .costs = config.local_costs,
                        .thresholds = config.advisor,
                        .window_days = report.window_days,
                        .first_day = first_day,
                        .evals = report.evals};
  for (auto& totals : workloads) {
    report.workloads.push_back(workload_report(totals, context));
    totals = WorkloadTotals{};  // its latencies are no longer needed
  }
  std::sort(report.workloads.begin(), report.workloads.end(),
            [](const WorkloadReport& a, const WorkloadReport& b) {
              return a.requests != b.requests ? a.requests > b.requests : a.workload < b.workload;
            });
  double current = 0;
  double projected = 0;
  for (const auto& workload : report.workloads) {
    current += workload.current_monthly_cloud_spend_usd;
    projected += projected_cost(workload);
  }
  report.current_monthly_cloud_spend_usd = cents(current);
  report.projected_monthly_cost_usd = cents(projected);
  return report;
}

}  // namespace hearth::advisor
