// `hearth eval`: the user's own samples sent through a running gateway to two or more targets,
// scored against expected outputs or a reference target, with cost, energy and a placement
// recommendation (docs/EVAL.md). Answers are appended to a results file as they arrive, so that
// `--resume` picks up after a kill; the summaries are saved for `hearth advise`.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "advisor/advisor.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "eval/report.hpp"
#include "eval/results.hpp"
#include "eval/runner.hpp"
#include "eval/samples.hpp"

namespace hearth::cli {

namespace {

namespace fs = std::filesystem;

constexpr int kExitPass = 0;
constexpr int kExitBelowThreshold = 1;
constexpr int kExitUsage = 2;

int usage_error(const std::string& message) {
  std::cerr << "hearth eval: " << message << "\n";
  return kExitUsage;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Names in file names: anything but [A-Za-z0-9._-] becomes '_'.
std::string file_name_part(std::string_view text) {
  std::string part;
  for (const char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
    part.push_back(plain ? c : '_');
  }
  return part.empty() ? "_" : part;
}

// The gateway's own address from server.listen: a wildcard host is reached on loopback.
std::string default_gateway_url(const config::Config& config) {
  std::string listen = config.server.listen;
  const std::size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  const std::string port = colon == std::string::npos ? "8080" : listen.substr(colon + 1);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]" || host == "::") host = "[::1]";
  return (config.server.tls ? "https://" : "http://") + host + ":" + port;
}

// The advisor reads its eval results from where this writes them by default.
fs::path results_directory(const EvalOptions& options, const config::Config& config) {
  if (!options.results_dir.empty()) return fs::absolute(options.results_dir);
  return fs::absolute(advisor::eval_results_dir(config));
}

Expected<std::string, std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected("cannot read " + path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes next to the final name and renames, so that a reader (hearth advise) never sees half a
// summary.
Expected<bool, std::string> write_file_atomically(const fs::path& path, const std::string& text) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return unexpected("cannot write " + temporary.string());
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) return unexpected("cannot rename " + temporary.string() + ": " + error.message());
  return true;
}

// Progress on stderr: a bar redrawn in place on a terminal, a plain line every tenth otherwise.
class Progress {
 public:
  Progress(std::size_t total, std::size_t already_done)
      : total_(total), done_(already_done), terminal_(isatty(STDERR_FILENO) == 1) {}

  void advance(bool failed) {
    ++done_;
    if (failed) ++errors_;
    const auto now = std::chrono::steady_clock::now();
    if (terminal_) {
      if (done_ == total_ || now - last_draw_ >= std::chrono::milliseconds(100)) draw_bar(now);
      if (done_ == total_) std::cerr << "\n";
      return;
    }
    const std::size_t tenth = total_ == 0 ? 10 : done_ * 10 / total_;
    if (tenth != last_tenth_ || done_ == total_) {
      last_tenth_ = tenth;
      std::cerr << "hearth eval: " << done_ << "/" << total_ << " answers, " << errors_
                << " errors\n";
    }
  }

 private:
  void draw_bar(std::chrono::steady_clock::time_point now) {
    last_draw_ = now;
    constexpr std::size_t kWidth = 30;
    const std::size_t filled = total_ == 0 ? kWidth : done_ * kWidth / total_;
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::cerr << "\r[" << bar << "] " << done_ << "/" << total_ << " answers, " << errors_
              << " errors" << std::flush;
  }

