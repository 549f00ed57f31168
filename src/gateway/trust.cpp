#include "gateway/trust.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>

#include "common/calendar.hpp"

namespace hearth::gateway {

namespace {

constexpr std::int64_t kMicrosPerDay = 86'400'000'000;

}  // namespace

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Expected<ledger::StoreSettings, std::string> store_settings(const config::Config& config) {
  ledger::StoreSettings settings;
  settings.anchor_interval = config.ledger.anchor_interval;
  if (config.ledger.store == config::LedgerStore::off) {
    return unexpected(std::string("the ledger is off (ledger.store: off)"));
  }
  if (config.ledger.store == config::LedgerStore::postgresql) {
    settings.kind = ledger::StoreKind::postgresql;
    const char* url = std::getenv(config.ledger.url_env.c_str());
    if (url == nullptr || *url == '\0') {
      return unexpected("ledger.url_env: the environment variable " + config.ledger.url_env +
                        " (the PostgreSQL connection URL) is not set");
    }
    settings.postgresql_url = url;
    return settings;
  }
  settings.kind = ledger::StoreKind::sqlite;
  if (!config.ledger.path.empty()) {
    settings.sqlite_path = config.ledger.path;
  } else if (!config.source.empty()) {
    settings.sqlite_path =
        (std::filesystem::path(config.source).parent_path() / "hearth.db").lexically_normal();
  } else {
    settings.sqlite_path = "hearth.db";
  }
  return settings;
}

Expected<std::unique_ptr<ledger::Store>, std::string> open_configured_store(
    const config::Config& config) {
  auto settings = store_settings(config);
  if (!settings) {
    return unexpected(settings.error());
  }
  return ledger::open_store(settings.value());
}

Expected<std::monostate, std::string> append_audit(ledger::Store& store, std::string kind,
                                                   const std::string& actor,
                                                   std::string detail_json) {
  const ledger::AuditEvent event{.time_us = now_us(),
                                 .kind = std::move(kind),
                                 .actor = actor,
                                 .detail = std::move(detail_json)};
  auto appended = store.append({}, std::span(&event, 1));
  if (!appended) {
    return unexpected(appended.error());
  }
  return std::monostate{};
}

namespace {

template <class T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json();
}

}  // namespace

Expected<std::monostate, std::string> store_new_key(ledger::Store& store, const auth::NewKey& key,
                                                    const std::string& actor) {
  const auto& record = key.record;
  if (auto inserted = store.insert_key(record); !inserted) {
    return unexpected("could not store the key: " + inserted.error());
  }
  const nlohmann::json detail{{"id", record.id},
                              {"tenant", record.tenant},
                              {"name", record.name},
                              {"scopes", record.scopes}};
  if (auto audited = append_audit(store, "key.created", actor, detail.dump()); !audited) {
    (void)store.revoke_key(record.id, now_us());
    return unexpected("could not write the audit record (the key was revoked): " + audited.error());
  }
  return std::monostate{};
}

Expected<bool, std::string> revoke_stored_key(ledger::Store& store, const std::string& id,
                                              const std::string& actor) {
  auto revoked = store.revoke_key(id, now_us());
  if (!revoked) {
    return unexpected("could not revoke the key: " + revoked.error());
  }
  if (revoked.value()) {
    if (auto audited = append_audit(store, "key.revoked", actor, nlohmann::json{{"id", id}}.dump());
        !audited) {
      return unexpected("key " + id +
                        " was revoked, but the audit record failed: " + audited.error());
    }
  }
  return revoked.value();
}

std::string_view key_status(const ledger::ApiKeyRecord& key, std::int64_t now) {
  if (key.revoked_us) return "revoked";
  if (key.expires_us && *key.expires_us <= now) return "expired";
  return "active";
}

std::string key_json(const ledger::ApiKeyRecord& key, std::int64_t now, double spend_this_month_usd,
                     std::string_view secret) {
  nlohmann::json out{{"id", key.id},
                     {"object", "api_key"},
                     {"tenant", key.tenant},
                     {"name", key.name},
                     {"scopes", key.scopes},
                     {"requests_per_minute", optional_json(key.requests_per_minute)},
                     {"tokens_per_minute", optional_json(key.tokens_per_minute)},
                     {"monthly_budget_usd", optional_json(key.monthly_budget_usd)},
                     {"created_us", key.created_us},
                     {"expires_us", optional_json(key.expires_us)},
                     {"revoked_us", optional_json(key.revoked_us)},
                     {"status", key_status(key, now)},
                     {"spend_this_month_usd", spend_this_month_usd}};
  if (!secret.empty()) {
    out["key"] = secret;
  }
  return out.dump();
}

std::string key_list_json(const std::vector<ledger::ApiKeyRecord>& keys, std::int64_t now,
                          const std::function<double(const std::string& key_id)>& spend_of) {
  std::string out = R"({"object":"list","data":[)";
  for (const auto& key : keys) {
    if (out.back() != '[') out += ',';
    out += key_json(key, now, spend_of(key.id));
  }
  out += "]}";
  return out;
}

Expected<std::unique_ptr<Trust>, std::string> Trust::open(const config::Config& config) {
  auto store = open_configured_store(config);
  if (!store) {
    return unexpected(store.error());
  }
  std::unique_ptr<Trust> trust(new Trust(std::move(store.value()), config));
  // Keys and spend are known before the first request is accepted.
  trust->refresh_keys();
  trust->refresh_spend();
  trust->upkeep_thread_ = std::thread([raw = trust.get()] { raw->upkeep(); });
  return trust;
}

