// Loading, validating and explaining the gateway's YAML configuration.
//
// The file (every key optional unless marked; config/hearth.example.yaml is a worked example):
//
//   server:
//     listen: 127.0.0.1:8080         # HOST:PORT
//     io_threads: 1
//     max_body_bytes: 8MiB           # sizes: integer bytes or "512KiB", "8MiB", "2GiB", "1GB"
//     max_header_bytes: 16KiB
//     max_connections: 4096
//     header_timeout: 10s            # durations: "500ms", "30s", "5m", "1h"; an integer is seconds
//     idle_timeout: 75s
//     shutdown_grace: 30s
//     access_log: true
//   workers:
//     runtime_dir: ""                # "": a fresh private directory
//     hearth_binary: ""              # "": this executable
//     max_loaded_models: 4
//     max_loaded_bytes: 0            # 0: no cap
//     load_timeout: 2m
//     wait_timeout: 30s
//     health_interval: 2s
//     health_timeout: 5s
//     restart_backoff_initial: 250ms
//     restart_backoff_max: 30s
//   providers:                       # cloud providers, reached over https
//     - name: NAME                   # required, unique; the same rules as a model name
//       api: openai                  # openai | anthropic
//       base_url: https://api.example.com/v1  # required: https://HOST[:PORT][/PREFIX]; plain
//                                    #   http:// only to 127.0.0.1, localhost or [::1] (tests)
//       api_key_env: ENV_VAR         # required: the variable holding the key (never read here)
//       ca_file: ""                  # a PEM file that must exist; "": the system trust store
//       connect_timeout: 5s
//       first_byte_timeout: 60s
//       total_timeout: 10m
//       max_idle_connections: 64     # 1..4096
//       anthropic_version: "2023-06-01"  # api: anthropic only
//   models_dir: PATH                 # scanned (not recursively) for *.gguf
//   default_model: NAME              # a name or alias; "": the first model
//   models:
//     - name: NAME                   # required: non-empty, no whitespace, not starting with '/'
//       aliases: [A, B]
//       task: chat                   # chat | embedding | rerank
//       path: FILE.gguf              # a local model, served by a supervised `hearth worker`
//       context: 4096                #   local only
//       parallel: 4                  #   local only
//       threads: 0                   #   local only; 0: all cores
//       micro_batch: 256             #   local only, optional
//       cache_type_k: q8_0           #   local only, optional
//       cache_type_v: q8_0           #   local only, optional
//       keep_alive: 5m               # idle time before a local worker is unloaded; 0: never
//       load_on_start: false
//     - name: NAME2
//       url: http://10.0.0.5:8080    # a remote OpenAI-compatible server instead of `path`
//       upstream_model: NAME         #   remote or cloud; default: the entry's name
//       api_key_env: ENV_VAR         #   remote only; default: no key
//       health_path: /health         #   remote only
//     - name: NAME3
//       provider: PROVIDER           # a cloud model instead of `path` or `url`: a providers[].name
//       upstream_model: NAME         #   remote or cloud; default: the entry's name
//       price: {input: 0.15, cached_input: 0.075, output: 0.6}  # cloud only: USD per million
//                                    #   tokens, each key optional (0), >= 0
//   policy:
//     deadline: 2m                   # a request's whole budget for trying targets
//     attempts_per_target: 2         # 1..10
//     retry_backoff_initial: 100ms
//     retry_backoff_max: 2s          # >= retry_backoff_initial
//     breaker_failures: 5            # 1..1000
//     breaker_open: 30s
//     rules:                         # first match wins
//       - name: NAME                 # required, unique among rules
//         match:                     # every condition given must hold; none: matches anything
//           workload: [A, B]         # a string or a list of strings (any of them), as are
//           tenant: T                #   tenant, model, sensitivity, task, time_of_day, placement
//           task: [chat, completion] # chat | completion | embedding | rerank
//           model: [gpt-4o, smart]   # as the client writes it; not checked against `models`
//           sensitivity: [pii]       # labels: [a-z0-9_-]+
//           prompt_tokens: {min: 0, max: 2000}  # integers >= 0, min <= max, at least one given
//           max_tokens: {max: 512}
//           tools: false
//           images: false
//           time_of_day: ["09:00-17:30"]  # HH:MM-HH:MM, local time, end up to 24:00; a window
//                                    #   ending before its start wraps midnight
//           placement: [local, auto] # local | cloud | auto (the client's x-hearth-placement)
//         targets: [A, B]            # model names or aliases tried in order, no duplicates;
//                                    #   none: the requested model
//         never_cloud: false         # true: no target may be a cloud model
//         allow_placement: false     # honour the client's x-hearth-placement
//         max_cost_per_request: 0.05 # optional: US dollars, >= 0
//         latency_slo: 2s            # optional: time to first byte before the next target
//         escalate:                  # optional: checks on a local answer, a mapping ({}: defaults)
//           json_schema: false
//           min_mean_logprob: -1.5   # optional, <= 0
//           on_empty: true
//           on_truncated: true
//         privacy: {pii: allow}      # optional: per-label overrides of privacy.actions
//   privacy:                         # the privacy guard: every request is scanned before placement
//     scan: true                     # false: labels come from x-hearth-sensitivity only
//     actions:                       # per label: allow | audit_only | redact | local_only | block
//       secret: block                #   labels: pii, financial, health, secret, custom:NAME, or
//       health: local_only           #   any a client declares in x-hearth-sensitivity
//       default: redact              # every label not listed (built-in default: redact)
//     answers: audit_only            # secrets in cloud answers: off | audit_only | redact
//     disable: [ip_address]          # built-in entity types not looked for
//     entities:                      # custom entities, found as "custom:NAME"
//       - name: matter               # required, unique: [a-z0-9_-]+
//         pattern: 'M-[0-9]{6}'      # a regular expression (Vectorscan syntax), or
//         terms: [Acme Corp, Globex] #   terms matched case-insensitively as whole words
//         validator: luhn            # pattern only: luhn | mod97 | mod11 | aba | verhoeff
//         labels: [legal]            # default [custom:NAME]
//
// A model has exactly one of `path`, `url` and `provider`; a key that belongs to another kind of
// model is an error. Relative paths (path, models_dir, runtime_dir, hearth_binary, ca_file)
// resolve against the directory of the configuration file. Entries found in models_dir are local
// chat models named after the file stem (task detection from GGUF metadata is left to the caller);
// a file whose stem or path is already used by a configured entry is skipped, and so is one whose
// stem is not a valid name. Rule targets are checked after that scan, so they may name scanned
// models. Environment variables are only ever named here, never read.
#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <type_traits>

