// API keys: generated from 256 random bits, shown once, stored only as a SHA-256 hash (a fast
// hash is enough for a uniformly random secret of that size; nothing to brute-force), found by
// their public id and compared in constant time.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/expected.hpp"
#include "ledger/records.hpp"

namespace hearth::auth {

struct KeyRequest {
  std::string tenant;                               // [A-Za-z0-9._-]{1,64}
  std::string name;                                 // printable, 1..128 bytes
  std::vector<std::string> scopes;                  // each checked by check_scope()
  std::optional<std::int64_t> requests_per_minute;  // > 0
  std::optional<std::int64_t> tokens_per_minute;    // > 0
  std::optional<double> monthly_budget_usd;         // >= 0
  std::optional<std::int64_t> expires_us;           // in the future
};

struct NewKey {
  std::string key;  // "hk_" + id hex (16) + "_" + secret (base62, 43 characters); shown once
  ledger::ApiKeyRecord record;
};

// Validates the request and makes a key; the error names the bad field.
Expected<NewKey, std::string> generate_key(const KeyRequest& request, std::int64_t now_us);

// SHA-256 of a presented key string, and its hex form (what the store keeps).
using KeyDigest = std::array<unsigned char, 32>;
KeyDigest key_digest(std::string_view key);
std::string hash_key(std::string_view key);

// The key a client presented: "Authorization: Bearer KEY" (OpenAI clients) or "x-api-key: KEY"
// (Anthropic clients). Empty headers mean "none". An error says what is malformed.
enum class CredentialProblem { missing, malformed };
struct CredentialError {
  CredentialProblem problem;
  std::string message;
};
Expected<std::string_view, CredentialError> presented_key(std::string_view authorization,
                                                          std::string_view x_api_key);

// A scope is "admin", "workload:NAME", "model:NAME" or "placement:local|cloud"; NAME may end in
// '*' (prefix match). Returns the problem with a malformed scope.
std::optional<std::string> check_scope(std::string_view scope);

// What a request asks for, against a key's scopes.
struct ScopeRequest {
  std::string_view workload;            // "" when none
  std::string_view model;               // as requested
  std::string_view placement_override;  // x-hearth-placement value, "" when none
  bool admin = false;                   // an admin endpoint
};
// nullopt when allowed, else a message naming the missing scope. Rules: admin endpoints need
// "admin"; when a key has any workload: scope the request's workload must match one (a request
// without a workload matches none); the same for model:; a placement override needs a matching
// placement: scope when the key has any placement: scope.
std::optional<std::string> scope_violation(const std::vector<std::string>& scopes,
                                           const ScopeRequest& request);

enum class AuthFailure { unknown, revoked, expired };
struct AuthError {
  AuthFailure failure;
  std::string message;  // for the client; never says how much of a key matched
};

// The keys the gateway accepts, refreshed from the store. Thread-safe.
class KeyRing {
 public:
  void replace(std::vector<ledger::ApiKeyRecord> keys);
  void upsert(ledger::ApiKeyRecord key);
  bool empty() const;
  std::size_t size() const;
  // Looks the key's id up and compares hashes in constant time; an unknown id is compared against
  // a dummy hash so that the answer takes as long as for a known one.
  Expected<std::shared_ptr<const ledger::ApiKeyRecord>, AuthError> authenticate(
      std::string_view key, std::int64_t now_us) const;

 private:
  // Looked up by a view into the presented key, without copying it.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  // The stored hex hash decoded once, so that a request compares 32 bytes and builds no string.
  struct Entry {
    std::shared_ptr<const ledger::ApiKeyRecord> record;
    std::optional<KeyDigest> digest;  // nullopt: the stored hash is not 64 hex digits
  };
  static Entry entry_of(ledger::ApiKeyRecord key);
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Entry, IdHash, std::equal_to<>> by_id_;
};

}  // namespace hearth::auth