Trust::Trust(std::unique_ptr<ledger::Store> store, const config::Config& config)
    : store_(std::move(store)) {
  ledger::WriterSettings settings;
  settings.queue_capacity = config.ledger.queue_capacity;
  settings.flush_interval = config.ledger.flush_interval;
  settings.max_batch = config.ledger.max_batch;
  writer_ = std::make_unique<ledger::LedgerWriter>(*store_, settings);
  apply(config);
}

Trust::~Trust() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (upkeep_thread_.joinable()) {
    upkeep_thread_.join();
  }
  // The writer commits what is queued; if the store stays unavailable, say what is lost.
  if (!writer_->flush(std::chrono::seconds(10))) {
    spdlog::error(
        "ledger: {} usage records and audit events could not be committed before shutdown "
        "(last store error: {}); they are lost",
        writer_->stats().queued.load(), writer_->last_error());
  }
  writer_.reset();
}

void Trust::apply(const config::Config& config) {
  std::lock_guard lock(mutex_);
  key_refresh_ = config.auth.key_refresh;
  spend_refresh_ = config.auth.spend_refresh;
  retention_ = config.retention;
  wake_.notify_all();
}

std::uint64_t Trust::record_usage(ledger::UsageRecord&& record) {
  std::lock_guard lock(usage_mutex_);
  writer_->push(std::move(record));
  return ++usage_pushed_;
}

void Trust::audit(std::string kind, std::string actor, std::string detail_json) {
  ledger::AuditEvent event;
  event.time_us = now_us();
  event.kind = std::move(kind);
  event.actor = std::move(actor);
  event.detail = std::move(detail_json);
  writer_->push(std::move(event));
}

Expected<auth::NewKey, std::string> Trust::create_key(const auth::KeyRequest& request,
                                                      const std::string& actor) {
  auto key = auth::generate_key(request, now_us());
  if (!key) {
    return unexpected(key.error());
  }
  if (auto stored = store_new_key(*store_, key.value(), actor); !stored) {
    return unexpected(stored.error());
  }
  keys_.upsert(key->record);
  spdlog::info("API key {} created for tenant {} by {}", key->record.id, key->record.tenant, actor);
  return key;
}

Expected<bool, std::string> Trust::revoke_key(const std::string& id, const std::string& actor) {
  auto revoked = revoke_stored_key(*store_, id, actor);
  if (revoked && revoked.value()) {
    spdlog::info("API key {} revoked by {}", id, actor);
    refresh_keys();
  }
  return revoked;
}

Expected<std::vector<ledger::ApiKeyRecord>, std::string> Trust::list_keys() {
  return store_->list_keys();
}

void Trust::refresh_now() {
  refresh_keys();
  refresh_spend();
}

void Trust::refresh_keys() {
  auto keys = store_->list_keys();
  if (!keys) {
    spdlog::warn("could not re-read the API keys (keeping the ones known): {}", keys.error());
    return;
  }
  keys_.replace(std::move(keys.value()));
}

void Trust::refresh_spend() {
  const auto month = month_start_us(now_us());
  // Read the committed position first: every record up to it is in the store when it is read.
  const std::uint64_t committed = writer_->stats().usage_written.load();
  auto totals = store_->month_cloud_spend(month);
  if (!totals) {
    spdlog::warn("could not re-read the month's cloud spend: {}", totals.error());
    return;
  }
  budgets_.refresh(totals.value(), month, committed);
}

void Trust::purge() {
  config::RetentionSettings retention;
  {
    std::lock_guard lock(mutex_);
    retention = retention_;
  }
  const auto now = now_us();
  auto purged = store_->purge(now - retention.ledger_days * kMicrosPerDay,
                              now - retention.audit_days * kMicrosPerDay);
  if (!purged) {
    spdlog::warn("retention purge failed (will try again): {}", purged.error());
    return;
  }
  if (purged->usage_deleted > 0 || purged->audit_deleted > 0) {
    spdlog::info("retention purge: {} usage records and {} audit records older than {} / {} days",
                 purged->usage_deleted, purged->audit_deleted, retention.ledger_days,
                 retention.audit_days);
    audit("retention.purged", "gateway",
          nlohmann::json{{"usage_deleted", purged->usage_deleted},
                         {"audit_deleted", purged->audit_deleted}}
              .dump());
  }
}

void Trust::upkeep() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  // open() read keys and spend already; the first purge runs at start.
  auto next_keys = Clock::now() + key_refresh_;
  auto next_spend = Clock::now() + spend_refresh_;
  auto next_purge = Clock::now();
  while (!stopping_) {
    const auto now = Clock::now();
    const bool purge_on = retention_.purge_interval.count() > 0;
    if (now >= next_keys) {
      next_keys = now + key_refresh_;
      lock.unlock();
      refresh_keys();
      lock.lock();
    }
    if (now >= next_spend) {
      next_spend = now + spend_refresh_;
      lock.unlock();
      refresh_spend();
      lock.lock();
    }
    if (purge_on && now >= next_purge) {
      next_purge = now + retention_.purge_interval;
      lock.unlock();
      purge();
      lock.lock();
    }
    auto wake_at = std::min(next_keys, next_spend);
    if (purge_on) {
      wake_at = std::min(wake_at, next_purge);
    }
    wake_.wait_until(lock, wake_at, [&] { return stopping_; });
  }
}

}  // namespace hearth::gateway
