#include "policy/policy.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "policy/circuit_breaker.hpp"

namespace hearth::policy {
namespace {

namespace fs = std::filesystem;
using config::Placement;
using config::RequestTask;

// The clock a described request reads when it gives no "time": noon, as `hearth route explain`.
constexpr int kNoon = 12 * 60;

// ---- Data-driven scenarios: tests/policy/cases/*.yaml -----------------------------------------
//
// Each file is one scenario: a configuration and the decisions it gives described requests.
//
//   config: |                      # YAML text for config::parse_config; it must load
//     ...
//   requests:
//     - describe: {...}            # the JSON facts_from_json reads, written in YAML
//       expect:
//         rule: NAME               # or "default"
//         targets: [A, B]          # entry names, in order
//         excluded: {C: REASON}    # target -> substring of the reason; absent: nothing excluded
//         never_cloud: false       # checked when given
//         placement_honoured: true # checked when given
//         privacy: local_only      # the privacy action (allow when absent from the request)
//         privacy_labels: [health] # the labels that call for it
//         not_matched_contains: [TEXT]  # each a substring of some trace line
//         not_matched: [LINE]      # the whole trace, exactly
//     - describe: {...}
//       expect:
//         error: {status: 403, code: CODE, message_contains: TEXT, param: PARAM}
//
// An error may come from reading the description as well as from the decision.

struct Case {
  fs::path file;
  std::string name;  // the file's stem, as a test name
};

// Names the file in failure messages instead of dumping the struct's bytes.
void PrintTo(const Case& test_case, std::ostream* out) { *out << test_case.file; }

std::vector<Case> list_cases() {
  std::vector<Case> cases;
  for (const auto& entry : fs::directory_iterator(HEARTH_POLICY_CASES_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    std::string name = entry.path().stem().string();
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    cases.push_back({entry.path(), name});
  }
  std::sort(cases.begin(), cases.end(),
            [](const Case& a, const Case& b) { return a.name < b.name; });
  return cases;
}

// YAML to JSON the way a reader of the case expects: quoted scalars are strings, plain ones are
// booleans, null, integers or numbers when they read as such.
nlohmann::json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") return text;
      if (text == "true") return true;
      if (text == "false") return false;
      if (text == "null" || text == "~") return nullptr;
      std::int64_t integer = 0;
      if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), integer);
          ec == std::errc() && end == text.data() + text.size()) {
        return integer;
      }
      double number = 0;
      if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
          ec == std::errc() && end == text.data() + text.size()) {
        return number;
      }
      return text;
    }
    case YAML::NodeType::Sequence: {
      auto array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(to_json(item));
      return array;
    }
    case YAML::NodeType::Map: {
      auto object = nlohmann::json::object();
      for (const auto& item : node) object[item.first.Scalar()] = to_json(item.second);
      return object;
    }
  }
  return nullptr;
}

// Keys of a mapping that are not in `known` (typos in a case must not pass silently).
std::vector<std::string> unknown_keys(const YAML::Node& node, const std::set<std::string>& known) {
  std::vector<std::string> unknown;
  for (const auto& item : node) {
    if (!known.contains(item.first.Scalar())) unknown.push_back(item.first.Scalar());
  }
  return unknown;
}

std::vector<std::string> strings_of(const YAML::Node& node) {
  std::vector<std::string> items;
  for (const auto& item : node) items.push_back(item.as<std::string>());
  return items;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += "\n  " + line;
  return text.empty() ? std::string(" (none)") : text;
}

void check_error(const api::ApiError& error, const YAML::Node& expected) {
  EXPECT_TRUE(unknown_keys(expected, {"status", "code", "message_contains", "param"}).empty())
      << "unknown keys in expect.error";
  if (expected["status"]) {
    EXPECT_EQ(error.status, expected["status"].as<int>()) << error.message;
  }
  if (expected["code"]) {
    EXPECT_EQ(error.code.value_or(""), expected["code"].as<std::string>()) << error.message;
  }
  if (expected["message_contains"]) {
    const auto part = expected["message_contains"].as<std::string>();
    EXPECT_NE(error.message.find(part), std::string::npos)
        << "message: " << error.message << "\nexpected to contain: " << part;
  }
  if (expected["param"]) {
    EXPECT_EQ(error.param.value_or(""), expected["param"].as<std::string>()) << error.message;
  }
}

