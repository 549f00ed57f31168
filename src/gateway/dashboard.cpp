#include "gateway/dashboard.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <exception>
#include <utility>

#include "advisor/html_report.hpp"
#include "common/calendar.hpp"
#include "gateway/trust.hpp"

namespace hearth::gateway {

namespace {

double seconds_of(std::int64_t time_us) { return static_cast<double>(time_us) / 1e6; }

nlohmann::json status_only(std::string_view status) { return {{"status", status}}; }

nlohmann::json no_recommendations(std::string_view status, std::string error = {}) {
  nlohmann::json json{{"status", status},
                      {"window_days", Dashboard::kAdviceWindowDays},
                      {"items", nlohmann::json::array()}};
  if (!error.empty()) {
    json["error"] = std::move(error);
  }
  return json;
}

double projected_cost(const advisor::WorkloadReport& workload) {
  switch (workload.recommendation) {
    case advisor::Recommendation::move_local:
      return workload.local_projection.monthly_cost_usd;
    case advisor::Recommendation::keep_cloud:
      return workload.cloud_projection.monthly_cost_usd;
    case advisor::Recommendation::hybrid:
      return workload.hybrid_projection.monthly_cost_usd;
    case advisor::Recommendation::not_enough_data:
      break;
  }
  // As advisor::Report::projected_monthly_cost_usd counts it: unchanged, at cloud prices.
  return workload.cloud_equivalent_monthly_usd;
}

}  // namespace

std::map<std::string, WorkerGauges> parse_worker_gauges(std::string_view text) {
  std::map<std::string, WorkerGauges> gauges;
  constexpr std::string_view kModelLabel = "model=\"";
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const auto brace = line.find('{');
    if (brace == std::string_view::npos) {
      continue;
    }
    const std::string_view name = line.substr(0, brace);
    double WorkerGauges::*field = nullptr;
    if (name == "hearth_worker_queue_depth") {
      field = &WorkerGauges::queue_depth;
    } else if (name == "hearth_worker_busy_slots") {
      field = &WorkerGauges::busy_slots;
    } else if (name == "hearth_worker_slots") {
      field = &WorkerGauges::slots;
    } else {
      continue;
    }
    const auto label = line.find(kModelLabel, brace);
    const auto close = line.rfind('}');
    const auto space = line.rfind(' ');
    if (label == std::string_view::npos || close == std::string_view::npos ||
        space == std::string_view::npos || space < close) {
      continue;
    }
    const auto model_start = label + kModelLabel.size();
    const auto model_end = line.find('"', model_start);
    if (model_end == std::string_view::npos || model_end > close) {
      continue;
    }
    const std::string_view number = line.substr(space + 1);
    double value = 0;
    const auto parsed = std::from_chars(number.data(), number.data() + number.size(), value);
    if (parsed.ec != std::errc{}) {
      continue;
    }
    gauges[std::string(line.substr(model_start, model_end - model_start))].*field = value;
  }
  return gauges;
}

nlohmann::json month_json(const std::vector<ledger::UsageSummaryRow>& by_placement,
                          std::int64_t since_us) {
  std::int64_t requests = 0;
  std::int64_t local = 0;
  std::int64_t cloud = 0;
  std::int64_t errors = 0;
  double cloud_cost = 0;
  double avoided = 0;
  for (const auto& row : by_placement) {
    requests += row.requests;
    errors += row.errors;
    cloud_cost += row.cloud_cost_usd;
    avoided += row.avoided_cost_usd;
    if (row.group == "local") {
      local += row.requests;
    } else if (row.group == "cloud") {
      cloud += row.requests;
    }
  }
  return {{"status", "ok"},
          {"since", seconds_of(since_us)},
          {"requests", requests},
          {"local", local},
          {"cloud", cloud},
          {"unplaced", requests - local - cloud},
          {"errors", errors},
          {"cloud_cost_usd", cloud_cost},
          {"avoided_cost_usd", avoided}};
}

