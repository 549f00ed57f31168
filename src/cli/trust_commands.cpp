// `hearth keys|usage|audit|retention`: the trust side of a gateway, worked on directly in its
// ledger store (SQLite or PostgreSQL, as the configuration says). A running gateway sees new and
// revoked keys at its next key refresh; every change made here is audited with actor "cli".
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/chain.hpp"
#include "auth/api_keys.hpp"
#include "cli/commands.hpp"
#include "cli/time_arguments.hpp"
#include "common/calendar.hpp"
#include "config/config.hpp"
#include "gateway/trust.hpp"
#include "ledger/records.hpp"
#include "ledger/store.hpp"

namespace hearth::cli {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr std::string_view kActor = "cli";

template <class... Args>
int fail(int status, std::string_view command, fmt::format_string<Args...> format, Args&&... args) {
  const std::string message = fmt::format(format, std::forward<Args>(args)...);
  std::fprintf(stderr, "hearth %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               message.c_str());
  return status;
}

void print_line(const std::string& text) { std::printf("%s\n", text.c_str()); }

Expected<config::Config, std::string> load_config(const std::string& path) {
  if (path.empty()) {
    return config::default_config(config::default_models_dir());
  }
  auto loaded = config::load_config_file(path);
  if (!loaded) {
    return unexpected(loaded.error().to_string());
  }
  return std::move(loaded.value());
}

// The configuration's store, or the exit status after saying why not.
struct OpenedStore {
  config::Config config;
  std::unique_ptr<ledger::Store> store;
};
Expected<OpenedStore, int> open_store(std::string_view command, const std::string& config_path) {
  auto config = load_config(config_path);
  if (!config) {
    return unexpected(fail(kExitError, command, "{}", config.error()));
  }
  auto store = gateway::open_configured_store(config.value());
  if (!store) {
    return unexpected(fail(kExitError, command, "cannot open the ledger store: {}", store.error()));
  }
  return OpenedStore{std::move(config.value()), std::move(store.value())};
}

// ---- Parsing command-line values -------------------------------------------------------------

std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    auto item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    start = end + 1;
  }
  return items;
}

// ---- Printing --------------------------------------------------------------------------------

// "YYYY-MM-DD HH:MM" (UTC).
std::string format_time(std::int64_t time_us) {
  const std::time_t seconds = static_cast<std::time_t>(time_us / kMicrosPerSecond);
  std::tm parts{};
  if (gmtime_r(&seconds, &parts) == nullptr) {
    return std::to_string(time_us);
  }
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &parts);
  return text;
}

// Columns padded to their widest cell; numbers right-aligned.
class Table {
 public:
  Table(std::vector<std::string> headers, std::vector<bool> right_aligned)
      : right_aligned_(std::move(right_aligned)) {
    rows_.push_back(std::move(headers));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const {
    std::vector<std::size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        const std::size_t pad = widths[i] - row[i].size();
        const bool last = i + 1 == row.size();
        if (right_aligned_[i]) line.append(pad, ' ');
        line += row[i];
        if (!right_aligned_[i] && !last) line.append(pad, ' ');
        if (!last) line += "  ";
      }
      print_line(line);
    }
  }

 private:
  std::vector<bool> right_aligned_;
  std::vector<std::vector<std::string>> rows_;
};

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string joined;
  for (const auto& item : items) {
    if (!joined.empty()) joined += separator;
    joined += item;
  }
  return joined;
}

std::optional<ledger::UsageGrouping> grouping_named(std::string_view name) {
  using ledger::UsageGrouping;
  if (name == "workload") return UsageGrouping::workload;
  if (name == "key") return UsageGrouping::key;
  if (name == "placement") return UsageGrouping::placement;
  if (name == "day") return UsageGrouping::day;
  if (name == "tenant") return UsageGrouping::tenant;
  if (name == "model") return UsageGrouping::model;
  return std::nullopt;
}

}  // namespace

