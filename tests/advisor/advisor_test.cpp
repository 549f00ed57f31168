#include "advisor/advisor.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "config/config.hpp"
#include "ledger/sqlite_store.hpp"

namespace hearth::advisor {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::int64_t kMicrosPerHour = 3'600'000'000;
constexpr std::int64_t kMicrosPerDay = 24 * kMicrosPerHour;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "hearth-advisor-XXXXXX").string();
    const char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// "YYYY-MM-DD" as Unix microseconds at midnight UTC.
std::int64_t date_us(const std::string& text) {
  const std::chrono::year_month_day date{std::chrono::year(std::stoi(text.substr(0, 4))),
                                         std::chrono::month(std::stoul(text.substr(5, 2))),
                                         std::chrono::day(std::stoul(text.substr(8, 2)))};
  return std::chrono::sys_days(date).time_since_epoch().count() * kMicrosPerDay;
}

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, separator)) fields.push_back(field);
  if (!line.empty() && line.back() == separator) fields.emplace_back();
  return fields;
}

// ---- Golden cases: tests/advisor/cases/NAME/
// ------------------------------------------------------
//
//   config.yaml    the configuration (local_costs, advisor; eval_results_dir relative to it)
//   records.csv    the ledger: one line per group of identical records (see cases/README.md)
//   case.json      {"since": "YYYY-MM-DD", "days": N, "workload": ""}
//   expected.json  {"/json/pointer": value, ...} into `to_json(report)`; a string value starting
//                  with "~" must be contained in the actual string
//   README.md      the arithmetic, by hand

std::vector<ledger::UsageRecord> read_records(const fs::path& file, std::int64_t since_us) {
  std::ifstream in(file);
  std::string line;
  std::vector<ledger::UsageRecord> records;
  bool header = true;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    const auto f = split(line, ',');
    EXPECT_EQ(f.size(), 16U) << file << ":" << line_number;
    if (f.size() != 16) continue;
    ledger::UsageRecord record;
    record.time_us =
        since_us + std::stoll(f[0]) * kMicrosPerDay + std::stoll(f[1]) * kMicrosPerHour;
    const int repeat = std::stoi(f[2]);
    record.workload = f[3];
    record.placement = f[4];
    record.model = f[5];
    record.status = std::stoi(f[6]);
    record.prompt_tokens = std::stoll(f[7]);
    record.completion_tokens = std::stoll(f[8]);
    record.latency_ms = std::stod(f[9]);
    record.busy_ms = std::stod(f[10]);
    record.fallbacks = f[11];
    record.escalation = f[12];
    record.sensitivity = f[13];
    record.cloud_cost_usd = std::stod(f[14]);
    record.avoided_cost_usd = std::stod(f[15]);
    record.task = "chat";
    record.content = "not read by the advisor";
    for (int i = 0; i < repeat; ++i) {
      record.request_id = "r" + std::to_string(records.size());
      records.push_back(record);
    }
  }
  return records;
}

struct Case {
  fs::path dir;
  std::string name;
};

std::vector<Case> list_cases() {
  std::vector<Case> cases;
  for (const auto& entry : fs::directory_iterator(HEARTH_ADVISOR_CASES_DIR)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    cases.push_back({entry.path(), name});
  }
  std::sort(cases.begin(), cases.end(),
            [](const Case& a, const Case& b) { return a.name < b.name; });
  return cases;
}

class AdvisorCase : public testing::TestWithParam<Case> {};