void check_decision(const config::Config& config, const Decision& decision,
                    const RequestFacts& facts, const YAML::Node& expect) {
  if (expect["rule"]) {
    EXPECT_EQ(decision.rule_name, expect["rule"].as<std::string>());
  }
  EXPECT_EQ(decision.rule == nullptr, decision.rule_name == "default");

  std::vector<std::string> targets;
  for (const auto* entry : decision.targets) {
    ASSERT_NE(entry, nullptr);
    // Every target is one of this configuration's entries, not a copy.
    EXPECT_EQ(config.find_model(entry->name), entry);
    targets.push_back(entry->name);
  }
  if (expect["targets"]) {
    EXPECT_EQ(targets, strings_of(expect["targets"]));
  }

  std::map<std::string, std::string> expected_excluded;
  if (expect["excluded"]) {
    for (const auto& item : expect["excluded"]) {
      expected_excluded[item.first.as<std::string>()] = item.second.as<std::string>();
    }
  }
  std::map<std::string, std::string> excluded;
  for (const auto& item : decision.excluded) {
    EXPECT_TRUE(excluded.emplace(item.target, item.reason).second)
        << "'" << item.target << "' excluded twice";
  }
  std::set<std::string> expected_names;
  std::set<std::string> names;
  for (const auto& [name, reason] : expected_excluded) expected_names.insert(name);
  for (const auto& [name, reason] : excluded) names.insert(name);
  EXPECT_EQ(names, expected_names) << "excluded targets";
  for (const auto& [name, part] : expected_excluded) {
    if (!excluded.contains(name)) continue;
    EXPECT_NE(excluded[name].find(part), std::string::npos)
        << "reason for excluding '" << name << "': " << excluded[name]
        << "\nexpected to contain: " << part;
  }

  if (expect["never_cloud"]) {
    EXPECT_EQ(decision.never_cloud, expect["never_cloud"].as<bool>());
  }
  if (expect["placement_honoured"]) {
    EXPECT_EQ(decision.placement_honoured, expect["placement_honoured"].as<bool>());
  }
  if (expect["privacy"]) {
    EXPECT_EQ(config::to_string(decision.privacy), expect["privacy"].as<std::string>());
  }
  if (expect["privacy_labels"]) {
    EXPECT_EQ(decision.privacy_labels, strings_of(expect["privacy_labels"]));
  }
  if (expect["not_matched"]) {
    EXPECT_EQ(decision.trace, strings_of(expect["not_matched"]));
  }
  if (expect["not_matched_contains"]) {
    for (const auto& part : strings_of(expect["not_matched_contains"])) {
      const bool found = std::any_of(
          decision.trace.begin(), decision.trace.end(),
          [&](const std::string& line) { return line.find(part) != std::string::npos; });
      EXPECT_TRUE(found) << "no trace line contains: " << part
                         << "\ntrace:" << joined(decision.trace);
    }
  }

  // The explanation says the same as the decision.
  const auto json = nlohmann::json::parse(decision_to_json(decision, facts));
  EXPECT_EQ(json["rule"], decision.rule_name);
  ASSERT_EQ(json["targets"].size(), targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ(json["targets"][i]["model"], targets[i]);
  }
  EXPECT_EQ(json["excluded"].size(), decision.excluded.size());
  EXPECT_EQ(json["not_matched"].get<std::vector<std::string>>(), decision.trace);
  EXPECT_EQ(json["privacy"]["action"], config::to_string(decision.privacy));
  EXPECT_EQ(json["privacy"]["labels"].get<std::vector<std::string>>(), decision.privacy_labels);
}

class PolicyCase : public testing::TestWithParam<Case> {};

TEST_P(PolicyCase, DecidesAsExpected) {
  const fs::path& file = GetParam().file;
  YAML::Node scenario;
  try {
    scenario = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& error) {
    FAIL() << file << ": " << error.what();
  }
  ASSERT_TRUE(scenario.IsMap()) << file << ": expected a mapping";
  ASSERT_TRUE(unknown_keys(scenario, {"config", "requests"}).empty())
      << file << ": only 'config' and 'requests' belong at the top";
  ASSERT_TRUE(scenario["config"] && scenario["config"].IsScalar())
      << file << ": 'config' must be the configuration's YAML text (config: |)";
  auto config = config::parse_config(scenario["config"].as<std::string>(), file.string());
  ASSERT_TRUE(config) << "the scenario's configuration does not load: "
                      << config.error().to_string();

  const YAML::Node requests = scenario["requests"];
  ASSERT_TRUE(requests && requests.IsSequence() && requests.size() > 0)
      << file << ": 'requests' must be a non-empty list";
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const YAML::Node request = requests[i];
    SCOPED_TRACE(file.filename().string() + ": requests[" + std::to_string(i) + "] (line " +
                 std::to_string(request.Mark().line + 1) + ")");
    ASSERT_TRUE(request.IsMap() && unknown_keys(request, {"describe", "expect"}).empty())
        << "a request is {describe, expect}";
    const YAML::Node expect = request["expect"];
    ASSERT_TRUE(expect && expect.IsMap()) << "'expect' must be a mapping";
    ASSERT_TRUE(unknown_keys(expect, {"rule", "targets", "excluded", "never_cloud",
                                      "placement_honoured", "privacy", "privacy_labels",
                                      "not_matched", "not_matched_contains", "error"})
                    .empty())
        << "unknown keys in 'expect'";
    const bool expect_error = static_cast<bool>(expect["error"]);
    ASSERT_TRUE(expect_error || (expect["rule"] && expect["targets"]))
        << "'expect' needs 'error', or 'rule' and 'targets'";
    ASSERT_FALSE(expect_error && expect.size() > 1) << "'error' excludes the other expectations";

    const auto described =
        request["describe"] ? to_json(request["describe"]) : nlohmann::json::object();
    auto facts = facts_from_json(described.dump(), kNoon);
    if (!facts) {
      ASSERT_TRUE(expect_error) << "the description is refused: " << facts.error().message;
      check_error(facts.error(), expect["error"]);
      continue;
    }
    auto decision = decide(config.value(), facts.value());
    if (expect_error) {
      ASSERT_FALSE(decision) << "decided on rule '" << decision->rule_name
                             << "', but expected an error";
      check_error(decision.error(), expect["error"]);
      continue;
    }
    ASSERT_TRUE(decision) << decision.error().status << " " << decision.error().code.value_or("")
                          << ": " << decision.error().message;
    check_decision(config.value(), decision.value(), facts.value(), expect);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyCase, testing::ValuesIn(list_cases()),
                         [](const testing::TestParamInfo<Case>& param) {
                           return param.param.name;
                         });