  std::size_t total_;
  std::size_t done_;
  std::size_t errors_ = 0;
  bool terminal_;
  std::size_t last_tenth_ = 11;
  std::chrono::steady_clock::time_point last_draw_{};
};

std::string format_optional(const std::optional<double>& value, const char* format) {
  if (!value) return "-";
  char text[64];
  std::snprintf(text, sizeof text, format, *value);
  return text;
}

void print_table(const eval::Report& report, const eval::RunInfo& run, std::size_t samples) {
  std::size_t name_width = 6;
  for (const auto& target : report.targets) {
    name_width = std::max(name_width, target.target.size() + (target.is_reference ? 4 : 0));
  }
  std::cout << "eval of " << run.samples_file << " (" << samples << " samples, workload "
            << run.workload << ") through " << run.gateway_url << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %-9s %9s %6s %8s %8s %9s %9s %10s %8s %8s %6s\n",
                static_cast<int>(name_width), "target", "placement", "agreement", "exact", "p50 ms",
                "p95 ms", "prompt/r", "compl/r", "usd/1k", "Wh/1k", "gCO2/1k", "errors");
  std::cout << line;
  for (const auto& target : report.targets) {
    const std::string name = target.target + (target.is_reference ? " (r)" : "");
    std::snprintf(line, sizeof line, "%-*s %-9s %9s %6s %8s %8s %9s %9s %10s %8s %8s %6zu\n",
                  static_cast<int>(name_width), name.c_str(), target.placement.c_str(),
                  format_optional(target.agreement, "%.3f").c_str(),
                  format_optional(target.exact_match_rate, "%.3f").c_str(),
                  format_optional(target.latency_p50_ms, "%.1f").c_str(),
                  format_optional(target.latency_p95_ms, "%.1f").c_str(),
                  format_optional(target.prompt_tokens_per_request, "%.1f").c_str(),
                  format_optional(target.completion_tokens_per_request, "%.1f").c_str(),
                  format_optional(target.cost_usd_per_1k, "%.4f").c_str(),
                  format_optional(target.energy_wh_per_1k, "%.3f").c_str(),
                  format_optional(target.co2_grams_per_1k, "%.3f").c_str(), target.errors);
    std::cout << line;
  }
  std::cout << "recommendation: " << report.recommendation << "\n";
  for (const auto& target : report.targets) {
    if (!target.passes) {
      std::cout << "below --min-agreement " << format_optional(report.min_agreement, "%.3f") << ": "
                << target.target << " ("
                << (target.agreement ? format_optional(target.agreement, "%.3f")
                                     : std::string("nothing scored"))
                << ")\n";
    }
    for (const auto& example : target.error_examples) {
      std::cout << "  " << target.target << " error: " << example << "\n";
    }
  }
}

}  // namespace

