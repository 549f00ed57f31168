// Subcommands of the `hearth` executable.
#pragma once

#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace hearth::cli {

struct RunOptions {
  std::string model_path;
  std::string prompt;  // empty: interactive chat
  engine::EngineOptions engine;
  int max_tokens = -1;
  float temperature = 0.8F;
  int seed = -1;
  bool verbose = false;
};

int run_command(const RunOptions& options);
int inspect_command(const std::string& path, bool as_json);
// Exit status 0 when the file is valid, 1 (error on stderr) when not.
int config_check_command(const std::string& path);
// `path` "": the built-in defaults, models from config::default_models_dir().
int config_explain_command(const std::string& path);

struct RouteExplainOptions {
  std::string config_path;  // "": the built-in defaults
  std::string task = "chat";
  std::string model;
  std::string workload;
  std::string tenant;
  std::string sensitivity;       // comma-separated labels
  long long prompt_tokens = -1;  // -1: not given
  long long max_tokens = -1;
  bool tools = false;
  bool images = false;
  std::string placement = "auto";
  std::string time;  // "HH:MM"; "": 12:00
};
// Prints the decision as JSON: exit 0; 1 bad configuration, 2 bad description, 3 the request
// would be refused (the error is printed).
int route_explain_command(const RouteExplainOptions& options);

struct PrivacyEvalOptions {
  std::string corpus_path;  // JSONL from tools/privacy_corpus/generate.py
  bool json = false;
  int show_errors = 0;  // false positives and negatives printed per type
};
// Scans every corpus document with the default scanner and reports precision and recall per
// entity type. Exit status 0 when every labelled type meets its target, 1 when one misses, 2 on
// usage or input errors (unreadable corpus, bad JSON line, offsets out of range).
int privacy_eval_command(const PrivacyEvalOptions& options);
// Prints one JSON line per finding in the file ("" or "-": standard input): type, labels, span
// and confidence, never the value. Exit status 0; 1 when the text is not valid UTF-8; 2 when it
// cannot be read.
int privacy_scan_command(const std::string& path);

// The trust commands (src/cli/trust_commands.cpp) work on the ledger store the configuration
// names (config_path "": the built-in defaults, SQLite hearth.db in the current directory). Exit
// status 0; 1 on errors (the store, a refused request, a tampered log); 2 on usage errors.
struct KeyCreateOptions {
  std::string config_path;
  std::string tenant;
  std::string name;
  std::string scopes;  // comma-separated
  // Numbers as given, parsed by the command so that an error names the option; "": no limit.
  std::string requests_per_minute;
  std::string tokens_per_minute;
  std::string monthly_budget_usd;
  std::string expires;  // "30d", "12h" (from now) or "YYYY-MM-DD" (UTC); "": never
  bool json = false;
};
// Makes a key, stores its hash, audits "key.created" and prints the key once.
int keys_create_command(const KeyCreateOptions& options);
// Every key without its hash, with its status (active, revoked, expired).
int keys_list_command(const std::string& config_path, bool json);
// Revokes an active key and audits "key.revoked"; 1 when no active key has that id.
int keys_revoke_command(const std::string& config_path, const std::string& id, bool json);

struct UsageOptions {
  std::string config_path;
  std::string by = "workload";  // workload, key, placement, day, tenant, model
  std::string since;            // "YYYY-MM-DD" (UTC) or a duration ago ("7d"); "": 30 days ago
  std::string until;  // "YYYY-MM-DD" (up to the end of that day, UTC) or a duration ago; "": now
  bool json = false;
};
// Usage totals grouped by one dimension, with a total line.
int usage_command(const UsageOptions& options);

struct AdviseOptions {
  std::string config_path;
  std::string since;     // "YYYY-MM-DD" (UTC) or a duration ago ("30d"); "": 30 days ago
  std::string until;     // "YYYY-MM-DD" (up to the end of that day, UTC) or a duration ago; "": now
  std::string workload;  // "": every workload
  bool json = false;
  std::string html_path;  // "": no HTML report
};
// `hearth advise`: per workload, move local, keep in the cloud, hybrid or not enough data, with
// the figures behind it (docs/ADVISOR.md). 0 on success, 1 on errors, 2 on usage errors.
int advise_command(const AdviseOptions& options);

// Verifies the audit log's hash chain against its anchors: 0 intact, 1 tampered (naming the
// first bad record) or unreadable.
int audit_verify_command(const std::string& config_path, bool json);

// Deletes usage and audit records older than the configuration's retention and audits
// "retention.purged".
int retention_run_command(const std::string& config_path, bool json);

struct EvalOptions {
  std::string config_path;  // "": the built-in defaults
  std::string samples_path;
  std::vector<std::string> targets;  // model names or aliases of the configuration
  std::string reference;             // "": none
  std::string url;                   // "": the configuration's server.listen
  std::string api_key_env;           // "": no API key sent
  std::string ca_file;               // https gateways: "" the system trust store
  std::string workload = "hearth-eval";
  int concurrency = 4;
  double min_agreement = 0.8;
  double timeout_seconds = 600;
  std::string results_dir;  // "": advisor.eval_results_dir, else hearth-evals/ beside the config
  bool resume = false;
  bool json = false;
};
// `hearth eval` (src/cli/eval_command.cpp, docs/EVAL.md): exit status 0 when every target's
// agreement reaches min_agreement, 1 when one does not, 2 when the eval cannot run (usage,
// configuration, samples, results directory, gateway unreachable).
int eval_command(const EvalOptions& options);

}  // namespace hearth::cli
