// `hearth advise`: the placement advisor over the configured ledger (src/advisor), printed as a
// table, JSON, or written as a self-contained HTML report.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "advisor/advisor.hpp"
#include "advisor/html_report.hpp"
#include "cli/commands.hpp"
#include "cli/time_arguments.hpp"
#include "config/config.hpp"
#include "gateway/trust.hpp"

namespace hearth::cli {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int fail(int status, const std::string& message) {
  std::fprintf(stderr, "hearth advise: %s\n", message.c_str());
  return status;
}

}  // namespace

int advise_command(const AdviseOptions& options) {
  const std::int64_t now = gateway::now_us();
  advisor::AdviseOptions advise_options;
  advise_options.now_us = now;
  advise_options.workload = options.workload;
  advise_options.until_us = now;
  advise_options.since_us = now - 30 * kMicrosPerDay;
  if (!options.since.empty()) {
    const auto since = parse_point_in_time(options.since, now, false);
    if (!since) {
      return fail(kExitUsage,
                  "--since: expected a date (YYYY-MM-DD, UTC) or a duration ago "
                  "(30d, 12h), got " +
                      options.since);
    }
    advise_options.since_us = *since;
  }
  if (!options.until.empty()) {
    const auto until = parse_point_in_time(options.until, now, true);
    if (!until) {
      return fail(kExitUsage,
                  "--until: expected a date (YYYY-MM-DD, UTC) or a duration ago "
                  "(7d, 12h), got " +
                      options.until);
    }
    advise_options.until_us = *until;
  }
  if (advise_options.until_us <= advise_options.since_us) {
    return fail(kExitUsage, "--until must be after --since");
  }
  config::Config config;
  if (options.config_path.empty()) {
    config = config::default_config(config::default_models_dir());
  } else {
    auto loaded = config::load_config_file(options.config_path);
    if (!loaded) return fail(kExitError, loaded.error().to_string());
    config = std::move(loaded.value());
  }
  auto store = gateway::open_configured_store(config);
  if (!store) return fail(kExitError, "cannot open the ledger store: " + store.error());
  auto report = advisor::advise(*store.value(), config, advise_options);
  if (!report) return fail(kExitError, report.error());

  if (!options.html_path.empty()) {
    std::ofstream out(options.html_path, std::ios::binary | std::ios::trunc);
    out << advisor::render_html(report.value());
    out.close();
    if (!out) return fail(kExitError, "cannot write " + options.html_path);
  }
  if (options.json) {
    std::printf("%s\n", advisor::to_json(report.value()).c_str());
  } else if (options.html_path.empty()) {
    std::fputs(advisor::render_table(report.value()).c_str(), stdout);
  } else {
    std::printf("Wrote %s (%zu workloads).\n", options.html_path.c_str(), report->workloads.size());
  }
  return 0;
}

}  // namespace hearth::cli
