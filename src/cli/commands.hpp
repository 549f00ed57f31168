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

}  // namespace hearth::cli
