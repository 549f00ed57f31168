// The gateway's configuration: one YAML file, parsed strictly into these plain types at load.
// An unknown key, a wrong type or a dangling reference is an error naming the file, the line and
// the key; nothing is silently defaulted except keys that are absent.
#pragma once

#include <chrono>
#include <cstdint>
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

struct ModelEntry {
  std::string name;
  std::vector<std::string> aliases;
  ModelTask task = ModelTask::chat;
  std::variant<LocalBackend, RemoteBackend> backend;
  std::chrono::milliseconds keep_alive{5 * 60 * 1000};  // idle unload of a local worker; 0: never
  bool load_on_start = false;
  bool from_models_dir = false;  // found by scanning models_dir, not written in the file
  int line = 0;                  // where the entry starts in the file (0: not from a file)

  // Member-wise, provenance (from_models_dir, line) included.
  bool operator==(const ModelEntry&) const = default;
};

struct ServerSettings {
  std::string listen = "127.0.0.1:8080";
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

struct Config {
  std::string source;  // the file it came from, "" for the built-in defaults
  ServerSettings server;
  WorkerSettings workers;
  std::string models_dir;     // scanned for *.gguf; "" : none
  std::string default_model;  // "" : the first model entry
  std::vector<ModelEntry> models;

  // The entry whose name or alias is `name` (exact match), or nullptr.
  const ModelEntry* find_model(std::string_view name) const;

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
