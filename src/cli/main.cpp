// `hearth`: one binary, several subcommands.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "gateway/serve.hpp"
#include "worker/worker.hpp"

namespace {

void add_engine_options(CLI::App& command, hearth::engine::EngineOptions& engine) {
  command.add_option("--context,-c", engine.context, "KV cache tokens, shared by the slots")
      ->check(CLI::Range(16, 1 << 24));
  command.add_option("--threads,-t", engine.threads, "CPU threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  command.add_option("--batch", engine.batch, "Most tokens per decode step")
      ->check(CLI::Range(1, 1 << 20));
  command.add_option("--micro-batch", engine.micro_batch, "Physical batch size")
      ->check(CLI::Range(1, 1 << 20));
  command.add_option("--cache-type-k", engine.cache_type_k, "KV cache type of K (f16, q8_0, ...)");
  command.add_option("--cache-type-v", engine.cache_type_v, "KV cache type of V (f16, q8_0, ...)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hearth: a local-first AI gateway"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("--verbose,-v", verbose, "Log llama.cpp's own messages too");

  hearth::gateway::ServeOptions serve;
  auto* serve_command = app.add_subcommand(
      "serve", "Run the gateway: the OpenAI-compatible front door to local workers and backends");
  serve_command->add_option("--config,-c", serve.config_path, "YAML configuration file")
      ->check(CLI::ExistingFile);
  serve_command->add_option("--listen", serve.listen,
                            "HOST:PORT, overriding server.listen (port 0 picks a free one)");
  serve_command->add_option("--models-dir", serve.models_dir,
                            "Directory scanned for GGUF files when no --config is given");

  hearth::worker::WorkerOptions worker;
  auto* worker_command =
      app.add_subcommand("worker", "Serve one GGUF model over an OpenAI-compatible HTTP API");
  worker_command->add_option("--model,-m", worker.model_path, "GGUF file")
      ->required()
      ->check(CLI::ExistingFile);
  worker_command->add_option("--name", worker.name,
                             "Model name served (default: the file name without .gguf)");
  worker_command->add_option("--alias", worker.aliases, "Other names accepted in \"model\"");
  worker_command->add_option("--listen", worker.listen, "HOST:PORT (port 0 picks a free one)");
  worker_command->add_option("--socket", worker.socket_path, "Serve on a unix socket instead");
  worker_command
      ->add_option("--parallel", worker.engine.parallel, "Slots: requests decoded together")
      ->check(CLI::Range(1, 256));
  worker_command->add_option("--queue", worker.engine.max_queue,
                             "Requests that may wait for a slot before 503");
  worker_command->add_option("--max-body-bytes", worker.limits.max_body_bytes,
                             "Largest request body accepted (413 beyond)");
  worker_command->add_option("--io-threads", worker.io_threads, "HTTP threads")
      ->check(CLI::Range(1, 64));
  double idle_timeout_seconds = 75.0;
  double header_timeout_seconds = 10.0;
  worker_command
      ->add_option("--idle-timeout", idle_timeout_seconds,
                   "Seconds a keep-alive connection may sit idle between requests")
      ->check(CLI::Range(0.1, 86400.0));
  worker_command
      ->add_option("--header-timeout", header_timeout_seconds,
                   "Seconds a new connection has to send its request headers")
      ->check(CLI::Range(0.1, 3600.0));
  add_engine_options(*worker_command, worker.engine);
  worker_command
      ->add_flag("--stamp-stream-writes", worker.stamp_stream_writes,
                 "Start every write of a stream with an SSE comment ': hearth-sent-ns T' (T: "
                 "CLOCK_MONOTONIC), to time each chunk's delivery on this machine (benchmarks)")
      ->envname("HEARTH_STAMP_STREAM_WRITES");
  double admission_wait_ms = 1.0;
  worker_command
      ->add_option("--admission-wait-ms", admission_wait_ms,
                   "Milliseconds an idle engine waits for requests arriving together (at most a "
                   "quarter of a typical step once steps were timed)")
      ->check(CLI::Range(0.0, 100.0));

  hearth::cli::RunOptions run;
  auto* run_command = app.add_subcommand(
      "run", "Answer a prompt on stdout, or chat interactively when no prompt is given");
  run_command->add_option("--model,-m", run.model_path, "GGUF file")
      ->required()
      ->check(CLI::ExistingFile);
  run_command->add_option("prompt", run.prompt, "The prompt (omit for an interactive chat)");
  run_command->add_option("--max-tokens,-n", run.max_tokens, "Most tokens to generate");
  run_command->add_option("--temperature", run.temperature, "Sampling temperature (0: greedy)");
  run_command->add_option("--seed", run.seed, "Sampling seed");
  add_engine_options(*run_command, run.engine);

  auto* models_command = app.add_subcommand("models", "Look at model files");
  models_command->require_subcommand(1);
  std::string inspect_path;
  bool inspect_json = false;
  auto* inspect = models_command->add_subcommand("inspect", "Print a GGUF file's metadata");
  inspect->add_option("file", inspect_path, "GGUF file")->required();
  inspect->add_flag("--json", inspect_json, "Print JSON");

  auto* route_command = app.add_subcommand("route", "Ask the placement policy");
  route_command->require_subcommand(1);
  hearth::cli::RouteExplainOptions route;
  auto* route_explain = route_command->add_subcommand(
      "explain", "Which rule and targets a described request would get, and why (sends nothing)");
  route_explain->add_option("--config,-c", route.config_path, "YAML configuration file");
  route_explain->add_option("--task", route.task, "chat, completion, embedding or rerank")
      ->capture_default_str();
  route_explain->add_option("--model", route.model, "The requested model");
  route_explain->add_option("--workload", route.workload, "x-hearth-workload");
  route_explain->add_option("--tenant", route.tenant, "The caller's tenant");
  route_explain->add_option("--sensitivity", route.sensitivity,
                            "Comma-separated sensitivity labels (pii,secret,...)");
  route_explain->add_option("--prompt-tokens", route.prompt_tokens, "Estimated prompt tokens");
  route_explain->add_option("--max-tokens", route.max_tokens, "Requested max_tokens");
  route_explain->add_flag("--tools", route.tools, "The request has tools");
  route_explain->add_flag("--images", route.images, "The request has images");
  route_explain
      ->add_option("--placement", route.placement, "x-hearth-placement: local, cloud, auto")
      ->capture_default_str();
  route_explain->add_option("--time", route.time, "Local time of day HH:MM (default 12:00)");

  auto* config_command = app.add_subcommand("config", "Check or explain a configuration file");
  config_command->require_subcommand(1);
  std::string config_path;
  auto* config_check = config_command->add_subcommand("check", "Validate a configuration file");
  config_check->add_option("file", config_path, "YAML configuration file")->required();
  auto* config_explain = config_command->add_subcommand(
      "explain", "Print the effective configuration with every default filled in");
  config_explain->add_option("file", config_path, "YAML configuration file (none: the defaults)");

  auto* privacy_command =
      app.add_subcommand("privacy", "Look for sensitive data with the privacy scanner, locally");
  privacy_command->require_subcommand(1);
  hearth::cli::PrivacyEvalOptions privacy_eval_options;
  auto* privacy_eval = privacy_command->add_subcommand(
      "eval", "Precision and recall per entity type on a labelled corpus (tools/privacy_corpus)");
  privacy_eval->add_option("--corpus", privacy_eval_options.corpus_path, "JSONL corpus (required)");
  privacy_eval->add_flag("--json", privacy_eval_options.json, "Print JSON");
  privacy_eval
      ->add_option("--show-errors", privacy_eval_options.show_errors,
                   "Print up to N false positives and N false negatives per type")
      ->check(CLI::NonNegativeNumber);
  std::string privacy_scan_path;
  auto* privacy_scan = privacy_command->add_subcommand(
      "scan", "Print the findings in a text as JSON lines (types and spans, never values)");
  privacy_scan->add_option("file", privacy_scan_path, "Text file, or - for standard input");

  // The trust side: keys, the usage ledger, the audit log (src/cli/trust_commands.cpp).
  const auto add_config_option = [](CLI::App& command, std::string& path) {
    command.add_option("--config,-c", path,
                       "YAML configuration file naming the ledger store (none: hearth.db here)");
  };
  auto* keys_command = app.add_subcommand("keys", "Create, list and revoke API keys");
  keys_command->require_subcommand(1);
  hearth::cli::KeyCreateOptions key_create;
  auto* keys_create =
      keys_command->add_subcommand("create", "Make an API key and print it (shown only once)");
  add_config_option(*keys_create, key_create.config_path);
  keys_create->add_option("--tenant", key_create.tenant, "Tenant the key belongs to (required)");
  keys_create->add_option("--name", key_create.name, "What the key is for (required)");
  keys_create->add_option(
      "--scopes", key_create.scopes,
      "Comma-separated: admin, workload:NAME, model:NAME, placement:local|cloud "
      "(none: everything but admin)");
  keys_create->add_option("--rpm", key_create.requests_per_minute, "Requests per minute");
  keys_create->add_option("--tpm", key_create.tokens_per_minute, "Tokens per minute");
  keys_create->add_option("--monthly-budget", key_create.monthly_budget_usd,
                          "Cloud spend per calendar month, USD");
  keys_create->add_option("--expires", key_create.expires,
                          "A duration from now (30d, 12h) or a date (YYYY-MM-DD, UTC)");
  keys_create->add_flag("--json", key_create.json, "Print JSON");
  std::string keys_config_path;
  bool keys_json = false;
  auto* keys_list = keys_command->add_subcommand("list", "List the keys (never their secrets)");
  add_config_option(*keys_list, keys_config_path);
  keys_list->add_flag("--json", keys_json, "Print JSON");
  std::string revoke_id;
  auto* keys_revoke = keys_command->add_subcommand("revoke", "Revoke a key at once");
  add_config_option(*keys_revoke, keys_config_path);
  keys_revoke->add_option("id", revoke_id, "The key's id (hk_...)");
  keys_revoke->add_flag("--json", keys_json, "Print JSON");

  hearth::cli::UsageOptions usage;
  auto* usage_command = app.add_subcommand("usage", "Usage and cost totals from the ledger");
  add_config_option(*usage_command, usage.config_path);
  usage_command->add_option("--by", usage.by, "workload, key, placement, day, tenant or model")
      ->capture_default_str();
  usage_command->add_option("--since", usage.since,
                            "A date (YYYY-MM-DD, UTC) or a duration ago (7d); default 30 days ago");
  usage_command->add_option("--until", usage.until,
                            "Up to the end of a date (YYYY-MM-DD, UTC) or a duration ago; "
                            "default now");
  usage_command->add_flag("--json", usage.json, "Print JSON");

  hearth::cli::AdviseOptions advise;
  auto* advise_command = app.add_subcommand(
      "advise", "Which workloads to move local, what it saves, when the hardware pays back");
  add_config_option(*advise_command, advise.config_path);
  advise_command->add_option(
      "--since", advise.since,
      "A date (YYYY-MM-DD, UTC) or a duration ago (30d); default 30 days ago");
  advise_command->add_option("--until", advise.until,
                             "Up to the end of a date (YYYY-MM-DD, UTC) or a duration ago; "
                             "default now");
  advise_command->add_option("--workload", advise.workload, "Only this workload");
  advise_command->add_flag("--json", advise.json, "Print JSON");
  advise_command->add_option("--html", advise.html_path, "Write a self-contained HTML report");

  std::string trust_config_path;
  bool trust_json = false;
  auto* audit_command = app.add_subcommand("audit", "Check the audit log");
  audit_command->require_subcommand(1);
  auto* audit_verify = audit_command->add_subcommand(
      "verify", "Verify the audit log's hash chain and anchors (exit 1 when tampered)");
  add_config_option(*audit_verify, trust_config_path);
  audit_verify->add_flag("--json", trust_json, "Print JSON");
  auto* retention_command = app.add_subcommand("retention", "Apply the retention settings");
  retention_command->require_subcommand(1);
  auto* retention_run = retention_command->add_subcommand(
      "run", "Delete usage and audit records older than the configured retention now");
  add_config_option(*retention_run, trust_config_path);
  retention_run->add_flag("--json", trust_json, "Print JSON");

  hearth::cli::EvalOptions eval;
  auto* eval_command = app.add_subcommand(
      "eval", "Score targets on your own samples through a running gateway (docs/EVAL.md)");
  eval_command->add_option("--config,-c", eval.config_path, "The gateway's YAML configuration");
  eval_command->add_option("--samples", eval.samples_path, "JSONL samples file")->required();
  eval_command->add_option("--target", eval.targets, "A model to evaluate (repeat for more)")
      ->required();
  eval_command->add_option("--reference", eval.reference,
                           "The model whose answers samples without expected output are "
                           "compared with");
  eval_command->add_option("--url", eval.url, "The gateway (default: server.listen)");
  eval_command->add_option("--api-key-env", eval.api_key_env,
                           "Environment variable holding the gateway API key");
  eval_command->add_option("--ca-file", eval.ca_file, "CA bundle for an https gateway");
  eval_command->add_option("--workload", eval.workload, "x-hearth-workload sent")
      ->capture_default_str();
  eval_command->add_option("--concurrency", eval.concurrency, "Requests in flight at most")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  eval_command
      ->add_option("--min-agreement", eval.min_agreement,
                   "Exit 1 when a target's mean agreement is below this")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  eval_command->add_option("--timeout", eval.timeout_seconds, "Seconds per request")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  eval_command->add_option("--results", eval.results_dir,
                           "Results directory (default: advisor.eval_results_dir)");
  eval_command->add_flag("--resume", eval.resume, "Skip the answers already recorded");
  eval_command->add_flag("--json", eval.json, "Print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int status = app.exit(error);
    // The trust commands promise 2 for every usage error (CLI11's own codes are 100 and up).
    const bool trust_command = keys_command->parsed() || usage_command->parsed() ||
                               audit_command->parsed() || retention_command->parsed() ||
                               advise_command->parsed() || eval_command->parsed();
    return status != 0 && trust_command ? 2 : status;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if (*serve_command) {
    if (serve.models_dir.empty()) {
      serve.models_dir = hearth::config::default_models_dir();
    }
    return hearth::gateway::run_gateway(serve);
  }
  if (*worker_command) {
    worker.verbose = verbose;
    worker.limits.idle_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(idle_timeout_seconds * 1000));
    worker.limits.header_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(header_timeout_seconds * 1000));
    worker.engine.admission_wait =
        std::chrono::microseconds(static_cast<int64_t>(admission_wait_ms * 1000));
    return hearth::worker::run_worker(worker);
  }
  if (*run_command) {
    run.verbose = verbose;
    return hearth::cli::run_command(run);
  }
  if (*inspect) {
    return hearth::cli::inspect_command(inspect_path, inspect_json);
  }
  if (*route_explain) {
    return hearth::cli::route_explain_command(route);
  }
  if (*privacy_eval) {
    return hearth::cli::privacy_eval_command(privacy_eval_options);
  }
  if (*privacy_scan) {
    return hearth::cli::privacy_scan_command(privacy_scan_path);
  }
  if (*keys_create) {
    return hearth::cli::keys_create_command(key_create);
  }
  if (*keys_list) {
    return hearth::cli::keys_list_command(keys_config_path, keys_json);
  }
  if (*keys_revoke) {
    return hearth::cli::keys_revoke_command(keys_config_path, revoke_id, keys_json);
  }
  if (*usage_command) {
    return hearth::cli::usage_command(usage);
  }
  if (*advise_command) {
    return hearth::cli::advise_command(advise);
  }
  if (*audit_verify) {
    return hearth::cli::audit_verify_command(trust_config_path, trust_json);
  }
  if (*retention_run) {
    return hearth::cli::retention_run_command(trust_config_path, trust_json);
  }
  if (*eval_command) {
    return hearth::cli::eval_command(eval);
  }
  if (*config_check) {
    return hearth::cli::config_check_command(config_path);
  }
  if (*config_explain) {
    return hearth::cli::config_explain_command(config_path);
  }
  return 0;
}