int keys_create_command(const KeyCreateOptions& options) {
  constexpr std::string_view command = "keys create";
  const auto now = gateway::now_us();
  auth::KeyRequest request;
  request.tenant = options.tenant;
  request.name = options.name;
  if (options.tenant.empty()) return fail(kExitUsage, command, "--tenant is required");
  if (options.name.empty()) return fail(kExitUsage, command, "--name is required");
  request.scopes = split_list(options.scopes);
  if (!options.requests_per_minute.empty()) {
    request.requests_per_minute = parse_integer(options.requests_per_minute);
    if (!request.requests_per_minute) {
      return fail(kExitUsage, command, "--rpm (requests per minute): not a whole number: {}",
                  options.requests_per_minute);
    }
  }
  if (!options.tokens_per_minute.empty()) {
    request.tokens_per_minute = parse_integer(options.tokens_per_minute);
    if (!request.tokens_per_minute) {
      return fail(kExitUsage, command, "--tpm (tokens per minute): not a whole number: {}",
                  options.tokens_per_minute);
    }
  }
  if (!options.monthly_budget_usd.empty()) {
    request.monthly_budget_usd = parse_number(options.monthly_budget_usd);
    if (!request.monthly_budget_usd) {
      return fail(kExitUsage, command, "--monthly-budget (USD): not a number: {}",
                  options.monthly_budget_usd);
    }
  }
  if (!options.expires.empty()) {
    if (auto date = parse_date_us(options.expires)) {
      request.expires_us = *date;
    } else if (auto span = parse_duration_us(options.expires)) {
      request.expires_us = now + *span;
    } else {
      return fail(kExitUsage, command,
                  "--expires: expected a duration (30d, 12h, 90m) or a date (YYYY-MM-DD, UTC), "
                  "got {}",
                  options.expires);
    }
  }
  // Checked before the store is opened: a refused request leaves no database behind.
  auto made = auth::generate_key(request, now);
  if (!made) {
    return fail(kExitError, command, "{}", made.error());
  }
  auto opened = open_store(command, options.config_path);
  if (!opened) return opened.error();
  auto& store = *opened->store;
  const auto& record = made->record;
  if (auto stored = gateway::store_new_key(store, made.value(), std::string(kActor)); !stored) {
    return fail(kExitError, command, "{}", stored.error());
  }
  if (options.json) {
    print_line(gateway::key_json(record, now, 0, made->key));
    return 0;
  }
  print_line(
      fmt::format("Created API key {} for tenant {} ({}).", record.id, record.tenant, record.name));
  print_line("");
  print_line("  " + made->key);
  print_line("");
  print_line("This key will not be shown again: store it now (only its hash is kept).");
  return 0;
}

int keys_list_command(const std::string& config_path, bool json) {
  constexpr std::string_view command = "keys list";
  auto opened = open_store(command, config_path);
  if (!opened) return opened.error();
  auto& store = *opened->store;
  auto keys = store.list_keys();
  if (!keys) {
    return fail(kExitError, command, "could not read the keys: {}", keys.error());
  }
  const auto now = gateway::now_us();
  if (json) {
    auto spend = store.month_cloud_spend(month_start_us(now));
    if (!spend) {
      return fail(kExitError, command, "could not read this month's spend: {}", spend.error());
    }
    print_line(gateway::key_list_json(keys.value(), now, [&](const std::string& id) {
      const auto spent = spend->by_key.find(id);
      return spent == spend->by_key.end() ? 0.0 : spent->second;
    }));
    return 0;
  }
  if (keys->empty()) {
    print_line("No API keys (the gateway accepts requests without a key until one exists).");
    return 0;
  }
  Table table(
      {"ID", "TENANT", "NAME", "SCOPES", "RPM", "TPM", "BUDGET", "CREATED", "EXPIRES", "STATUS"},
      {false, false, false, false, true, true, true, false, false, false});
  for (const auto& key : keys.value()) {
    table.add({key.id, key.tenant, key.name, key.scopes.empty() ? "-" : join(key.scopes, ","),
               key.requests_per_minute ? std::to_string(*key.requests_per_minute) : "-",
               key.tokens_per_minute ? std::to_string(*key.tokens_per_minute) : "-",
               key.monthly_budget_usd ? fmt::format("${:.2f}", *key.monthly_budget_usd) : "-",
               format_time(key.created_us), key.expires_us ? format_time(*key.expires_us) : "-",
               std::string(gateway::key_status(key, now))});
  }
  table.print();
  return 0;
}