namespace hearth::config {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr std::array<std::string_view, 3> kTaskNames = {"chat", "embedding", "rerank"};
// The KV cache types llama.cpp accepts for --cache-type-k/-v.
constexpr std::array<std::string_view, 9> kCacheTypes = {"f32",  "f16",  "bf16", "q8_0",  "q4_0",
                                                         "q4_1", "q5_0", "q5_1", "iq4_nl"};

constexpr std::array<std::string_view, 13> kTopKeys = {
    "server",    "workers",     "providers", "policy",     "privacy",       "auth",  "ledger",
    "retention", "local_costs", "advisor",   "models_dir", "default_model", "models"};
constexpr std::array<std::string_view, 12> kServerKeys = {
    "listen",          "io_threads",      "max_body_bytes", "max_header_bytes",
    "max_connections", "header_timeout",  "idle_timeout",   "shutdown_grace",
    "access_log",      "access_log_file", "insecure",       "tls"};
constexpr std::array<std::string_view, 4> kTlsKeys = {"certificate", "private_key", "client_ca",
                                                      "admin_client_certificate"};
constexpr std::array<std::string_view, 4> kAuthKeys = {"key_refresh", "tenant_budgets",
                                                       "over_budget", "spend_refresh"};
constexpr std::array<std::string_view, 2> kOverBudgetNames = {"local", "refuse"};
constexpr std::array<std::string_view, 8> kLedgerKeys = {
    "store",          "path",      "url_env",         "queue_capacity",
    "flush_interval", "max_batch", "anchor_interval", "content_workloads"};
constexpr std::array<std::string_view, 3> kLedgerStoreNames = {"sqlite", "postgresql", "off"};
constexpr std::array<std::string_view, 5> kRetentionKeys = {
    "ledger_days", "audit_days", "purge_interval", "access_log_max_bytes", "access_log_files"};
constexpr std::array<std::string_view, 7> kLocalCostKeys = {
    "hardware_price_usd",      "amortisation_months",     "power_busy_watts",
    "power_idle_watts",        "electricity_usd_per_kwh", "carbon_grams_per_kwh",
    "operations_usd_per_month"};
constexpr std::array<std::string_view, 7> kAdvisorKeys = {
    "min_requests",           "frequent_requests_per_month", "sensitive_share",
    "min_local_success_rate", "max_escalation_rate",         "min_eval_agreement",
    "eval_results_dir"};
constexpr std::array<std::string_view, 10> kWorkerKeys = {
    "runtime_dir",        "hearth_binary",  "max_loaded_models",
    "max_loaded_bytes",   "load_timeout",   "wait_timeout",
    "health_interval",    "health_timeout", "restart_backoff_initial",
    "restart_backoff_max"};
constexpr std::array<std::string_view, 18> kModelKeys = {
    "name",    "aliases",        "task",         "path",         "context",    "parallel",
    "threads", "micro_batch",    "cache_type_k", "cache_type_v", "keep_alive", "load_on_start",
    "url",     "upstream_model", "api_key_env",  "health_path",  "provider",   "price"};
constexpr std::array<std::string_view, 3> kPriceKeys = {"input", "cached_input", "output"};
constexpr std::array<std::string_view, 10> kProviderKeys = {"name",
                                                            "api",
                                                            "base_url",
                                                            "api_key_env",
                                                            "ca_file",
                                                            "connect_timeout",
                                                            "first_byte_timeout",
                                                            "total_timeout",
                                                            "max_idle_connections",
                                                            "anthropic_version"};
constexpr std::array<std::string_view, 2> kProviderApiNames = {"openai", "anthropic"};
constexpr std::array<std::string_view, 7> kPolicyKeys = {"deadline",
                                                         "attempts_per_target",
                                                         "retry_backoff_initial",
                                                         "retry_backoff_max",
                                                         "breaker_failures",
                                                         "breaker_open",
                                                         "rules"};
constexpr std::array<std::string_view, 9> kRuleKeys = {
    "name",        "match",    "targets", "never_cloud", "allow_placement", "max_cost_per_request",
    "latency_slo", "escalate", "privacy"};
constexpr std::array<std::string_view, 5> kPrivacyKeys = {"scan", "actions", "answers", "disable",
                                                          "entities"};
constexpr std::array<std::string_view, 5> kPrivacyEntityKeys = {"name", "pattern", "terms",
                                                                "validator", "labels"};
constexpr std::array<std::string_view, 5> kPrivacyActionNames = {"allow", "audit_only", "redact",
                                                                 "local_only", "block"};
constexpr std::array<std::string_view, 3> kAnswerScanNames = {"off", "audit_only", "redact"};
constexpr std::array<std::string_view, 11> kMatchKeys = {
    "workload",   "tenant", "task",   "model",       "sensitivity", "prompt_tokens",
    "max_tokens", "tools",  "images", "time_of_day", "placement"};
constexpr std::array<std::string_view, 2> kRangeKeys = {"min", "max"};
constexpr std::array<std::string_view, 4> kEscalateKeys = {"json_schema", "min_mean_logprob",
                                                           "on_empty", "on_truncated"};
constexpr std::array<std::string_view, 4> kRequestTaskNames = {"chat", "completion", "embedding",
                                                               "rerank"};
constexpr std::array<std::string_view, 3> kPlacementNames = {"local", "cloud", "auto"};
// Token counts beyond this are typos (and far from any overflow in the policy's arithmetic).
constexpr std::int64_t kMaxTokenCount = 1'000'000'000'000;

// What a model entry is, chosen by which of `path`, `url` and `provider` it has.
enum class BackendKind { local, remote, cloud };

struct BackendSelector {
  std::string_view key;
  std::string_view what;
};
constexpr std::array<BackendSelector, 3> kBackendSelectors = {{
    {"path", "a local GGUF file"},
    {"url", "a remote server"},
    {"provider", "a cloud provider"},
}};

// A model key that only some kinds of entry take.
struct ScopedKey {
  std::string_view key;
  bool local;
  bool remote;
  bool cloud;
};
constexpr std::array<ScopedKey, 10> kScopedModelKeys = {{
    {"context", true, false, false},
    {"parallel", true, false, false},
    {"threads", true, false, false},
    {"micro_batch", true, false, false},
    {"cache_type_k", true, false, false},
    {"cache_type_v", true, false, false},
    {"upstream_model", false, true, true},
    {"api_key_env", false, true, false},
    {"health_path", false, true, false},
    {"price", false, false, true},
}};

bool applies_to(const ScopedKey& scoped, BackendKind kind) {
  switch (kind) {
    case BackendKind::local:
      return scoped.local;
    case BackendKind::remote:
      return scoped.remote;
    case BackendKind::cloud:
      return scoped.cloud;
  }
  return false;
}

// "'price' applies only to a cloud model (with 'provider'), not to a local 'path' model".
std::string misapplied_key_message(const ScopedKey& scoped, BackendKind kind) {
  std::vector<std::string> kinds;
  if (scoped.local) kinds.emplace_back("a local model (with 'path')");
  if (scoped.remote) kinds.emplace_back("a remote model (with 'url')");
  if (scoped.cloud) kinds.emplace_back("a cloud model (with 'provider')");
  std::string message = "'" + std::string(scoped.key) + "' applies only to " + kinds[0];
  for (std::size_t i = 1; i < kinds.size(); ++i) message += " or " + kinds[i];
  switch (kind) {
    case BackendKind::local:
      message += ", not to a local 'path' model";
      break;
    case BackendKind::remote:
      message += ", not to a 'url' model";
      break;
    case BackendKind::cloud:
      message += ", not to a cloud 'provider' model";
      if (scoped.key == "api_key_env") message += " (its key is the provider's 'api_key_env')";
      break;
  }
  return message;
}

bool contains(std::span<const std::string_view> set, std::string_view word) {
  return std::find(set.begin(), set.end(), word) != set.end();
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("contxet").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                       std::tolower(static_cast<unsigned char>(b[j - 1]))
                                   ? 0
                                   : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate closest to `word` when it is close enough to be a likely typo.
std::optional<std::string> closest(std::string_view word,
                                   std::span<const std::string_view> candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  // Short words are only suggested for one-letter slips; otherwise everything looks alike.
  const std::size_t limit = word.size() <= 4 ? 1 : 2;
  for (auto candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance <= limit && distance < best_distance) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
  auto suggestion = closest(word, candidates);
  return suggestion ? " (did you mean '" + *suggestion + "'?)" : "";
}

// For an unknown top-level key that belongs in a section, where it goes.
std::string misplaced_hint(std::string_view key) {
  if (contains(kServerKeys, key)) return " (it belongs under 'server')";
  if (contains(kWorkerKeys, key)) return " (it belongs under 'workers')";
  if (contains(kPolicyKeys, key)) return " (it belongs under 'policy')";
  if (contains(kModelKeys, key)) return " (it belongs in a model entry under 'models')";
  if (contains(kProviderKeys, key)) return " (it belongs in a provider entry under 'providers')";
  if (contains(kLocalCostKeys, key)) return " (it belongs under 'local_costs')";
  if (contains(kAdvisorKeys, key)) return " (it belongs under 'advisor')";
  return "";
}

// "a, b or c".
std::string one_of(std::span<const std::string_view> names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

int line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

// One `key: value` of a mapping, with where it was found.
struct Field {
  std::string path;  // dotted key path, e.g. "models[2].context"
  YAML::Node key;
  YAML::Node value;
  // A scalar is reported where it is; anything else at its key: a block list or mapping starts
  // on the next line, and yaml-cpp marks an empty value wherever the parser happened to be.
  int line() const { return value.IsScalar() ? line_of(value) : line_of(key); }
};

using Fields = std::map<std::string, Field, std::less<>>;

bool is_quoted(const YAML::Node& scalar) {
  return scalar.Tag() == "!" || scalar.Tag() == "tag:yaml.org,2002:str";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
  }
  return "something else";
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  if (!all_digits(text)) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "500ms", "30s", "5m", "1h", or a plain number of seconds.
std::optional<milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto number = parse_unsigned(text.substr(0, digits));
  if (!number) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "s") {
    factor = 1000;
  } else if (unit == "ms") {
    factor = 1;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  // Beyond a year is a typo, and it keeps every later arithmetic on durations far from overflow.
  constexpr std::uint64_t kMaxMs = 366ULL * 24 * 60 * 60 * 1000;
  if (*number > kMaxMs / factor) return std::nullopt;
  return milliseconds(static_cast<milliseconds::rep>(*number * factor));
}

std::string format_duration(milliseconds duration) {
  const auto ms = duration.count();
  if (ms == 0) return "0";
  if (ms % (60 * 60 * 1000) == 0) return std::to_string(ms / (60 * 60 * 1000)) + "h";
  if (ms % (60 * 1000) == 0) return std::to_string(ms / (60 * 1000)) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// Integer bytes, or a number with a unit: B, KB/kB, MB, GB, TB (powers of 1000), KiB, MiB, GiB,
// TiB (powers of 1024).
std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto number = parse_unsigned(text.substr(0, digits));
  if (!number) return std::nullopt;
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  struct Unit {
    std::string_view name;
    std::uint64_t factor;
  };
  static constexpr std::array<Unit, 10> kUnits = {{{"B", 1},
                                                   {"KB", 1000},
                                                   {"kB", 1000},
                                                   {"MB", 1000 * 1000},
                                                   {"GB", 1000 * 1000 * 1000},
                                                   {"TB", 1000ULL * 1000 * 1000 * 1000},
                                                   {"KiB", 1ULL << 10},
                                                   {"MiB", 1ULL << 20},
                                                   {"GiB", 1ULL << 30},
                                                   {"TiB", 1ULL << 40}}};
  std::uint64_t factor = 0;
  if (unit.empty()) {
    factor = 1;
  } else {
    for (const auto& candidate : kUnits) {
      if (candidate.name == unit) factor = candidate.factor;
    }
  }
  if (factor == 0) return std::nullopt;
  if (*number > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
  return *number * factor;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  if (bytes % (1ULL << 40) == 0) return std::to_string(bytes >> 40) + "TiB";
  if (bytes % (1ULL << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes % (1ULL << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes % (1ULL << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes);
}

// A finite decimal number ("0.15", "2", "1e-3", "-1.5"), or nothing.
std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value)) {
    return std::nullopt;
  }
  return value == 0 ? 0.0 : value;  // no "-0"
}

// The shortest text that reads back as the same double.
std::string format_number(double value) {
  std::array<char, 64> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  assert(ec == std::errc() && "64 characters hold any double");
  return std::string(buffer.data(), end);
}

// "HH:MM" as minutes since midnight; 24:00 only when `allow_end_of_day`.
std::optional<int> parse_clock(std::string_view text, bool allow_end_of_day) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  auto hours = parse_unsigned(text.substr(0, 2));
  auto minutes = parse_unsigned(text.substr(3, 2));
  if (!hours || !minutes || *minutes > 59 || *hours > 24) return std::nullopt;
  if (*hours == 24 && (*minutes != 0 || !allow_end_of_day)) return std::nullopt;
  return static_cast<int>(*hours * 60 + *minutes);
}

std::string format_clock(int minute) {
  std::string text = "00:00";
  text[0] = static_cast<char>('0' + minute / 600);
  text[1] = static_cast<char>('0' + minute / 60 % 10);
  text[3] = static_cast<char>('0' + minute % 60 / 10);
  text[4] = static_cast<char>('0' + minute % 10);
  return text;
}

Expected<TimeWindow, std::string> parse_time_window(std::string_view text) {
  const std::string expected =
      "expected a time window HH:MM-HH:MM (e.g. \"09:00-17:30\"), got '" + std::string(text) + "'";
  if (text.size() != 11 || text[5] != '-') return unexpected(expected);
  auto start = parse_clock(text.substr(0, 5), false);
  auto end = parse_clock(text.substr(6), true);
  if (!end) return unexpected(expected);
  if (!start) {
    if (text.starts_with("24:00")) {
      return unexpected(std::string("a window cannot start at 24:00 (write 00:00)"));
    }
    return unexpected(expected);
  }
  if (*start == *end) {
    return unexpected("an empty time window ('" + std::string(text) +
                      "' starts where it ends); the whole day is 00:00-24:00");
  }
  return TimeWindow{*start, *end};
}

std::string format_time_window(const TimeWindow& window) {
  return format_clock(window.start_minute) + "-" + format_clock(window.end_minute);
}

bool valid_name_characters(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// A sensitivity label: [a-z0-9_-]+, or "custom:" and a custom entity's name.
bool valid_label(std::string_view label) {
  constexpr std::string_view kCustom = "custom:";
  if (label.starts_with(kCustom)) {
    label.remove_prefix(kCustom.size());
  }
  return valid_name_characters(label);
}

std::optional<std::string> check_model_name(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.front() == '/') return "must not start with '/'";
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isspace(byte) || std::iscntrl(byte)) return "must not contain whitespace";
  }
  return std::nullopt;
}

std::optional<std::string> check_listen(std::string_view listen) {
  const std::string expected =
      "expected HOST:PORT (e.g. 127.0.0.1:8080), got '" + std::string(listen) + "'";
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return expected;
  const std::string_view host = listen.substr(0, colon);
  if (host.front() == '[' && host.back() != ']') return expected;
  auto port = parse_unsigned(listen.substr(colon + 1));
  if (!port || *port > 65535) return expected;
  return std::nullopt;
}

// The base URL without a trailing '/' when `url` is SCHEME://HOST[:PORT][/PREFIX] with no user
// info, query or fragment; `host` receives HOST (an IPv6 address keeps its brackets).
std::optional<std::string> base_url_of(std::string_view url, std::string_view scheme,
                                       std::string& host) {
  if (!url.starts_with(scheme)) return std::nullopt;
  const std::string_view rest = url.substr(scheme.size());
  for (char c : rest) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isspace(byte) || std::iscntrl(byte) || c == '?' || c == '#') return std::nullopt;
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host_part = authority;
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.back() != ']') {
    auto port = parse_unsigned(authority.substr(colon + 1));
    if (colon == 0 || !port || *port == 0 || *port > 65535) return std::nullopt;
    host_part = authority.substr(0, colon);
  }
  const bool bracketed = host_part.front() == '[';
  if (bracketed ? host_part.size() < 3 || host_part.back() != ']'
                : host_part.find_first_of(":[]") != std::string_view::npos) {
    return std::nullopt;
  }
  host = std::string(host_part);
  std::string base(url);
  while (base.size() > scheme.size() + authority.size() && base.back() == '/') base.pop_back();
  return base;
}

// A remote model's base URL without a trailing '/', or an error message.
Expected<std::string, std::string> check_url(std::string_view url) {
  if (url.starts_with("https://")) {
    return unexpected(std::string(
        "https upstreams are cloud providers, configured elsewhere; a 'url' model is a plain "
        "http:// server inside the perimeter"));
  }
  std::string host;
  auto base = base_url_of(url, "http://", host);
  if (!base) {
    return unexpected("expected http://HOST:PORT[/PREFIX], got '" + std::string(url) + "'");
  }
  return std::move(*base);
}

