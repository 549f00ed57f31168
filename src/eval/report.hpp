// The figures `hearth eval` reports per target and the placement it recommends, computed from the
// recorded answers alone (docs/EVAL.md: every figure's definition), and the summary saved for
// `hearth advise`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "eval/results.hpp"
#include "eval/samples.hpp"

namespace hearth::eval {

struct TargetSpec {
  std::string name;  // the model entry's name
  config::Placement placement = config::Placement::local;
  std::optional<config::CloudBackend> cloud;  // cloud targets: the price table
};

struct ReportSettings {
  double min_agreement = 0.8;
  std::string reference;  // the reference target's name; "" none
  config::LocalCostSettings local_costs;
};

struct TargetReport {
  std::string target;
  std::string placement;  // "local" or "cloud"
  bool is_reference = false;
  std::size_t samples = 0;   // in the samples file
  std::size_t answered = 0;  // usable answers
  std::size_t errors = 0;    // samples without a usable answer (never sent counts too)
  // Samples with something to compare with: an expectation, or the reference's answer. A sample
  // the target failed on scores 0.
  std::size_t scored = 0;
  std::size_t exact_matches = 0;
  std::optional<double> agreement;  // mean over scored samples; nullopt when none is scored
  std::optional<double> exact_match_rate;
  std::optional<double> latency_p50_ms;  // nearest rank over answered samples
  std::optional<double> latency_p95_ms;
  std::int64_t prompt_tokens = 0;  // over answered samples
  std::int64_t completion_tokens = 0;
  std::optional<double> prompt_tokens_per_request;
  std::optional<double> completion_tokens_per_request;
  // Cloud: the provider's price of the answers' usage. Local: the electricity of the measured
  // busy time (hardware and operations are the advisor's business: they depend on volume).
  std::optional<double> cost_usd_per_1k;
  std::optional<double> energy_wh_per_1k;  // local only, from x-hearth-busy-ms
  std::optional<double> co2_grams_per_1k;
  std::size_t busy_time_measured = 0;  // local answers that carried x-hearth-busy-ms
  bool passes = false;                 // agreement >= min_agreement
  bool recommended = false;
  std::vector<std::string> error_examples;  // the first few, "SAMPLE: MESSAGE"
};

struct Report {
  std::vector<TargetReport> targets;  // in the order given
  std::string recommended;            // the target's name; "" when none passes
  std::string recommendation;         // the choice (or its absence) in plain words
  double min_agreement = 0;
  bool all_pass() const;
};

// For each target name, its answer per sample key (the latest one recorded).
using ResultsByTarget =
    std::map<std::string, std::map<std::string, SampleResult, std::less<>>, std::less<>>;

// Scores the answers: a sample with `expected` or `expected_json` against it; one without
// against the reference target's answer (text_agreement); the reference itself scores 1 on
// those (it is the yardstick); a sample the reference failed on is not scored for anyone. The
// recommendation is the cheapest target that passes (cost per 1,000 requests; a local target
// whose cost is unknown counts as 0), a local target winning a tie, then the higher agreement.
Report build_report(const std::vector<Sample>& samples, const std::vector<TargetSpec>& targets,
                    const ResultsByTarget& results, const ReportSettings& settings);

// Where and how the run was made, for the saved summaries.
struct RunInfo {
  std::string workload;
  std::string samples_file;
  std::string samples_hash;
  std::string gateway_url;
  std::string reference;
  std::int64_t time_us = 0;
};

// One target's saved summary (format "hearth-eval/1", docs/EVAL.md).
nlohmann::json summary_json(const TargetReport& target, const Report& report, const RunInfo& run);
// The whole report as printed by --json: {"recommended", "recommendation", "min_agreement",
// "targets": [summary_json...]}.
nlohmann::json report_json(const Report& report, const RunInfo& run);

}  // namespace hearth::eval
