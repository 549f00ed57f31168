// The gateway's configuration: one YAML file, parsed strictly into these plain types at load.
// An unknown key, a wrong type or a dangling reference is an error naming the file, the line and
// the key; nothing is silently defaulted except keys that are absent.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/expected.hpp"

namespace hearth::config {

enum class ModelTask { chat, embedding, rerank };
std::string_view to_string(ModelTask task);

// A GGUF served by a `hearth worker` child process that the gateway supervises.
struct LocalBackend {
  std::string path;  // absolute after loading (relative paths resolve against the config file)
  int context = 4096;
  int parallel = 4;
  int threads = 0;  // 0: the worker's default (all cores)
  std::optional<int> micro_batch;
  std::optional<std::string> cache_type_k;
  std::optional<std::string> cache_type_v;

  bool operator==(const LocalBackend&) const = default;
};

// Any OpenAI-compatible server inside the perimeter: another hearth worker or gateway,
// llama-server, Ollama, vLLM. Still "local" placement.
struct RemoteBackend {
  std::string base_url;        // "http://host:port" or "http://host:port/prefix"; no https here
  std::string upstream_model;  // the "model" sent upstream; defaults to the entry's name
  std::string api_key_env;     // name of an environment variable holding a bearer key, or ""
  std::string health_path = "/health";

  bool operator==(const RemoteBackend&) const = default;
};

// The client's placement preference (x-hearth-placement) and a target's placement.
enum class Placement { local, cloud, automatic };
std::string_view to_string(Placement placement);  // "local", "cloud", "auto"

// US dollars per million tokens, for cost accounting and `max_cost_per_request`.
struct Price {
  double input = 0;
  double cached_input = 0;
  double output = 0;

  bool operator==(const Price&) const = default;
};

// A model served by a cloud provider (outside the perimeter: "cloud" placement).
struct CloudBackend {
  std::string provider;        // a `providers[].name`
  std::string upstream_model;  // the "model" sent to the provider; defaults to the entry's name
  Price price;

  bool operator==(const CloudBackend&) const = default;
};

struct ModelEntry {
  std::string name;
  std::vector<std::string> aliases;
  ModelTask task = ModelTask::chat;
  std::variant<LocalBackend, RemoteBackend, CloudBackend> backend;
  std::chrono::milliseconds keep_alive{5 * 60 * 1000};  // idle unload of a local worker; 0: never
  bool load_on_start = false;
  bool from_models_dir = false;  // found by scanning models_dir, not written in the file
  int line = 0;                  // where the entry starts in the file (0: not from a file)

  // Member-wise, provenance (from_models_dir, line) included.
  bool operator==(const ModelEntry&) const = default;
};

// Where an entry's backend runs: cloud for a provider's model, local otherwise (a worker here or
// a server inside the perimeter).
Placement placement_of(const ModelEntry& entry);

// TLS on the listener. Certificates are read at start and again on SIGHUP.
struct TlsSettings {
  std::string certificate;  // PEM chain, leaf first
  std::string private_key;  // PEM
  std::string client_ca;    // "" : no client certificates are asked for
  // Admin endpoints (/admin/...) need a client certificate signed by client_ca (mutual TLS).
  bool admin_client_certificate = false;

