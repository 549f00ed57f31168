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
  EXPECT_GE(list_cases().size(), 40U);
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
  expect_round_trip(config.value());
}

}  // namespace
}  // namespace hearth::config
