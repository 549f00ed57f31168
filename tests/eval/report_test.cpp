// The report's figures against a hand-computed fixture, the recommendation's tie-breaks, the
// results file's lines, and reading gateway answers.
#include "eval/report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "eval/results.hpp"
#include "eval/samples.hpp"

namespace hearth::eval {
namespace {

std::vector<Sample> fixture_samples() {
  auto set = parse_samples(
      R"({"id": "capital", "messages": [{"role": "user", "content": "Capital of France?"}], "expected": "Paris"})"
      "\n"
      R"({"id": "fields", "messages": [{"role": "user", "content": "a and b"}], "expected_json": {"a": 1, "b": 2}})"
      "\n"
      R"({"id": "free", "prompt": "Say hello"})"
      "\n");
  EXPECT_TRUE(set);
  return set->samples;
}

SampleResult answer(const std::string& target, const std::string& sample, std::string text,
                    double latency_ms, std::int64_t prompt_tokens, std::int64_t completion_tokens,
                    std::optional<double> busy_ms = std::nullopt) {
  SampleResult result;
  result.samples_hash = "hash";
  result.sample = sample;
  result.target = target;
  result.status = 200;
  result.answer = std::move(text);
  result.latency_ms = latency_ms;
  result.prompt_tokens = prompt_tokens;
  result.completion_tokens = completion_tokens;
  result.busy_ms = busy_ms;
  return result;
}

SampleResult failure(const std::string& target, const std::string& sample) {
  SampleResult result;
  result.sample = sample;
  result.target = target;
  result.status = 503;
  result.error = "HTTP 503: all targets failed";
  return result;
}

std::vector<TargetSpec> fixture_targets() {
  TargetSpec small{"small", config::Placement::local, std::nullopt};
  config::CloudBackend cloud;
  cloud.provider = "fake";
  cloud.price = {1.0, 0.5, 2.0};  // USD per million input, cached input, output tokens
  TargetSpec big{"big", config::Placement::cloud, cloud};
  return {small, big};
}

ReportSettings fixture_settings() {
  ReportSettings settings;
  settings.min_agreement = 0.6;
  settings.reference = "big";
  settings.local_costs.power_busy_watts = 360;
  settings.local_costs.electricity_usd_per_kwh = 0.25;
  settings.local_costs.carbon_grams_per_kwh = 400;
  return settings;
}

ResultsByTarget fixture_results() {
  ResultsByTarget results;
  results["small"]["capital"] = answer("small", "capital", "paris", 10, 10, 5, 100.0);
  results["small"]["fields"] = answer("small", "fields", R"({"a": 1, "b": 3})", 30, 20, 5, 300.0);
  results["small"]["free"] = answer("small", "free", "hello world", 20, 30, 5);
  results["big"]["capital"] = answer("big", "capital", "Paris", 100, 1000, 500);
  results["big"]["fields"] = answer("big", "fields", R"({"b": 2, "a": 1})", 300, 1000, 500);
  results["big"]["free"] = answer("big", "free", "hello there", 200, 1000, 500);
  return results;
}

TEST(Report, FiguresMatchTheHandComputation) {
  const auto samples = fixture_samples();
  const auto report =
      build_report(samples, fixture_targets(), fixture_results(), fixture_settings());
  ASSERT_EQ(report.targets.size(), 2u);

  const auto& small = report.targets[0];
  EXPECT_EQ(small.target, "small");
  EXPECT_EQ(small.placement, "local");
  EXPECT_FALSE(small.is_reference);
  EXPECT_EQ(small.samples, 3u);
  EXPECT_EQ(small.answered, 3u);
  EXPECT_EQ(small.errors, 0u);
  EXPECT_EQ(small.scored, 3u);
  // capital: "Paris" vs "paris" 1 - 1/5; fields: 1 of 2; free: against big's "hello there",
  // 5 edits over 11 code points.
  const double small_agreement = (0.8 + 0.5 + (1.0 - 5.0 / 11.0)) / 3.0;
  EXPECT_DOUBLE_EQ(*small.agreement, small_agreement);
  EXPECT_DOUBLE_EQ(*small.exact_match_rate, 0.0);
  EXPECT_DOUBLE_EQ(*small.latency_p50_ms, 20.0);
  EXPECT_DOUBLE_EQ(*small.latency_p95_ms, 30.0);
  EXPECT_EQ(small.prompt_tokens, 60);
  EXPECT_EQ(small.completion_tokens, 15);
  EXPECT_DOUBLE_EQ(*small.prompt_tokens_per_request, 20.0);
  EXPECT_DOUBLE_EQ(*small.completion_tokens_per_request, 5.0);
  // Busy time measured on two answers: mean 200 ms at 360 W = 0.02 Wh per request.
  EXPECT_EQ(small.busy_time_measured, 2u);
  EXPECT_DOUBLE_EQ(*small.energy_wh_per_1k, 20.0);
  EXPECT_DOUBLE_EQ(*small.cost_usd_per_1k, 0.005);  // 0.02 kWh * 0.25 USD
  EXPECT_DOUBLE_EQ(*small.co2_grams_per_1k, 8.0);   // 0.02 kWh * 400 g
  EXPECT_TRUE(small.passes);
  EXPECT_TRUE(small.recommended);

  const auto& big = report.targets[1];
  EXPECT_TRUE(big.is_reference);
  EXPECT_EQ(big.placement, "cloud");
  EXPECT_EQ(big.scored, 3u);
  EXPECT_DOUBLE_EQ(*big.agreement, 1.0);  // expected outputs matched; itself on "free"
  EXPECT_DOUBLE_EQ(*big.exact_match_rate, 1.0);
  EXPECT_DOUBLE_EQ(*big.latency_p50_ms, 200.0);
  EXPECT_DOUBLE_EQ(*big.latency_p95_ms, 300.0);
  // Each answer: 1000 input tokens at $1/M + 500 output tokens at $2/M = $0.002.
  EXPECT_DOUBLE_EQ(*big.cost_usd_per_1k, 2.0);
  EXPECT_FALSE(big.energy_wh_per_1k);
  EXPECT_FALSE(big.co2_grams_per_1k);
  EXPECT_TRUE(big.passes);
  EXPECT_FALSE(big.recommended);

  EXPECT_EQ(report.recommended, "small");
  EXPECT_TRUE(report.all_pass());
  EXPECT_NE(report.recommendation.find("small (local)"), std::string::npos)
      << report.recommendation;
}

TEST(Report, ThresholdFailuresAndErrors) {
  auto results = fixture_results();
  results["small"]["fields"] = failure("small", "fields");  // scores 0, counts as an error
  results["small"].erase("capital");                        // never answered: an error too
  auto settings = fixture_settings();
  settings.min_agreement = 0.9;
  const auto report = build_report(fixture_samples(), fixture_targets(), results, settings);
  const auto& small = report.targets[0];
  EXPECT_EQ(small.answered, 1u);
  EXPECT_EQ(small.errors, 2u);
  EXPECT_EQ(small.scored, 3u);
  EXPECT_DOUBLE_EQ(*small.agreement, (1.0 - 5.0 / 11.0) / 3.0);
  EXPECT_FALSE(small.passes);
  EXPECT_EQ(small.error_examples,
            (std::vector<std::string>{"capital: no answer recorded",
                                      "fields: HTTP 503: all targets failed"}));
  // No busy time on its one answer: energy and cost unknown.
  EXPECT_FALSE(small.energy_wh_per_1k);
  EXPECT_FALSE(small.cost_usd_per_1k);
  EXPECT_EQ(report.recommended, "big");
  EXPECT_FALSE(report.all_pass());
}

TEST(Report, SamplesTheReferenceFailedOnAreNotScored) {
  auto results = fixture_results();
  results["big"]["free"] = failure("big", "free");
  const auto report =
      build_report(fixture_samples(), fixture_targets(), results, fixture_settings());
  EXPECT_EQ(report.targets[0].scored, 2u);
  EXPECT_DOUBLE_EQ(*report.targets[0].agreement, (0.8 + 0.5) / 2.0);
  EXPECT_EQ(report.targets[1].scored, 2u);
  EXPECT_EQ(report.targets[1].errors, 1u);
  EXPECT_DOUBLE_EQ(*report.targets[1].agreement, 1.0);
}

TEST(Report, NoTargetPassing) {
  auto settings = fixture_settings();
  settings.min_agreement = 1.0;
  settings.reference = "";
  auto samples = fixture_samples();
  samples.pop_back();  // "free" has no expectation and there is no reference now
  auto results = fixture_results();
  results["big"]["capital"].answer = "Lyon";
  const auto report = build_report(samples, fixture_targets(), results, settings);
  EXPECT_EQ(report.recommended, "");
  EXPECT_FALSE(report.all_pass());
  EXPECT_FALSE(report.targets[0].recommended || report.targets[1].recommended);
  // big: "Paris" vs "Lyon" shares nothing (0) and the fields (1): 0.5; small 0.65.
  EXPECT_DOUBLE_EQ(*report.targets[1].agreement, 0.5);
  EXPECT_EQ(report.recommendation,
            "no target reaches agreement 1.000: the closest is small at 0.650");
}

TEST(Report, LocalWinsATieOnCost) {
  config::CloudBackend free_cloud;
  free_cloud.provider = "fake";  // no price: costs 0
  const std::vector<TargetSpec> targets = {{"cloudy", config::Placement::cloud, free_cloud},
                                           {"homely", config::Placement::local, std::nullopt}};
  auto samples = fixture_samples();
  samples.pop_back();
  ResultsByTarget results;
  for (const char* target : {"cloudy", "homely"}) {
    results[target]["capital"] = answer(target, "capital", "Paris", 5, 1, 1);
    results[target]["fields"] = answer(target, "fields", R"({"a":1,"b":2})", 5, 1, 1);
  }
  ReportSettings settings;
  const auto report = build_report(samples, targets, results, settings);
  EXPECT_EQ(report.recommended, "homely");
  EXPECT_DOUBLE_EQ(*report.targets[0].cost_usd_per_1k, 0.0);
  EXPECT_FALSE(report.targets[1].cost_usd_per_1k);  // local without busy time: unknown
}

TEST(Report, SummaryJsonHasTheAdvisorsFields) {
  const auto report =
      build_report(fixture_samples(), fixture_targets(), fixture_results(), fixture_settings());
  RunInfo run;
  run.workload = "support";
  run.reference = "big";
  run.time_us = 1'700'000'000'000'000;
  const auto summary = summary_json(report.targets[0], report, run);
  EXPECT_EQ(summary["format"], "hearth-eval/1");
  EXPECT_EQ(summary["workload"], "support");
  EXPECT_EQ(summary["target"], "small");
  EXPECT_EQ(summary["placement"], "local");
  EXPECT_DOUBLE_EQ(summary["agreement"].get<double>(), *report.targets[0].agreement);
  EXPECT_EQ(summary["samples"], 3);
  EXPECT_EQ(summary["time_us"], 1'700'000'000'000'000);
  EXPECT_EQ(summary["recommendation"], "small");
  EXPECT_EQ(summary["latency_ms"]["p95"], 30.0);
  EXPECT_TRUE(summary_json(report.targets[1], report, run)["energy_wh_per_1k"].is_null());
  const auto whole = report_json(report, run);
  EXPECT_EQ(whole["targets"].size(), 2u);
  EXPECT_EQ(whole["recommended"], "small");
  EXPECT_EQ(whole["pass"], true);
}

TEST(Results, LinesRoundTrip) {
  auto original = answer("small", "capital", "Par\"is\n😀", 12.5, 3, 4, 7.25);
  original.line = 9;
  original.cached_tokens = 2;
  original.placement = "local";
  original.backend = "worker:small";
  original.served_by = "small";
  original.time_us = 42;
  const auto line = to_json_line(original);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto parsed = parse_result_line(line);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(to_json_line(*parsed), line);
  EXPECT_EQ(parsed->busy_ms, 7.25);

  auto without_busy = original;
  without_busy.busy_ms.reset();
  auto reparsed = parse_result_line(to_json_line(without_busy));
  ASSERT_TRUE(reparsed);
  EXPECT_FALSE(reparsed->busy_ms);

  EXPECT_FALSE(parse_result_line("{\"sample\": 1}"));
  EXPECT_FALSE(parse_result_line("{\"samples_hash\": \"h\", \"sam"));
}

TEST(Results, FilesSkipUnreadableLinesAndMissingFilesAreEmpty) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("hearth-eval-results-" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(path);
    out << to_json_line(answer("small", "a", "x", 1, 1, 1)) << "\n\n"
        << to_json_line(answer("small", "b", "y", 1, 1, 1)) << "\n"
        << R"({"samples_hash": "hash", "sample": "c", "li)";  // cut by a kill
  }
  auto file = read_results_file(path.string());
  ASSERT_TRUE(file) << file.error();
  EXPECT_EQ(file->results.size(), 2u);
  EXPECT_EQ(file->unreadable_lines, 1u);
  std::filesystem::remove(path);
  auto missing = read_results_file(path.string());
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->results.empty());
}