int eval_command(const EvalOptions& options) {
  if (options.targets.empty()) return usage_error("give at least one --target");
  if (!(options.min_agreement >= 0.0 && options.min_agreement <= 1.0)) {
    return usage_error("--min-agreement must be between 0 and 1");
  }
  if (options.concurrency < 1) return usage_error("--concurrency must be at least 1");

  config::Config config;
  if (options.config_path.empty()) {
    config = config::default_config(config::default_models_dir());
  } else {
    auto loaded = config::load_config_file(options.config_path);
    if (!loaded) return usage_error(loaded.error().to_string());
    config = std::move(*loaded);
  }

  // Targets by their entry's name (an alias given on the command line names the same entry).
  std::vector<eval::TargetSpec> specs;
  std::set<std::string, std::less<>> seen;
  auto add_target = [&](const std::string& name) -> std::optional<std::string> {
    const auto* entry = config.find_model(name);
    if (entry == nullptr) {
      std::string known;
      for (const auto& model : config.models) known += (known.empty() ? "" : ", ") + model.name;
      return "unknown target \"" + name + "\" (models: " + (known.empty() ? "none" : known) + ")";
    }
    if (entry->task != config::ModelTask::chat) {
      return "target \"" + name + "\" is an " + std::string(config::to_string(entry->task)) +
             " model: eval needs chat or completion models";
    }
    if (!seen.insert(entry->name).second) return std::nullopt;
    eval::TargetSpec spec;
    spec.name = entry->name;
    spec.placement = config::placement_of(*entry);
    if (const auto* cloud = std::get_if<config::CloudBackend>(&entry->backend)) spec.cloud = *cloud;
    specs.push_back(std::move(spec));
    return std::nullopt;
  };
  for (const auto& target : options.targets) {
    if (auto error = add_target(target)) return usage_error(*error);
  }
  std::string reference;
  if (!options.reference.empty()) {
    if (auto error = add_target(options.reference)) return usage_error(*error);
    reference = config.find_model(options.reference)->name;
  }

  auto samples_text = read_file(options.samples_path);
  if (!samples_text) return usage_error(samples_text.error());
  auto parsed_samples = eval::parse_samples(*samples_text);
  if (!parsed_samples) {
    const auto& error = parsed_samples.error();
    return usage_error(options.samples_path +
                       (error.line ? ":" + std::to_string(error.line) : std::string()) + ": " +
                       error.message);
  }
  const auto& samples = parsed_samples->samples;
  const std::string& samples_hash = parsed_samples->hash;
  if (reference.empty()) {
    for (const auto& sample : samples) {
      if (!sample.has_expectation()) {
        return usage_error(options.samples_path + ":" + std::to_string(sample.line) +
                           ": no \"expected\" or \"expected_json\": give --reference MODEL to "
                           "compare with its answers");
      }
    }
  }

  eval::RunnerOptions runner;
  runner.workload = options.workload;
  runner.concurrency = options.concurrency;
  runner.ca_file = options.ca_file;
  runner.timeout = std::chrono::milliseconds(
      static_cast<std::int64_t>(std::max(1.0, options.timeout_seconds) * 1000.0));
  if (!options.api_key_env.empty()) {
    const char* key = std::getenv(options.api_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      return usage_error("--api-key-env " + options.api_key_env + ": the variable is not set");
    }
    runner.api_key = key;
  }
  const std::string url = options.url.empty() ? default_gateway_url(config) : options.url;
  auto endpoint = http::Endpoint::parse(url);
  if (!endpoint) return usage_error("--url " + url + ": " + endpoint.error());
  runner.gateway = *endpoint;

  const fs::path directory = results_directory(options, config);
  std::error_code directory_error;
  fs::create_directories(directory, directory_error);
  if (directory_error) {
    return usage_error("cannot create the results directory " + directory.string() + ": " +
                       directory_error.message());
  }

  // Answers already recorded for this very samples file, per target (--resume), and the files
  // new answers are appended to.
  const std::string stem = file_name_part(fs::path(options.samples_path).stem().string()) + "-" +
                           samples_hash.substr(0, 12);
  std::set<std::string, std::less<>> sample_keys;
  for (const auto& sample : samples) sample_keys.insert(sample.key);
  eval::ResultsByTarget results;
  std::map<std::string, std::ofstream, std::less<>> outputs;
  std::vector<eval::Job> jobs;
  std::size_t reused = 0;
  for (const auto& spec : specs) {
    const fs::path path = directory / (stem + "." + file_name_part(spec.name) + ".jsonl");
    auto& by_sample = results[spec.name];
    if (options.resume) {
      auto recorded = eval::read_results_file(path.string());
      if (!recorded) return usage_error(recorded.error());
      if (recorded->unreadable_lines > 0) {
        std::cerr << "hearth eval: " << path.string() << ": " << recorded->unreadable_lines
                  << " unreadable line(s) ignored (their samples are sent again)\n";
      }
      for (auto& result : recorded->results) {
        if (result.ok() && result.samples_hash == samples_hash && result.target == spec.name &&
            sample_keys.count(result.sample) > 0) {
          by_sample[result.sample] = std::move(result);
        }
      }
      reused += by_sample.size();
    }
    auto& out = outputs[spec.name];
    out.open(path, std::ios::binary | (options.resume ? std::ios::app : std::ios::trunc));
    if (!out) return usage_error("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  // Sample by sample, so that a run cut short has answers from every target for the same samples.
  for (const auto& sample : samples) {
    for (const auto& spec : specs) {
      if (results[spec.name].count(sample.key) == 0) jobs.push_back({&sample, spec.name});
    }
  }
  if (options.resume) {
    std::cerr << "hearth eval: resuming: " << reused << " answers already recorded, " << jobs.size()
              << " to send\n";
  }

  if (!jobs.empty()) {
    auto reachable = eval::probe_gateway(runner);
    if (!reachable) return usage_error(reachable.error());
  }
  Progress progress(jobs.size() + reused, reused);
  bool write_failed = false;
  eval::run_jobs(jobs, samples_hash, runner, [&](eval::SampleResult result) {
    auto& out = outputs[result.target];
    out << eval::to_json_line(result) << '\n';
    write_failed = write_failed || !out.flush();
    progress.advance(!result.ok());
    // Failures too: the report shows their messages.
    results[result.target][result.sample] = std::move(result);
  });
  if (write_failed) std::cerr << "hearth eval: writing the results file failed\n";

  eval::ReportSettings settings;
  settings.min_agreement = options.min_agreement;
  settings.reference = reference;
  settings.local_costs = config.local_costs;
  const auto report = eval::build_report(samples, specs, results, settings);

  eval::RunInfo run;
  run.workload = options.workload;
  run.samples_file = fs::absolute(options.samples_path).string();
  run.samples_hash = samples_hash;
  run.gateway_url = runner.gateway.to_string();
  run.reference = reference;
  run.time_us = now_us();

  std::vector<std::string> saved;
  for (const auto& target : report.targets) {
    // Nothing to tell the advisor about a target with no scored sample.
    if (!target.agreement) {
      std::cerr << "hearth eval: no summary saved for " << target.target
                << ": no sample could be scored\n";
      continue;
    }
    const fs::path path =
        directory / (file_name_part(options.workload) + "." + file_name_part(target.target) + "." +
                     std::to_string(run.time_us) + ".json");
    auto written =
        write_file_atomically(path, eval::summary_json(target, report, run).dump(2) + "\n");
    if (!written) {
      std::cerr << "hearth eval: " << written.error() << "\n";
    } else {
      saved.push_back(path.string());
    }
  }

  if (options.json) {
    auto document = eval::report_json(report, run);
    document["saved"] = saved;
    std::cout << document.dump(2) << "\n";
  } else {
    print_table(report, run, samples.size());
    for (const auto& path : saved) std::cout << "saved " << path << "\n";
  }
  return report.all_pass() ? kExitPass : kExitBelowThreshold;
}

}  // namespace hearth::cli