  bool operator==(const TlsSettings&) const = default;
};

struct ServerSettings {
  std::string listen = "127.0.0.1:8080";
  // Needed to listen beyond loopback without API keys or without TLS (a warning at every start).
  bool insecure = false;
  std::optional<TlsSettings> tls;
  std::string access_log_file;  // "" : stdout; else a file rotated by retention.access_log_*
  int io_threads = 1;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_connections = 4096;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{75'000};
  std::chrono::milliseconds shutdown_grace{30'000};  // SIGTERM: in-flight requests get this long
  bool access_log = true;                            // one JSON line per request on stdout

  bool operator==(const ServerSettings&) const = default;
};

struct WorkerSettings {
  std::string runtime_dir;    // "" : a fresh private directory under $XDG_RUNTIME_DIR or /tmp
  std::string hearth_binary;  // "" : this executable (/proc/self/exe)
  int max_loaded_models = 4;  // least recently used idle model is unloaded beyond this
  std::uint64_t max_loaded_bytes = 0;               // sum of loaded GGUF file sizes; 0: no cap
  std::chrono::milliseconds load_timeout{120'000};  // spawn to /health ready
  std::chrono::milliseconds wait_timeout{30'000};   // a request waits this long for a model
  std::chrono::milliseconds health_interval{2'000};
  std::chrono::milliseconds health_timeout{5'000};  // a health check slower than this: hung
  std::chrono::milliseconds restart_backoff_initial{250};
  std::chrono::milliseconds restart_backoff_max{30'000};

  bool operator==(const WorkerSettings&) const = default;
};

// The wire format a cloud provider speaks.
enum class ProviderApi { openai, anthropic };
std::string_view to_string(ProviderApi api);

// A cloud provider reached over HTTPS (plain http only to loopback, for tests).
struct Provider {
  std::string name;
  ProviderApi api = ProviderApi::openai;
  std::string base_url;  // e.g. "https://api.example.com/v1"; requests append "/chat/completions"
  std::string api_key_env;  // required: the environment variable holding the key
  std::string ca_file;      // "" : the system trust store
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds first_byte_timeout{60'000};
  std::chrono::milliseconds total_timeout{600'000};
  int max_idle_connections = 64;
  std::string anthropic_version = "2023-06-01";  // anthropic only: the anthropic-version header
  int line = 0;

  bool operator==(const Provider&) const = default;
};

// The task a request is for, from its route.
enum class RequestTask { chat, completion, embedding, rerank };
std::string_view to_string(RequestTask task);

struct IntegerRange {
  std::optional<std::int64_t> min;  // inclusive
  std::optional<std::int64_t> max;  // inclusive

  bool operator==(const IntegerRange&) const = default;
};

// Minutes since midnight in the gateway's local time zone; a window with start > end wraps
// midnight ("22:00-06:00").
struct TimeWindow {
  int start_minute = 0;
  int end_minute = 0;  // exclusive

  bool operator==(const TimeWindow&) const = default;
};

// What a rule matches on; every condition given must hold (an empty list or absent field matches
// anything), and a list matches when any of its items does.
struct RuleMatch {
  std::vector<std::string> workloads;  // x-hearth-workload header or metadata.workload
  std::vector<std::string> tenants;    // the caller's tenant (x-hearth-tenant until auth exists)
  std::vector<RequestTask> tasks;
  std::vector<std::string> models;            // the requested model, as written by the client
  std::vector<std::string> sensitivity;       // any of these labels present on the request
  std::optional<IntegerRange> prompt_tokens;  // estimated
  std::optional<IntegerRange> max_tokens;     // requested; a request without one matches no range
  std::optional<bool> tools;
  std::optional<bool> images;
  std::vector<TimeWindow> time_of_day;
  std::vector<Placement> placement;  // the client's preference (absent header: automatic)

  bool operator==(const RuleMatch&) const = default;
};

// Checks on a local (non-streamed) answer before it is returned; failing one sends the request on
// to the next target.
struct Escalation {
  bool json_schema = false;  // the answer must validate against the request's response_format
  std::optional<double> min_mean_logprob;  // mean token log-probability of the answer
  bool on_empty = true;                    // an answer with no content and no tool call
  bool on_truncated = true;                // finish_reason "length"

  bool operator==(const Escalation&) const = default;
};

// What the privacy guard does with a request carrying a sensitivity label, weakest first: the
// strongest action among a request's labels applies.
enum class PrivacyAction {
  allow,       // forward unchanged
  audit_only,  // forward unchanged; the finding types are recorded (as they always are)
  redact,      // a cloud target gets placeholders instead of the findings; the answer is restored
  local_only,  // only local targets may serve the request
  block,       // refused with 400, naming the types found
};
std::string_view to_string(PrivacyAction action);

// Labels and their actions; a label is [a-z0-9_-]+, optionally "custom:NAME".
using PrivacyActions = std::map<std::string, PrivacyAction, std::less<>>;

struct Rule {
  std::string name;
  RuleMatch match;
  // Model entry names (or aliases) tried in order; empty: the requested model.
  std::vector<std::string> targets;
  bool never_cloud = false;                    // hard: no cloud target may serve this request, ever
  bool allow_placement = false;                // honour x-hearth-placement: local | cloud
  std::optional<double> max_cost_per_request;  // US dollars, estimated before sending
  // Time to first byte allowed to each target before falling back to the next.
  std::optional<std::chrono::milliseconds> latency_slo;
  std::optional<Escalation> escalate;
  PrivacyActions privacy;  // per-label overrides of privacy.actions for the requests it matches
  int line = 0;

  bool operator==(const Rule&) const = default;
};

struct PolicySettings {
  std::vector<Rule> rules;  // first match wins; no match: the requested model, no fallback
  // A request's whole budget for trying targets (up to the first byte of an answer).
  std::chrono::milliseconds deadline{120'000};
  int attempts_per_target = 2;  // tries of one target on a retryable failure (429, 5xx, connect)
  std::chrono::milliseconds retry_backoff_initial{100};  // jittered, doubling
  std::chrono::milliseconds retry_backoff_max{2'000};
  int breaker_failures = 5;  // consecutive failures that open a backend's circuit
  std::chrono::milliseconds breaker_open{30'000};  // then one probe request is let through

  bool operator==(const PolicySettings&) const = default;
};

// A configured sensitive entity (see privacy::CustomEntity): a regular expression, optionally
// checked by a validator, or a list of terms matched case-insensitively as whole words.
struct PrivacyEntity {
  std::string name;  // [a-z0-9_-]+; its findings are "custom:NAME"
  std::string pattern;
  std::vector<std::string> terms;
  std::string validator;            // "" or a validator name (checked when the scanner is built)
  std::vector<std::string> labels;  // default {"custom:NAME"}
  int line = 0;

  bool operator==(const PrivacyEntity&) const = default;
};

// Secrets in cloud answers: not looked for, recorded, or recorded and replaced.
enum class AnswerScan { off, audit_only, redact };
std::string_view to_string(AnswerScan scan);

struct PrivacySettings {
  bool scan = true;        // false: labels come from x-hearth-sensitivity only
  PrivacyActions actions;  // per label
  PrivacyAction default_action = PrivacyAction::redact;  // any other label
  AnswerScan answers = AnswerScan::audit_only;
  std::vector<std::string> disabled;  // built-in entity types not looked for
  std::vector<PrivacyEntity> entities;

  bool operator==(const PrivacySettings&) const = default;
};

// What happens to a request whose key or tenant has spent its monthly cloud budget.
enum class OverBudget {
  local,   // cloud targets are skipped; local targets still serve
  refuse,  // 429 insufficient_quota
};
std::string_view to_string(OverBudget over_budget);

struct AuthSettings {
  // How often the key list is re-read from the store (keys made by the CLI or another gateway).
  std::chrono::milliseconds key_refresh{2'000};
  // Monthly cloud budgets per tenant, US dollars (keys carry their own).
  std::map<std::string, double, std::less<>> tenant_budgets;
  OverBudget over_budget = OverBudget::local;
  // How often the month's spend is re-read from the ledger (several gateways share one).
  std::chrono::milliseconds spend_refresh{5'000};

  bool operator==(const AuthSettings&) const = default;
};

// `off`: no usage records, no keys (so loopback only), no audit log: for benchmarks that
// measure what the ledger costs, never for a deployment.
enum class LedgerStore { sqlite, postgresql, off };
std::string_view to_string(LedgerStore store);

// Where usage records, keys and the audit log live.
struct LedgerSettings {
  LedgerStore store = LedgerStore::sqlite;
  std::string path;     // sqlite: the database file; "" : hearth.db in the current directory
  std::string url_env;  // postgresql: the environment variable holding the connection URL
  std::size_t queue_capacity = 8192;
  std::chrono::milliseconds flush_interval{100};
  // Large enough that a batch is one flush interval's records at up to 40,000 records/s: each
  // batch has a fixed cost (a transaction; for PostgreSQL, round trips to the server).
  std::size_t max_batch = 4096;
  std::int64_t anchor_interval = 256;
  // Workloads whose request and answer bodies are stored with their usage record (opt-in).
  std::vector<std::string> content_workloads;

  bool operator==(const LedgerSettings&) const = default;
};

struct RetentionSettings {
  int ledger_days = 90;  // usage records (and any stored content)
  int audit_days = 365;  // audit records; anchors are kept for ever
  std::chrono::milliseconds purge_interval{60 * 60 * 1000};  // 0: only `hearth retention run`
  std::uint64_t access_log_max_bytes = 64ull * 1024 * 1024;  // rotate the access log file beyond
  int access_log_files = 5;                                  // rotated files kept

  bool operator==(const RetentionSettings&) const = default;
};

// The local side of cost and energy accounting (docs/ADVISOR.md: how each figure is computed).
// Cloud prices are the per-model `price` tables of the cloud entries.
struct LocalCostSettings {
  double hardware_price_usd = 0;  // purchase price of the machines that serve local models
  int amortisation_months = 36;   // the hardware's price is spread over this many months
  double power_busy_watts = 0;    // extra draw while a worker computes, on top of idle
  double power_idle_watts = 0;    // draw of the machines while on and idle (around the clock)
  double electricity_usd_per_kwh = 0;
  double carbon_grams_per_kwh = 0;      // grid carbon intensity
  double operations_usd_per_month = 0;  // the people time local hosting needs

  bool operator==(const LocalCostSettings&) const = default;
};

// The thresholds of `hearth advise`'s decision rubric.
struct AdvisorSettings {
  std::int64_t min_requests = 100;  // fewer in the window: "not enough data"
  // Rubric (1): a workload at least this frequent (requests per 30 days) makes per-request
  // cost matter.
  std::int64_t frequent_requests_per_month = 10'000;
  double sensitive_share = 0.01;         // rubric (2): share of requests with sensitivity labels
  double min_local_success_rate = 0.99;  // rubric (3)
  double max_escalation_rate = 0.2;      // capability check: escalations / local answers
  double min_eval_agreement = 0.9;       // capability check: the local target's eval agreement
  std::string eval_results_dir;  // where `hearth eval` saves results; "" : hearth-evals/ beside
                                 // the configuration file (or the current directory)

  bool operator==(const AdvisorSettings&) const = default;
};

struct Config {
  std::string source;  // the file it came from, "" for the built-in defaults
  ServerSettings server;
  WorkerSettings workers;
  std::vector<Provider> providers;
  PolicySettings policy;
  PrivacySettings privacy;
  AuthSettings auth;
  LedgerSettings ledger;
  RetentionSettings retention;
  LocalCostSettings local_costs;
  AdvisorSettings advisor;
  std::string models_dir;     // scanned for *.gguf; "" : none
  std::string default_model;  // "" : the first model entry
  std::vector<ModelEntry> models;

  // The entry whose name or alias is `name` (exact match), or nullptr.
  const ModelEntry* find_model(std::string_view name) const;
  const Provider* find_provider(std::string_view name) const;

  bool operator==(const Config&) const = default;
};

struct ConfigError {
  std::string file;  // "" when not about a file
  int line = 0;      // 1-based; 0 when unknown
  std::string key;   // dotted path, e.g. "models[2].context"
  std::string message;
  // "FILE:LINE: KEY: MESSAGE", leaving out what is unknown.
  std::string to_string() const;
};

// Where models are looked for when no configuration file is given: $MODELS_DIR when set, else
// "../shared/models" when that directory exists (relative to the current directory), else "".
std::string default_models_dir();

// Built-in defaults: listen 127.0.0.1:8080, models_dir `default_models_dir` (when it exists)
// scanned, nothing else.
Config default_config(const std::string& default_models_dir);

// Parses YAML text; `source` names it in errors and anchors relative paths (its directory).
// Scans models_dir too (entries named after the file stem; a name already used in the file wins).
Expected<Config, ConfigError> parse_config(const std::string& yaml_text, const std::string& source);
Expected<Config, ConfigError> load_config_file(const std::string& path);

// The effective configuration, defaults filled in, as YAML that parse_config accepts again.
std::string explain(const Config& config);

}  // namespace hearth::config
