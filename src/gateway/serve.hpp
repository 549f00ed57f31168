// `hearth serve`: the gateway process. Loads the configuration, listens, supervises workers,
// reloads on SIGHUP and POST /admin/reload, and shuts down gracefully on SIGTERM/SIGINT.
#pragma once

#include <string>

namespace hearth::gateway {

struct ServeOptions {
  std::string config_path;  // "" : built-in defaults
  std::string listen;       // overrides server.listen when set
  std::string models_dir;   // the default models_dir when no config file is given
};

// Returns the process exit code.
int run_gateway(const ServeOptions& options);

}  // namespace hearth::gateway