TEST(PolicyCases, DirectoryHoldsTheCases) {
  // Guards against a moved directory silently instantiating no cases.
  EXPECT_GE(list_cases().size(), 25U);
}

// ---- parse_placement, parse_labels, task_of_route -------------------------------------------

TEST(ParsePlacement, KnowsTheThreeValues) {
  EXPECT_EQ(parse_placement("local"), Placement::local);
  EXPECT_EQ(parse_placement("cloud"), Placement::cloud);
  EXPECT_EQ(parse_placement("auto"), Placement::automatic);
}

TEST(ParsePlacement, RefusesAnythingElse) {
  for (std::string_view text : {"", "Local", "CLOUD", " local", "local ", "automatic", "edge"}) {
    EXPECT_EQ(parse_placement(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(ParseLabels, SplitsTrimsAndLowerCases) {
  EXPECT_EQ(parse_labels(" PII , Finance,phi "),
            (std::vector<std::string>{"pii", "finance", "phi"}));
}

TEST(ParseLabels, DropsDuplicatesAndEmptyItems) {
  EXPECT_EQ(parse_labels("pii,,PII, ,pii,finance,"), (std::vector<std::string>{"pii", "finance"}));
  EXPECT_TRUE(parse_labels("").empty());
  EXPECT_TRUE(parse_labels(" , ,, ").empty());
}

TEST(ParseLabels, KeepsFirstOccurrenceOrder) {
  EXPECT_EQ(parse_labels("b,a,B,c,A"), (std::vector<std::string>{"b", "a", "c"}));
}

TEST(TaskOfRoute, MapsEachRoute) {
  EXPECT_EQ(task_of_route("/chat/completions"), RequestTask::chat);
  EXPECT_EQ(task_of_route("/completions"), RequestTask::completion);
  EXPECT_EQ(task_of_route("/embeddings"), RequestTask::embedding);
  EXPECT_EQ(task_of_route("/embedding"), RequestTask::embedding);
  EXPECT_EQ(task_of_route("/rerank"), RequestTask::rerank);
  EXPECT_EQ(task_of_route("/reranking"), RequestTask::rerank);
}

TEST(TaskOfRoute, UnknownRoutesHaveNoTask) {
  for (const char* route : {"", "/models", "/health", "/v1/chat/completions", "/chat"}) {
    EXPECT_EQ(task_of_route(route), std::nullopt) << route;
  }
}

// ---- estimated_cost ---------------------------------------------------------------------------

config::CloudBackend priced(double input, double output) {
  config::CloudBackend cloud;
  cloud.provider = "acme";
  cloud.price.input = input;
  cloud.price.cached_input = 1000;  // not part of the estimate
  cloud.price.output = output;
  return cloud;
}

TEST(EstimatedCost, PromptAtInputPriceAndMaxTokensAtOutputPrice) {
  RequestFacts facts;
  facts.estimated_prompt_tokens = 1000;
  facts.max_tokens = 500;
  // (1000 * 2.5 + 500 * 10) / 1e6
  EXPECT_DOUBLE_EQ(estimated_cost(priced(2.5, 10), facts), 0.0075);
  facts.task = RequestTask::completion;
  EXPECT_DOUBLE_EQ(estimated_cost(priced(2.5, 10), facts), 0.0075);
}

TEST(EstimatedCost, AssumesOutputTokensWhenMaxTokensIsAbsent) {
  RequestFacts facts;
  facts.estimated_prompt_tokens = 1000;
  EXPECT_EQ(kAssumedOutputTokens, 1024);
  // (1000 * 2.5 + 1024 * 10) / 1e6
  EXPECT_DOUBLE_EQ(estimated_cost(priced(2.5, 10), facts), 0.01274);
}

TEST(EstimatedCost, ZeroMaxTokensCostsNoOutput) {
  RequestFacts facts;
  facts.estimated_prompt_tokens = 2000;
  facts.max_tokens = 0;
  EXPECT_DOUBLE_EQ(estimated_cost(priced(0.15, 0.6), facts), 0.0003);
}

TEST(EstimatedCost, EmbeddingsAndRerankHaveNoOutputCost) {
  RequestFacts facts;
  facts.estimated_prompt_tokens = 1000;
  for (auto task : {RequestTask::embedding, RequestTask::rerank}) {
    facts.task = task;
    facts.max_tokens.reset();
    EXPECT_DOUBLE_EQ(estimated_cost(priced(0.02, 50), facts), 0.00002) << to_string(task);
    facts.max_tokens = 100;
    EXPECT_DOUBLE_EQ(estimated_cost(priced(0.02, 50), facts), 0.00002) << to_string(task);
  }
}

TEST(EstimatedCost, FreeModelCostsNothing) {
  RequestFacts facts;
  facts.estimated_prompt_tokens = 123456;
  EXPECT_EQ(estimated_cost(priced(0, 0), facts), 0.0);
}

// ---- facts_from_json ----------------------------------------------------------------------------

TEST(FactsFromJson, EmptyObjectGivesTheDefaults) {
  auto facts = facts_from_json("{}", 7 * 60 + 5);
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_EQ(facts->task, RequestTask::chat);
  EXPECT_EQ(facts->model, "");
  EXPECT_EQ(facts->workload, "");
  EXPECT_EQ(facts->tenant, "");
  EXPECT_TRUE(facts->sensitivity.empty());
  EXPECT_EQ(facts->estimated_prompt_tokens, 0);
  EXPECT_EQ(facts->max_tokens, std::nullopt);
  EXPECT_FALSE(facts->tools);
  EXPECT_FALSE(facts->images);
  EXPECT_EQ(facts->placement, Placement::automatic);
  EXPECT_EQ(facts->minute_of_day, 7 * 60 + 5);
}

TEST(FactsFromJson, ReadsEveryKey) {
  auto facts = facts_from_json(R"({"task": "embedding", "model": "m", "workload": "w",
      "tenant": "t", "sensitivity": ["PII", "finance", "pii"], "prompt_tokens": 10,
      "max_tokens": 5, "tools": true, "images": true, "placement": "cloud", "time": "23:59"})",
                               kNoon);
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_EQ(facts->task, RequestTask::embedding);
  EXPECT_EQ(facts->model, "m");
  EXPECT_EQ(facts->workload, "w");
  EXPECT_EQ(facts->tenant, "t");
  EXPECT_EQ(facts->sensitivity, (std::vector<std::string>{"pii", "finance"}));
  EXPECT_EQ(facts->estimated_prompt_tokens, 10);
  EXPECT_EQ(facts->max_tokens, 5);
  EXPECT_TRUE(facts->tools);
  EXPECT_TRUE(facts->images);
  EXPECT_EQ(facts->placement, Placement::cloud);
  EXPECT_EQ(facts->minute_of_day, 23 * 60 + 59);
}

TEST(FactsFromJson, SensitivityMayBeACommaSeparatedString) {
  auto facts = facts_from_json(R"({"sensitivity": " Phi, ,PII "})", kNoon);
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_EQ(facts->sensitivity, (std::vector<std::string>{"phi", "pii"}));
}

TEST(FactsFromJson, NullMeansAbsent) {
  auto facts = facts_from_json(
      R"({"model": null, "max_tokens": null, "tools": null, "time": null, "sensitivity": null})",
      99);
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_EQ(facts->model, "");
  EXPECT_EQ(facts->max_tokens, std::nullopt);
  EXPECT_EQ(facts->minute_of_day, 99);
}

TEST(FactsFromJson, ReadsEachTaskAndPlacement) {
  const std::pair<const char*, RequestTask> tasks[] = {{"chat", RequestTask::chat},
                                                       {"completion", RequestTask::completion},
                                                       {"embedding", RequestTask::embedding},
                                                       {"rerank", RequestTask::rerank}};
  for (const auto& [name, task] : tasks) {
    auto facts = facts_from_json(std::string(R"({"task": ")") + name + "\"}", kNoon);
    ASSERT_TRUE(facts) << name;
    EXPECT_EQ(facts->task, task) << name;
  }
  const std::pair<const char*, Placement> placements[] = {
      {"local", Placement::local}, {"cloud", Placement::cloud}, {"auto", Placement::automatic}};
  for (const auto& [name, placement] : placements) {
    auto facts = facts_from_json(std::string(R"({"placement": ")") + name + "\"}", kNoon);
    ASSERT_TRUE(facts) << name;
    EXPECT_EQ(facts->placement, placement) << name;
  }
}

TEST(FactsFromJson, ReadsTheWholeClock) {
  const std::pair<const char*, int> times[] = {
      {"00:00", 0}, {"09:30", 570}, {"13:05", 785}, {"23:59", 1439}};
  for (const auto& [text, minute] : times) {
    auto facts = facts_from_json(std::string(R"({"time": ")") + text + "\"}", kNoon);
    ASSERT_TRUE(facts) << text << ": " << facts.error().message;
    EXPECT_EQ(facts->minute_of_day, minute) << text;
  }
}

struct BadDescription {
  const char* body;
  const char* param;
  const char* message_part;
};

class FactsFromJsonRefuses : public testing::TestWithParam<BadDescription> {};

TEST_P(FactsFromJsonRefuses, WithTheParamNamed) {
  const auto& bad = GetParam();
  auto facts = facts_from_json(bad.body, kNoon);
  ASSERT_FALSE(facts) << bad.body << " was accepted";
  const auto& error = facts.error();
  EXPECT_EQ(error.status, 400) << error.message;
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_EQ(error.code.value_or(""), "invalid_value");
  EXPECT_EQ(error.param.value_or(""), bad.param) << error.message;
  EXPECT_NE(error.message.find(bad.message_part), std::string::npos)
      << "message: " << error.message << "\nexpected to contain: " << bad.message_part;
}

INSTANTIATE_TEST_SUITE_P(
    Descriptions, FactsFromJsonRefuses,
    testing::Values(
        BadDescription{"not json", "body", "JSON object"},
        BadDescription{"[]", "body", "JSON object"},
        BadDescription{R"("chat")", "body", "JSON object"},
        BadDescription{R"({"colour": "red"})", "colour", "Unknown key 'colour'"},
        BadDescription{R"({"model": "m", "prompt": "hi"})", "prompt", "Unknown key 'prompt'"},
        BadDescription{R"({"model": 5})", "model", "'model' must be a string"},
        BadDescription{R"({"workload": ["a"]})", "workload", "'workload' must be a string"},
        BadDescription{R"({"tenant": true})", "tenant", "'tenant' must be a string"},
        BadDescription{R"({"task": 1})", "task", "'task' must be a string"},
        BadDescription{R"({"task": "chat_completion"})", "task", "got 'chat_completion'"},
        BadDescription{R"({"task": "Chat"})", "task", "got 'Chat'"},
        BadDescription{R"({"placement": "edge"})", "placement", "got 'edge'"},
        BadDescription{R"({"placement": "Local"})", "placement", "got 'Local'"},
        BadDescription{R"({"placement": 1})", "placement", "'placement' must be a string"},
        BadDescription{R"({"time": "25:00"})", "time", "got '25:00'"},
        BadDescription{R"({"time": "24:00"})", "time", "got '24:00'"},
        BadDescription{R"({"time": "12:60"})", "time", "got '12:60'"},
        BadDescription{R"({"time": "noon"})", "time", "HH:MM"},
        BadDescription{R"({"time": "-1:30"})", "time", "HH:MM"},
        BadDescription{R"({"time": "12:30pm"})", "time", "HH:MM"},
        BadDescription{R"({"time": "12:30:00"})", "time", "HH:MM"},
        BadDescription{R"({"time": "9:5"})", "time", "HH:MM"},
        BadDescription{R"({"time": 1230})", "time", "'time' must be a string"},
        BadDescription{R"({"sensitivity": 5})", "sensitivity", "list of strings"},
        BadDescription{R"({"sensitivity": ["pii", 5]})", "sensitivity", "list of strings"},
        BadDescription{R"({"sensitivity": {"pii": true}})", "sensitivity", "list of strings"},
        BadDescription{R"({"prompt_tokens": -1})", "prompt_tokens", "non-negative integer"},
        BadDescription{R"({"prompt_tokens": 1.5})", "prompt_tokens", "non-negative integer"},
        BadDescription{R"({"prompt_tokens": "10"})", "prompt_tokens", "non-negative integer"},
        BadDescription{R"({"prompt_tokens": 18446744073709551615})", "prompt_tokens",
                       "non-negative integer"},
        BadDescription{R"({"max_tokens": -5})", "max_tokens", "non-negative integer"},
        BadDescription{R"({"max_tokens": "5"})", "max_tokens", "non-negative integer"},
        BadDescription{R"({"tools": "yes"})", "tools", "'tools' must be true or false"},
        BadDescription{R"({"tools": 1})", "tools", "'tools' must be true or false"},
        BadDescription{R"({"images": "false"})", "images", "'images' must be true or false"}));

// ---- decide and decision_to_json on a configuration built here ----------------------------------

config::Config load(const std::string& yaml) {
  auto config = config::parse_config(yaml, "policy_test.yaml");
  EXPECT_TRUE(config) << config.error().to_string();
  return config ? std::move(config.value()) : config::Config{};
}

const char* const kExplainConfig = R"(
providers:
  - name: acme
    base_url: http://127.0.0.1:9/v1
    api_key_env: ACME_KEY
models:
  - name: local-small
    url: http://127.0.0.1:9/v1
  - name: cloud-max
    provider: acme
    price: {input: 2.5, output: 10}
  - name: cloud-mini
    provider: acme
    price: {input: 0.15, output: 0.6}
policy:
  rules:
    - name: batch
      match: {workload: batch}
      targets: [local-small]
    - name: cheap
      match: {tenant: acme}
      targets: [cloud-max, cloud-mini, local-small]
      max_cost_per_request: 0.005
      latency_slo: 2s
      escalate: {}
)";

TEST(DecisionToJson, NamesRuleTargetsExclusionsAndTrace) {
  const auto config = load(kExplainConfig);
  auto facts = facts_from_json(
      R"({"tenant": "acme", "prompt_tokens": 1000, "max_tokens": 500, "time": "08:15"})", kNoon);
  ASSERT_TRUE(facts) << facts.error().message;
  auto decision = decide(config, facts.value());
  ASSERT_TRUE(decision) << decision.error().message;

  const auto json = nlohmann::json::parse(decision_to_json(decision.value(), facts.value()));
  EXPECT_EQ(json["rule"], "cheap");
  EXPECT_EQ(json["matched"], true);
  EXPECT_EQ(json["rule_line"], config.policy.rules[1].line);
  EXPECT_GT(json["rule_line"].get<int>(), 0);
  EXPECT_EQ(json["latency_slo_ms"], 2000);
  EXPECT_DOUBLE_EQ(json["max_cost_per_request"].get<double>(), 0.005);
  EXPECT_EQ(json["escalate"], true);
  EXPECT_EQ(json["never_cloud"], false);
  EXPECT_EQ(json["placement_honoured"], false);

  ASSERT_EQ(json["targets"].size(), 2U);
  EXPECT_EQ(json["targets"][0]["model"], "cloud-mini");
  EXPECT_EQ(json["targets"][0]["placement"], "cloud");
  EXPECT_EQ(json["targets"][0]["provider"], "acme");
  // (1000 * 0.15 + 500 * 0.6) / 1e6
  EXPECT_DOUBLE_EQ(json["targets"][0]["estimated_cost_usd"].get<double>(), 0.00045);
  EXPECT_EQ(json["targets"][1]["model"], "local-small");
  EXPECT_EQ(json["targets"][1]["placement"], "local");
  EXPECT_FALSE(json["targets"][1].contains("provider"));
  EXPECT_FALSE(json["targets"][1].contains("estimated_cost_usd"));

  ASSERT_EQ(json["excluded"].size(), 1U);
  EXPECT_EQ(json["excluded"][0]["model"], "cloud-max");
  EXPECT_NE(json["excluded"][0]["reason"].get<std::string>().find("$0.007500"), std::string::npos)
      << json["excluded"][0]["reason"];

  ASSERT_EQ(json["not_matched"].size(), 1U);
  EXPECT_EQ(json["not_matched"][0], "rule 'batch': workload none not in [batch]");

  const auto& request = json["request"];
  EXPECT_EQ(request["task"], "chat");
  EXPECT_EQ(request["tenant"], "acme");
  EXPECT_EQ(request["estimated_prompt_tokens"], 1000);
  EXPECT_EQ(request["max_tokens"], 500);
  EXPECT_EQ(request["placement"], "auto");
  EXPECT_EQ(request["time"], "08:15");
}

TEST(DecisionToJson, DefaultDecisionHasNoRuleDetails) {
  const auto config = load(kExplainConfig);
  auto facts = facts_from_json(R"({"model": "cloud-max"})", 5);
  ASSERT_TRUE(facts) << facts.error().message;
  auto decision = decide(config, facts.value());
  ASSERT_TRUE(decision) << decision.error().message;

  const auto json = nlohmann::json::parse(decision_to_json(decision.value(), facts.value()));
  EXPECT_EQ(json["rule"], "default");
  EXPECT_EQ(json["matched"], false);
  EXPECT_FALSE(json.contains("rule_line"));
  EXPECT_FALSE(json.contains("max_cost_per_request"));
  EXPECT_FALSE(json.contains("escalate"));
  ASSERT_EQ(json["targets"].size(), 1U);
  EXPECT_EQ(json["targets"][0]["model"], "cloud-max");
  // (0 * 2.5 + 1024 * 10) / 1e6: no max_tokens, so the assumed output.
  EXPECT_DOUBLE_EQ(json["targets"][0]["estimated_cost_usd"].get<double>(), 0.01024);
  EXPECT_EQ(json["excluded"].size(), 0U);
  EXPECT_EQ(json["not_matched"].size(), 2U);
  EXPECT_TRUE(json["request"]["max_tokens"].is_null());
  EXPECT_EQ(json["request"]["time"], "00:05");
}

TEST(Decide, RuleTargetMissingFromTheConfigurationIsExcludedNotFatal) {
  // The loader refuses such a rule; a configuration assembled in code (or changed after loading)
  // can still hold one, and the rest of the chain must survive it.
  auto config = load(kExplainConfig);
  config.policy.rules[0].targets = {"gone", "local-small"};
  RequestFacts facts;
  facts.workload = "batch";
  auto decision = decide(config, facts);
  ASSERT_TRUE(decision) << decision.error().message;
  ASSERT_EQ(decision->targets.size(), 1U);
  EXPECT_EQ(decision->targets[0]->name, "local-small");
  ASSERT_EQ(decision->excluded.size(), 1U);
  EXPECT_EQ(decision->excluded[0].target, "gone");
  EXPECT_EQ(decision->excluded[0].reason, "not configured");
}

TEST(Decide, SameFactsGiveTheSameDecision) {
  const auto config = load(kExplainConfig);
  RequestFacts facts;
  facts.tenant = "acme";
  facts.estimated_prompt_tokens = 10;
  auto first = decide(config, facts);
  auto second = decide(config, facts);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(decision_to_json(first.value(), facts), decision_to_json(second.value(), facts));
}

TEST(Mismatch, EmptyForAMatchingRule) {
  config::Rule rule;
  rule.name = "any";
  EXPECT_EQ(mismatch(rule, RequestFacts{}), "");
  rule.match.tools = false;
  rule.match.placement = {Placement::automatic};
  EXPECT_EQ(mismatch(rule, RequestFacts{}), "");
}

// ---- CircuitBreaker -----------------------------------------------------------------------------

using std::chrono::milliseconds;
using State = CircuitBreaker::State;
const CircuitBreaker::Clock::time_point kStart =
    CircuitBreaker::Clock::time_point{} + std::chrono::hours(1);

TEST(CircuitBreaker, ClosedAllows) {
  CircuitBreaker breaker(3, milliseconds(1000));
  EXPECT_EQ(breaker.state(kStart), State::closed);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(breaker.allow(kStart + milliseconds(i)));
  EXPECT_EQ(breaker.consecutive_failures(), 0);
}

TEST(CircuitBreaker, OpensAfterExactlyThresholdConsecutiveFailures) {
  CircuitBreaker breaker(3, milliseconds(1000));
  EXPECT_FALSE(breaker.record_failure(kStart));
  EXPECT_FALSE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.state(kStart), State::closed);
  EXPECT_TRUE(breaker.allow(kStart));
  EXPECT_TRUE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.consecutive_failures(), 3);
  EXPECT_EQ(breaker.state(kStart), State::open);
  EXPECT_EQ(breaker.open_until(), kStart + milliseconds(1000));
  EXPECT_FALSE(breaker.allow(kStart));
}