nlohmann::json recommendation_items(const advisor::Report& report) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& workload : report.workloads) {
    items.push_back(
        {{"workload", workload.workload},
         {"recommendation", advisor::to_string(workload.recommendation)},
         {"recommendation_words", advisor::recommendation_words(workload.recommendation)},
         {"reasons", workload.reasons},
         {"requests", workload.requests},
         {"monthly_requests", workload.monthly_requests},
         {"sensitive_share", workload.sensitive_share},
         {"rubric_yes", workload.rubric_yes},
         {"local_candidate", workload.local_candidate},
         {"capability_passed", workload.capability.passed},
         {"current_monthly_cloud_spend_usd", workload.current_monthly_cloud_spend_usd},
         {"projected_monthly_cost_usd", projected_cost(workload)},
         {"local_monthly_cost_usd", workload.local_projection.monthly_cost_usd},
         {"cloud_monthly_cost_usd", workload.cloud_projection.monthly_cost_usd},
         {"hybrid_monthly_cost_usd", workload.hybrid_projection.monthly_cost_usd},
         {"break_even_month", workload.break_even.month ? nlohmann::json(*workload.break_even.month)
                                                        : nlohmann::json(nullptr)},
         {"break_even_never", workload.break_even.never},
         {"policy_snippet", workload.policy_snippet}});
  }
  return items;
}

Dashboard::Dashboard(ledger::Store* store)
    : store_(store),
      started_us_(now_us()),
      month_(store == nullptr ? status_only("unavailable") : status_only("pending")),
      recommendations_(store == nullptr ? no_recommendations("unavailable")
                                        : no_recommendations("computing")) {
  if (store_ != nullptr) {
    thread_ = std::thread([this] { run(); });
  }
}

Dashboard::~Dashboard() { stop(); }

void Dashboard::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

Dashboard::LedgerSide Dashboard::ledger_side(std::shared_ptr<const config::Config> config) {
  std::lock_guard lock(mutex_);
  if (store_ != nullptr && !stopping_) {
    const auto now = std::chrono::steady_clock::now();
    bool wake = false;
    // Timed from the ask, not the answer: a slow store is not asked again while it works.
    if (!month_asked_once_ || now - month_asked_ >= kMonthRefresh) {
      month_asked_once_ = true;
      month_asked_ = now;
      month_wanted_ = true;
      wake = true;
    }
    if (!advice_asked_once_ || now - advice_asked_ >= kAdviceRefresh) {
      advice_asked_once_ = true;
      advice_asked_ = now;
      advice_wanted_ = true;
      wake = true;
    }
    if (wake) {
      wanted_config_ = std::move(config);
      wake_.notify_one();
    }
  }
  return {month_, recommendations_};
}

void Dashboard::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || month_wanted_ || advice_wanted_; });
    if (stopping_) {
      return;
    }
    const bool month = std::exchange(month_wanted_, false);
    const bool advice = std::exchange(advice_wanted_, false);
    const auto config = wanted_config_;
    lock.unlock();

    nlohmann::json month_result;
    nlohmann::json advice_result;
    if (month) {
      const auto now = now_us();
      const auto since = month_start_us(now);
      auto rows = store_->summarise_usage(ledger::UsageGrouping::placement, since, now + 1);
      if (rows) {
        month_result = month_json(rows.value(), since);
      } else {
        spdlog::warn("dashboard: cannot read this month's usage: {}", rows.error());
        month_result = {{"status", "error"}, {"error", rows.error()}};
      }
    }
    if (advice && config) {
      const auto started = std::chrono::steady_clock::now();
      advisor::AdviseOptions options;
      options.now_us = now_us();
      options.until_us = options.now_us + 1;
      options.since_us =
          options.until_us - std::int64_t{kAdviceWindowDays} * 86'400LL * 1'000'000LL;
      Expected<advisor::Report, std::string> report = unexpected(std::string("not run"));
      try {
        report = advisor::advise(*store_, *config, options);
      } catch (const std::exception& e) {
        // A boundary: the advisor must not take the gateway down with it.
        report = unexpected(std::string("the advisor failed: ") + e.what());
      }
      if (report) {
        advice_result = no_recommendations("ready");
        advice_result["computed_at"] = seconds_of(report->generated_us);
        advice_result["records"] = report->records;
        advice_result["seconds"] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        advice_result["items"] = recommendation_items(report.value());
      } else {
        spdlog::warn("dashboard: the advisor failed: {}", report.error());
        advice_result = no_recommendations("error", report.error());
      }
    }

    lock.lock();
    if (!month_result.is_null()) {
      month_ = std::move(month_result);
    }
    if (!advice_result.is_null()) {
      recommendations_ = std::move(advice_result);
    }
  }
}

}  // namespace hearth::gateway
