// Subcommands of the `hearth` executable.
#pragma once

#include <string>

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

}  // namespace hearth::cli