TEST(Results, ReadAnswerFromChatCompletionAndToolCalls) {
  SampleResult chat;
  ASSERT_TRUE(read_answer(
      R"({"choices": [{"message": {"role": "assistant", "content": "hi"}}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": 3}}})",
      SampleTask::chat, chat));
  EXPECT_EQ(chat.answer, "hi");
  EXPECT_EQ(chat.prompt_tokens, 5);
  EXPECT_EQ(chat.completion_tokens, 2);
  EXPECT_EQ(chat.cached_tokens, 3);

  SampleResult tool;
  ASSERT_TRUE(read_answer(
      R"({"choices": [{"message": {"content": null, "tool_calls": [{"type": "function",
          "function": {"name": "f", "arguments": "{\"a\": 1}"}}]}}]})",
      SampleTask::chat, tool));
  EXPECT_EQ(tool.answer, R"({"a": 1})");
  EXPECT_EQ(tool.prompt_tokens, 0);

  SampleResult completion;
  ASSERT_TRUE(read_answer(R"({"choices": [{"text": " four"}], "usage": {"prompt_tokens": 1}})",
                          SampleTask::completion, completion));
  EXPECT_EQ(completion.answer, " four");

  SampleResult bad;
  EXPECT_FALSE(read_answer("nope", SampleTask::chat, bad));
  EXPECT_FALSE(read_answer(R"({"choices": []})", SampleTask::chat, bad));
  EXPECT_FALSE(read_answer(R"({"choices": [{"message": {}}]})", SampleTask::completion, bad));
  EXPECT_FALSE(read_answer(R"({"choices": [{"text": "x"}]})", SampleTask::chat, bad));

  EXPECT_EQ(error_message(R"({"error": {"message": "boom", "type": "x"}})"), "boom");
  EXPECT_EQ(error_message("plain text"), "plain text");
}

}  // namespace
}  // namespace hearth::eval
