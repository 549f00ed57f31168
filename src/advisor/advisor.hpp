// `hearth advise`: per workload, what the ledger says about moving it local or keeping it in the
// cloud. Every figure is defined in docs/ADVISOR.md (formula and source columns) so that it can be
// recomputed by hand from the ledger; the Report holds plain values, already rounded as documented
// there (money to the cent, energy and CO2 to 3 decimals, rates to 4), so that every renderer
// (terminal, JSON, HTML) shows the same numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "config/config.hpp"
#include "ledger/store.hpp"

namespace hearth::advisor {

// ---- Eval results (written by `hearth eval`, one JSON file per target run)
// -----------------------

// The top-level fields of an eval result file that the advisor reads (others are ignored).
struct EvalSummary {
  std::string workload;
  std::string target;     // the model entry that was evaluated
  std::string placement;  // "local" or "cloud"
  double agreement = 0;   // 0..1
  std::int64_t samples = 0;
  std::int64_t time_us = 0;  // when the run finished (Unix microseconds)
  std::string file;          // where it was read from

  bool operator==(const EvalSummary&) const = default;
};

struct EvalLoad {
  std::vector<EvalSummary> summaries;  // sorted by workload, target, time_us
  std::vector<std::string> problems;   // "FILE: why" for each file that could not be used
};

// Reads every `*.json` file directly in `directory`. A missing directory gives an empty load; a
// file that is not a JSON object with the six fields of EvalSummary is a problem, not an error.
EvalLoad load_eval_summaries(const std::string& directory);

// The directory the configuration points eval results to (advisor.eval_results_dir, or
// hearth-evals/ beside the configuration file, or in the current directory).
std::string eval_results_dir(const config::Config& config);

// ---- The report --------------------------------------------------------------------------------

enum class Recommendation { move_local, keep_cloud, hybrid, not_enough_data };
std::string_view to_string(Recommendation recommendation);  // "move_local", ...

// Requests answered by one placement ("local" or "cloud").
struct PlacementStats {
  std::string placement;
  std::int64_t requests = 0;
  std::int64_t succeeded = 0;            // status < 400
  std::optional<double> success_rate;    // succeeded / requests; absent with no requests
  std::optional<double> latency_p50_ms;  // nearest rank over succeeded requests
  std::optional<double> latency_p95_ms;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double busy_ms = 0;           // sum of busy_ms
  double cloud_cost_usd = 0;    // sum of cloud_cost_usd
  double avoided_cost_usd = 0;  // sum of avoided_cost_usd
};

// Monthly figures if every request of the workload were served one way.
struct Projection {
  std::string placement;         // "local", "cloud" or "hybrid"
  double monthly_cost_usd = 0;   // variable + fixed
  double variable_cost_usd = 0;  // per-request part: cloud prices, busy-time electricity
  double fixed_cost_usd = 0;     // local: amortisation + operations + idle electricity
  double cloud_spend_usd = 0;    // the part of monthly_cost_usd paid to cloud providers
  // On-site energy and its CO2. Absent where it cannot be known: local busy energy with no local
  // measurement for the workload.
  std::optional<double> energy_kwh;
  std::optional<double> co2_kg;
  std::string note;  // e.g. why energy is absent; "" otherwise
};

struct BreakEven {
  // The first month (1, 2, ...) at whose end the cumulative savings pay the hardware price; absent
  // when `never`.
  std::optional<int> month;
  bool never = false;              // monthly savings <= 0
  double monthly_savings_usd = 0;  // cloud-equivalent - local running cost (without amortisation)
  double hardware_price_usd = 0;
};

// The break-even curve: cumulative cost at the end of each month (month 0: the purchase).
struct CurvePoint {
  int month = 0;
  double local_cumulative_usd = 0;  // hardware price + month x local running cost
  double cloud_cumulative_usd = 0;  // month x cloud-equivalent monthly cost
};

struct RubricAnswer {
  std::string id;        // "frequent", "sensitive", "trustworthy"
  std::string question;  // in plain words
  bool yes = false;
  std::string numbers;  // the figures behind the answer, e.g. "12000 requests/month >= 10000"
};

struct CapabilityCheck {
  bool passed = false;
  std::int64_t local_attempts = 0;        // local answers + escalated answers
  std::optional<double> escalation_rate;  // escalations / local attempts
  double max_escalation_rate = 0;
  std::optional<EvalSummary> eval;  // the local target's latest run with the best agreement
  double min_eval_agreement = 0;
  std::string numbers;  // the figures behind the answer
};

struct DailyPoint {
  std::string day;  // "YYYY-MM-DD", UTC
  std::int64_t local_requests = 0;
  std::int64_t cloud_requests = 0;
  std::int64_t other_requests = 0;   // nothing answered (placement "")
  double cloud_spend_usd = 0;        // sum of cloud_cost_usd
  double local_energy_cost_usd = 0;  // busy_ms of local answers x busy watts x price
  double avoided_cost_usd = 0;       // sum of avoided_cost_usd
};

// Latency of succeeded requests; counts[i] holds latencies <= upper_bounds_ms[i] (and above the
// previous bound); the last count (counts.size() == upper_bounds_ms.size() + 1) holds the rest.
struct LatencyHistogram {
  std::string placement;
  std::vector<double> upper_bounds_ms;  // always kLatencyBucketBoundsMs
  std::vector<std::int64_t> counts;
};

inline constexpr double kLatencyBucketBoundsMs[] = {25,   50,   100,   250,   500,  1000,
                                                    2500, 5000, 10000, 30000, 60000};

struct WorkloadReport {
  std::string workload;       // "" is reported as "(none)" by the renderers
  std::int64_t first_us = 0;  // first and last record in the window
  std::int64_t last_us = 0;

