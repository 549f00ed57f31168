#include "config/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hearth::config {
namespace {

namespace fs = std::filesystem;

// ---- Data-driven cases: tests/config/cases/*.yaml --------------------------------------------
//
// The first line of each case says what loading it must give:
//   # expect: ok [N models]
//   # expect: error LINE KEY MESSAGE-SUBSTRING      (KEY "-": no key; LINE 0: no line)

struct Case {
  fs::path file;
  std::string name;  // the file's stem, as a test name
};

std::vector<Case> list_cases() {
  std::vector<Case> cases;
  for (const auto& entry : fs::directory_iterator(HEARTH_CONFIG_CASES_DIR)) {
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

struct Expectation {
  bool ok = false;
  std::optional<std::size_t> models;  // ok: how many models, when given
  int line = 0;
  std::string key;
  std::string message;
};

std::optional<Expectation> read_expectation(const fs::path& file) {
  std::ifstream in(file);
  std::string first_line;
  std::getline(in, first_line);
  const std::string prefix = "# expect: ";
  if (!first_line.starts_with(prefix)) return std::nullopt;
  std::istringstream words(first_line.substr(prefix.size()));
  std::string outcome;
  words >> outcome;
  Expectation expectation;
  if (outcome == "ok") {
    expectation.ok = true;
    std::size_t models = 0;
    if (words >> models) expectation.models = models;
    return expectation;
  }
  if (outcome != "error") return std::nullopt;
  if (!(words >> expectation.line >> expectation.key)) return std::nullopt;
  if (expectation.key == "-") expectation.key.clear();
  std::getline(words >> std::ws, expectation.message);
  if (expectation.message.empty()) return std::nullopt;
  return expectation;
}

class ConfigCase : public testing::TestWithParam<Case> {};

TEST_P(ConfigCase, LoadsAsExpected) {
  const fs::path& file = GetParam().file;
  auto expectation = read_expectation(file);
  ASSERT_TRUE(expectation) << file << ": the first line must be a valid '# expect:' header";
  auto config = load_config_file(file.string());
  if (expectation->ok) {
    ASSERT_TRUE(config) << config.error().to_string();
    EXPECT_EQ(config->source, file.string());
    if (expectation->models) {
      EXPECT_EQ(config->models.size(), *expectation->models);
    }
    // Whatever loads must explain to something that loads again to the same configuration.
    auto again = parse_config(explain(config.value()), file.string());
    ASSERT_TRUE(again) << again.error().to_string() << "\n" << explain(config.value());
    return;
  }
  ASSERT_FALSE(config) << file << " loaded, but should fail with: " << expectation->message;
  const ConfigError& error = config.error();
  EXPECT_EQ(error.file, file.string());
  EXPECT_EQ(error.line, expectation->line) << error.to_string();
  EXPECT_EQ(error.key, expectation->key) << error.to_string();
  EXPECT_NE(error.message.find(expectation->message), std::string::npos)
      << "message: " << error.message << "\nexpected to contain: " << expectation->message;
  std::string location = file.string();
  if (error.line > 0) location += ":" + std::to_string(error.line);
  EXPECT_TRUE(error.to_string().starts_with(location + ": ")) << error.to_string();
}

INSTANTIATE_TEST_SUITE_P(Cases, ConfigCase, testing::ValuesIn(list_cases()),
                         [](const testing::TestParamInfo<Case>& param) {
                           return param.param.name;
                         });

TEST(ConfigCases, DirectoryHoldsTheCases) {
  // Guards against a moved directory silently instantiating no cases.
  EXPECT_GE(list_cases().size(), 130U);
}

// ---- Programmatic tests -------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "hearth-config-test-XXXXXX").string();
    const char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed";
    path_ = fs::path(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

  // Creates `relative` (and its parent directories) with `text` in it.
  fs::path write(const std::string& relative, const std::string& text = "") const {
    const fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

const LocalBackend& local(const ModelEntry& entry) { return std::get<LocalBackend>(entry.backend); }

std::vector<std::string> names(const Config& config) {
  std::vector<std::string> out;
  for (const auto& entry : config.models) out.push_back(entry.name);
  return out;
}

// What the configuration means, without where it was written (source file, lines, found by
// scanning or written out).
Config without_provenance(Config config) {
  config.source.clear();
  for (auto& entry : config.models) {
    entry.line = 0;
    entry.from_models_dir = false;
  }
  for (auto& provider : config.providers) provider.line = 0;
  for (auto& rule : config.policy.rules) rule.line = 0;
  for (auto& entity : config.privacy.entities) entity.line = 0;
  return config;
}

TEST(Config, EmptyTextIsTheDefaults) {
  auto config = parse_config("", "hearth.yaml");
  ASSERT_TRUE(config) << config.error().to_string();
  Config expected;
  expected.source = "hearth.yaml";
  EXPECT_EQ(config.value(), expected);
  EXPECT_EQ(config->server.listen, "127.0.0.1:8080");
  EXPECT_TRUE(config->models.empty());
}

TEST(Config, UnknownKeyFarFromAnyKnownOneHasNoSuggestion) {
  auto config = parse_config("server:\n  colour: red\n", "c.yaml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().to_string(), "c.yaml:2: server.colour: unknown key 'colour'");
}

TEST(Config, ErrorToStringLeavesOutWhatIsUnknown) {
  EXPECT_EQ((ConfigError{"f.yaml", 7, "models[0].contxt", "unknown key"}).to_string(),
            "f.yaml:7: models[0].contxt: unknown key");
  EXPECT_EQ((ConfigError{"f.yaml", 0, "", "cannot read"}).to_string(), "f.yaml: cannot read");
  EXPECT_EQ((ConfigError{"", 0, "server", "bad"}).to_string(), "server: bad");
  EXPECT_EQ((ConfigError{"f.yaml", 3, "", "YAML syntax error"}).to_string(),
            "f.yaml:3: YAML syntax error");
}

TEST(Config, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = (dir.path() / "absent.yaml").string();
  auto config = load_config_file(path);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().file, path);
  EXPECT_EQ(config.error().line, 0);
  EXPECT_NE(config.error().message.find("cannot read"), std::string::npos);
}

TEST(Config, ParsesDurationsAndSizesWithUnits) {
  auto config = parse_config(
      "server:\n"
      "  max_body_bytes: 512MiB\n"
      "  max_header_bytes: 2KB\n"
      "  header_timeout: 500ms\n"
      "  idle_timeout: 30\n"
      "  shutdown_grace: 5m\n"
      "workers:\n"
      "  max_loaded_bytes: 2GiB\n"
      "  load_timeout: 1h\n"
      "  wait_timeout: 30s\n",
      "c.yaml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->server.max_body_bytes, 512U << 20);
  EXPECT_EQ(config->server.max_header_bytes, 2000U);
  EXPECT_EQ(config->server.header_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(config->server.idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config->server.shutdown_grace, std::chrono::minutes(5));
  EXPECT_EQ(config->workers.max_loaded_bytes, 2ULL << 30);
  EXPECT_EQ(config->workers.load_timeout, std::chrono::hours(1));
  EXPECT_EQ(config->workers.wait_timeout, std::chrono::seconds(30));
}

TEST(Config, ReadsEveryModelField) {
  TempDir dir;
  dir.write("m/a.gguf");
  auto config = parse_config(
      "default_model: b\n"
      "models:\n"
      "  - name: a\n"
      "    aliases: [a1, a2]\n"
      "    task: rerank\n"
      "    path: m/a.gguf\n"
      "    context: 1024\n"
      "    parallel: 3\n"
      "    threads: 2\n"
      "    micro_batch: 64\n"
      "    cache_type_k: q8_0\n"
      "    cache_type_v: q4_0\n"
      "    keep_alive: 0\n"
      "    load_on_start: true\n"
      "  - name: b\n"
      "    url: http://10.0.0.5:8080/v1/\n"
      "    api_key_env: B_KEY\n"
      "    task: embedding\n",
      (dir.path() / "hearth.yaml").string());
  ASSERT_TRUE(config) << config.error().to_string();
  ASSERT_EQ(config->models.size(), 2U);
  const ModelEntry& a = config->models[0];
  EXPECT_EQ(a.aliases, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(a.task, ModelTask::rerank);
  EXPECT_EQ(local(a).path, (dir.path() / "m/a.gguf").string());
  EXPECT_EQ(local(a).context, 1024);
  EXPECT_EQ(local(a).parallel, 3);
  EXPECT_EQ(local(a).threads, 2);
  EXPECT_EQ(local(a).micro_batch, 64);
  EXPECT_EQ(local(a).cache_type_k, "q8_0");
  EXPECT_EQ(local(a).cache_type_v, "q4_0");
  EXPECT_EQ(a.keep_alive, std::chrono::milliseconds(0));
  EXPECT_TRUE(a.load_on_start);
  EXPECT_EQ(a.line, 3);
  const ModelEntry& b = config->models[1];
  const auto& remote = std::get<RemoteBackend>(b.backend);
  EXPECT_EQ(remote.base_url, "http://10.0.0.5:8080/v1");
  EXPECT_EQ(remote.upstream_model, "b");
  EXPECT_EQ(remote.api_key_env, "B_KEY");
  EXPECT_EQ(remote.health_path, "/health");
  EXPECT_EQ(b.task, ModelTask::embedding);
  EXPECT_EQ(b.keep_alive, std::chrono::minutes(5));
  EXPECT_EQ(config->default_model, "b");
}

// Every key of providers, cloud models and policy, none at its default.
constexpr const char* kFullPolicyYaml =
    "providers:\n"
    "  - name: openai-cloud\n"
    "    api: openai\n"
    "    base_url: https://api.example.com:8443/v1//\n"
    "    api_key_env: EXAMPLE_API_KEY\n"
    "    ca_file: certs/ca.pem\n"
    "    connect_timeout: 3s\n"
    "    first_byte_timeout: 45s\n"
    "    total_timeout: 20m\n"
    "    max_idle_connections: 8\n"
    "  - name: anthropic-cloud\n"
    "    api: anthropic\n"
    "    base_url: http://[::1]:9999\n"
    "    api_key_env: ANTHROPIC_KEY\n"
    "    anthropic_version: '2024-01-01'\n"
    "models:\n"
    "  - name: local-a\n"
    "    aliases: [small]\n"
    "    path: m/a.gguf\n"
    "  - name: lan\n"
    "    url: http://10.0.0.5:8080\n"
    "  - name: cloud-small\n"
    "    provider: openai-cloud\n"
    "    upstream_model: gpt-x-mini\n"
    "    price: {input: 0.15, cached_input: 0.075, output: 0.6}\n"
    "    task: embedding\n"
    "  - name: claude\n"
    "    provider: anthropic-cloud\n"
    "    price: {output: 1e-7}\n"
    "policy:\n"
    "  deadline: 90s\n"
    "  attempts_per_target: 3\n"
    "  retry_backoff_initial: 50ms\n"
    "  retry_backoff_max: 5s\n"
    "  breaker_failures: 7\n"
    "  breaker_open: 1m\n"
    "  rules:\n"
    "    - name: sensitive-local\n"
    "      match:\n"
    "        workload: [triage, summarise]\n"
    "        tenant: acme\n"
    "        task: [chat, completion, embedding, rerank]\n"
    "        model: [gpt-4o, smart]\n"
    "        sensitivity: [pii, secret_2, top-secret]\n"
    "        prompt_tokens: {min: 0, max: 2000}\n"
    "        max_tokens: {max: 512}\n"
    "        tools: false\n"
    "        images: true\n"
    "        time_of_day: ['09:00-17:30', 22:00-06:00, 00:00-24:00]\n"
    "        placement: [local, cloud, auto]\n"
    "      targets: [local-a, lan]\n"
    "      never_cloud: true\n"
    "      allow_placement: false\n"
    "      max_cost_per_request: 0.05\n"
    "      latency_slo: 2s\n"
    "      escalate:\n"
    "        json_schema: true\n"
    "        min_mean_logprob: -1.25\n"
    "        on_empty: false\n"
    "        on_truncated: false\n"
    "    - name: fallback\n"
    "      match: {prompt_tokens: {min: 100}}\n"
    "      targets: [small, cloud-small, claude]\n"
    "      allow_placement: true\n"
    "      max_cost_per_request: 0\n"
    "      escalate: {}\n"
    "    - name: catch-all\n";

TEST(Config, ReadsEveryProviderCloudModelAndPolicyField) {
  TempDir dir;
  dir.write("m/a.gguf");
  dir.write("certs/ca.pem");
  auto config = parse_config(kFullPolicyYaml, (dir.path() / "hearth.yaml").string());
  ASSERT_TRUE(config) << config.error().to_string();

  ASSERT_EQ(config->providers.size(), 2U);
  const Provider& openai = config->providers[0];
  EXPECT_EQ(openai.name, "openai-cloud");
  EXPECT_EQ(openai.api, ProviderApi::openai);
  EXPECT_EQ(openai.base_url, "https://api.example.com:8443/v1");
  EXPECT_EQ(openai.api_key_env, "EXAMPLE_API_KEY");
  EXPECT_EQ(openai.ca_file, (dir.path() / "certs/ca.pem").string());
  EXPECT_EQ(openai.connect_timeout, std::chrono::seconds(3));
  EXPECT_EQ(openai.first_byte_timeout, std::chrono::seconds(45));
  EXPECT_EQ(openai.total_timeout, std::chrono::minutes(20));
  EXPECT_EQ(openai.max_idle_connections, 8);
  EXPECT_EQ(openai.anthropic_version, Provider{}.anthropic_version);
  EXPECT_EQ(openai.line, 2);
  const Provider& anthropic = config->providers[1];
  EXPECT_EQ(anthropic.api, ProviderApi::anthropic);
  EXPECT_EQ(anthropic.base_url, "http://[::1]:9999");
  EXPECT_EQ(anthropic.ca_file, "");
  EXPECT_EQ(anthropic.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(anthropic.first_byte_timeout, std::chrono::seconds(60));
  EXPECT_EQ(anthropic.total_timeout, std::chrono::minutes(10));
  EXPECT_EQ(anthropic.max_idle_connections, 64);
  EXPECT_EQ(anthropic.anthropic_version, "2024-01-01");
  EXPECT_EQ(config->find_provider("anthropic-cloud"), &anthropic);
  EXPECT_EQ(config->find_provider("anthropic"), nullptr);

  ASSERT_EQ(names(config.value()),
            (std::vector<std::string>{"local-a", "lan", "cloud-small", "claude"}));
  EXPECT_EQ(placement_of(config->models[0]), Placement::local);
  EXPECT_EQ(placement_of(config->models[1]), Placement::local);
  EXPECT_EQ(placement_of(config->models[2]), Placement::cloud);
  const auto& small = std::get<CloudBackend>(config->models[2].backend);
  EXPECT_EQ(small.provider, "openai-cloud");
  EXPECT_EQ(small.upstream_model, "gpt-x-mini");
  EXPECT_EQ(small.price, (Price{0.15, 0.075, 0.6}));
  EXPECT_EQ(config->models[2].task, ModelTask::embedding);
  const auto& claude = std::get<CloudBackend>(config->models[3].backend);
  EXPECT_EQ(claude.provider, "anthropic-cloud");
  EXPECT_EQ(claude.upstream_model, "claude");
  EXPECT_EQ(claude.price, (Price{0, 0, 1e-7}));

  const PolicySettings& policy = config->policy;
  EXPECT_EQ(policy.deadline, std::chrono::seconds(90));
  EXPECT_EQ(policy.attempts_per_target, 3);
  EXPECT_EQ(policy.retry_backoff_initial, std::chrono::milliseconds(50));
  EXPECT_EQ(policy.retry_backoff_max, std::chrono::seconds(5));
  EXPECT_EQ(policy.breaker_failures, 7);
  EXPECT_EQ(policy.breaker_open, std::chrono::minutes(1));
  ASSERT_EQ(policy.rules.size(), 3U);

  const Rule& sensitive = policy.rules[0];
  EXPECT_EQ(sensitive.name, "sensitive-local");
  EXPECT_EQ(sensitive.line, 38);
  const RuleMatch& match = sensitive.match;
  EXPECT_EQ(match.workloads, (std::vector<std::string>{"triage", "summarise"}));
  EXPECT_EQ(match.tenants, (std::vector<std::string>{"acme"}));
  EXPECT_EQ(match.tasks, (std::vector<RequestTask>{RequestTask::chat, RequestTask::completion,
                                                   RequestTask::embedding, RequestTask::rerank}));
  EXPECT_EQ(match.models, (std::vector<std::string>{"gpt-4o", "smart"}));
  EXPECT_EQ(match.sensitivity, (std::vector<std::string>{"pii", "secret_2", "top-secret"}));
  EXPECT_EQ(match.prompt_tokens, (IntegerRange{0, 2000}));
  EXPECT_EQ(match.max_tokens, (IntegerRange{std::nullopt, 512}));
  EXPECT_EQ(match.tools, false);
  EXPECT_EQ(match.images, true);
  EXPECT_EQ(match.time_of_day,
            (std::vector<TimeWindow>{{9 * 60, 17 * 60 + 30}, {22 * 60, 6 * 60}, {0, 24 * 60}}));
  EXPECT_EQ(match.placement,
            (std::vector<Placement>{Placement::local, Placement::cloud, Placement::automatic}));
  EXPECT_EQ(sensitive.targets, (std::vector<std::string>{"local-a", "lan"}));
  EXPECT_TRUE(sensitive.never_cloud);
  EXPECT_FALSE(sensitive.allow_placement);
  EXPECT_EQ(sensitive.max_cost_per_request, 0.05);
  EXPECT_EQ(sensitive.latency_slo, std::chrono::seconds(2));
  EXPECT_EQ(sensitive.escalate, (Escalation{true, -1.25, false, false}));

  const Rule& fallback = policy.rules[1];
  RuleMatch from_100;
  from_100.prompt_tokens = IntegerRange{100, std::nullopt};
  EXPECT_EQ(fallback.match, from_100);
  EXPECT_EQ(fallback.targets, (std::vector<std::string>{"small", "cloud-small", "claude"}));
  EXPECT_FALSE(fallback.never_cloud);
  EXPECT_TRUE(fallback.allow_placement);
  EXPECT_EQ(fallback.max_cost_per_request, 0.0);
  EXPECT_EQ(fallback.latency_slo, std::nullopt);
  EXPECT_EQ(fallback.escalate, Escalation{});  // present, with the default checks

  const Rule& catch_all = policy.rules[2];
  EXPECT_EQ(catch_all.match, RuleMatch{});
  EXPECT_TRUE(catch_all.targets.empty());
  EXPECT_EQ(catch_all.max_cost_per_request, std::nullopt);
  EXPECT_EQ(catch_all.escalate, std::nullopt);
}

TEST(Config, PolicyDefaultsWhenAbsent) {
  auto config = parse_config("policy:\n  rules:\n    - name: r\n", "c.yaml");
  ASSERT_TRUE(config) << config.error().to_string();
  PolicySettings expected;
  Rule rule;
  rule.name = "r";
  rule.line = 3;
  expected.rules.push_back(rule);
  EXPECT_EQ(config->policy, expected);
  EXPECT_EQ(config->policy.deadline, std::chrono::minutes(2));
  EXPECT_EQ(config->policy.attempts_per_target, 2);
  EXPECT_EQ(config->policy.retry_backoff_initial, std::chrono::milliseconds(100));
  EXPECT_EQ(config->policy.retry_backoff_max, std::chrono::seconds(2));
  EXPECT_EQ(config->policy.breaker_failures, 5);
  EXPECT_EQ(config->policy.breaker_open, std::chrono::seconds(30));
  EXPECT_TRUE(config->providers.empty());
}

TEST(Config, AStringMatchesLikeAListOfOne) {
  auto config = parse_config(
      "policy:\n"
      "  rules:\n"
      "    - name: r\n"
      "      match: {workload: w, tenant: t, task: rerank, model: m, sensitivity: s,\n"
      "              time_of_day: 22:00-24:00, placement: cloud}\n",
      "c.yaml");
  ASSERT_TRUE(config) << config.error().to_string();
  const RuleMatch& match = config->policy.rules[0].match;
  EXPECT_EQ(match.workloads, (std::vector<std::string>{"w"}));
  EXPECT_EQ(match.tenants, (std::vector<std::string>{"t"}));
  EXPECT_EQ(match.tasks, (std::vector<RequestTask>{RequestTask::rerank}));
  EXPECT_EQ(match.models, (std::vector<std::string>{"m"}));
  EXPECT_EQ(match.sensitivity, (std::vector<std::string>{"s"}));
  EXPECT_EQ(match.time_of_day, (std::vector<TimeWindow>{{22 * 60, 24 * 60}}));
  EXPECT_EQ(match.placement, (std::vector<Placement>{Placement::cloud}));
}

TEST(Config, ProviderUrlsAcceptOnlyHttpsOrLoopbackHttp) {
  const auto load = [](const std::string& url) {
    return parse_config("providers:\n  - {name: p, api_key_env: K, base_url: '" + url + "'}\n",
                        "c.yaml");
  };
  for (const char* url : {"https://api.example.com", "https://api.example.com:443/v1/",
                          "https://10.1.2.3/x", "https://[2001:db8::1]:8443",
                          "http://127.0.0.1:8080", "http://localhost/v1", "http://[::1]:1"}) {
    auto config = load(url);
    EXPECT_TRUE(config) << url << ": " << config.error().to_string();
  }
  for (const char* url :
       {"http://api.example.com", "http://10.0.0.1:80", "http://127.0.0.2", "ftp://x", "https://",
        "https://host:99999", "https://user@host", "https://host/a?b=c", "https://host/#x",
        "https://::1", "https://[::1", "api.example.com", ""}) {
    auto config = load(url);
    EXPECT_FALSE(config) << url;
  }
  auto trimmed = load("https://api.example.com/v1///");
  ASSERT_TRUE(trimmed) << trimmed.error().to_string();
  EXPECT_EQ(trimmed->providers[0].base_url, "https://api.example.com/v1");
}

TEST(Config, EnumNames) {
  EXPECT_EQ(to_string(ProviderApi::openai), "openai");
  EXPECT_EQ(to_string(ProviderApi::anthropic), "anthropic");
  EXPECT_EQ(to_string(Placement::local), "local");
  EXPECT_EQ(to_string(Placement::cloud), "cloud");
  EXPECT_EQ(to_string(Placement::automatic), "auto");
  EXPECT_EQ(to_string(RequestTask::chat), "chat");
  EXPECT_EQ(to_string(RequestTask::completion), "completion");
  EXPECT_EQ(to_string(RequestTask::embedding), "embedding");
  EXPECT_EQ(to_string(RequestTask::rerank), "rerank");
}

TEST(Config, PlacementOfEachBackend) {
  ModelEntry entry;
  entry.backend = LocalBackend{};
  EXPECT_EQ(placement_of(entry), Placement::local);
  entry.backend = RemoteBackend{};
  EXPECT_EQ(placement_of(entry), Placement::local);
  entry.backend = CloudBackend{};
  EXPECT_EQ(placement_of(entry), Placement::cloud);
}

TEST(Config, FindModelMatchesNameOrAliasExactly) {
  Config config;
  ModelEntry entry;
  entry.name = "Qwen3-8B";
  entry.aliases = {"qwen", "default"};
  config.models.push_back(entry);
  entry.name = "other";
  entry.aliases = {};
  config.models.push_back(entry);
  EXPECT_EQ(config.find_model("Qwen3-8B"), &config.models[0]);
  EXPECT_EQ(config.find_model("default"), &config.models[0]);
  EXPECT_EQ(config.find_model("other"), &config.models[1]);
  EXPECT_EQ(config.find_model("qwen3-8b"), nullptr);
  EXPECT_EQ(config.find_model("Qwen3"), nullptr);
  EXPECT_EQ(config.find_model(""), nullptr);
}

TEST(Config, RelativePathsResolveAgainstTheConfigFileDirectory) {
  TempDir dir;
  dir.write("models/x.gguf");
  dir.write("models/y.gguf");
  const fs::path file = dir.write("etc/hearth/hearth.yaml",
                                  "models_dir: ../../models\n"
                                  "workers:\n"
                                  "  runtime_dir: run\n"
                                  "models:\n"
                                  "  - name: x\n"
                                  "    path: ../../models/./x.gguf\n");
  auto config = load_config_file(file.string());
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->models_dir, (dir.path() / "models").string());
  EXPECT_EQ(config->workers.runtime_dir, (dir.path() / "etc/hearth/run").string());
  ASSERT_EQ(names(config.value()), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(local(config->models[0]).path, (dir.path() / "models/x.gguf").string());
  EXPECT_EQ(local(config->models[1]).path, (dir.path() / "models/y.gguf").string());

  // Absolute paths are kept as written.
  const fs::path absolute_file = dir.write(
      "elsewhere/hearth.yaml",
      "models:\n  - name: x\n    path: " + (dir.path() / "models/x.gguf").string() + "\n");
  auto absolute = load_config_file(absolute_file.string());
  ASSERT_TRUE(absolute) << absolute.error().to_string();
  EXPECT_EQ(local(absolute->models[0]).path, (dir.path() / "models/x.gguf").string());
}

TEST(Config, ScansModelsDirSortedAndSkipsWhatIsConfigured) {
  TempDir dir;
  for (const char* file :
       {"zeta.gguf", "alpha.gguf", "beta.gguf", "gamma.gguf", "delta.gguf", "readme.txt",
        "model.gguf.part", "sub/nested.gguf", "two words.gguf", ".hidden.gguf"}) {
    dir.write(std::string("models/") + file);
  }
  dir.write("elsewhere/alpha.gguf");
  fs::create_directories(dir.path() / "models/dir.gguf");
  const fs::path file = dir.write("hearth.yaml",
                                  "models_dir: models\n"
                                  "models:\n"
                                  "  - name: alpha\n"  // same name as a scanned file
                                  "    path: elsewhere/alpha.gguf\n"
                                  "  - name: b\n"  // same path as a scanned file
                                  "    path: models/beta.gguf\n"
                                  "  - name: g\n"  // an alias equal to a scanned stem
                                  "    aliases: [gamma]\n"
                                  "    url: http://127.0.0.1:9999\n");
  auto config = load_config_file(file.string());
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(names(config.value()), (std::vector<std::string>{"alpha", "b", "g", "delta", "zeta"}));
  for (std::size_t i = 0; i < config->models.size(); ++i) {
    EXPECT_EQ(config->models[i].from_models_dir, i >= 3) << config->models[i].name;
  }
  const ModelEntry& delta = config->models[3];
  EXPECT_EQ(local(delta).path, (dir.path() / "models/delta.gguf").string());
  EXPECT_EQ(delta.task, ModelTask::chat);
  EXPECT_EQ(delta.line, 0);
  EXPECT_EQ(local(delta).context, LocalBackend{}.context);
  EXPECT_EQ(local(config->models[0]).path, (dir.path() / "elsewhere/alpha.gguf").string());
}

TEST(Config, DefaultConfigScansAnExistingDirectoryOnly) {
  TempDir dir;
  dir.write("b.gguf");
  dir.write("a.gguf");
  Config config = default_config(dir.path().string());
  EXPECT_EQ(config.source, "");
  EXPECT_EQ(config.server.listen, "127.0.0.1:8080");
  EXPECT_EQ(config.models_dir, dir.path().string());
  EXPECT_EQ(names(config), (std::vector<std::string>{"a", "b"}));

  Config none = default_config((dir.path() / "absent").string());
  EXPECT_EQ(none.models_dir, "");
  EXPECT_TRUE(none.models.empty());
  EXPECT_EQ(default_config(""), Config{});
}

TEST(Config, DefaultModelsDirPrefersTheEnvironment) {
  const char* saved = getenv("MODELS_DIR");
  const std::string saved_value = saved != nullptr ? saved : "";
  setenv("MODELS_DIR", "/some/models", 1);
  EXPECT_EQ(default_models_dir(), "/some/models");
  if (saved != nullptr) {
    setenv("MODELS_DIR", saved_value.c_str(), 1);
  } else {
    unsetenv("MODELS_DIR");
  }
}

void expect_round_trip(const Config& config) {
  const std::string text = explain(config);
  auto again = parse_config(text, config.source.empty() ? "explained.yaml" : config.source);
  ASSERT_TRUE(again) << again.error().to_string() << "\n" << text;
  EXPECT_EQ(without_provenance(again.value()), without_provenance(config)) << text;
  // And the explanation is stable.
  EXPECT_EQ(explain(without_provenance(again.value())), explain(without_provenance(config)));
}

TEST(Config, ExplainRoundTripsTheDefaults) {
  expect_round_trip(Config{});
  const std::string text = explain(Config{});
  EXPECT_NE(text.find("listen: 127.0.0.1:8080"), std::string::npos) << text;
  EXPECT_NE(text.find("max_body_bytes: 8MiB"), std::string::npos) << text;
  EXPECT_NE(text.find("load_timeout: 2m"), std::string::npos) << text;
  EXPECT_NE(text.find("restart_backoff_initial: 250ms"), std::string::npos) << text;
}

TEST(Config, ExplainRoundTripsAFullConfigWithScannedModels) {
  TempDir dir;
  dir.write("models/a.gguf");
  dir.write("models/scanned.gguf");
  dir.write("bin/hearth");
  const fs::path file = dir.write("hearth.yaml",
                                  "server:\n"
                                  "  listen: '[::1]:0'\n"
                                  "  io_threads: 3\n"
                                  "  max_body_bytes: 1000\n"
                                  "  max_header_bytes: 3KiB\n"
                                  "  max_connections: 7\n"
                                  "  header_timeout: 1500ms\n"
                                  "  idle_timeout: 90s\n"
                                  "  shutdown_grace: 0\n"
                                  "  access_log: false\n"
                                  "workers:\n"
                                  "  runtime_dir: run dir\n"
                                  "  hearth_binary: bin/hearth\n"
                                  "  max_loaded_models: 9\n"
                                  "  max_loaded_bytes: 1GB\n"
                                  "  load_timeout: 61s\n"
                                  "  wait_timeout: 1h\n"
                                  "  health_interval: 100ms\n"
                                  "  health_timeout: 2m\n"
                                  "  restart_backoff_initial: 1s\n"
                                  "  restart_backoff_max: 1s\n"
                                  "models_dir: models\n"
                                  "default_model: 'true'\n"
                                  "models:\n"
                                  "  - name: 'true'\n"
                                  "    aliases: ['123', 'a:b', '#x']\n"
                                  "    task: embedding\n"
                                  "    path: models/a.gguf\n"
                                  "    context: 512\n"
                                  "    parallel: 1\n"
                                  "    threads: 8\n"
                                  "    micro_batch: 32\n"
                                  "    cache_type_k: q8_0\n"
                                  "    keep_alive: 90m\n"
                                  "    load_on_start: true\n"
                                  "  - name: remote\n"
                                  "    url: http://h:1/p\n"
                                  "    upstream_model: up\n"
                                  "    api_key_env: K\n"
                                  "    health_path: /v1/models\n"
                                  "    task: rerank\n"
                                  "    keep_alive: 0\n");
  auto config = load_config_file(file.string());
  ASSERT_TRUE(config) << config.error().to_string();
  ASSERT_EQ(names(config.value()), (std::vector<std::string>{"true", "remote", "scanned"}));
  expect_round_trip(config.value());
}

TEST(Config, ExplainRoundTripsProvidersCloudModelsAndPolicy) {
  TempDir dir;
  dir.write("m/a.gguf");
  dir.write("certs/ca.pem");
  const fs::path file = dir.write("hearth.yaml", kFullPolicyYaml);
  // The explanation names environment variables; it never reads them.
  setenv("EXAMPLE_API_KEY", "sk-example-secret-value", 1);
  auto config = load_config_file(file.string());
  ASSERT_TRUE(config) << config.error().to_string();
  expect_round_trip(config.value());
  const std::string text = explain(config.value());
  unsetenv("EXAMPLE_API_KEY");
  EXPECT_EQ(text.find("sk-example-secret-value"), std::string::npos) << text;
  EXPECT_NE(text.find("api_key_env: EXAMPLE_API_KEY"), std::string::npos) << text;
  EXPECT_NE(text.find("anthropic_version: \"2024-01-01\""), std::string::npos) << text;
  // Only an anthropic provider has a version.
  EXPECT_EQ(text.find("anthropic_version"), text.rfind("anthropic_version")) << text;
  EXPECT_NE(text.find("00:00-24:00"), std::string::npos) << text;
  EXPECT_NE(text.find("22:00-06:00"), std::string::npos) << text;
}

TEST(Config, ExplainRoundTripsNumbersExactly) {
  Config config;
  Provider provider;
  provider.name = "p";
  provider.base_url = "https://p.example";
  provider.api_key_env = "P_KEY";
  config.providers.push_back(provider);
  ModelEntry entry;
  entry.name = "c";
  entry.backend = CloudBackend{"p", "c", Price{0.1 + 0.2, 1.0 / 3, 123456789.125}};
  config.models.push_back(entry);
  Rule rule;
  rule.name = "r";
  rule.targets = {"c"};
  rule.max_cost_per_request = 2.0 / 3;
  rule.escalate = Escalation{false, -1e-9, true, false};
  config.policy.rules.push_back(rule);
  expect_round_trip(config);
}

TEST(Config, ExplainShowsEmptyProvidersAndDefaultPolicy) {
  const std::string text = explain(Config{});
  EXPECT_NE(text.find("providers: []"), std::string::npos) << text;
  EXPECT_NE(text.find("policy:"), std::string::npos) << text;
  EXPECT_NE(text.find("deadline: 2m"), std::string::npos) << text;
  EXPECT_NE(text.find("retry_backoff_initial: 100ms"), std::string::npos) << text;
  EXPECT_NE(text.find("rules: []"), std::string::npos) << text;
}

TEST(Config, ExplainRoundTripsDefaultConfigWithModels) {
  TempDir dir;
  dir.write("one.gguf");
  dir.write("two.gguf");
  expect_round_trip(default_config(dir.path().string()));
}

TEST(Config, ExampleConfigParses) {
  // The example points at ../../shared/models (this repository's checkout next to the shared
  // models); rebuild that layout in a temporary directory so the test needs no real model.
  std::ifstream in(HEARTH_EXAMPLE_CONFIG);
  ASSERT_TRUE(in) << HEARTH_EXAMPLE_CONFIG;
  std::stringstream text;
  text << in.rdbuf();
  TempDir dir;
  dir.write("shared/models/stories260K.gguf");
  dir.write("shared/models/another.gguf");
  const fs::path source = dir.path() / "repo/config/hearth.example.yaml";
  auto config = parse_config(text.str(), source.string());
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(names(config.value()), (std::vector<std::string>{"stories", "lan-llama", "another"}));
  EXPECT_EQ(local(config->models[0]).path,
            (dir.path() / "shared/models/stories260K.gguf").string());
  EXPECT_EQ(config->find_model(config->default_model), &config->models[0]);
  // Its values are the defaults, as it says, except where it says otherwise.
  Config defaults;
  EXPECT_EQ(config->server, defaults.server);
  EXPECT_EQ(config->workers, defaults.workers);
  EXPECT_EQ(config->policy, defaults.policy);
  EXPECT_TRUE(config->providers.empty());
  EXPECT_EQ(config->advisor, defaults.advisor);
  EXPECT_EQ(config->local_costs.hardware_price_usd, 6000);
  EXPECT_EQ(config->local_costs.amortisation_months, 36);
  EXPECT_EQ(config->local_costs.electricity_usd_per_kwh, 0.25);
  expect_round_trip(config.value());
}

TEST(Config, PrivacySettingsAreReadAsWritten) {
  const std::string yaml = R"(
privacy:
  scan: false
  actions: {secret: block, health: local_only, "custom:matter": local_only, default: allow}
  answers: redact
  disable: [ip_address]
  entities:
    - name: matter
      pattern: 'M-[0-9]{6}'
      validator: luhn
    - name: customers
      terms: [Acme Corp, Globex]
      labels: [financial]
policy:
  rules:
    - name: research
      privacy: {pii: allow, secret: redact}
)";
  auto config = parse_config(yaml, "privacy.yaml");
  ASSERT_TRUE(config) << config.error().to_string();
  const PrivacySettings& privacy = config->privacy;
  EXPECT_FALSE(privacy.scan);
  EXPECT_EQ(privacy.actions, (PrivacyActions{{"secret", PrivacyAction::block},
                                             {"health", PrivacyAction::local_only},
                                             {"custom:matter", PrivacyAction::local_only}}));
  EXPECT_EQ(privacy.default_action, PrivacyAction::allow);
  EXPECT_EQ(privacy.answers, AnswerScan::redact);
  EXPECT_EQ(privacy.disabled, (std::vector<std::string>{"ip_address"}));
  ASSERT_EQ(privacy.entities.size(), 2U);
  EXPECT_EQ(privacy.entities[0].name, "matter");
  EXPECT_EQ(privacy.entities[0].pattern, "M-[0-9]{6}");
  EXPECT_EQ(privacy.entities[0].validator, "luhn");
  EXPECT_TRUE(privacy.entities[0].labels.empty());
  EXPECT_EQ(privacy.entities[1].terms, (std::vector<std::string>{"Acme Corp", "Globex"}));
  EXPECT_EQ(privacy.entities[1].labels, (std::vector<std::string>{"financial"}));
  ASSERT_EQ(config->policy.rules.size(), 1U);
  EXPECT_EQ(config->policy.rules[0].privacy,
            (PrivacyActions{{"pii", PrivacyAction::allow}, {"secret", PrivacyAction::redact}}));

  auto again = parse_config(explain(config.value()), "privacy.yaml");
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(without_provenance(again.value()), without_provenance(config.value()));
}

TEST(Config, PrivacyDefaultsRedactForEveryLabelAndAuditAnswers) {
  const Config config;
  EXPECT_TRUE(config.privacy.scan);
  EXPECT_TRUE(config.privacy.actions.empty());
  EXPECT_EQ(config.privacy.default_action, PrivacyAction::redact);
  EXPECT_EQ(config.privacy.answers, AnswerScan::audit_only);
}

}  // namespace
}  // namespace hearth::config