TEST(CircuitBreaker, ThresholdOfOneOpensOnTheFirstFailure) {
  CircuitBreaker breaker(1, milliseconds(10));
  EXPECT_TRUE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.state(kStart), State::open);
}

TEST(CircuitBreaker, SuccessResetsTheCount) {
  CircuitBreaker breaker(3, milliseconds(1000));
  EXPECT_FALSE(breaker.record_failure(kStart));
  EXPECT_FALSE(breaker.record_failure(kStart));
  breaker.record_success();
  EXPECT_EQ(breaker.consecutive_failures(), 0);
  EXPECT_FALSE(breaker.record_failure(kStart));
  EXPECT_FALSE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.state(kStart), State::closed);
  EXPECT_TRUE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.state(kStart), State::open);
}

TEST(CircuitBreaker, OpenRefusesUntilOpenForHasElapsed) {
  CircuitBreaker breaker(1, milliseconds(1000));
  ASSERT_TRUE(breaker.record_failure(kStart));
  EXPECT_FALSE(breaker.allow(kStart + milliseconds(1)));
  EXPECT_FALSE(breaker.allow(kStart + milliseconds(999)));
  EXPECT_EQ(breaker.state(kStart + milliseconds(999)), State::open);
  EXPECT_TRUE(breaker.allow(kStart + milliseconds(1000)));
  EXPECT_EQ(breaker.state(kStart + milliseconds(1000)), State::half_open);
}

