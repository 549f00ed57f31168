// The gateway's trust side: the ledger store (usage records, keys, audit log), the writer that
// commits records off the request path, the key ring, rate limits and budgets, and the
// background upkeep (key and spend refresh from the store, retention purges). One per process;
// shared by every request.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/api_keys.hpp"
#include "auth/limits.hpp"
#include "common/expected.hpp"
#include "config/config.hpp"
#include "ledger/store.hpp"
#include "ledger/writer.hpp"

namespace hearth::gateway {

// Where the configuration says the ledger lives (the SQLite path, the PostgreSQL URL from its
// environment variable). `config_dir` resolves the default SQLite path ("hearth.db" beside the
// configuration file, or in the current directory without one).
Expected<ledger::StoreSettings, std::string> store_settings(const config::Config& config);

// Opens the configured store, migrated (for the CLI as well as the gateway).
Expected<std::unique_ptr<ledger::Store>, std::string> open_configured_store(
    const config::Config& config);

std::int64_t now_us();

// One audit event appended straight to the store (admin actions; requests go through the
// writer).
Expected<std::monostate, std::string> append_audit(ledger::Store& store, std::string kind,
                                                   const std::string& actor,
                                                   std::string detail_json);

// Key administration, for the admin API and the CLI alike: written straight to the store and
// audited there in the same call. A key whose audit record fails is revoked again (nobody has
// seen its secret yet).
Expected<std::monostate, std::string> store_new_key(ledger::Store& store, const auth::NewKey& key,
                                                    const std::string& actor);
// False when no active key has that id.
Expected<bool, std::string> revoke_stored_key(ledger::Store& store, const std::string& id,
                                              const std::string& actor);
std::string_view key_status(const ledger::ApiKeyRecord& key, std::int64_t now_us);
// Everything about a key but its hash, as a JSON object; `secret` (the key itself, shown once)
// only when given.
std::string key_json(const ledger::ApiKeyRecord& key, std::int64_t now_us,
                     double spend_this_month_usd, std::string_view secret = {});
// {"object":"list","data":[key_json...]}, with each key's spend this month from `spend_of`.
std::string key_list_json(const std::vector<ledger::ApiKeyRecord>& keys, std::int64_t now_us,
                          const std::function<double(const std::string& key_id)>& spend_of);

class Trust {
 public:
  static Expected<std::unique_ptr<Trust>, std::string> open(const config::Config& config);
  ~Trust();
  Trust(const Trust&) = delete;
  Trust& operator=(const Trust&) = delete;

  // Intervals and budgets follow the configuration (called at start and on reload).
  void apply(const config::Config& config);

  // Requests need a key once one exists (checked per request: the first key made through the
  // CLI turns authentication on within key_refresh).
  bool keys_exist() const { return !keys_.empty(); }
  const auth::KeyRing& keys() const { return keys_; }
  auth::RateLimiter& rates() { return rates_; }
  auth::BudgetTracker& budgets() { return budgets_; }
  ledger::LedgerWriter& writer() { return *writer_; }
  ledger::Store& store() { return *store_; }

  // Queues a usage record; returns its ticket (the position BudgetTracker::refresh compares).
  std::uint64_t record_usage(ledger::UsageRecord&& record);
  void audit(std::string kind, std::string actor, std::string detail_json);

  // Admin actions, written through at once (blocking: they are rare) and audited.
  Expected<auth::NewKey, std::string> create_key(const auth::KeyRequest& request,
                                                 const std::string& actor);
  Expected<bool, std::string> revoke_key(const std::string& id, const std::string& actor);
  Expected<std::vector<ledger::ApiKeyRecord>, std::string> list_keys();

  // Re-reads keys and spend now (tests and admin actions do not wait for the next refresh).
  void refresh_now();

 private:
  Trust(std::unique_ptr<ledger::Store> store, const config::Config& config);
  void upkeep();
  void refresh_keys();
  void refresh_spend();
  void purge();

  std::unique_ptr<ledger::Store> store_;
  std::unique_ptr<ledger::LedgerWriter> writer_;
  auth::KeyRing keys_;
  auth::RateLimiter rates_;
  auth::BudgetTracker budgets_;
  std::mutex usage_mutex_;  // keeps tickets in the writer's order
  std::uint64_t usage_pushed_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::chrono::milliseconds key_refresh_{2'000};
  std::chrono::milliseconds spend_refresh_{5'000};
  config::RetentionSettings retention_;
  std::thread upkeep_thread_;
};

}  // namespace hearth::gateway
