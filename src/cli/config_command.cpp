// `hearth config check FILE` and `hearth config explain [FILE]`.
#include <cstdio>

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "gateway/privacy_guard.hpp"

namespace hearth::cli {

int config_check_command(const std::string& path) {
  auto config = config::load_config_file(path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
    return 1;
  }
  // The custom entities' patterns and validators are checked by compiling them, as serve does.
  if (auto scanner = gateway::build_scanner(config->privacy); !scanner) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), scanner.error().c_str());
    return 1;
  }
  const std::size_t count = config->models.size();
  std::printf("%s: ok (%zu model%s)\n", path.c_str(), count, count == 1 ? "" : "s");
  return 0;
}

int config_explain_command(const std::string& path) {
  if (path.empty()) {
    std::fputs(config::explain(config::default_config(config::default_models_dir())).c_str(),
               stdout);
    return 0;
  }
  auto config = config::load_config_file(path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
    return 1;
  }
  std::fputs(config::explain(config.value()).c_str(), stdout);
  return 0;
}

}  // namespace hearth::cli
