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

}  // namespace hearth::cli