// A provider's base URL without a trailing '/', or an error message.
Expected<std::string, std::string> check_provider_url(std::string_view url) {
  std::string host;
  if (url.starts_with("http://")) {
    auto base = base_url_of(url, "http://", host);
    if (base && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
      return unexpected(
          "plain http:// is allowed only to 127.0.0.1, localhost or [::1] (for "
          "tests); a cloud provider is reached over https://, got '" +
          std::string(url) + "'");
    }
    if (base) return std::move(*base);
  } else if (auto base = base_url_of(url, "https://", host)) {
    return std::move(*base);
  }
  return unexpected("expected https://HOST[:PORT][/PREFIX], got '" + std::string(url) + "'");
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string same_file_key(const std::string& path) {
  std::error_code ec;
  auto canonical = fs::weakly_canonical(path, ec);
  return ec ? fs::path(path).lexically_normal().string() : canonical.string();
}

// Appends an entry for every *.gguf directly in config.models_dir not already configured.
void scan_models_dir(Config& config) {
  if (config.models_dir.empty()) return;
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(config.models_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& file = it->path();
    std::error_code status_ec;
    if (file.extension() == ".gguf" && fs::is_regular_file(it->status(status_ec)) &&
        !file.filename().string().starts_with(".")) {
      files.push_back(file);
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> configured_paths;
  for (const auto& entry : config.models) {
    if (const auto* local = std::get_if<LocalBackend>(&entry.backend)) {
      configured_paths.push_back(same_file_key(local->path));
    }
  }
  for (const auto& file : files) {
    const std::string name = file.stem().string();
    if (check_model_name(name) || config.find_model(name) != nullptr) continue;
    const std::string path = fs::absolute(file).lexically_normal().string();
    if (std::find(configured_paths.begin(), configured_paths.end(), same_file_key(path)) !=
        configured_paths.end()) {
      continue;
    }
    ModelEntry entry;
    entry.name = name;
    LocalBackend backend;
    backend.path = path;
    entry.backend = std::move(backend);
    entry.from_models_dir = true;
    config.models.push_back(std::move(entry));
  }
}

// Every model name and alias, for suggestions.
std::vector<std::string_view> model_names(const Config& config) {
  std::vector<std::string_view> names;
  for (const auto& entry : config.models) {
    names.push_back(entry.name);
    names.insert(names.end(), entry.aliases.begin(), entry.aliases.end());
  }
  return names;
}

// Reads one document into a Config. Each step returns false after recording the first error.
class Reader {
 public:
  Reader(std::string source, fs::path base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  const ConfigError& error() const { return error_; }

  struct NameSite {
    std::string key;
    int line;
  };

  bool read_document(const YAML::Node& root, Config& config) {
    if (!root.IsMap()) {
      return fail(line_of(root), "",
                  "expected a mapping of settings at the top level, got " + describe(root));
    }
    Fields fields;
    if (!collect(root, "", kTopKeys, fields)) return false;
    if (auto* server = find(fields, "server"); server && !read_server(*server, config.server)) {
      return false;
    }
    if (auto* workers = find(fields, "workers");
        workers && !read_workers(*workers, config.workers)) {
      return false;
    }
    // Before the models, which name them.
    if (auto* providers = find(fields, "providers");
        providers && !read_providers(*providers, config.providers)) {
      return false;
    }
    if (auto* models_dir = find(fields, "models_dir")) {
      if (!read_string(*models_dir, config.models_dir, /*allow_empty=*/true)) return false;
      if (!config.models_dir.empty()) {
        config.models_dir = resolve(config.models_dir);
        std::error_code ec;
        if (!fs::exists(config.models_dir, ec)) {
          return fail(*models_dir, "directory not found: " + config.models_dir);
        }
        if (!fs::is_directory(config.models_dir, ec)) {
          return fail(*models_dir, "not a directory: " + config.models_dir);
        }
      }
    }
    const Field* default_model = find(fields, "default_model");
    if (default_model && !read_string(*default_model, config.default_model, true)) return false;
    if (auto* models = find(fields, "models");
        models && !read_models(*models, config.providers, config.models)) {
      return false;
    }
    scan_models_dir(config);
    if (default_model && !config.default_model.empty() &&
        config.find_model(config.default_model) == nullptr) {
      return fail(*default_model, "no model is named '" + config.default_model + "'" +
                                      did_you_mean(config.default_model, model_names(config)));
    }
    // After the scan: rule targets may name scanned models.
    if (auto* policy = find(fields, "policy"); policy && !read_policy(*policy, config)) {
      return false;
    }
    if (auto* privacy = find(fields, "privacy");
        privacy && !read_privacy(*privacy, config.privacy)) {
      return false;
    }
    if (auto* auth = find(fields, "auth"); auth && !read_auth(*auth, config.auth)) return false;
    if (auto* ledger = find(fields, "ledger"); ledger && !read_ledger(*ledger, config.ledger)) {
      return false;
    }
    if (auto* retention = find(fields, "retention");
        retention && !read_retention(*retention, config.retention)) {
      return false;
    }
    if (auto* local_costs = find(fields, "local_costs");
        local_costs && !read_local_costs(*local_costs, config.local_costs)) {
      return false;
    }
    if (auto* advisor = find(fields, "advisor");
        advisor && !read_advisor(*advisor, config.advisor)) {
      return false;
    }
    return true;
  }

 private:
  bool fail(int line, std::string key, std::string message) {
    error_ = ConfigError{source_, line, std::move(key), std::move(message)};
    return false;
  }
  bool fail(const Field& field, std::string message) {
    return fail(field.line(), field.path, std::move(message));
  }

  static const Field* find(const Fields& fields, std::string_view key) {
    auto it = fields.find(key);
    return it == fields.end() ? nullptr : &it->second;
  }

  static std::string join(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
  }

  std::string resolve(const std::string& path) const {
    return (base_dir_ / path).lexically_normal().string();
  }

  // Gathers a mapping's fields, rejecting unknown, duplicate and non-scalar keys.
  bool collect(const YAML::Node& map, const std::string& path,
               std::span<const std::string_view> known, Fields& out) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      // Copies: the iterator hands out its pair through a temporary proxy.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        return fail(line_of(key), path, "a key must be a plain name, got " + describe(key));
      }
      const std::string& name = key.Scalar();
      const std::string key_path = join(path, name);
      if (!contains(known, name)) {
        return fail(line_of(key), key_path,
                    "unknown key '" + name + "'" + did_you_mean(name, known) +
                        (path.empty() ? misplaced_hint(name) : ""));
      }
      if (auto previous = out.find(name); previous != out.end()) {
        return fail(line_of(key), key_path,
                    "duplicate key '" + name + "' (first at line " +
                        std::to_string(line_of(previous->second.key)) + ")");
      }
      out.emplace(name, Field{key_path, key, value});
    }
    return true;
  }

  // A section that is a mapping; an empty value (all of it commented out) counts as empty.
  bool section(const Field& field, std::span<const std::string_view> known, Fields& out) {
    if (field.value.IsNull()) return true;
    if (!field.value.IsMap()) {
      return fail(field, "expected a mapping, got " + describe(field.value));
    }
    return collect(field.value, field.path, known, out);
  }

  bool read_string(const Field& field, std::string& out, bool allow_empty) {
    if (!field.value.IsScalar()) {
      return fail(field, "expected a string, got " + describe(field.value));
    }
    if (!allow_empty && field.value.Scalar().empty()) return fail(field, "must not be empty");
    out = field.value.Scalar();
    return true;
  }

  bool read_integer(const Field& field, std::int64_t& out, std::int64_t min, std::int64_t max) {
    if (!field.value.IsScalar()) {
      return fail(field, "expected an integer, got " + describe(field.value));
    }
    const std::string& text = field.value.Scalar();
    if (is_quoted(field.value)) {
      return fail(field, "expected an integer, got the string \"" + text + "\"");
    }
    const bool negative = text.starts_with("-");
    auto magnitude = parse_unsigned(std::string_view(text).substr(negative ? 1 : 0));
    if (!magnitude) return fail(field, "expected an integer, got '" + text + "'");
    const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const std::int64_t value = *magnitude > limit
                                   ? (negative ? std::numeric_limits<std::int64_t>::min()
                                               : std::numeric_limits<std::int64_t>::max())
                                   : (negative ? -static_cast<std::int64_t>(*magnitude)
                                               : static_cast<std::int64_t>(*magnitude));
    if (value < min || value > max) {
      return fail(field, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                             ", got " + text);
    }
    out = value;
    return true;
  }

  bool read_int(const Field& field, int& out, int min, int max) {
    std::int64_t value = 0;
    if (!read_integer(field, value, min, max)) return false;
    out = static_cast<int>(value);
    return true;
  }

  bool read_count(const Field& field, std::size_t& out, std::int64_t min, std::int64_t max) {
    std::int64_t value = 0;
    if (!read_integer(field, value, min, max)) return false;
    out = static_cast<std::size_t>(value);
    return true;
  }

  bool read_bool(const Field& field, bool& out) {
    const std::string text = field.value.IsScalar() ? field.value.Scalar() : "";
    if (!field.value.IsScalar() || is_quoted(field.value) || (text != "true" && text != "false")) {
      return fail(field, "expected true or false, got " + describe(field.value));
    }
    out = text == "true";
    return true;
  }

  bool read_number(const Field& field, double& out, double min, double max) {
    if (!field.value.IsScalar()) {
      return fail(field, "expected a number, got " + describe(field.value));
    }
    const std::string& text = field.value.Scalar();
    if (is_quoted(field.value)) {
      return fail(field, "expected a number, got the string \"" + text + "\"");
    }
    auto value = parse_number(text);
    if (!value) return fail(field, "expected a number, got '" + text + "'");
    if (*value < min)
      return fail(field, "must be at least " + format_number(min) + ", got " + text);
    if (*value > max) return fail(field, "must be at most " + format_number(max) + ", got " + text);
    out = *value;
    return true;
  }

  // A string or a list of strings (an empty value: none); `each(item, text)` checks and keeps one.
  template <typename Each>
  bool read_string_items(const Field& field, Each&& each) {
    if (field.value.IsNull()) return true;
    std::string text;
    if (field.value.IsScalar()) return read_string(field, text, false) && each(field, text);
    if (!field.value.IsSequence()) {
      return fail(field, "expected a string or a list of strings, got " + describe(field.value));
    }
    for (std::size_t i = 0; i < field.value.size(); ++i) {
      const Field item{field.path + "[" + std::to_string(i) + "]", field.key, field.value[i]};
      if (!read_string(item, text, false) || !each(item, text)) return false;
    }
    return true;
  }

  // One of `names`, as the enum value at the same index.
  template <typename Enum>
  bool read_enum(const Field& field, const std::string& text, std::string_view what,
                 std::span<const std::string_view> names, Enum& out) {
    auto known = std::find(names.begin(), names.end(), text);
    if (known == names.end()) {
      return fail(field, "unknown " + std::string(what) + " '" + text + "', expected " +
                             one_of(names) + did_you_mean(text, names));
    }
    out = static_cast<Enum>(known - names.begin());
    return true;
  }

  bool read_duration(const Field& field, milliseconds& out, milliseconds min) {
    auto duration = field.value.IsScalar() ? parse_duration(field.value.Scalar()) : std::nullopt;
    if (!duration) {
      return fail(field,
                  "expected a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\" (a "
                  "plain number is seconds), got " +
                      describe(field.value));
    }
    if (*duration < min) {
      return fail(field,
                  "must be at least " + format_duration(min) + ", got " + field.value.Scalar());
    }
    out = *duration;
    return true;
  }

  // Also reads the std::size_t settings: the same type on the 64-bit targets Hearth supports.
  static_assert(std::is_same_v<std::size_t, std::uint64_t>);
  bool read_size(const Field& field, std::uint64_t& out, std::uint64_t min) {
    auto size = field.value.IsScalar() ? parse_size(field.value.Scalar()) : std::nullopt;
    if (!size) {
      return fail(field,
                  "expected a size in bytes such as 1048576, \"512KiB\", \"8MiB\", "
                  "\"2GiB\" or \"1GB\", got " +
                      describe(field.value));
    }
    if (*size < min) {
      return fail(field, "must be at least " + std::to_string(min) +
                             (min == 1 ? " byte" : " bytes") + ", got " + field.value.Scalar());
    }
    out = *size;
    return true;
  }

  bool read_file_path(const Field& field, std::string& out) {
    if (!read_string(field, out, /*allow_empty=*/true)) return false;
    if (!out.empty()) out = resolve(out);
    return true;
  }

  bool read_server(const Field& field, ServerSettings& server) {
    Fields fields;
    if (!section(field, kServerKeys, fields)) return false;
    if (auto* f = find(fields, "listen")) {
      if (!read_string(*f, server.listen, false)) return false;
      if (auto problem = check_listen(server.listen)) return fail(*f, *problem);
    }
    if (auto* f = find(fields, "io_threads"); f && !read_int(*f, server.io_threads, 1, 64)) {
      return false;
    }
    if (auto* f = find(fields, "max_body_bytes"); f && !read_size(*f, server.max_body_bytes, 1)) {
      return false;
    }
    if (auto* f = find(fields, "max_header_bytes");
        f && !read_size(*f, server.max_header_bytes, 1024)) {
      return false;
    }
    if (auto* f = find(fields, "max_connections");
        f && !read_count(*f, server.max_connections, 1, 1'000'000)) {
      return false;
    }
    if (auto* f = find(fields, "header_timeout");
        f && !read_duration(*f, server.header_timeout, milliseconds(1))) {
      return false;
    }
    if (auto* f = find(fields, "idle_timeout");
        f && !read_duration(*f, server.idle_timeout, milliseconds(1))) {
      return false;
    }
    if (auto* f = find(fields, "shutdown_grace");
        f && !read_duration(*f, server.shutdown_grace, milliseconds(0))) {
      return false;
    }
    if (auto* f = find(fields, "access_log"); f && !read_bool(*f, server.access_log)) {
      return false;
    }
    if (auto* f = find(fields, "access_log_file");
        f && !read_file_path(*f, server.access_log_file)) {
      return false;
    }
    if (auto* f = find(fields, "insecure"); f && !read_bool(*f, server.insecure)) return false;
    if (auto* f = find(fields, "tls"); f && !f->value.IsNull()) {
      server.tls.emplace();
      if (!read_tls(*f, *server.tls)) return false;
    }
    return true;
  }

  bool read_existing_file(const Field& field, std::string& out) {
    if (!read_string(field, out, false)) return false;
    out = resolve(out);
    std::error_code ec;
    if (!fs::is_regular_file(out, ec)) return fail(field, "file not found: " + out);
    return true;
  }

  bool read_tls(const Field& field, TlsSettings& tls) {
    Fields fields;
    if (!section(field, kTlsKeys, fields)) return false;
    const Field* certificate = find(fields, "certificate");
    const Field* private_key = find(fields, "private_key");
    if (certificate == nullptr || private_key == nullptr) {
      return fail(field, "needs both 'certificate' and 'private_key' (PEM files)");
    }
    if (!read_existing_file(*certificate, tls.certificate)) return false;
    if (!read_existing_file(*private_key, tls.private_key)) return false;
    if (auto* f = find(fields, "client_ca"); f && !read_existing_file(*f, tls.client_ca)) {
      return false;
    }
    if (auto* f = find(fields, "admin_client_certificate")) {
      if (!read_bool(*f, tls.admin_client_certificate)) return false;
      if (tls.admin_client_certificate && tls.client_ca.empty()) {
        return fail(*f, "needs 'client_ca': the CA that signs the admin client certificates");
      }
    }
    return true;
  }

  bool read_auth(const Field& field, AuthSettings& auth) {
    Fields fields;
    if (!section(field, kAuthKeys, fields)) return false;
    if (auto* f = find(fields, "key_refresh");
        f && !read_duration(*f, auth.key_refresh, milliseconds(100))) {
      return false;
    }
    if (auto* f = find(fields, "spend_refresh");
        f && !read_duration(*f, auth.spend_refresh, milliseconds(100))) {
      return false;
    }
    if (auto* f = find(fields, "over_budget")) {
      std::string text;
      if (!read_string(*f, text, false) ||
          !read_enum(*f, text, "over-budget action", kOverBudgetNames, auth.over_budget)) {
        return false;
      }
    }
    if (auto* f = find(fields, "tenant_budgets"); f && !f->value.IsNull()) {
      if (!f->value.IsMap()) {
        return fail(
            *f, "expected a mapping of tenant to monthly US dollars, got " + describe(f->value));
      }
      for (auto it = f->value.begin(); it != f->value.end(); ++it) {
        const YAML::Node key = it->first;
        const std::string tenant = key.IsScalar() ? key.Scalar() : "";
        const Field item{f->path + "." + tenant, key, it->second};
        if (tenant.empty()) return fail(line_of(key), f->path, "a tenant name must be a string");
        double budget = 0;
        if (!read_number(item, budget, 0, 1e12)) return false;
        if (!auth.tenant_budgets.emplace(tenant, budget).second) {
          return fail(item, "tenant '" + tenant + "' is listed twice");
        }
      }
    }
    return true;
  }

  bool read_ledger(const Field& field, LedgerSettings& ledger) {
    Fields fields;
    if (!section(field, kLedgerKeys, fields)) return false;
    if (auto* f = find(fields, "store")) {
      std::string text;
      if (!read_string(*f, text, false) ||
          !read_enum(*f, text, "ledger store", kLedgerStoreNames, ledger.store)) {
        return false;
      }
    }
    if (auto* f = find(fields, "path"); f && !read_file_path(*f, ledger.path)) return false;
    if (auto* f = find(fields, "url_env"); f && !read_env_name(*f, ledger.url_env)) return false;
    if (ledger.store == LedgerStore::postgresql && ledger.url_env.empty()) {
      return fail(field,
                  "store: postgresql needs 'url_env': the environment variable holding the "
                  "PostgreSQL connection URL (kept out of the file: it may hold a password)");
    }
    if (auto* f = find(fields, "queue_capacity");
        f && !read_count(*f, ledger.queue_capacity, 1, 10'000'000)) {
      return false;
    }
    if (auto* f = find(fields, "max_batch"); f && !read_count(*f, ledger.max_batch, 1, 100'000)) {
      return false;
    }
    if (auto* f = find(fields, "flush_interval");
        f && !read_duration(*f, ledger.flush_interval, milliseconds(1))) {
      return false;
    }
    if (auto* f = find(fields, "anchor_interval");
        f && !read_integer(*f, ledger.anchor_interval, 1, 1'000'000'000)) {
      return false;
    }
    if (auto* f = find(fields, "content_workloads")) {
      const auto keep = [&](const Field&, const std::string& text) {
        ledger.content_workloads.push_back(text);
        return true;
      };
      if (!read_string_items(*f, keep)) return false;
    }
    return true;
  }

  bool read_retention(const Field& field, RetentionSettings& retention) {
    Fields fields;
    if (!section(field, kRetentionKeys, fields)) return false;
    if (auto* f = find(fields, "ledger_days");
        f && !read_int(*f, retention.ledger_days, 1, 100'000)) {
      return false;
    }
    if (auto* f = find(fields, "audit_days");
        f && !read_int(*f, retention.audit_days, 1, 100'000)) {
      return false;
    }
    if (auto* f = find(fields, "purge_interval");
        f && !read_duration(*f, retention.purge_interval, milliseconds(0))) {
      return false;
    }
    if (auto* f = find(fields, "access_log_max_bytes");
        f && !read_size(*f, retention.access_log_max_bytes, 4096)) {
      return false;
    }
    if (auto* f = find(fields, "access_log_files");
        f && !read_int(*f, retention.access_log_files, 1, 1000)) {
      return false;
    }
    return true;
  }

  bool read_local_costs(const Field& field, LocalCostSettings& costs) {
    Fields fields;
    if (!section(field, kLocalCostKeys, fields)) return false;
    constexpr double kMax = 1e12;
    const std::pair<std::string_view, double*> numbers[] = {
        {"hardware_price_usd", &costs.hardware_price_usd},
        {"power_busy_watts", &costs.power_busy_watts},
        {"power_idle_watts", &costs.power_idle_watts},
        {"electricity_usd_per_kwh", &costs.electricity_usd_per_kwh},
        {"carbon_grams_per_kwh", &costs.carbon_grams_per_kwh},
        {"operations_usd_per_month", &costs.operations_usd_per_month}};
    for (const auto& [key, out] : numbers) {
      if (auto* f = find(fields, key); f && !read_number(*f, *out, 0, kMax)) return false;
    }
    if (auto* f = find(fields, "amortisation_months");
        f && !read_int(*f, costs.amortisation_months, 1, 1200)) {
      return false;
    }
    return true;
  }

  bool read_advisor(const Field& field, AdvisorSettings& advisor) {
    Fields fields;
    if (!section(field, kAdvisorKeys, fields)) return false;
    if (auto* f = find(fields, "min_requests");
        f && !read_integer(*f, advisor.min_requests, 1, 1'000'000'000'000)) {
      return false;
    }
    if (auto* f = find(fields, "frequent_requests_per_month");
        f && !read_integer(*f, advisor.frequent_requests_per_month, 0, 1'000'000'000'000)) {
      return false;
    }
    const std::pair<std::string_view, double*> shares[] = {
        {"sensitive_share", &advisor.sensitive_share},
        {"min_local_success_rate", &advisor.min_local_success_rate},
        {"max_escalation_rate", &advisor.max_escalation_rate},
        {"min_eval_agreement", &advisor.min_eval_agreement}};
    for (const auto& [key, out] : shares) {
      if (auto* f = find(fields, key); f && !read_number(*f, *out, 0, 1)) return false;
    }
    if (auto* f = find(fields, "eval_results_dir");
        f && !read_file_path(*f, advisor.eval_results_dir)) {
      return false;
    }
    return true;
  }

  bool read_workers(const Field& field, WorkerSettings& workers) {
    Fields fields;
    if (!section(field, kWorkerKeys, fields)) return false;
    if (auto* f = find(fields, "runtime_dir"); f && !read_file_path(*f, workers.runtime_dir)) {
      return false;
    }
    if (auto* f = find(fields, "hearth_binary")) {
      if (!read_file_path(*f, workers.hearth_binary)) return false;
      std::error_code ec;
      if (!workers.hearth_binary.empty() && !fs::is_regular_file(workers.hearth_binary, ec)) {
        return fail(*f, "file not found: " + workers.hearth_binary);
      }
    }
    if (auto* f = find(fields, "max_loaded_models");
        f && !read_int(*f, workers.max_loaded_models, 1, 1024)) {
      return false;
    }
    if (auto* f = find(fields, "max_loaded_bytes");
        f && !read_size(*f, workers.max_loaded_bytes, 0)) {
      return false;
    }
    struct DurationKey {
      std::string_view key;
      milliseconds* target;
    };
    const std::array<DurationKey, 6> durations = {{
        {"load_timeout", &workers.load_timeout},
        {"wait_timeout", &workers.wait_timeout},
        {"health_interval", &workers.health_interval},
        {"health_timeout", &workers.health_timeout},
        {"restart_backoff_initial", &workers.restart_backoff_initial},
        {"restart_backoff_max", &workers.restart_backoff_max},
    }};
    for (const auto& duration : durations) {
      if (auto* f = find(fields, duration.key);
          f && !read_duration(*f, *duration.target, milliseconds(1))) {
        return false;
      }
    }
    if (workers.restart_backoff_max < workers.restart_backoff_initial) {
      const Field* f = find(fields, "restart_backoff_max");
      if (f == nullptr) f = find(fields, "restart_backoff_initial");
      return fail(*f, "restart_backoff_max (" + format_duration(workers.restart_backoff_max) +
                          ") is shorter than restart_backoff_initial (" +
                          format_duration(workers.restart_backoff_initial) + ")");
    }
    return true;
  }

  bool read_providers(const Field& field, std::vector<Provider>& providers) {
    if (field.value.IsNull()) return true;
    if (!field.value.IsSequence()) {
      return fail(field, "expected a list of providers, got " + describe(field.value));
    }
    std::map<std::string, NameSite, std::less<>> names;
    for (std::size_t i = 0; i < field.value.size(); ++i) {
      Provider provider;
      NameSite site;
      if (!read_provider(field.value[i], field.path + "[" + std::to_string(i) + "]", provider,
                         site)) {
        return false;
      }
      if (auto previous = names.find(provider.name); previous != names.end()) {
        return fail(site.line, site.key,
                    "duplicate provider name '" + provider.name + "': already used by " +
                        previous->second.key + " (line " + std::to_string(previous->second.line) +
                        ")");
      }
      names.emplace(provider.name, site);
      providers.push_back(std::move(provider));
    }
    return true;
  }

  bool read_provider(const YAML::Node& node, const std::string& path, Provider& provider,
                     NameSite& site) {
    provider.line = line_of(node);
    if (!node.IsMap()) {
      return fail(provider.line, path, "expected a provider (a mapping), got " + describe(node));
    }
    Fields fields;
    if (!collect(node, path, kProviderKeys, fields)) return false;

    const Field* name = find(fields, "name");
    if (name == nullptr) return fail(provider.line, path, "a provider needs a 'name'");
    if (!read_string(*name, provider.name, true)) return false;
    if (auto problem = check_model_name(provider.name)) {
      return fail(*name, "a provider name " + *problem);
    }
    site = NameSite{name->path, name->line()};

    if (auto* f = find(fields, "api")) {
      std::string api;
      if (!read_string(*f, api, true) ||
          !read_enum(*f, api, "api", kProviderApiNames, provider.api)) {
        return false;
      }
    }

    const Field* base_url = find(fields, "base_url");
    if (base_url == nullptr) {
      return fail(
          provider.line, path,
          "provider '" + provider.name + "' needs a 'base_url' (e.g. https://api.example.com/v1)");
    }
    std::string url;
    if (!read_string(*base_url, url, false)) return false;
    auto checked = check_provider_url(url);
    if (!checked) return fail(*base_url, checked.error());
    provider.base_url = std::move(checked.value());

    const Field* key_env = find(fields, "api_key_env");
    if (key_env == nullptr) {
      return fail(provider.line, path,
                  "provider '" + provider.name +
                      "' needs 'api_key_env' (the environment variable holding its API key)");
    }
    if (!read_env_name(*key_env, provider.api_key_env)) return false;

    if (auto* f = find(fields, "ca_file")) {
      if (!read_file_path(*f, provider.ca_file)) return false;
      if (!provider.ca_file.empty()) {
        std::error_code ec;
        const auto status = fs::status(provider.ca_file, ec);
        if (!fs::exists(status)) return fail(*f, "CA file not found: " + provider.ca_file);
        if (!fs::is_regular_file(status)) {
          return fail(*f, "not a regular file: " + provider.ca_file);
        }
      }
    }
    struct DurationKey {
      std::string_view key;
      milliseconds* target;
    };
    const std::array<DurationKey, 3> durations = {{
        {"connect_timeout", &provider.connect_timeout},
        {"first_byte_timeout", &provider.first_byte_timeout},
        {"total_timeout", &provider.total_timeout},
    }};
    for (const auto& duration : durations) {
      if (auto* f = find(fields, duration.key);
          f && !read_duration(*f, *duration.target, milliseconds(1))) {
        return false;
      }
    }
    if (auto* f = find(fields, "max_idle_connections");
        f && !read_int(*f, provider.max_idle_connections, 1, 4096)) {
      return false;
    }
    if (auto* f = find(fields, "anthropic_version")) {
      if (provider.api != ProviderApi::anthropic) {
        return fail(*f, "'anthropic_version' applies only to a provider with 'api: anthropic'");
      }
      if (!read_string(*f, provider.anthropic_version, false)) return false;
    }
    return true;
  }

  bool read_env_name(const Field& field, std::string& out) {
    if (!read_string(field, out, false)) return false;
    if (!valid_env_name(out)) {
      return fail(field,
                  "expected the name of an environment variable ([A-Za-z_][A-Za-z0-9_]*), got '" +
                      out + "'");
    }
    return true;
  }

  bool read_models(const Field& field, const std::vector<Provider>& providers,
                   std::vector<ModelEntry>& models) {
    if (field.value.IsNull()) return true;
    if (!field.value.IsSequence()) {
      return fail(field, "expected a list of model entries, got " + describe(field.value));
    }
    // Where each name and alias was written, to report a duplicate at the second one.
    std::map<std::string, NameSite, std::less<>> names;
    for (std::size_t i = 0; i < field.value.size(); ++i) {
      const YAML::Node node = field.value[i];
      const std::string path = field.path + "[" + std::to_string(i) + "]";
      ModelEntry entry;
      std::vector<NameSite> sites;
      if (!read_model(node, path, providers, entry, sites)) return false;
      for (std::size_t s = 0; s < sites.size(); ++s) {
        const std::string& name = s == 0 ? entry.name : entry.aliases[s - 1];
        if (auto previous = names.find(name); previous != names.end()) {
          const std::string what = s == 0 ? "model name" : "alias";
          return fail(sites[s].line, sites[s].key,
                      "duplicate " + what + " '" + name + "': already used by " +
                          previous->second.key + " (line " + std::to_string(previous->second.line) +
                          ")");
        }
        names.emplace(name, sites[s]);
      }
      models.push_back(std::move(entry));
    }
    return true;
  }

  bool read_name(const Field& field, std::string& out) {
    if (!read_string(field, out, true)) return false;
    if (auto problem = check_model_name(out)) return fail(field, "a model name " + *problem);
    return true;
  }

  // `sites` receives where the name and then each alias was written.
  bool read_model(const YAML::Node& node, const std::string& path,
                  const std::vector<Provider>& providers, ModelEntry& entry,
                  std::vector<NameSite>& sites) {
    entry.line = line_of(node);
    if (!node.IsMap()) {
      return fail(entry.line, path, "expected a model entry (a mapping), got " + describe(node));
    }
    Fields fields;
    if (!collect(node, path, kModelKeys, fields)) return false;

    const Field* name = find(fields, "name");
    if (name == nullptr) return fail(entry.line, path, "a model entry needs a 'name'");
    if (!read_name(*name, entry.name)) return false;
    sites.push_back(NameSite{name->path, name->line()});

    if (auto* f = find(fields, "aliases"); f && !f->value.IsNull()) {
      if (!f->value.IsSequence()) {
        return fail(*f, "expected a list of names, got " + describe(f->value));
      }
      for (std::size_t i = 0; i < f->value.size(); ++i) {
        const Field alias{f->path + "[" + std::to_string(i) + "]", f->key, f->value[i]};
        std::string text;
        if (!read_name(alias, text)) return false;
        entry.aliases.push_back(text);
        sites.push_back(NameSite{alias.path, alias.line()});
      }
    }

    if (auto* f = find(fields, "task")) {
      std::string task;
      if (!read_string(*f, task, true)) return false;
      auto known = std::find(kTaskNames.begin(), kTaskNames.end(), task);
      if (known == kTaskNames.end()) {
        return fail(*f, "unknown task '" + task + "', expected chat, embedding or rerank" +
                            did_you_mean(task, kTaskNames));
      }
      entry.task = static_cast<ModelTask>(known - kTaskNames.begin());
    }

    // Exactly one of path, url and provider says what kind of model this is.
    std::vector<std::pair<const BackendSelector*, const Field*>> selectors;
    for (const auto& selector : kBackendSelectors) {
      if (auto* f = find(fields, selector.key)) selectors.emplace_back(&selector, f);
    }
    if (selectors.size() > 1) {
      const auto& [first, first_field] = selectors[0];
      const auto& [second, second_field] = selectors[1];
      const Field& later =
          first_field->line() > second_field->line() ? *first_field : *second_field;
      return fail(later, "a model has either '" + std::string(first->key) + "' (" +
                             std::string(first->what) + ") or '" + std::string(second->key) +
                             "' (" + std::string(second->what) + "), not both");
    }
    if (selectors.empty()) {
      return fail(entry.line, path,
                  "model '" + entry.name +
                      "' needs 'path' (a local GGUF file) or 'url' (a remote OpenAI-compatible "
                      "server) or 'provider' (a cloud provider's model)");
    }
    const auto kind = static_cast<BackendKind>(selectors[0].first - kBackendSelectors.data());
    for (const auto& scoped : kScopedModelKeys) {
      if (applies_to(scoped, kind)) continue;
      if (auto* f = find(fields, scoped.key)) return fail(*f, misapplied_key_message(scoped, kind));
    }
    switch (kind) {
      case BackendKind::local:
        if (!read_local(fields, entry)) return false;
        break;
      case BackendKind::remote:
        if (!read_remote(fields, entry)) return false;
        break;
      case BackendKind::cloud:
        if (!read_cloud(fields, providers, entry)) return false;
        break;
    }

    if (auto* f = find(fields, "keep_alive");
        f && !read_duration(*f, entry.keep_alive, milliseconds(0))) {
      return false;
    }
    if (auto* f = find(fields, "load_on_start"); f && !read_bool(*f, entry.load_on_start)) {
      return false;
    }
    return true;
  }

  bool read_cache_type(const Field& field, std::optional<std::string>& out) {
    std::string type;
    if (!read_string(field, type, false)) return false;
    if (!contains(kCacheTypes, type)) {
      return fail(field, "unknown KV cache type '" + type +
                             "' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1 or iq4_nl)" +
                             did_you_mean(type, kCacheTypes));
    }
    out = type;
    return true;
  }

  bool read_local(const Fields& fields, ModelEntry& entry) {
    LocalBackend local;
    const Field& path = *find(fields, "path");
    if (!read_string(path, local.path, false)) return false;
    local.path = resolve(local.path);
    std::error_code ec;
    const auto status = fs::status(local.path, ec);
    if (!fs::exists(status)) return fail(path, "GGUF file not found: " + local.path);
    if (!fs::is_regular_file(status)) return fail(path, "not a regular file: " + local.path);

    if (auto* f = find(fields, "context"); f && !read_int(*f, local.context, 16, 1 << 24)) {
      return false;
    }
    if (auto* f = find(fields, "parallel"); f && !read_int(*f, local.parallel, 1, 256)) {
      return false;
    }
    if (auto* f = find(fields, "threads"); f && !read_int(*f, local.threads, 0, 1024)) {
      return false;
    }
    if (auto* f = find(fields, "micro_batch")) {
      int micro_batch = 0;
      if (!read_int(*f, micro_batch, 1, 1 << 20)) return false;
      local.micro_batch = micro_batch;
    }
    if (auto* f = find(fields, "cache_type_k"); f && !read_cache_type(*f, local.cache_type_k)) {
      return false;
    }
    if (auto* f = find(fields, "cache_type_v"); f && !read_cache_type(*f, local.cache_type_v)) {
      return false;
    }
    entry.backend = std::move(local);
    return true;
  }

  bool read_remote(const Fields& fields, ModelEntry& entry) {
    RemoteBackend remote;
    const Field& url = *find(fields, "url");
    std::string text;
    if (!read_string(url, text, false)) return false;
    auto base_url = check_url(text);
    if (!base_url) return fail(url, base_url.error());
    remote.base_url = std::move(base_url.value());

    remote.upstream_model = entry.name;
    if (auto* f = find(fields, "upstream_model");
        f && !read_string(*f, remote.upstream_model, false)) {
      return false;
    }
    if (auto* f = find(fields, "api_key_env")) {
      if (!read_string(*f, remote.api_key_env, true)) return false;
      if (!remote.api_key_env.empty() && !read_env_name(*f, remote.api_key_env)) return false;
    }
    if (auto* f = find(fields, "health_path")) {
      if (!read_string(*f, remote.health_path, false)) return false;
      if (!remote.health_path.starts_with("/")) {
        return fail(*f, "must start with '/', got '" + remote.health_path + "'");
      }
    }
    entry.backend = std::move(remote);
    return true;
  }

  bool read_cloud(const Fields& fields, const std::vector<Provider>& providers, ModelEntry& entry) {
    CloudBackend cloud;
    const Field& provider = *find(fields, "provider");
    if (!read_string(provider, cloud.provider, false)) return false;
    const bool known = std::any_of(providers.begin(), providers.end(),
                                   [&](const Provider& p) { return p.name == cloud.provider; });
    if (!known) {
      std::vector<std::string_view> names;
      std::string listed;
      for (const auto& p : providers) {
        names.push_back(p.name);
        listed += (listed.empty() ? "" : ", ") + p.name;
      }
      return fail(provider, "no provider is named '" + cloud.provider + "'" +
                                did_you_mean(cloud.provider, names) +
                                (names.empty() ? "; no providers are configured (see 'providers')"
                                               : "; providers: " + listed));
    }
    cloud.upstream_model = entry.name;
    if (auto* f = find(fields, "upstream_model");
        f && !read_string(*f, cloud.upstream_model, false)) {
      return false;
    }
    if (auto* f = find(fields, "price")) {
      Fields prices;
      if (!section(*f, kPriceKeys, prices)) return false;
      constexpr double kMax = std::numeric_limits<double>::max();
      if (auto* p = find(prices, "input"); p && !read_number(*p, cloud.price.input, 0, kMax)) {
        return false;
      }
      if (auto* p = find(prices, "cached_input");
          p && !read_number(*p, cloud.price.cached_input, 0, kMax)) {
        return false;
      }
      if (auto* p = find(prices, "output"); p && !read_number(*p, cloud.price.output, 0, kMax)) {
        return false;
      }
    }
    entry.backend = std::move(cloud);
    return true;
  }

  bool read_policy(const Field& field, Config& config) {
    PolicySettings& policy = config.policy;
    Fields fields;
    if (!section(field, kPolicyKeys, fields)) return false;
    struct DurationKey {
      std::string_view key;
      milliseconds* target;
    };
    const std::array<DurationKey, 4> durations = {{
        {"deadline", &policy.deadline},
        {"retry_backoff_initial", &policy.retry_backoff_initial},
        {"retry_backoff_max", &policy.retry_backoff_max},
        {"breaker_open", &policy.breaker_open},
    }};
    for (const auto& duration : durations) {
      if (auto* f = find(fields, duration.key);
          f && !read_duration(*f, *duration.target, milliseconds(1))) {
        return false;
      }
    }
    if (auto* f = find(fields, "attempts_per_target");
        f && !read_int(*f, policy.attempts_per_target, 1, 10)) {
      return false;
    }
    if (auto* f = find(fields, "breaker_failures");
        f && !read_int(*f, policy.breaker_failures, 1, 1000)) {
      return false;
    }
    if (policy.retry_backoff_max < policy.retry_backoff_initial) {
      const Field* f = find(fields, "retry_backoff_max");
      if (f == nullptr) f = find(fields, "retry_backoff_initial");
      return fail(*f, "retry_backoff_max (" + format_duration(policy.retry_backoff_max) +
                          ") is shorter than retry_backoff_initial (" +
                          format_duration(policy.retry_backoff_initial) + ")");
    }
    if (auto* f = find(fields, "rules"); f && !read_rules(*f, config, policy.rules)) {
      return false;
    }
    return true;
  }

  bool read_rules(const Field& field, const Config& config, std::vector<Rule>& rules) {
    if (field.value.IsNull()) return true;
    if (!field.value.IsSequence()) {
      return fail(field, "expected a list of rules, got " + describe(field.value));
    }
    std::map<std::string, NameSite, std::less<>> names;
    for (std::size_t i = 0; i < field.value.size(); ++i) {
      Rule rule;
      NameSite site;
      if (!read_rule(field.value[i], field.path + "[" + std::to_string(i) + "]", config, rule,
                     site)) {
        return false;
      }
      if (auto previous = names.find(rule.name); previous != names.end()) {
        return fail(site.line, site.key,
                    "duplicate rule name '" + rule.name + "': already used by " +
                        previous->second.key + " (line " + std::to_string(previous->second.line) +
                        ")");
      }
      names.emplace(rule.name, site);
      rules.push_back(std::move(rule));
    }
    return true;
  }

  bool read_rule(const YAML::Node& node, const std::string& path, const Config& config, Rule& rule,
                 NameSite& site) {
    rule.line = line_of(node);
    if (!node.IsMap()) {
      return fail(rule.line, path, "expected a rule (a mapping), got " + describe(node));
    }
    Fields fields;
    if (!collect(node, path, kRuleKeys, fields)) return false;

    const Field* name = find(fields, "name");
    if (name == nullptr) return fail(rule.line, path, "a rule needs a 'name'");
    if (!read_string(*name, rule.name, true)) return false;
    if (auto problem = check_model_name(rule.name)) return fail(*name, "a rule name " + *problem);
    site = NameSite{name->path, name->line()};

    if (auto* f = find(fields, "match"); f && !read_match(*f, rule.match)) return false;
    if (auto* f = find(fields, "never_cloud"); f && !read_bool(*f, rule.never_cloud)) {
      return false;
    }
    if (auto* f = find(fields, "targets"); f && !read_targets(*f, config, rule)) return false;
    if (auto* f = find(fields, "allow_placement"); f && !read_bool(*f, rule.allow_placement)) {
      return false;
    }
    if (auto* f = find(fields, "max_cost_per_request")) {
      double cost = 0;
      if (!read_number(*f, cost, 0, std::numeric_limits<double>::max())) return false;
      rule.max_cost_per_request = cost;
    }
    if (auto* f = find(fields, "latency_slo")) {
      milliseconds slo{0};
      if (!read_duration(*f, slo, milliseconds(1))) return false;
      rule.latency_slo = slo;
    }
    if (auto* f = find(fields, "escalate")) {
      Escalation escalation;
      if (!read_escalation(*f, escalation)) return false;
      rule.escalate = escalation;
    }
    if (auto* f = find(fields, "privacy"); f && !read_privacy_actions(*f, rule.privacy, nullptr)) {
      return false;
    }
    return true;
  }

  // A mapping of label -> action; with `default_action`, the key "default" sets it.
  bool read_privacy_actions(const Field& field, PrivacyActions& actions,
                            PrivacyAction* default_action) {
    if (field.value.IsNull()) return true;
    if (!field.value.IsMap()) {
      return fail(field, "expected a mapping of label: action (e.g. {pii: redact}), got " +
                             describe(field.value));
    }
    for (auto it = field.value.begin(); it != field.value.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        return fail(line_of(key), field.path, "a label must be a plain name, got " + describe(key));
      }
      const std::string& label = key.Scalar();
      const Field item{join(field.path, label), key, value};
      const bool is_default = default_action != nullptr && label == "default";
      if (default_action == nullptr && label == "default") {
        return fail(item, "the default action is set in privacy.actions, not per rule");
      }
      if (!is_default && !valid_label(label)) {
        return fail(
            item, "expected a sensitivity label ([a-z0-9_-]+ or custom:NAME), got '" + label + "'");
      }
      if (actions.contains(label)) {
        return fail(item, "duplicate label '" + label + "'");
      }
      std::string text;
      if (!read_string(item, text, false)) return false;
      PrivacyAction action{};
      if (!read_enum(item, text, "privacy action", kPrivacyActionNames, action)) return false;
      if (is_default) {
        *default_action = action;
      } else {
        actions.emplace(label, action);
      }
    }
    return true;
  }

  bool read_privacy(const Field& field, PrivacySettings& privacy) {
    Fields fields;
    if (!section(field, kPrivacyKeys, fields)) return false;
    if (auto* f = find(fields, "scan"); f && !read_bool(*f, privacy.scan)) return false;
    if (auto* f = find(fields, "actions");
        f && !read_privacy_actions(*f, privacy.actions, &privacy.default_action)) {
      return false;
    }
    if (auto* f = find(fields, "answers")) {
      std::string text;
      if (!read_string(*f, text, false) ||
          !read_enum(*f, text, "answer scan", kAnswerScanNames, privacy.answers)) {
        return false;
      }
    }
    if (auto* f = find(fields, "disable")) {
      const auto keep = [&](const Field& item, const std::string& text) {
        if (!valid_name_characters(text)) {
          return fail(item, "expected an entity type name ([a-z0-9_-]+), got '" + text + "'");
        }
        privacy.disabled.push_back(text);
        return true;
      };
      if (!read_string_items(*f, keep)) return false;
    }
    if (auto* f = find(fields, "entities"); f && !read_privacy_entities(*f, privacy.entities)) {
      return false;
    }
    return true;
  }

  bool read_privacy_entities(const Field& field, std::vector<PrivacyEntity>& entities) {
    if (field.value.IsNull()) return true;
    if (!field.value.IsSequence()) {
      return fail(field, "expected a list of entities, got " + describe(field.value));
    }
    std::map<std::string, NameSite, std::less<>> names;
    for (std::size_t i = 0; i < field.value.size(); ++i) {
      const std::string path = field.path + "[" + std::to_string(i) + "]";
      const YAML::Node node = field.value[i];
      PrivacyEntity entity;
      entity.line = line_of(node);
      if (!node.IsMap()) {
        return fail(entity.line, path, "expected an entity (a mapping), got " + describe(node));
      }
      Fields fields;
      if (!collect(node, path, kPrivacyEntityKeys, fields)) return false;
      const Field* name = find(fields, "name");
      if (name == nullptr) return fail(entity.line, path, "an entity needs a 'name'");
      if (!read_string(*name, entity.name, false)) return false;
      if (!valid_name_characters(entity.name)) {
        return fail(*name, "an entity name must be [a-z0-9_-]+, got '" + entity.name + "'");
      }
      if (auto previous = names.find(entity.name); previous != names.end()) {
        return fail(*name, "duplicate entity name '" + entity.name + "': already used by " +
                               previous->second.key + " (line " +
                               std::to_string(previous->second.line) + ")");
      }
      names.emplace(entity.name, NameSite{name->path, name->line()});
      const Field* pattern = find(fields, "pattern");
      const Field* terms = find(fields, "terms");
      if ((pattern == nullptr) == (terms == nullptr)) {
        return fail(entity.line, path,
                    "entity '" + entity.name + "' needs exactly one of 'pattern' and 'terms'");
      }
      if (pattern != nullptr && !read_string(*pattern, entity.pattern, false)) return false;
      if (terms != nullptr) {
        const auto keep = [&](const Field&, const std::string& text) {
          entity.terms.push_back(text);
          return true;
        };
        if (!read_string_items(*terms, keep)) return false;
        if (entity.terms.empty()) return fail(*terms, "expected at least one term");
      }
      if (auto* f = find(fields, "validator")) {
        if (pattern == nullptr) {
          return fail(
              *f, "a validator checks a pattern's matches; entity '" + entity.name + "' has terms");
        }
        if (!read_string(*f, entity.validator, false)) return false;
      }
      if (auto* f = find(fields, "labels")) {
        const auto keep = [&](const Field& item, const std::string& text) {
          if (!valid_label(text)) {
            return fail(item, "expected a sensitivity label ([a-z0-9_-]+ or custom:NAME), got '" +
                                  text + "'");
          }
          entity.labels.push_back(text);
          return true;
        };
        if (!read_string_items(*f, keep)) return false;
      }
      entities.push_back(std::move(entity));
    }
    return true;
  }

  bool read_match(const Field& field, RuleMatch& match) {
    Fields fields;
    if (!section(field, kMatchKeys, fields)) return false;
    const auto keep_in = [](std::vector<std::string>& out) {
      return [&out](const Field&, const std::string& text) {
        out.push_back(text);
        return true;
      };
    };
    if (auto* f = find(fields, "workload"); f && !read_string_items(*f, keep_in(match.workloads))) {
      return false;
    }
    if (auto* f = find(fields, "tenant"); f && !read_string_items(*f, keep_in(match.tenants))) {
      return false;
    }
    if (auto* f = find(fields, "model"); f && !read_string_items(*f, keep_in(match.models))) {
      return false;
    }
    if (auto* f = find(fields, "sensitivity")) {
      const auto label = [&](const Field& item, const std::string& text) {
        if (!valid_label(text)) {
          return fail(item, "expected a sensitivity label ([a-z0-9_-]+), got '" + text + "'");
        }
        match.sensitivity.push_back(text);
        return true;
      };
      if (!read_string_items(*f, label)) return false;
    }
    if (auto* f = find(fields, "task")) {
      const auto task = [&](const Field& item, const std::string& text) {
        RequestTask value{};
        if (!read_enum(item, text, "task", kRequestTaskNames, value)) return false;
        match.tasks.push_back(value);
        return true;
      };
      if (!read_string_items(*f, task)) return false;
    }
    if (auto* f = find(fields, "placement")) {
      const auto placement = [&](const Field& item, const std::string& text) {
        Placement value{};
        if (!read_enum(item, text, "placement", kPlacementNames, value)) return false;
        match.placement.push_back(value);
        return true;
      };
      if (!read_string_items(*f, placement)) return false;
    }
    if (auto* f = find(fields, "time_of_day")) {
      const auto window = [&](const Field& item, const std::string& text) {
        auto parsed = parse_time_window(text);
        if (!parsed) return fail(item, parsed.error());
        match.time_of_day.push_back(parsed.value());
        return true;
      };
      if (!read_string_items(*f, window)) return false;
    }
    if (auto* f = find(fields, "prompt_tokens"); f && !read_range(*f, match.prompt_tokens)) {
      return false;
    }
    if (auto* f = find(fields, "max_tokens"); f && !read_range(*f, match.max_tokens)) {
      return false;
    }
    using BoolKey = std::pair<std::string_view, std::optional<bool>*>;
    for (auto [key, target] :
         std::array<BoolKey, 2>{{{"tools", &match.tools}, {"images", &match.images}}}) {
      if (auto* f = find(fields, key)) {
        bool value = false;
        if (!read_bool(*f, value)) return false;
        *target = value;
      }
    }
    return true;
  }

  bool read_range(const Field& field, std::optional<IntegerRange>& out) {
    Fields fields;
    if (!section(field, kRangeKeys, fields)) return false;
    IntegerRange range;
    std::int64_t value = 0;
    const Field* min = find(fields, "min");
    if (min != nullptr) {
      if (!read_integer(*min, value, 0, kMaxTokenCount)) return false;
      range.min = value;
    }
    const Field* max = find(fields, "max");
    if (max != nullptr) {
      if (!read_integer(*max, value, 0, kMaxTokenCount)) return false;
      range.max = value;
    }
    if (min == nullptr && max == nullptr) {
      return fail(field, "expected 'min', 'max' or both (e.g. {min: 0, max: 2000}), got " +
                             describe(field.value));
    }
    if (range.min && range.max && *range.min > *range.max) {
      return fail(*max, "min (" + std::to_string(*range.min) + ") is above max (" +
                            std::to_string(*range.max) + ")");
    }
    out = range;
    return true;
  }

  bool read_escalation(const Field& field, Escalation& escalation) {
    // Present means "escalate": an empty value is more likely a slip than a wish for the defaults.
    if (field.value.IsNull()) {
      return fail(field, "expected a mapping of checks ({} for the default ones), got nothing");
    }
    Fields fields;
    if (!section(field, kEscalateKeys, fields)) return false;
    if (auto* f = find(fields, "json_schema"); f && !read_bool(*f, escalation.json_schema)) {
      return false;
    }
    if (auto* f = find(fields, "min_mean_logprob")) {
      double logprob = 0;
      if (!read_number(*f, logprob, std::numeric_limits<double>::lowest(), 0)) return false;
      escalation.min_mean_logprob = logprob;
    }
    if (auto* f = find(fields, "on_empty"); f && !read_bool(*f, escalation.on_empty)) {
      return false;
    }
    if (auto* f = find(fields, "on_truncated"); f && !read_bool(*f, escalation.on_truncated)) {
      return false;
    }
    return true;
  }

  bool read_targets(const Field& field, const Config& config, Rule& rule) {
    if (field.value.IsNull()) return true;
    if (!field.value.IsSequence()) {
      return fail(field, "expected a list of model names or aliases, got " + describe(field.value));
    }
    // Each target's model and where it was written, to report one named twice.
    std::vector<std::pair<const ModelEntry*, std::string>> seen;
    for (std::size_t i = 0; i < field.value.size(); ++i) {
      const Field item{field.path + "[" + std::to_string(i) + "]", field.key, field.value[i]};
      std::string name;
      if (!read_string(item, name, false)) return false;
      const ModelEntry* entry = config.find_model(name);
      if (entry == nullptr) {
        return fail(item,
                    "no model is named '" + name + "'" + did_you_mean(name, model_names(config)));
      }
      for (std::size_t j = 0; j < seen.size(); ++j) {
        if (seen[j].first != entry) continue;
        return fail(item, "duplicate target '" + name + "'" +
                              (rule.targets[j] == name ? "" : " (model '" + entry->name + "')") +
                              ": already " + seen[j].second);
      }
      if (rule.never_cloud && placement_of(*entry) == Placement::cloud) {
        return fail(item, "rule '" + rule.name + "' has never_cloud: true, but target '" + name +
                              "' is a cloud model (provider '" +
                              std::get<CloudBackend>(entry->backend).provider + "')");
      }
      seen.emplace_back(entry, item.path);
      rule.targets.push_back(name);
    }
    return true;
  }

  std::string source_;
  fs::path base_dir_;
  ConfigError error_;
};

}  // namespace

std::string_view to_string(ModelTask task) { return kTaskNames[static_cast<std::size_t>(task)]; }
std::string_view to_string(ProviderApi api) {
  return kProviderApiNames[static_cast<std::size_t>(api)];
}
std::string_view to_string(RequestTask task) {
  return kRequestTaskNames[static_cast<std::size_t>(task)];
}
std::string_view to_string(PrivacyAction action) {
  return kPrivacyActionNames[static_cast<std::size_t>(action)];
}
std::string_view to_string(AnswerScan scan) {
  return kAnswerScanNames[static_cast<std::size_t>(scan)];
}
std::string_view to_string(OverBudget over_budget) {
  return kOverBudgetNames[static_cast<std::size_t>(over_budget)];
}
std::string_view to_string(LedgerStore store) {
  return kLedgerStoreNames[static_cast<std::size_t>(store)];
}
std::string_view to_string(Placement placement) {
  return kPlacementNames[static_cast<std::size_t>(placement)];
}

Placement placement_of(const ModelEntry& entry) {
  return std::holds_alternative<CloudBackend>(entry.backend) ? Placement::cloud : Placement::local;
}

const Provider* Config::find_provider(std::string_view name) const {
  for (const auto& provider : providers) {
    if (provider.name == name) return &provider;
  }
  return nullptr;
}

const ModelEntry* Config::find_model(std::string_view name) const {
  for (const auto& entry : models) {
    if (entry.name == name) return &entry;
    if (std::find(entry.aliases.begin(), entry.aliases.end(), name) != entry.aliases.end()) {
      return &entry;
    }
  }
  return nullptr;
}

std::string ConfigError::to_string() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  } else if (line > 0) {
    out += "line " + std::to_string(line) + ": ";
  }
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

std::string default_models_dir() {
  if (const char* env = std::getenv("MODELS_DIR"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  if (fs::is_directory("../shared/models", ec)) return "../shared/models";
  return "";
}

Config default_config(const std::string& default_models_dir) {
  Config config;
  std::error_code ec;
  if (!default_models_dir.empty() && fs::is_directory(default_models_dir, ec)) {
    config.models_dir = fs::absolute(default_models_dir, ec).lexically_normal().string();
    if (ec) config.models_dir = default_models_dir;
    scan_models_dir(config);
  }
  return config;
}

Expected<Config, ConfigError> parse_config(const std::string& yaml_text,
                                           const std::string& source) {
  std::error_code ec;
  fs::path base_dir = fs::path(source).parent_path();
  base_dir = fs::absolute(base_dir.empty() ? fs::path(".") : base_dir, ec).lexically_normal();
  if (ec) return unexpected(ConfigError{source, 0, "", "cannot resolve its directory"});
  Config config;
  config.source = source;
  // yaml-cpp reports syntax errors (and anything unexpected) by throwing; this is the boundary.
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(yaml_text);
    if (documents.size() > 1) {
      return unexpected(
          ConfigError{source, line_of(documents[1]), "",
                      "expected one YAML document, found " + std::to_string(documents.size())});
    }
    // An empty file (or one of comments only) is the built-in defaults, without a models_dir.
    if (documents.empty() || documents[0].IsNull()) return config;
    Reader reader(source, base_dir);
    if (!reader.read_document(documents[0], config)) return unexpected(reader.error());
  } catch (const YAML::Exception& error) {
    const int line = error.mark.is_null() ? 0 : error.mark.line + 1;
    return unexpected(ConfigError{source, line, "", "YAML syntax error: " + error.msg});
  } catch (const std::exception& error) {
    return unexpected(ConfigError{source, 0, "", error.what()});
  }
  return config;
}

Expected<Config, ConfigError> load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return unexpected(
        ConfigError{path, 0, "", std::string("cannot read: ") + std::strerror(errno)});
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return unexpected(ConfigError{path, 0, "", "cannot read"});
  return parse_config(text.str(), path);
}

namespace {

void emit_strings(YAML::Emitter& out, std::string_view key, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& item : items) out << item;
  out << YAML::EndSeq;
}

template <typename Enum>
void emit_names(YAML::Emitter& out, std::string_view key, const std::vector<Enum>& items) {
  std::vector<std::string> names;
  for (auto item : items) names.emplace_back(to_string(item));
  emit_strings(out, key, names);
}

void emit_range(YAML::Emitter& out, std::string_view key,
                const std::optional<IntegerRange>& range) {
  if (!range) return;
  out << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginMap;
  if (range->min) out << YAML::Key << "min" << YAML::Value << *range->min;
  if (range->max) out << YAML::Key << "max" << YAML::Value << *range->max;
  out << YAML::EndMap;
}

void emit_match(YAML::Emitter& out, const RuleMatch& match) {
  out << YAML::Key << "match" << YAML::Value;
  if (match == RuleMatch{}) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap << YAML::Comment("anything");
    return;
  }
  out << YAML::BeginMap;
  emit_strings(out, "workload", match.workloads);
  emit_strings(out, "tenant", match.tenants);
  emit_names(out, "task", match.tasks);
  emit_strings(out, "model", match.models);
  emit_strings(out, "sensitivity", match.sensitivity);
  emit_range(out, "prompt_tokens", match.prompt_tokens);
  emit_range(out, "max_tokens", match.max_tokens);
  if (match.tools) out << YAML::Key << "tools" << YAML::Value << *match.tools;
  if (match.images) out << YAML::Key << "images" << YAML::Value << *match.images;
  std::vector<std::string> windows;
  for (const auto& window : match.time_of_day) windows.push_back(format_time_window(window));
  emit_strings(out, "time_of_day", windows);
  emit_names(out, "placement", match.placement);
  out << YAML::EndMap;
}

void explain_policy(YAML::Emitter& out, const PolicySettings& policy) {
  out << YAML::Key << "policy" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "deadline" << YAML::Value << format_duration(policy.deadline);
  out << YAML::Key << "attempts_per_target" << YAML::Value << policy.attempts_per_target;
  out << YAML::Key << "retry_backoff_initial" << YAML::Value
      << format_duration(policy.retry_backoff_initial);
  out << YAML::Key << "retry_backoff_max" << YAML::Value
      << format_duration(policy.retry_backoff_max);
  out << YAML::Key << "breaker_failures" << YAML::Value << policy.breaker_failures;
  out << YAML::Key << "breaker_open" << YAML::Value << format_duration(policy.breaker_open);
  out << YAML::Key << "rules" << YAML::Value;
  if (policy.rules.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& rule : policy.rules) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << rule.name;
    emit_match(out, rule.match);
    out << YAML::Key << "targets" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& target : rule.targets) out << target;
    out << YAML::EndSeq;
    if (rule.targets.empty()) out << YAML::Comment("the requested model");
    out << YAML::Key << "never_cloud" << YAML::Value << rule.never_cloud;
    out << YAML::Key << "allow_placement" << YAML::Value << rule.allow_placement;
    if (rule.max_cost_per_request) {
      out << YAML::Key << "max_cost_per_request" << YAML::Value
          << format_number(*rule.max_cost_per_request);
    }
    if (rule.latency_slo) {
      out << YAML::Key << "latency_slo" << YAML::Value << format_duration(*rule.latency_slo);
    }
    if (rule.escalate) {
      const Escalation& escalate = *rule.escalate;
      out << YAML::Key << "escalate" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "json_schema" << YAML::Value << escalate.json_schema;
      if (escalate.min_mean_logprob) {
        out << YAML::Key << "min_mean_logprob" << YAML::Value
            << format_number(*escalate.min_mean_logprob);
      }
      out << YAML::Key << "on_empty" << YAML::Value << escalate.on_empty;
      out << YAML::Key << "on_truncated" << YAML::Value << escalate.on_truncated;
      out << YAML::EndMap;
    }
    if (!rule.privacy.empty()) {
      out << YAML::Key << "privacy" << YAML::Value << YAML::Flow << YAML::BeginMap;
      for (const auto& [label, action] : rule.privacy) {
        out << YAML::Key << label << YAML::Value << std::string(to_string(action));
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

void explain_privacy(YAML::Emitter& out, const PrivacySettings& privacy) {
  out << YAML::Key << "privacy" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "scan" << YAML::Value << privacy.scan;
  out << YAML::Key << "actions" << YAML::Value << YAML::BeginMap;
  for (const auto& [label, action] : privacy.actions) {
    out << YAML::Key << label << YAML::Value << std::string(to_string(action));
  }
  out << YAML::Key << "default" << YAML::Value << std::string(to_string(privacy.default_action));
  out << YAML::EndMap;
  out << YAML::Key << "answers" << YAML::Value << std::string(to_string(privacy.answers));
  emit_strings(out, "disable", privacy.disabled);
  out << YAML::Key << "entities" << YAML::Value;
  if (privacy.entities.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& entity : privacy.entities) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << entity.name;
    if (entity.terms.empty()) {
      out << YAML::Key << "pattern" << YAML::Value << YAML::SingleQuoted << entity.pattern;
    } else {
      emit_strings(out, "terms", entity.terms);
    }
    if (!entity.validator.empty()) {
      out << YAML::Key << "validator" << YAML::Value << entity.validator;
    }
    if (!entity.labels.empty()) {
      emit_strings(out, "labels", entity.labels);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

}  // namespace

std::string explain(const Config& config) {
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::Comment(
      "The effective Hearth configuration" +
      (config.source.empty() ? std::string(" (built-in defaults)") : " from " + config.source) +
      ", every default filled in.");
  out << YAML::BeginMap;

  const auto& server = config.server;
  out << YAML::Key << "server" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << server.listen;
  out << YAML::Key << "io_threads" << YAML::Value << server.io_threads;
  out << YAML::Key << "max_body_bytes" << YAML::Value << format_size(server.max_body_bytes);
  out << YAML::Key << "max_header_bytes" << YAML::Value << format_size(server.max_header_bytes);
  out << YAML::Key << "max_connections" << YAML::Value
      << static_cast<std::uint64_t>(server.max_connections);
  out << YAML::Key << "header_timeout" << YAML::Value << format_duration(server.header_timeout);
  out << YAML::Key << "idle_timeout" << YAML::Value << format_duration(server.idle_timeout);
  out << YAML::Key << "shutdown_grace" << YAML::Value << format_duration(server.shutdown_grace);
  out << YAML::Key << "access_log" << YAML::Value << server.access_log;
  out << YAML::Key << "access_log_file" << YAML::Value << server.access_log_file;
  if (server.access_log_file.empty()) out << YAML::Comment("standard output");
  out << YAML::Key << "insecure" << YAML::Value << server.insecure;
  if (server.tls) {
    out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "certificate" << YAML::Value << server.tls->certificate;
    out << YAML::Key << "private_key" << YAML::Value << server.tls->private_key;
    out << YAML::Key << "client_ca" << YAML::Value << server.tls->client_ca;
    out << YAML::Key << "admin_client_certificate" << YAML::Value
        << server.tls->admin_client_certificate;
    out << YAML::EndMap;
  } else {
    out << YAML::Key << "tls" << YAML::Value << YAML::Null << YAML::Comment("plain HTTP");
  }
  out << YAML::EndMap;

  const auto& auth = config.auth;
  out << YAML::Key << "auth" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "key_refresh" << YAML::Value << format_duration(auth.key_refresh);
  out << YAML::Key << "spend_refresh" << YAML::Value << format_duration(auth.spend_refresh);
  out << YAML::Key << "over_budget" << YAML::Value << std::string(to_string(auth.over_budget));
  out << YAML::Key << "tenant_budgets" << YAML::Value;
  if (auth.tenant_budgets.empty()) out << YAML::Flow;
  out << YAML::BeginMap;
  for (const auto& [tenant, budget] : auth.tenant_budgets) {
    out << YAML::Key << tenant << YAML::Value << budget;
  }
  out << YAML::EndMap;
  out << YAML::EndMap;

  const auto& ledger = config.ledger;
  out << YAML::Key << "ledger" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "store" << YAML::Value << std::string(to_string(ledger.store));
  out << YAML::Key << "path" << YAML::Value << ledger.path;
  if (ledger.path.empty()) out << YAML::Comment("hearth.db in the current directory");
  if (!ledger.url_env.empty()) out << YAML::Key << "url_env" << YAML::Value << ledger.url_env;
  out << YAML::Key << "queue_capacity" << YAML::Value
      << static_cast<std::uint64_t>(ledger.queue_capacity);
  out << YAML::Key << "flush_interval" << YAML::Value << format_duration(ledger.flush_interval);
  out << YAML::Key << "max_batch" << YAML::Value << static_cast<std::uint64_t>(ledger.max_batch);
  out << YAML::Key << "anchor_interval" << YAML::Value << ledger.anchor_interval;
  emit_strings(out, "content_workloads", ledger.content_workloads);
  out << YAML::EndMap;

  const auto& retention = config.retention;
  out << YAML::Key << "retention" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "ledger_days" << YAML::Value << retention.ledger_days;
  out << YAML::Key << "audit_days" << YAML::Value << retention.audit_days;
  out << YAML::Key << "purge_interval" << YAML::Value << format_duration(retention.purge_interval);
  out << YAML::Key << "access_log_max_bytes" << YAML::Value
      << format_size(retention.access_log_max_bytes);
  out << YAML::Key << "access_log_files" << YAML::Value << retention.access_log_files;
  out << YAML::EndMap;

  const auto& costs = config.local_costs;
  out << YAML::Key << "local_costs" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "hardware_price_usd" << YAML::Value
      << format_number(costs.hardware_price_usd);
  out << YAML::Key << "amortisation_months" << YAML::Value << costs.amortisation_months;
  out << YAML::Key << "power_busy_watts" << YAML::Value << format_number(costs.power_busy_watts);
  out << YAML::Key << "power_idle_watts" << YAML::Value << format_number(costs.power_idle_watts);
  out << YAML::Key << "electricity_usd_per_kwh" << YAML::Value
      << format_number(costs.electricity_usd_per_kwh);
  out << YAML::Key << "carbon_grams_per_kwh" << YAML::Value
      << format_number(costs.carbon_grams_per_kwh);
  out << YAML::Key << "operations_usd_per_month" << YAML::Value
      << format_number(costs.operations_usd_per_month);
  out << YAML::EndMap;

  const auto& advisor = config.advisor;
  out << YAML::Key << "advisor" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "min_requests" << YAML::Value << advisor.min_requests;
  out << YAML::Key << "frequent_requests_per_month" << YAML::Value
      << advisor.frequent_requests_per_month;
  out << YAML::Key << "sensitive_share" << YAML::Value << format_number(advisor.sensitive_share);
  out << YAML::Key << "min_local_success_rate" << YAML::Value
      << format_number(advisor.min_local_success_rate);
  out << YAML::Key << "max_escalation_rate" << YAML::Value
      << format_number(advisor.max_escalation_rate);
  out << YAML::Key << "min_eval_agreement" << YAML::Value
      << format_number(advisor.min_eval_agreement);
  out << YAML::Key << "eval_results_dir" << YAML::Value << advisor.eval_results_dir;
  if (advisor.eval_results_dir.empty()) {
    out << YAML::Comment("hearth-evals/ beside the configuration file");
  }
  out << YAML::EndMap;

  const auto& workers = config.workers;
  out << YAML::Key << "workers" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "runtime_dir" << YAML::Value << workers.runtime_dir;
  if (workers.runtime_dir.empty()) out << YAML::Comment("a fresh private directory");
  out << YAML::Key << "hearth_binary" << YAML::Value << workers.hearth_binary;
  if (workers.hearth_binary.empty()) out << YAML::Comment("this executable");
  out << YAML::Key << "max_loaded_models" << YAML::Value << workers.max_loaded_models;
  out << YAML::Key << "max_loaded_bytes" << YAML::Value << format_size(workers.max_loaded_bytes);
  if (workers.max_loaded_bytes == 0) out << YAML::Comment("no cap");
  out << YAML::Key << "load_timeout" << YAML::Value << format_duration(workers.load_timeout);
  out << YAML::Key << "wait_timeout" << YAML::Value << format_duration(workers.wait_timeout);
  out << YAML::Key << "health_interval" << YAML::Value << format_duration(workers.health_interval);
  out << YAML::Key << "health_timeout" << YAML::Value << format_duration(workers.health_timeout);
  out << YAML::Key << "restart_backoff_initial" << YAML::Value
      << format_duration(workers.restart_backoff_initial);
  out << YAML::Key << "restart_backoff_max" << YAML::Value
      << format_duration(workers.restart_backoff_max);
  out << YAML::EndMap;

  out << YAML::Key << "providers" << YAML::Value;
  if (config.providers.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& provider : config.providers) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << provider.name;
    out << YAML::Key << "api" << YAML::Value << std::string(to_string(provider.api));
    out << YAML::Key << "base_url" << YAML::Value << provider.base_url;
    // The variable's name only: its value is a secret.
    out << YAML::Key << "api_key_env" << YAML::Value << provider.api_key_env;
    out << YAML::Key << "ca_file" << YAML::Value << provider.ca_file;
    if (provider.ca_file.empty()) out << YAML::Comment("the system trust store");
    out << YAML::Key << "connect_timeout" << YAML::Value
        << format_duration(provider.connect_timeout);
    out << YAML::Key << "first_byte_timeout" << YAML::Value
        << format_duration(provider.first_byte_timeout);
    out << YAML::Key << "total_timeout" << YAML::Value << format_duration(provider.total_timeout);
    out << YAML::Key << "max_idle_connections" << YAML::Value << provider.max_idle_connections;
    if (provider.api == ProviderApi::anthropic) {
      // Quoted: it looks like a date, and other YAML readers would take it for one.
      out << YAML::Key << "anthropic_version" << YAML::Value << YAML::DoubleQuoted
          << provider.anthropic_version;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  out << YAML::Key << "models_dir" << YAML::Value << config.models_dir;
  if (config.models_dir.empty()) out << YAML::Comment("none");
  out << YAML::Key << "default_model" << YAML::Value << config.default_model;
  if (config.default_model.empty()) {
    out << YAML::Comment(config.models.empty() ? "the first model"
                                               : "the first model, " + config.models[0].name);
  }

  out << YAML::Key << "models" << YAML::Value;
  if (config.models.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& entry : config.models) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << entry.name;
    if (entry.from_models_dir) out << YAML::Comment("found in models_dir");
    out << YAML::Key << "aliases" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& alias : entry.aliases) out << alias;
    out << YAML::EndSeq;
    out << YAML::Key << "task" << YAML::Value << std::string(to_string(entry.task));
    if (const auto* local = std::get_if<LocalBackend>(&entry.backend)) {
      out << YAML::Key << "path" << YAML::Value << local->path;
      out << YAML::Key << "context" << YAML::Value << local->context;
      out << YAML::Key << "parallel" << YAML::Value << local->parallel;
      out << YAML::Key << "threads" << YAML::Value << local->threads;
      if (local->micro_batch)
        out << YAML::Key << "micro_batch" << YAML::Value << *local->micro_batch;
      if (local->cache_type_k) {
        out << YAML::Key << "cache_type_k" << YAML::Value << *local->cache_type_k;
      }
      if (local->cache_type_v) {
        out << YAML::Key << "cache_type_v" << YAML::Value << *local->cache_type_v;
      }
    } else if (const auto* remote = std::get_if<RemoteBackend>(&entry.backend)) {
      out << YAML::Key << "url" << YAML::Value << remote->base_url;
      out << YAML::Key << "upstream_model" << YAML::Value << remote->upstream_model;
      out << YAML::Key << "api_key_env" << YAML::Value << remote->api_key_env;
      out << YAML::Key << "health_path" << YAML::Value << remote->health_path;
    } else {
      const auto& cloud = std::get<CloudBackend>(entry.backend);
      out << YAML::Key << "provider" << YAML::Value << cloud.provider;
      out << YAML::Key << "upstream_model" << YAML::Value << cloud.upstream_model;
      out << YAML::Key << "price" << YAML::Value << YAML::Flow << YAML::BeginMap;
      out << YAML::Key << "input" << YAML::Value << format_number(cloud.price.input);
      out << YAML::Key << "cached_input" << YAML::Value << format_number(cloud.price.cached_input);
      out << YAML::Key << "output" << YAML::Value << format_number(cloud.price.output);
      out << YAML::EndMap;
    }
    out << YAML::Key << "keep_alive" << YAML::Value << format_duration(entry.keep_alive);
    out << YAML::Key << "load_on_start" << YAML::Value << entry.load_on_start;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  explain_policy(out, config.policy);
  explain_privacy(out, config.privacy);
  out << YAML::EndMap;
  assert(out.good() && "the emitter is driven with balanced maps and sequences");
  return std::string(out.c_str()) + "\n";
}

}  // namespace hearth::config