TEST(CircuitBreaker, StateReportsHalfOpenOnceTheTimePassesWithoutACallToAllow) {
  CircuitBreaker breaker(1, milliseconds(500));
  ASSERT_TRUE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.state(kStart + milliseconds(499)), State::open);
  EXPECT_EQ(breaker.state(kStart + milliseconds(500)), State::half_open);
  EXPECT_EQ(breaker.state(kStart + std::chrono::hours(24)), State::half_open);
  // Asking is not probing: the probe is still there to take.
  EXPECT_TRUE(breaker.allow(kStart + milliseconds(600)));
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThroughAtATime) {
  CircuitBreaker breaker(2, milliseconds(100));
  breaker.record_failure(kStart);
  ASSERT_TRUE(breaker.record_failure(kStart));
  const auto later = kStart + milliseconds(100);
  EXPECT_TRUE(breaker.allow(later));
  EXPECT_FALSE(breaker.allow(later));
  EXPECT_FALSE(breaker.allow(later + milliseconds(1)));
  EXPECT_FALSE(breaker.allow(later + std::chrono::hours(1)));
  EXPECT_EQ(breaker.state(later + std::chrono::hours(1)), State::half_open);
}

TEST(CircuitBreaker, ProbeSuccessCloses) {
  CircuitBreaker breaker(2, milliseconds(100));
  breaker.record_failure(kStart);
  ASSERT_TRUE(breaker.record_failure(kStart));
  const auto later = kStart + milliseconds(100);
  ASSERT_TRUE(breaker.allow(later));
  breaker.record_success();
  EXPECT_EQ(breaker.state(later), State::closed);
  EXPECT_EQ(breaker.consecutive_failures(), 0);
  EXPECT_TRUE(breaker.allow(later));
  EXPECT_TRUE(breaker.allow(later));
  // Closed again with a fresh count: one failure does not reopen it.
  EXPECT_FALSE(breaker.record_failure(later));
  EXPECT_EQ(breaker.state(later), State::closed);
}