int keys_revoke_command(const std::string& config_path, const std::string& id, bool json) {
  constexpr std::string_view command = "keys revoke";
  if (id.empty()) return fail(kExitUsage, command, "the key id is required");
  auto opened = open_store(command, config_path);
  if (!opened) return opened.error();
  auto& store = *opened->store;
  auto revoked = gateway::revoke_stored_key(store, id, std::string(kActor));
  if (!revoked) {
    return fail(kExitError, command, "{}", revoked.error());
  }
  if (!revoked.value()) {
    return fail(kExitError, command, "no active key has the id {}", id);
  }
  if (json) {
    print_line(nlohmann::json{{"id", id}, {"revoked", true}}.dump(2));
  } else {
    print_line(fmt::format("Revoked API key {}.", id));
  }
  return 0;
}

int usage_command(const UsageOptions& options) {
  constexpr std::string_view command = "usage";
  const auto grouping = grouping_named(options.by);
  if (!grouping) {
    return fail(kExitUsage, command,
                "--by: expected workload, key, placement, day, tenant or model, got {}",
                options.by);
  }
  const auto now = gateway::now_us();
  std::int64_t from_us = now - 30 * kMicrosPerDay;
  std::int64_t to_us = now + 1;  // a record stamped this microsecond is included
  if (!options.since.empty()) {
    const auto since = parse_point_in_time(options.since, now, false);
    if (!since) {
      return fail(kExitUsage, command,
                  "--since: expected a date (YYYY-MM-DD, UTC) or a duration ago (7d, 12h), got {}",
                  options.since);
    }
    from_us = *since;
  }
  if (!options.until.empty()) {
    const auto until = parse_point_in_time(options.until, now, true);
    if (!until) {
      return fail(kExitUsage, command,
                  "--until: expected a date (YYYY-MM-DD, UTC) or a duration ago (7d, 12h), got {}",
                  options.until);
    }
    to_us = *until;
  }
  if (to_us <= from_us) {
    return fail(kExitUsage, command, "--until ({}) must be after --since ({})", format_time(to_us),
                format_time(from_us));
  }
  auto opened = open_store(command, options.config_path);
  if (!opened) return opened.error();
  auto rows = opened->store->summarise_usage(*grouping, from_us, to_us);
  if (!rows) {
    return fail(kExitError, command, "could not read the usage ledger: {}", rows.error());
  }
  ledger::UsageSummaryRow total{.group = "total"};
  double latency_sum = 0;
  for (const auto& row : rows.value()) {
    total.requests += row.requests;
    total.errors += row.errors;
    total.prompt_tokens += row.prompt_tokens;
    total.completion_tokens += row.completion_tokens;
    total.cloud_cost_usd += row.cloud_cost_usd;
    total.avoided_cost_usd += row.avoided_cost_usd;
    latency_sum += row.mean_latency_ms * static_cast<double>(row.requests);
  }
  if (total.requests > 0) {
    total.mean_latency_ms = latency_sum / static_cast<double>(total.requests);
  }
  const auto row_json = [](const ledger::UsageSummaryRow& row) {
    return nlohmann::json{{"group", row.group},
                          {"requests", row.requests},
                          {"errors", row.errors},
                          {"prompt_tokens", row.prompt_tokens},
                          {"completion_tokens", row.completion_tokens},
                          {"cloud_cost_usd", row.cloud_cost_usd},
                          {"avoided_cost_usd", row.avoided_cost_usd},
                          {"mean_latency_ms", row.mean_latency_ms}};
  };
  if (options.json) {
    nlohmann::json data = nlohmann::json::array();
    for (const auto& row : rows.value()) data.push_back(row_json(row));
    nlohmann::json total_json = row_json(total);
    total_json.erase("group");
    print_line(nlohmann::json{{"by", options.by},
                              {"from_us", from_us},
                              {"to_us", to_us},
                              {"rows", data},
                              {"total", total_json}}
                   .dump(2));
    return 0;
  }
  print_line(fmt::format("Usage by {} from {} to {} (UTC)", options.by, format_time(from_us),
                         format_time(to_us)));
  if (rows->empty()) {
    print_line("No requests in this period.");
    return 0;
  }
  Table table({std::string(options.by), "REQUESTS", "ERRORS", "PROMPT TOKENS", "COMPLETION TOKENS",
               "CLOUD COST $", "AVOIDED $", "MEAN LATENCY MS"},
              {false, true, true, true, true, true, true, true});
  const auto add_row = [&](const ledger::UsageSummaryRow& row, std::string group) {
    table.add({std::move(group), std::to_string(row.requests), std::to_string(row.errors),
               std::to_string(row.prompt_tokens), std::to_string(row.completion_tokens),
               fmt::format("{:.4f}", row.cloud_cost_usd),
               fmt::format("{:.4f}", row.avoided_cost_usd),
               fmt::format("{:.1f}", row.mean_latency_ms)});
  };
  for (const auto& row : rows.value()) add_row(row, row.group.empty() ? "(none)" : row.group);
  add_row(total, "TOTAL");
  table.print();
  return 0;
}