TEST_P(AdvisorCase, MatchesTheHandComputedFigures) {
  const fs::path& dir = GetParam().dir;
  const Json spec = Json::parse(read_file(dir / "case.json"));
  const std::int64_t since_us = date_us(spec.at("since").get<std::string>());
  const std::int64_t until_us = since_us + spec.at("days").get<std::int64_t>() * kMicrosPerDay;
  auto config = config::load_config_file((dir / "config.yaml").string());
  ASSERT_TRUE(config) << config.error().to_string();
  ASSERT_TRUE(fs::exists(dir / "README.md")) << "each case shows its arithmetic in README.md";

  TempDir temp;
  auto store = ledger::SqliteStore::open((temp.path() / "ledger.db").string(), 256);
  ASSERT_TRUE(store) << store.error();
  const auto records = read_records(dir / "records.csv", since_us);
  ASSERT_FALSE(records.empty());
  ASSERT_TRUE((*store)->append(records, {}));

  AdviseOptions options{.since_us = since_us,
                        .until_us = until_us,
                        .workload = spec.value("workload", ""),
                        .now_us = until_us};
  auto report = advise(**store, config.value(), options);
  ASSERT_TRUE(report) << report.error();
  const Json actual = Json::parse(to_json(report.value()));
  const Json expected = Json::parse(read_file(dir / "expected.json"));
  ASSERT_TRUE(expected.is_object());
  EXPECT_GE(expected.size(), 10U) << "a golden case checks its figures";
  for (const auto& [pointer, value] : expected.items()) {
    const Json::json_pointer at(pointer);
    ASSERT_TRUE(actual.contains(at)) << pointer << " is missing from\n" << actual.dump(2);
    const Json& found = actual.at(at);
    if (value.is_string() && value.get<std::string>().starts_with("~")) {
      ASSERT_TRUE(found.is_string()) << pointer << ": " << found.dump();
      EXPECT_NE(found.get<std::string>().find(value.get<std::string>().substr(1)),
                std::string::npos)
          << pointer << ": " << found.dump() << "\nexpected to contain: " << value.dump();
    } else {
      EXPECT_EQ(found, value) << pointer;
    }
  }
  // The table renders every workload.
  const std::string table = render_table(report.value());
  for (const auto& workload : report->workloads) {
    EXPECT_NE(table.find("Workload " + workload.workload), std::string::npos) << table;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, AdvisorCase, testing::ValuesIn(list_cases()),
                         [](const testing::TestParamInfo<Case>& param) {
                           return param.param.name;
                         });

TEST(AdvisorCases, DirectoryHoldsTheCases) { EXPECT_GE(list_cases().size(), 6U); }

// ---- Programmatic tests -------------------------------------------------------------------------

TEST(EvalSummaries, LoadsValidFilesAndReportsTheOthers) {
  TempDir dir;
  write_file(dir.path() / "a.json",
             R"({"workload":"w","target":"llama","placement":"local","agreement":0.93,)"
             R"("samples":120,"time_us":1700000000000000,"per_target":{"extra":"ignored"}})");
  write_file(dir.path() / "b.json",
             R"({"workload":"w","target":"gpt","placement":"cloud","agreement":1,"samples":5,)"
             R"("time_us":5})");
  write_file(dir.path() / "bad_placement.json",
             R"({"workload":"w","target":"x","placement":"edge","agreement":0.5,"samples":1,)"
             R"("time_us":1})");
  write_file(dir.path() / "bad_agreement.json",
             R"({"workload":"w","target":"x","placement":"local","agreement":1.5,"samples":1,)"
             R"("time_us":1})");
  write_file(dir.path() / "not_json.json", "{oops");
  write_file(dir.path() / "ignored.txt", "not a json file name");
  const auto load = load_eval_summaries(dir.path().string());
  ASSERT_EQ(load.summaries.size(), 2U);
  EXPECT_EQ(load.summaries[0].target, "gpt");
  EXPECT_EQ(load.summaries[1].target, "llama");
  EXPECT_EQ(load.summaries[1].agreement, 0.93);
  EXPECT_EQ(load.summaries[1].samples, 120);
  EXPECT_EQ(load.summaries[1].time_us, 1700000000000000);
  EXPECT_EQ(load.summaries[1].placement, "local");
  ASSERT_EQ(load.problems.size(), 3U);
  EXPECT_NE(load.problems[0].find("bad_agreement.json: \"agreement\""), std::string::npos)
      << load.problems[0];
  EXPECT_NE(load.problems[1].find("bad_placement.json: \"placement\""), std::string::npos)
      << load.problems[1];
  EXPECT_NE(load.problems[2].find("not_json.json: not a JSON object"), std::string::npos)
      << load.problems[2];
  EXPECT_TRUE(load_eval_summaries((dir.path() / "missing").string()).summaries.empty());
}

TEST(EvalSummaries, DefaultDirectoryIsBesideTheConfiguration) {
  config::Config config;
  config.source = "/etc/hearth/hearth.yaml";
  EXPECT_EQ(eval_results_dir(config), "/etc/hearth/hearth-evals");
  config.advisor.eval_results_dir = "/var/evals";
  EXPECT_EQ(eval_results_dir(config), "/var/evals");
  EXPECT_EQ(eval_results_dir(config::Config{}), "hearth-evals");
}

// Every recommendation's policy snippet is a valid configuration once its models exist.
TEST(Advisor, PolicySnippetsParseAsConfiguration) {
  TempDir temp;
  auto store = ledger::SqliteStore::open((temp.path() / "ledger.db").string(), 256);
  ASSERT_TRUE(store) << store.error();
  std::vector<ledger::UsageRecord> records;
  const std::int64_t since = date_us("2024-03-01");
  for (int i = 0; i < 300; ++i) {
    ledger::UsageRecord record;
    record.time_us = since + i * kMicrosPerHour;
    record.workload = i % 3 == 0 ? "local \"quoted\" one" : i % 3 == 1 ? "hybrid-one" : "cloud";
    record.placement = i % 3 == 2 ? "cloud" : "local";
    record.model = i % 3 == 2 ? "gpt-big" : "llama-8b";
    record.status = 200;
    record.prompt_tokens = 10;
    record.busy_ms = record.placement == "local" ? 100 : 0;
    // Free local hardware (the default configuration) against a paid cloud: cost never stops
    // a local candidate here.
    record.avoided_cost_usd = record.placement == "local" ? 0.01 : 0;
    record.cloud_cost_usd = record.placement == "cloud" ? 0.01 : 0;
    record.fallbacks = i % 9 == 0 || i % 9 == 1 ? "x: timeout" : "";
    record.sensitivity = i % 3 == 0 ? "pii=1" : "";
    if (i % 3 == 1 && i % 30 == 1) {
      record.placement = "cloud";
      record.model = "gpt-big";
      record.escalation = "llama-8b: empty";
    }
    records.push_back(record);
  }
  ASSERT_TRUE((*store)->append(records, {}));
  config::Config config;
  config.advisor.frequent_requests_per_month = 50;
  auto report = advise(
      **store, config,
      {.since_us = since, .until_us = since + 30 * kMicrosPerDay, .workload = "", .now_us = 1});
  ASSERT_TRUE(report) << report.error();
  ASSERT_EQ(report->workloads.size(), 3U);
  std::set<Recommendation> seen;
  for (const auto& workload : report->workloads) {
    seen.insert(workload.recommendation);
    const std::string yaml =
        "providers:\n"
        "  - name: acme\n"
        "    base_url: https://api.example.com/v1\n"
        "    api_key_env: ACME_KEY\n"
        "models:\n"
        "  - name: llama-8b\n"
        "    url: http://127.0.0.1:9\n"
        "  - name: gpt-big\n"
        "    provider: acme\n" +
        workload.policy_snippet;
    auto parsed = config::parse_config(yaml, "snippet.yaml");
    ASSERT_TRUE(parsed) << parsed.error().to_string() << "\n" << yaml;
    ASSERT_EQ(parsed->policy.rules.size(), 1U);
    EXPECT_EQ(parsed->policy.rules[0].match.workloads, std::vector<std::string>{workload.workload});
  }
  EXPECT_EQ(seen, (std::set<Recommendation>{Recommendation::move_local, Recommendation::hybrid,
                                            Recommendation::keep_cloud}));
}

TEST(Advisor, RefusesAnEmptyWindow) {
  TempDir temp;
  auto store = ledger::SqliteStore::open((temp.path() / "ledger.db").string(), 256);
  ASSERT_TRUE(store);
  auto report = advise(**store, config::Config{},
                       {.since_us = 10, .until_us = 10, .workload = "", .now_us = 0});
  EXPECT_FALSE(report);
}

TEST(Advisor, EmptyLedgerGivesNoWorkloads) {
  TempDir temp;
  auto store = ledger::SqliteStore::open((temp.path() / "ledger.db").string(), 256);
  ASSERT_TRUE(store);
  auto report = advise(**store, config::Config{},
                       {.since_us = 0, .until_us = kMicrosPerDay, .workload = "", .now_us = 0});
  ASSERT_TRUE(report) << report.error();
  EXPECT_TRUE(report->workloads.empty());
  EXPECT_EQ(report->records, 0);
  EXPECT_NE(render_table(report.value()).find("No requests"), std::string::npos);
  EXPECT_EQ(Json::parse(to_json(report.value())).at("workloads"), Json::array());
}

}  // namespace
}  // namespace hearth::advisor