  std::int64_t requests = 0;
  double monthly_requests = 0;  // requests x 30 / window days (rounded to 1 decimal)
  std::int64_t first_half_requests = 0;
  std::int64_t second_half_requests = 0;
  std::optional<double> trend;  // second half / first half - 1; absent when the first half is 0
  std::string trend_words;      // "rising", "falling", "flat", "new"

  std::int64_t sensitive_requests = 0;  // sensitivity != ""
  double sensitive_share = 0;

  PlacementStats local;
  PlacementStats cloud;
  std::int64_t unanswered_requests = 0;  // placement ""
  std::int64_t fallback_requests = 0;    // fallbacks != ""
  std::int64_t fallback_succeeded = 0;
  double fallback_rate = 0;             // fallback_requests / requests
  std::int64_t escalated_requests = 0;  // escalation != ""

  double current_monthly_cloud_spend_usd = 0;     // sum(cloud_cost_usd) x 30 / window days
  double cloud_equivalent_monthly_usd = 0;        // everything at cloud prices, per month
  std::optional<double> local_busy_ms_per_token;  // measured on local answers with busy_ms > 0
  Projection local_projection;
  Projection cloud_projection;
  Projection hybrid_projection;
  BreakEven break_even;
  std::vector<CurvePoint> break_even_curve;

  std::vector<RubricAnswer> rubric;  // frequent, sensitive, trustworthy (in that order)
  int rubric_yes = 0;
  bool local_candidate = false;  // rubric_yes >= 2
  CapabilityCheck capability;

  Recommendation recommendation = Recommendation::not_enough_data;
  std::vector<std::string> reasons;  // plain sentences
  std::string policy_snippet;        // YAML for the configuration's policy.rules

  std::vector<DailyPoint> daily;                     // every day of the window, oldest first
  std::vector<LatencyHistogram> latency_histograms;  // local, cloud
};

struct Report {
  std::int64_t since_us = 0;  // the window: since_us <= time_us < until_us
  std::int64_t until_us = 0;
  double window_days = 0;  // (until_us - since_us) / 86400e6
  std::int64_t generated_us = 0;
  std::string ledger_kind;   // "sqlite" or "postgresql"
  std::int64_t records = 0;  // read in the window (all workloads, or the one asked for)
  config::LocalCostSettings local_costs;
  config::AdvisorSettings thresholds;
  std::string eval_dir;
  std::vector<EvalSummary> evals;         // the latest run per workload and target
  std::vector<std::string> warnings;      // e.g. unreadable eval files
  std::vector<WorkloadReport> workloads;  // largest request count first, then by name

  // Sums over the workloads.
  double current_monthly_cloud_spend_usd = 0;
  // Each workload at its recommended placement (keep_cloud and not_enough_data: the cloud
  // projection). Each workload's local projection carries the whole hardware, so workloads moved
  // local together count it more than once.
  double projected_monthly_cost_usd = 0;
};

struct AdviseOptions {
  std::int64_t since_us = 0;
  std::int64_t until_us = 0;  // exclusive; must be > since_us
  std::string workload;       // "" : every workload
  std::int64_t now_us = 0;    // generated_us; 0: the current time
};

Expected<Report, std::string> advise(ledger::Store& store, const config::Config& config,
                                     const AdviseOptions& options);

// Renderers. to_json: the Report's fields with the same names (a JSON object); render_table: a
// plain-text table per workload for the terminal.
std::string to_json(const Report& report);
std::string render_table(const Report& report);

}  // namespace hearth::advisor