int audit_verify_command(const std::string& config_path, bool json) {
  constexpr std::string_view command = "audit verify";
  auto opened = open_store(command, config_path);
  if (!opened) return opened.error();
  auto& store = *opened->store;
  auto records = store.audit_records(0);
  if (!records) {
    return fail(kExitError, command, "could not read the audit log: {}", records.error());
  }
  auto anchors = store.audit_anchors();
  if (!anchors) {
    return fail(kExitError, command, "could not read the audit anchors: {}", anchors.error());
  }
  const auto verification = audit::verify_chain(records.value(), anchors.value());
  if (json) {
    print_line(nlohmann::json{{"ok", verification.ok},
                              {"records", records->size()},
                              {"records_checked", verification.records_checked},
                              {"anchors", anchors->size()},
                              {"first_bad_sequence", verification.first_bad_sequence},
                              {"problem", verification.problem}}
                   .dump(2));
  } else if (verification.ok) {
    print_line(fmt::format("audit log verified: {} records, chain intact (anchors: {})",
                           verification.records_checked, anchors->size()));
  } else {
    print_line(fmt::format("audit log TAMPERED: {} (first bad record: {})", verification.problem,
                           verification.first_bad_sequence));
  }
  return verification.ok ? 0 : kExitError;
}

int retention_run_command(const std::string& config_path, bool json) {
  constexpr std::string_view command = "retention run";
  auto opened = open_store(command, config_path);
  if (!opened) return opened.error();
  auto& store = *opened->store;
  const auto& retention = opened->config.retention;
  const auto now = gateway::now_us();
  const auto usage_before_us = now - retention.ledger_days * kMicrosPerDay;
  const auto audit_before_us = now - retention.audit_days * kMicrosPerDay;
  auto purged = store.purge(usage_before_us, audit_before_us);
  if (!purged) {
    return fail(kExitError, command, "the purge failed: {}", purged.error());
  }
  nlohmann::json detail{{"usage_deleted", purged->usage_deleted},
                        {"audit_deleted", purged->audit_deleted},
                        {"ledger_days", retention.ledger_days},
                        {"audit_days", retention.audit_days}};
  if (auto audited =
          gateway::append_audit(store, "retention.purged", std::string(kActor), detail.dump());
      !audited) {
    return fail(kExitError, command, "records were purged, but the audit record failed: {}",
                audited.error());
  }
  if (json) {
    detail["usage_before_us"] = usage_before_us;
    detail["audit_before_us"] = audit_before_us;
    print_line(detail.dump(2));
    return 0;
  }
  print_line(fmt::format("Deleted {} usage records older than {} days (before {} UTC).",
                         purged->usage_deleted, retention.ledger_days,
                         format_time(usage_before_us)));
  print_line(
      fmt::format("Deleted {} audit records older than {} days (before {} UTC; anchors kept).",
                  purged->audit_deleted, retention.audit_days, format_time(audit_before_us)));
  return 0;
}

}  // namespace hearth::cli
