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
//       upstream_model: NAME         #   remote only; default: the entry's name
//       api_key_env: ENV_VAR         #   remote only; default: no key
//       health_path: /health         #   remote only
//
// Relative paths (path, models_dir, runtime_dir, hearth_binary) resolve against the directory of
// the configuration file. Entries found in models_dir are local chat models named after the file
// stem (task detection from GGUF metadata is left to the caller); a file whose stem or path is
// already used by a configured entry is skipped, and so is one whose stem is not a valid name.
#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
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

constexpr std::array<std::string_view, 5> kTopKeys = {"server", "workers", "models_dir",
                                                      "default_model", "models"};
constexpr std::array<std::string_view, 9> kServerKeys = {
    "listen",         "io_threads",   "max_body_bytes", "max_header_bytes", "max_connections",
    "header_timeout", "idle_timeout", "shutdown_grace", "access_log"};
constexpr std::array<std::string_view, 10> kWorkerKeys = {
    "runtime_dir",        "hearth_binary",  "max_loaded_models",
    "max_loaded_bytes",   "load_timeout",   "wait_timeout",
    "health_interval",    "health_timeout", "restart_backoff_initial",
    "restart_backoff_max"};
constexpr std::array<std::string_view, 6> kLocalOnlyKeys = {
    "context", "parallel", "threads", "micro_batch", "cache_type_k", "cache_type_v"};
constexpr std::array<std::string_view, 4> kRemoteOnlyKeys = {"url", "upstream_model", "api_key_env",
                                                             "health_path"};
constexpr std::array<std::string_view, 16> kModelKeys = {
    "name",    "aliases",        "task",         "path",         "context",    "parallel",
    "threads", "micro_batch",    "cache_type_k", "cache_type_v", "keep_alive", "load_on_start",
    "url",     "upstream_model", "api_key_env",  "health_path"};

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
  if (contains(kModelKeys, key)) return " (it belongs in a model entry under 'models')";
  return "";
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

// The base URL without a trailing '/', or an error message.
Expected<std::string, std::string> check_url(std::string_view url) {
  constexpr std::string_view kHttp = "http://";
  if (url.starts_with("https://")) {
    return unexpected(std::string(
        "https upstreams are cloud providers, configured elsewhere; a 'url' model is a plain "
        "http:// server inside the perimeter"));
  }
  const std::string expected = "expected http://HOST:PORT[/PREFIX], got '" + std::string(url) + "'";
  if (!url.starts_with(kHttp)) return unexpected(expected);
  std::string_view rest = url.substr(kHttp.size());
  for (char c : rest) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isspace(byte) || std::iscntrl(byte) || c == '?' || c == '#') {
      return unexpected(expected);
    }
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    return unexpected(expected);
  }
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.back() != ']') {
    auto port = parse_unsigned(authority.substr(colon + 1));
    if (colon == 0 || !port || *port == 0 || *port > 65535) return unexpected(expected);
  }
  std::string base(url);
  while (base.size() > kHttp.size() + authority.size() && base.back() == '/') base.pop_back();
  return base;
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
    if (auto* models = find(fields, "models"); models && !read_models(*models, config.models)) {
      return false;
    }
    scan_models_dir(config);
    if (default_model && !config.default_model.empty() &&
        config.find_model(config.default_model) == nullptr) {
      std::vector<std::string_view> names;
      for (const auto& entry : config.models) {
        names.push_back(entry.name);
        names.insert(names.end(), entry.aliases.begin(), entry.aliases.end());
      }
      return fail(*default_model, "no model is named '" + config.default_model + "'" +
                                      did_you_mean(config.default_model, names));
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

  bool read_models(const Field& field, std::vector<ModelEntry>& models) {
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
      if (!read_model(node, path, entry, sites)) return false;
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
  bool read_model(const YAML::Node& node, const std::string& path, ModelEntry& entry,
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

    const Field* local_path = find(fields, "path");
    const Field* url = find(fields, "url");
    if (local_path != nullptr && url != nullptr) {
      const Field& second = local_path->line() > url->line() ? *local_path : *url;
      return fail(second,
                  "a model has either 'path' (a local GGUF file) or 'url' (a remote "
                  "server), not both");
    }
    if (local_path == nullptr && url == nullptr) {
      return fail(entry.line, path,
                  "model '" + entry.name +
                      "' needs 'path' (a local GGUF file) or 'url' (a remote OpenAI-compatible "
                      "server)");
    }
    if (local_path != nullptr) {
      if (!read_local(fields, entry)) return false;
    } else {
      if (!read_remote(fields, entry)) return false;
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
    for (auto key : kRemoteOnlyKeys) {
      if (auto* f = find(fields, key)) {
        return fail(*f, "'" + std::string(key) +
                            "' applies only to a remote model (with 'url'), not to a local "
                            "'path' model");
      }
    }
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
    for (auto key : kLocalOnlyKeys) {
      if (auto* f = find(fields, key)) {
        return fail(*f, "'" + std::string(key) +
                            "' applies only to a local model (with 'path'), not to a 'url' "
                            "model");
      }
    }
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
      if (!remote.api_key_env.empty() && !valid_env_name(remote.api_key_env)) {
        return fail(*f,
                    "expected the name of an environment variable ([A-Za-z_][A-Za-z0-9_]*), "
                    "got '" +
                        remote.api_key_env + "'");
      }
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

  std::string source_;
  fs::path base_dir_;
  ConfigError error_;
};

}  // namespace

std::string_view to_string(ModelTask task) { return kTaskNames[static_cast<std::size_t>(task)]; }

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
    } else {
      const auto& remote = std::get<RemoteBackend>(entry.backend);
      out << YAML::Key << "url" << YAML::Value << remote.base_url;
      out << YAML::Key << "upstream_model" << YAML::Value << remote.upstream_model;
      out << YAML::Key << "api_key_env" << YAML::Value << remote.api_key_env;
      out << YAML::Key << "health_path" << YAML::Value << remote.health_path;
    }
    out << YAML::Key << "keep_alive" << YAML::Value << format_duration(entry.keep_alive);
    out << YAML::Key << "load_on_start" << YAML::Value << entry.load_on_start;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
  assert(out.good() && "the emitter is driven with balanced maps and sequences");
  return std::string(out.c_str()) + "\n";
}

}  // namespace hearth::config
