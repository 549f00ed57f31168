#include "eval/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/percentile.hpp"
#include "eval/scoring.hpp"
#include "policy/policy.hpp"

namespace hearth::eval {

namespace {

constexpr std::size_t kErrorExamples = 3;
constexpr double kMillisecondWattsPerWattHour = 3'600'000.0;

nlohmann::json optional_number(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json();
}

nlohmann::json name_or_null(const std::string& name) {
  return name.empty() ? nlohmann::json() : nlohmann::json(name);
}

std::string format_money(double usd) {
  char text[64];
  std::snprintf(text, sizeof text, "$%.4f", usd);
  return text;
}

std::string format_fraction(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

// Agreement of one target's answer (nullptr: none recorded) with the sample's yardstick; nullopt
// when the sample cannot be scored.
std::optional<Agreement> score_sample(const Sample& sample, const SampleResult* answer,
                                      bool is_reference, const SampleResult* reference_answer) {
  const bool answered = answer != nullptr && answer->ok();
  if (sample.expected_json) {
    return answered ? json_agreement(*sample.expected_json, answer->answer) : Agreement{};
  }
  if (sample.expected) {
    return answered ? text_agreement(*sample.expected, answer->answer) : Agreement{};
  }
  if (reference_answer == nullptr || !reference_answer->ok()) return std::nullopt;
  if (is_reference) return Agreement{1.0, true};
  return answered ? text_agreement(reference_answer->answer, answer->answer) : Agreement{};
}

const SampleResult* find_result(const ResultsByTarget& results, const std::string& target,
                                const std::string& key) {
  const auto by_target = results.find(target);
  if (by_target == results.end()) return nullptr;
  const auto found = by_target->second.find(key);
  return found == by_target->second.end() ? nullptr : &found->second;
}

TargetReport report_target(const std::vector<Sample>& samples, const TargetSpec& spec,
                           const ResultsByTarget& results, const ReportSettings& settings) {
  TargetReport report;
  report.target = spec.name;
  report.placement = std::string(config::to_string(spec.placement));
  report.is_reference = !settings.reference.empty() && spec.name == settings.reference;
  report.samples = samples.size();

  double agreement_sum = 0;
  double cloud_cost_sum = 0;
  double busy_ms_sum = 0;
  std::vector<double> latencies;
  for (const auto& sample : samples) {
    const SampleResult* answer = find_result(results, spec.name, sample.key);
    const SampleResult* reference_answer =
        settings.reference.empty() ? nullptr : find_result(results, settings.reference, sample.key);
    if (const auto agreement =
            score_sample(sample, answer, report.is_reference, reference_answer)) {
      ++report.scored;
      agreement_sum += agreement->score;
      if (agreement->exact) ++report.exact_matches;
    }
    if (answer == nullptr || !answer->ok()) {
      ++report.errors;
      if (report.error_examples.size() < kErrorExamples) {
        report.error_examples.push_back(sample.key + ": " +
                                        (answer == nullptr ? "no answer recorded" : answer->error));
      }
      continue;
    }
    ++report.answered;
    latencies.push_back(answer->latency_ms);
    report.prompt_tokens += answer->prompt_tokens;
    report.completion_tokens += answer->completion_tokens;
    if (spec.cloud) {
      cloud_cost_sum += policy::answer_cost(*spec.cloud, answer->prompt_tokens,
                                            answer->cached_tokens, answer->completion_tokens);
    } else if (answer->busy_ms) {
      ++report.busy_time_measured;
      busy_ms_sum += *answer->busy_ms;
    }
  }

  if (report.scored > 0) {
    const auto scored = static_cast<double>(report.scored);
    report.agreement = agreement_sum / scored;
    report.exact_match_rate = static_cast<double>(report.exact_matches) / scored;
    report.passes = *report.agreement >= settings.min_agreement;
  }
  if (report.answered > 0) {
    const auto answered = static_cast<double>(report.answered);
    report.latency_p50_ms = nearest_rank(latencies, 50);
    report.latency_p95_ms = nearest_rank(latencies, 95);
    report.prompt_tokens_per_request = static_cast<double>(report.prompt_tokens) / answered;
    report.completion_tokens_per_request = static_cast<double>(report.completion_tokens) / answered;
    if (spec.cloud) report.cost_usd_per_1k = cloud_cost_sum / answered * 1000.0;
  }
  if (!spec.cloud && report.busy_time_measured > 0) {
    const auto& costs = settings.local_costs;
    const double busy_ms_per_request = busy_ms_sum / static_cast<double>(report.busy_time_measured);
    const double wh_per_1k =
        busy_ms_per_request * costs.power_busy_watts / kMillisecondWattsPerWattHour * 1000.0;
    report.energy_wh_per_1k = wh_per_1k;
    report.cost_usd_per_1k = wh_per_1k / 1000.0 * costs.electricity_usd_per_kwh;
    report.co2_grams_per_1k = wh_per_1k / 1000.0 * costs.carbon_grams_per_kwh;
  }
  return report;
}

// Orders passing targets by preference: cheaper, then local, then more agreement.
bool preferred(const TargetReport& left, const TargetReport& right) {
  const double left_cost = left.cost_usd_per_1k.value_or(0.0);
  const double right_cost = right.cost_usd_per_1k.value_or(0.0);
  const double tolerance = 1e-12 * std::max({1.0, std::abs(left_cost), std::abs(right_cost)});
  if (std::abs(left_cost - right_cost) > tolerance) return left_cost < right_cost;
  const bool left_local = left.placement == "local";
  const bool right_local = right.placement == "local";
  if (left_local != right_local) return left_local;
  return left.agreement.value_or(0.0) > right.agreement.value_or(0.0);
}

}  // namespace

bool Report::all_pass() const {
  return std::all_of(targets.begin(), targets.end(),
                     [](const TargetReport& target) { return target.passes; });
}

Report build_report(const std::vector<Sample>& samples, const std::vector<TargetSpec>& targets,
                    const ResultsByTarget& results, const ReportSettings& settings) {
  Report report;
  report.min_agreement = settings.min_agreement;
  for (const auto& spec : targets) {
    report.targets.push_back(report_target(samples, spec, results, settings));
  }
  const TargetReport* best = nullptr;
  for (const auto& target : report.targets) {
    if (target.passes && (best == nullptr || preferred(target, *best))) best = &target;
  }
  const std::string threshold = format_fraction(settings.min_agreement);
  if (best != nullptr) {
    report.recommended = best->target;
    for (auto& target : report.targets) target.recommended = target.target == best->target;
    report.recommendation =
        best->target + " (" + best->placement +
        "): the cheapest target with agreement >= " + threshold + " (agreement " +
        format_fraction(best->agreement.value_or(0)) + ", " +
        (best->cost_usd_per_1k ? format_money(*best->cost_usd_per_1k) : std::string("unknown")) +
        " per 1,000 requests)";
  } else {
    const TargetReport* closest = nullptr;
    for (const auto& target : report.targets) {
      if (target.agreement &&
          (closest == nullptr || *target.agreement > closest->agreement.value_or(-1.0))) {
        closest = &target;
      }
    }
    report.recommendation = "no target reaches agreement " + threshold;
    if (closest != nullptr) {
      report.recommendation +=
          ": the closest is " + closest->target + " at " + format_fraction(*closest->agreement);
    }
  }
  return report;
}

nlohmann::json summary_json(const TargetReport& target, const Report& report, const RunInfo& run) {
  return {
      {"format", "hearth-eval/1"},
      {"workload", run.workload},
      {"target", target.target},
      {"placement", target.placement},
      {"reference", run.reference},
      {"is_reference", target.is_reference},
      {"agreement", optional_number(target.agreement)},
      {"exact_match_rate", optional_number(target.exact_match_rate)},
      {"min_agreement", report.min_agreement},
      {"passes", target.passes},
      {"recommended", target.recommended},
      {"recommendation", name_or_null(report.recommended)},
      {"samples", target.samples},
      {"scored", target.scored},
      {"answered", target.answered},
      {"errors", target.errors},
      {"error_examples", target.error_examples},
      {"latency_ms",
       {{"p50", optional_number(target.latency_p50_ms)},
        {"p95", optional_number(target.latency_p95_ms)}}},
      {"tokens",
       {{"prompt", target.prompt_tokens},
        {"completion", target.completion_tokens},
        {"prompt_per_request", optional_number(target.prompt_tokens_per_request)},
        {"completion_per_request", optional_number(target.completion_tokens_per_request)}}},
      {"cost_usd_per_1k", optional_number(target.cost_usd_per_1k)},
      {"energy_wh_per_1k", optional_number(target.energy_wh_per_1k)},
      {"co2_grams_per_1k", optional_number(target.co2_grams_per_1k)},
      {"busy_time_measured", target.busy_time_measured},
      {"samples_file", run.samples_file},
      {"samples_hash", run.samples_hash},
      {"gateway", run.gateway_url},
      {"time_us", run.time_us},
  };
}

nlohmann::json report_json(const Report& report, const RunInfo& run) {
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& target : report.targets) targets.push_back(summary_json(target, report, run));
  return {{"workload", run.workload},
          {"min_agreement", report.min_agreement},
          {"recommended", name_or_null(report.recommended)},
          {"recommendation", report.recommendation},
          {"pass", report.all_pass()},
          {"targets", std::move(targets)}};
}

}  // namespace hearth::eval
