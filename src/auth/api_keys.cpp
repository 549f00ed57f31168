#include "auth/api_keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <mutex>

#include "common/ascii.hpp"
#include "common/utf8.hpp"

namespace hearth::auth {
namespace {

constexpr std::string_view kKeyPrefix = "hk_";
constexpr std::size_t kIdHexDigits = 16;
constexpr std::size_t kSecretLength = 43;  // 62^43 > 2^256: as much entropy as 32 random bytes
constexpr std::size_t kMaxTenantLength = 64;
constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxScopeNameLength = 256;
constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// The largest multiple of 62 that fits a byte: bytes at or above it are drawn again, so that
// every character is equally likely.
constexpr unsigned kBase62Limit = 62 * 4;

constexpr std::string_view kInvalidKey = "invalid API key";

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(size * 2, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return hex;
}

// The 32 bytes a stored hex hash stands for; nullopt unless it is exactly 64 hex digits.
std::optional<KeyDigest> from_hex_digest(const std::string& hex) {
  KeyDigest digest{};
  std::size_t length = 0;
  if (hex.size() != 2 * digest.size() ||
      OPENSSL_hexstr2buf_ex(digest.data(), digest.size(), &length, hex.c_str(), '\0') != 1 ||
      length != digest.size()) {
    return std::nullopt;
  }
  return digest;
}

bool random_bytes(unsigned char* out, std::size_t size) {
  return RAND_bytes(out, static_cast<int>(size)) == 1;
}

bool is_tenant_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Visible ASCII: no space, no control characters, nothing above 0x7e.
bool is_token_char(char c) { return c > 0x20 && c < 0x7f; }

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

bool has_control_char(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

// Appends rather than "\"" + text: GCC 12 warns falsely (-Wrestrict) about the latter.
std::string quoted(std::string_view text) {
  std::string result;
  result.reserve(text.size() + 2);
  result += '"';
  result += text;
  result += '"';
  return result;
}

std::optional<std::string> check_limit(std::string_view field,
                                       const std::optional<std::int64_t>& limit) {
  if (limit && *limit <= 0) {
    return std::string(field) + " must be greater than 0, got " + std::to_string(*limit);
  }
  return std::nullopt;
}

std::optional<std::string> check_request(const KeyRequest& request, std::int64_t now_us) {
  if (request.tenant.empty() || request.tenant.size() > kMaxTenantLength) {
    return "tenant must be 1 to " + std::to_string(kMaxTenantLength) + " characters long";
  }
  for (const char c : request.tenant) {
    if (!is_tenant_char(c)) {
      return "tenant may only contain letters, digits, '.', '_' and '-'";
    }
  }
  if (request.name.empty() || request.name.size() > kMaxNameLength) {
    return "name must be 1 to " + std::to_string(kMaxNameLength) + " bytes long";
  }
  if (!is_valid_utf8(request.name) || has_control_char(request.name)) {
    return std::string("name must be printable UTF-8 text without control characters");
  }
  for (const auto& scope : request.scopes) {
    if (auto problem = check_scope(scope)) return "scopes: " + *problem;
  }
  if (auto problem = check_limit("requests_per_minute", request.requests_per_minute)) {
    return problem;
  }
  if (auto problem = check_limit("tokens_per_minute", request.tokens_per_minute)) {
    return problem;
  }
  if (request.monthly_budget_usd &&
      !(std::isfinite(*request.monthly_budget_usd) && *request.monthly_budget_usd >= 0)) {
    return std::string("monthly_budget_usd must be a finite amount of at least 0");
  }
  if (request.expires_us && *request.expires_us <= now_us) {
    return std::string("expires_us must be in the future");
  }
  return std::nullopt;
}

std::optional<std::string> make_secret() {
  std::string secret;
  secret.reserve(kSecretLength);
  std::array<unsigned char, 32> pool{};
  while (secret.size() < kSecretLength) {
    if (!random_bytes(pool.data(), pool.size())) return std::nullopt;
    for (const unsigned char byte : pool) {
      if (byte >= kBase62Limit) continue;
      secret += kBase62[byte % 62];
      if (secret.size() == kSecretLength) break;
    }
  }
  return secret;
}

// "hk_" + id hex: the text before the second '_'; "" when the key does not have that shape.
std::string_view key_id_of(std::string_view key) {
  if (!key.starts_with(kKeyPrefix)) return {};
  const auto end = key.find('_', kKeyPrefix.size());
  if (end == std::string_view::npos) return {};
  return key.substr(0, end);
}

bool scope_matches(std::string_view pattern, std::string_view value) {
  if (pattern.ends_with('*')) {
    pattern.remove_suffix(1);
    return value.starts_with(pattern);
  }
  return value == pattern;
}

// The key's scopes of one kind ("workload:" ...), for the check and for the message.
std::vector<std::string_view> scopes_of_kind(const std::vector<std::string>& scopes,
                                             std::string_view kind) {
  std::vector<std::string_view> found;
  for (const auto& scope : scopes) {
    if (std::string_view(scope).starts_with(kind)) found.emplace_back(scope);
  }
  return found;
}

std::string scope_list(const std::vector<std::string_view>& scopes) {
  std::string list;
  for (const auto scope : scopes) {
    if (!list.empty()) list += ", ";
    list += scope;
  }
  return list;
}

// Checks one kind of scope; nullopt when the key has none of that kind or one matches.
std::optional<std::string> kind_violation(const std::vector<std::string>& scopes,
                                          std::string_view kind, std::string_view what,
                                          std::string_view value) {
  const auto of_kind = scopes_of_kind(scopes, kind);
  if (of_kind.empty()) return std::nullopt;
  if (!value.empty()) {
    for (const auto scope : of_kind) {
      if (scope_matches(scope.substr(kind.size()), value)) return std::nullopt;
    }
    return "this key may not use " + std::string(what) + " " + quoted(value) + " (it has scopes " +
           scope_list(of_kind) + ")";
  }
  return "this key may only be used with a " + std::string(what) + " (it has scopes " +
         scope_list(of_kind) + ")";
}

}  // namespace

KeyDigest key_digest(std::string_view key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up in its providers on every
  // digest, which took two thirds of the time of hashing a key (every authenticated request).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  assert(sha256 != nullptr && "SHA-256 is always available in OpenSSL");
  const bool hashed =
      EVP_Digest(key.data(), key.size(), digest.data(), &length, sha256, nullptr) == 1;
  assert(hashed && length == KeyDigest{}.size() && "SHA-256 is always available in OpenSSL");
  (void)hashed;
  KeyDigest result;
  std::copy_n(digest.begin(), result.size(), result.begin());
  return result;
}

std::string hash_key(std::string_view key) {
  const auto digest = key_digest(key);
  return to_hex(digest.data(), digest.size());
}

Expected<NewKey, std::string> generate_key(const KeyRequest& request, std::int64_t now_us) {
  if (auto problem = check_request(request, now_us)) return unexpected(std::move(*problem));
  std::array<unsigned char, kIdHexDigits / 2> id_bytes{};
  if (!random_bytes(id_bytes.data(), id_bytes.size())) {
    return unexpected(std::string("the random number generator failed"));
  }
  auto secret = make_secret();
  if (!secret) return unexpected(std::string("the random number generator failed"));

  NewKey made;
  made.record.id = std::string(kKeyPrefix) + to_hex(id_bytes.data(), id_bytes.size());
  made.key = made.record.id + "_" + *secret;
  made.record.secret_hash = hash_key(made.key);
  made.record.tenant = request.tenant;
  made.record.name = request.name;
  made.record.scopes = request.scopes;
  made.record.requests_per_minute = request.requests_per_minute;
  made.record.tokens_per_minute = request.tokens_per_minute;
  made.record.monthly_budget_usd = request.monthly_budget_usd;
  made.record.created_us = now_us;
  made.record.expires_us = request.expires_us;
  return made;
}

Expected<std::string_view, CredentialError> presented_key(std::string_view authorization,
                                                          std::string_view x_api_key) {
  std::string_view bearer;
  if (!authorization.empty()) {
    constexpr std::string_view kScheme = "bearer ";
    const bool is_bearer = authorization.size() >= kScheme.size() &&
                           ascii_iequals(authorization.substr(0, kScheme.size()), kScheme);
    if (!is_bearer) {
      return unexpected(CredentialError{
          CredentialProblem::malformed,
          "the Authorization header must be \"Bearer KEY\" with the API key as KEY"});
    }
    bearer = authorization.substr(kScheme.size());
    if (!is_token(bearer)) {
      return unexpected(CredentialError{CredentialProblem::malformed,
                                        "the Authorization header must be \"Bearer KEY\" with "
                                        "one key of visible ASCII characters"});
    }
  }
  if (!x_api_key.empty() && !is_token(x_api_key)) {
    return unexpected(
        CredentialError{CredentialProblem::malformed,
                        "the x-api-key header must be one key of visible ASCII characters"});
  }
  if (!bearer.empty() && !x_api_key.empty()) {
    if (bearer != x_api_key) {
      return unexpected(CredentialError{
          CredentialProblem::malformed,
          "the Authorization and x-api-key headers carry different keys; send one"});
    }
    return bearer;
  }
  if (!bearer.empty()) return bearer;
  if (!x_api_key.empty()) return x_api_key;
  return unexpected(CredentialError{
      CredentialProblem::missing,
      "an API key is required: send \"Authorization: Bearer KEY\" or \"x-api-key: KEY\""});
}

std::optional<std::string> check_scope(std::string_view scope) {
  if (scope == "admin") return std::nullopt;
  if (scope.starts_with("placement:")) {
    const auto placement = scope.substr(std::string_view("placement:").size());
    if (placement == "local" || placement == "cloud") return std::nullopt;
    return "scope " + quoted(scope) + ": placement must be local or cloud";
  }
  for (const std::string_view kind : {std::string_view("workload:"), std::string_view("model:")}) {
    if (!scope.starts_with(kind)) continue;
    const auto name = scope.substr(kind.size());
    if (name.empty() || name.size() > kMaxScopeNameLength) {
      return "scope " + quoted(scope) + ": the name must be 1 to " +
             std::to_string(kMaxScopeNameLength) + " characters long";
    }
    if (!is_token(name)) {
      return "scope " + quoted(scope) +
             ": the name may only contain visible ASCII characters (no spaces)";
    }
    if (name.find('*') < name.size() - 1) {
      return "scope " + quoted(scope) + ": '*' may only end the name (a prefix match)";
    }
    return std::nullopt;
  }
  return "scope " + quoted(scope) +
         " is not one of admin, workload:NAME, model:NAME, placement:local, placement:cloud";
}

std::optional<std::string> scope_violation(const std::vector<std::string>& scopes,
                                           const ScopeRequest& request) {
  if (request.admin) {
    for (const auto& scope : scopes) {
      if (scope == "admin") return std::nullopt;
    }
    const std::vector<std::string_view> all(scopes.begin(), scopes.end());
    return "this endpoint needs the admin scope (the key has " +
           (all.empty() ? std::string("no scopes") : "scopes " + scope_list(all)) + ")";
  }
  if (auto problem = kind_violation(scopes, "workload:", "workload", request.workload)) {
    return problem;
  }
  if (auto problem = kind_violation(scopes, "model:", "model", request.model)) return problem;
  // "auto" leaves placement to the policy: not an override.
  if (!request.placement_override.empty() && request.placement_override != "auto") {
    if (auto problem = kind_violation(scopes, "placement:", "placement override",
                                      request.placement_override)) {
      return problem;
    }
  }
  return std::nullopt;
}

KeyRing::Entry KeyRing::entry_of(ledger::ApiKeyRecord key) {
  Entry entry;
  entry.digest = from_hex_digest(key.secret_hash);
  entry.record = std::make_shared<const ledger::ApiKeyRecord>(std::move(key));
  return entry;
}

void KeyRing::replace(std::vector<ledger::ApiKeyRecord> keys) {
  decltype(by_id_) by_id;
  by_id.reserve(keys.size());
  for (auto& key : keys) {
    auto id = key.id;
    by_id.insert_or_assign(std::move(id), entry_of(std::move(key)));
  }
  std::unique_lock lock(mutex_);
  by_id_.swap(by_id);
}

void KeyRing::upsert(ledger::ApiKeyRecord key) {
  auto id = key.id;
  auto entry = entry_of(std::move(key));
  std::unique_lock lock(mutex_);
  by_id_.insert_or_assign(std::move(id), std::move(entry));
}

bool KeyRing::empty() const {
  std::shared_lock lock(mutex_);
  return by_id_.empty();
}

std::size_t KeyRing::size() const {
  std::shared_lock lock(mutex_);
  return by_id_.size();
}

Expected<std::shared_ptr<const ledger::ApiKeyRecord>, AuthError> KeyRing::authenticate(
    std::string_view key, std::int64_t now_us) const {
  // Compared against when there is no stored hash to compare with (unknown id, malformed key,
  // a stored hash that is not one), so that every presented key costs one hash and one 32-byte
  // comparison.
  static const KeyDigest kDummyDigest = key_digest("hearth: no such key");

  std::shared_ptr<const ledger::ApiKeyRecord> record;
  std::optional<KeyDigest> stored_digest;
  if (const auto id = key_id_of(key); !id.empty()) {
    std::shared_lock lock(mutex_);
    if (const auto found = by_id_.find(id); found != by_id_.end()) {
      record = found->second.record;
      stored_digest = found->second.digest;
    }
  }
  const KeyDigest presented = key_digest(key);
  const bool comparable = record && stored_digest;
  const KeyDigest& stored = comparable ? *stored_digest : kDummyDigest;
  const bool hashes_equal = CRYPTO_memcmp(presented.data(), stored.data(), presented.size()) == 0;
  if (!(comparable && hashes_equal)) {
    return unexpected(AuthError{AuthFailure::unknown, std::string(kInvalidKey)});
  }
  if (record->revoked_us) {
    return unexpected(AuthError{AuthFailure::revoked, "this API key was revoked"});
  }
  if (record->expires_us && *record->expires_us <= now_us) {
    return unexpected(AuthError{AuthFailure::expired, "this API key has expired"});
  }
  return record;
}

}  // namespace hearth::auth