TEST(CircuitBreaker, ProbeFailureReopensWithAFreshOpenFor) {
  CircuitBreaker breaker(2, milliseconds(100));
  breaker.record_failure(kStart);
  ASSERT_TRUE(breaker.record_failure(kStart));
  const auto probe_at = kStart + milliseconds(250);
  ASSERT_TRUE(breaker.allow(probe_at));
  const auto failed_at = probe_at + milliseconds(30);
  EXPECT_TRUE(breaker.record_failure(failed_at));
  EXPECT_EQ(breaker.state(failed_at), State::open);
  EXPECT_EQ(breaker.open_until(), failed_at + milliseconds(100));
  EXPECT_FALSE(breaker.allow(failed_at + milliseconds(99)));
  EXPECT_TRUE(breaker.allow(failed_at + milliseconds(100)));
  EXPECT_FALSE(breaker.allow(failed_at + milliseconds(100)));
}

TEST(CircuitBreaker, ReleaseProbeLetsTheNextRequestProbe) {
  CircuitBreaker breaker(1, milliseconds(100));
  ASSERT_TRUE(breaker.record_failure(kStart));
  const auto later = kStart + milliseconds(100);
  ASSERT_TRUE(breaker.allow(later));
  ASSERT_FALSE(breaker.allow(later));
  breaker.release_probe();
  EXPECT_EQ(breaker.state(later), State::half_open);
  EXPECT_TRUE(breaker.allow(later));
  EXPECT_FALSE(breaker.allow(later));
}

TEST(CircuitBreaker, ConfigureChangesThresholdAndOpenFor) {
  CircuitBreaker breaker(5, milliseconds(1000));
  breaker.configure(2, milliseconds(50));
  EXPECT_FALSE(breaker.record_failure(kStart));
  EXPECT_TRUE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.open_until(), kStart + milliseconds(50));
  EXPECT_FALSE(breaker.allow(kStart + milliseconds(49)));
  EXPECT_TRUE(breaker.allow(kStart + milliseconds(50)));
  breaker.record_success();

  breaker.configure(4, milliseconds(200));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(breaker.record_failure(kStart)) << i;
  EXPECT_TRUE(breaker.record_failure(kStart));
  EXPECT_EQ(breaker.open_until(), kStart + milliseconds(200));
}

TEST(CircuitBreaker, StatesHaveNames) {
  EXPECT_EQ(to_string(State::closed), "closed");
  EXPECT_EQ(to_string(State::open), "open");
  EXPECT_EQ(to_string(State::half_open), "half_open");
}

}  // namespace
}  // namespace hearth::policy
