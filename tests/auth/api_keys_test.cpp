// API keys: generation (shape, uniqueness, hash, validation of every request field), the
// credential headers, scopes, and the key ring's answers for right, wrong, unknown, revoked,
// expired and malformed keys.
#include "auth/api_keys.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace hearth::auth {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000'000;

KeyRequest valid_request() {
  KeyRequest request;
  request.tenant = "acme.team_1-a";
  request.name = "CI runner — nightly";
  request.scopes = {"workload:ci", "model:llama*", "placement:local"};
  request.requests_per_minute = 60;
  request.tokens_per_minute = 100'000;
  request.monthly_budget_usd = 12.5;
  request.expires_us = kNow + 1;
  return request;
}

bool is_lower_hex(std::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

bool is_base62(std::string_view text) {
  return text.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
         std::string_view::npos;
}

TEST(GenerateKey, HasTheDocumentedShapeAndRecord) {
  const auto request = valid_request();
  const auto made = generate_key(request, kNow);
  ASSERT_TRUE(made) << made.error();
  const auto& key = made->key;
  ASSERT_EQ(key.size(), 3u + 16 + 1 + 43) << key;
  EXPECT_TRUE(key.starts_with("hk_")) << key;
  EXPECT_TRUE(is_lower_hex(key.substr(3, 16))) << key;
  EXPECT_EQ(key[19], '_') << key;
  EXPECT_TRUE(is_base62(key.substr(20))) << key;

  const auto& record = made->record;
  EXPECT_EQ(record.id, key.substr(0, 19));
  EXPECT_EQ(record.secret_hash, hash_key(key));
  EXPECT_EQ(record.secret_hash.size(), 64u);
  EXPECT_TRUE(is_lower_hex(record.secret_hash));
  EXPECT_EQ(record.secret_hash.find(key.substr(20)), std::string::npos);
  EXPECT_EQ(record.tenant, request.tenant);
  EXPECT_EQ(record.name, request.name);
  EXPECT_EQ(record.scopes, request.scopes);
  EXPECT_EQ(record.requests_per_minute, request.requests_per_minute);
  EXPECT_EQ(record.tokens_per_minute, request.tokens_per_minute);
  EXPECT_EQ(record.monthly_budget_usd, request.monthly_budget_usd);
  EXPECT_EQ(record.created_us, kNow);
  EXPECT_EQ(record.expires_us, request.expires_us);
  EXPECT_FALSE(record.revoked_us);
}

TEST(GenerateKey, OptionalFieldsMayBeAbsent) {
  KeyRequest request;
  request.tenant = "t";
  request.name = "n";
  const auto made = generate_key(request, kNow);
  ASSERT_TRUE(made) << made.error();
  EXPECT_TRUE(made->record.scopes.empty());
  EXPECT_FALSE(made->record.requests_per_minute);
  EXPECT_FALSE(made->record.tokens_per_minute);
  EXPECT_FALSE(made->record.monthly_budget_usd);
  EXPECT_FALSE(made->record.expires_us);
}

TEST(GenerateKey, KeysAreUniqueAndSecretsUseEveryCharacter) {
  KeyRequest request;
  request.tenant = "t";
  request.name = "n";
  std::set<std::string> keys;
  std::set<std::string> ids;
  std::set<char> secret_chars;
  constexpr int kCount = 10'000;
  for (int i = 0; i < kCount; ++i) {
    const auto made = generate_key(request, kNow);
    ASSERT_TRUE(made) << made.error();
    keys.insert(made->key);
    ids.insert(made->record.id);
    for (const char c : made->key.substr(20)) secret_chars.insert(c);
  }
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kCount));
  // 430,000 characters drawn from 62: every one appears unless the alphabet mapping is broken.
  EXPECT_EQ(secret_chars.size(), 62u);
}

TEST(GenerateKey, SecretCharactersAreEvenlyDistributed) {
  // Modulo bias (byte % 62 without rejection) would give '0'..'7' a chance of 5/256 each, 21%
  // above the fair 1/62. 2000 keys give 86,000 characters, about 1387 each (standard deviation
  // ~37): the 15% bound is 5.6 deviations from fair and 8 below the biased count.
  KeyRequest request;
  request.tenant = "t";
  request.name = "n";
  std::map<char, int> counts;
  int total = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto made = generate_key(request, kNow);
    ASSERT_TRUE(made);
    for (const char c : made->key.substr(20)) {
      ++counts[c];
      ++total;
    }
  }
  const double expected = total / 62.0;
  for (const auto& [c, count] : counts) {
    EXPECT_LT(std::abs(count - expected), expected * 0.15) << "character " << c;
  }
}

struct InvalidRequestCase {
  const char* description;
  void (*edit)(KeyRequest&);
  const char* field;  // the error names it
};

TEST(GenerateKey, EveryInvalidFieldIsRejectedNamingIt) {
  const std::vector<InvalidRequestCase> cases = {
      {"empty tenant", [](KeyRequest& r) { r.tenant = ""; }, "tenant"},
      {"tenant of 65 characters", [](KeyRequest& r) { r.tenant = std::string(65, 'a'); }, "tenant"},
      {"tenant with a space", [](KeyRequest& r) { r.tenant = "ac me"; }, "tenant"},
      {"tenant with a slash", [](KeyRequest& r) { r.tenant = "acme/x"; }, "tenant"},
      {"tenant with non-ASCII", [](KeyRequest& r) { r.tenant = "acmé"; }, "tenant"},
      {"empty name", [](KeyRequest& r) { r.name = ""; }, "name"},
      {"name of 129 bytes", [](KeyRequest& r) { r.name = std::string(129, 'n'); }, "name"},
      {"name with a newline", [](KeyRequest& r) { r.name = "a\nb"; }, "name"},
      {"name with DEL", [](KeyRequest& r) { r.name = "a\x7f"; }, "name"},
      {"name with invalid UTF-8", [](KeyRequest& r) { r.name = "a\xC0\xAF"; }, "name"},
      {"unknown scope", [](KeyRequest& r) { r.scopes.push_back("root"); }, "scope"},
      {"empty workload scope", [](KeyRequest& r) { r.scopes.push_back("workload:"); }, "scope"},
      {"placement scope", [](KeyRequest& r) { r.scopes.push_back("placement:auto"); }, "scope"},
      {"zero requests per minute", [](KeyRequest& r) { r.requests_per_minute = 0; },
       "requests_per_minute"},
      {"negative requests per minute", [](KeyRequest& r) { r.requests_per_minute = -5; },
       "requests_per_minute"},
      {"zero tokens per minute", [](KeyRequest& r) { r.tokens_per_minute = 0; },
       "tokens_per_minute"},
      {"negative budget", [](KeyRequest& r) { r.monthly_budget_usd = -0.01; },
       "monthly_budget_usd"},
      {"NaN budget",
       [](KeyRequest& r) { r.monthly_budget_usd = std::numeric_limits<double>::quiet_NaN(); },
       "monthly_budget_usd"},
      {"infinite budget",
       [](KeyRequest& r) { r.monthly_budget_usd = std::numeric_limits<double>::infinity(); },
       "monthly_budget_usd"},
      {"expiry now", [](KeyRequest& r) { r.expires_us = kNow; }, "expires_us"},
      {"expiry in the past", [](KeyRequest& r) { r.expires_us = kNow - 1; }, "expires_us"},
  };
  for (const auto& test_case : cases) {
    SCOPED_TRACE(test_case.description);
    auto request = valid_request();
    test_case.edit(request);
    const auto made = generate_key(request, kNow);
    ASSERT_FALSE(made);
    EXPECT_NE(made.error().find(test_case.field), std::string::npos) << made.error();
  }
}

TEST(GenerateKey, BoundaryValuesAreAccepted) {
  auto request = valid_request();
  request.tenant = std::string(64, 'a');
  request.name = std::string(128, 'n');
  request.requests_per_minute = 1;
  request.tokens_per_minute = 1;
  request.monthly_budget_usd = 0;
  const auto made = generate_key(request, kNow);
  EXPECT_TRUE(made) << made.error();
}

TEST(HashKey, IsHexSha256) {
  // printf '%s' abc | sha256sum
  EXPECT_EQ(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_key(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto digest = key_digest("abc");
  EXPECT_EQ(digest.front(), 0xba);
  EXPECT_EQ(digest.back(), 0xad);
}

struct CredentialCase {
  const char* authorization;
  const char* x_api_key;
  std::optional<const char*> key;          // the key found
  std::optional<CredentialProblem> error;  // or the problem
};

TEST(PresentedKey, Table) {
  using enum CredentialProblem;
  const std::vector<CredentialCase> cases = {
      {"", "", std::nullopt, missing},
      {"Bearer hk_1_abc", "", "hk_1_abc", std::nullopt},
      {"bearer hk_1_abc", "", "hk_1_abc", std::nullopt},
      {"BEARER hk_1_abc", "", "hk_1_abc", std::nullopt},
      {"", "hk_1_abc", "hk_1_abc", std::nullopt},
      {"Bearer hk_1_abc", "hk_1_abc", "hk_1_abc", std::nullopt},
      {"Bearer hk_1_abc", "hk_1_abd", std::nullopt, malformed},
      {"Bearer", "", std::nullopt, malformed},
      {"Bearer ", "", std::nullopt, malformed},
      {"Bearer  x", "", std::nullopt, malformed},
      {"Bearer x y", "", std::nullopt, malformed},
      {"Bearer x ", "", std::nullopt, malformed},
      {"Bearer\tx", "", std::nullopt, malformed},
      {"Basic x", "", std::nullopt, malformed},
      {"Bearerx", "", std::nullopt, malformed},
      {"x", "", std::nullopt, malformed},
      {"Bearer a\x01"
       "b",
       "", std::nullopt, malformed},
      {"Bearer a\x7f", "", std::nullopt, malformed},
      {"Bearer a\xC3\xA9", "", std::nullopt, malformed},
      {"", "a b", std::nullopt, malformed},
      {"", "a\tb", std::nullopt, malformed},
      {"", "a\x1f", std::nullopt, malformed},
      {"Bearer  x", "x", std::nullopt, malformed},  // a malformed header is not ignored
      {"Basic x", "x", std::nullopt, malformed},
  };
  for (const auto& test_case : cases) {
    SCOPED_TRACE(std::string("authorization=\"") + test_case.authorization + "\" x-api-key=\"" +
                 test_case.x_api_key + "\"");
    const auto result = presented_key(test_case.authorization, test_case.x_api_key);
    if (test_case.key) {
      ASSERT_TRUE(result) << result.error().message;
      EXPECT_EQ(*result, *test_case.key);
    } else {
      ASSERT_FALSE(result) << *result;
      EXPECT_EQ(result.error().problem, *test_case.error);
      EXPECT_FALSE(result.error().message.empty());
    }
  }
}

TEST(PresentedKey, ReturnsAViewIntoTheHeader) {
  const std::string authorization = "Bearer hk_0123456789abcdef_secret";
  const auto result = presented_key(authorization, "");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->data(), authorization.data() + 7);
}

TEST(CheckScope, Table) {
  const std::vector<std::string> valid = {"admin",         "workload:ci",       "workload:team-*",
                                          "workload:*",    "model:llama3.1:8b", "model:gpt*",
                                          "model:org/m-1", "placement:local",   "placement:cloud"};
  for (const auto& scope : valid) {
    EXPECT_EQ(check_scope(scope), std::nullopt) << scope;
  }
  const std::vector<std::string> invalid = {"",
                                            "Admin",
                                            "admin ",
                                            "root",
                                            "workload",
                                            "workload:",
                                            "model:",
                                            "workload:a b",
                                            "workload:a*b",
                                            "model:**",
                                            "workload:\x01",
                                            "model:caf\xC3\xA9",
                                            "workload:" + std::string(257, 'w'),
                                            "placement:",
                                            "placement:auto",
                                            "placement:*",
                                            "placement:Local",
                                            "tenant:acme"};
  for (const auto& scope : invalid) {
    const auto problem = check_scope(scope);
    ASSERT_TRUE(problem) << scope;
    EXPECT_NE(problem->find("scope"), std::string::npos) << *problem;
  }
}

struct ScopeCase {
  std::vector<std::string> scopes;
  ScopeRequest request;
  std::optional<const char*> violation;  // a fragment of the message
};

TEST(ScopeViolation, Table) {
  const std::vector<ScopeCase> cases = {
      // No scopes: everything but admin.
      {{}, {"ci", "llama", "cloud", false}, std::nullopt},
      {{}, {"", "", "", true}, "admin"},
      {{"workload:ci"}, {"", "", "", true}, "admin"},
      {{"admin"}, {"", "", "", true}, std::nullopt},
      {{"admin"}, {"ci", "llama", "", false}, std::nullopt},
      // Workloads.
      {{"workload:a", "workload:b"}, {"a", "m", "", false}, std::nullopt},
      {{"workload:a", "workload:b"}, {"b", "m", "", false}, std::nullopt},
      {{"workload:a", "workload:b"},
       {"x", "m", "", false},
       "this key may not use workload \"x\" (it has scopes workload:a, workload:b)"},
      {{"workload:a", "model:m"}, {"", "m", "", false}, "workload:a"},
      {{"workload:team-*"}, {"team-search", "m", "", false}, std::nullopt},
      {{"workload:team-*"}, {"team-", "m", "", false}, std::nullopt},
      {{"workload:team-*"}, {"team", "m", "", false}, "workload \"team\""},
      {{"workload:*"}, {"anything", "m", "", false}, std::nullopt},
      {{"workload:*"}, {"", "m", "", false}, "workload:*"},
      {{"workload:ci"}, {"ci2", "m", "", false}, "workload \"ci2\""},
      // Models.
      {{"model:llama*"}, {"", "llama3", "", false}, std::nullopt},
      {{"model:llama*"},
       {"", "gpt-4o", "", false},
       "this key may not use model \"gpt-4o\" (it has scopes model:llama*)"},
      {{"model:a", "workload:w"}, {"w", "b", "", false}, "model \"b\""},
      {{"model:a", "workload:w"}, {"v", "a", "", false}, "workload \"v\""},
      // Placement overrides.
      {{"placement:local"}, {"", "m", "", false}, std::nullopt},
      {{"placement:local"}, {"", "m", "local", false}, std::nullopt},
      {{"placement:local"}, {"", "m", "auto", false}, std::nullopt},
      {{"placement:local"}, {"", "m", "cloud", false}, "placement:local"},
      {{"placement:local", "placement:cloud"}, {"", "m", "cloud", false}, std::nullopt},
      {{"workload:w"}, {"w", "m", "cloud", false}, std::nullopt},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& test_case = cases[i];
    SCOPED_TRACE("case " + std::to_string(i));
    const auto violation = scope_violation(test_case.scopes, test_case.request);
    if (!test_case.violation) {
      EXPECT_EQ(violation, std::nullopt) << *violation;
    } else {
      ASSERT_TRUE(violation);
      EXPECT_NE(violation->find(*test_case.violation), std::string::npos) << *violation;
    }
  }
}

class KeyRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KeyRequest request;
    request.tenant = "acme";
    request.name = "test";
    auto made = generate_key(request, kNow);
    ASSERT_TRUE(made);
    key_ = made->key;
    record_ = made->record;
    auto other = generate_key(request, kNow);
    ASSERT_TRUE(other);
    other_key_ = other->key;
    ring_.replace({record_, other->record});
  }

  // The same id with a different secret of the same shape.
  std::string wrong_secret() const {
    auto key = key_;
    key.back() = key.back() == 'a' ? 'b' : 'a';
    return key;
  }

  void expect_unknown(std::string_view key) const {
    const auto result = ring_.authenticate(key, kNow);
    ASSERT_FALSE(result) << key;
    EXPECT_EQ(result.error().failure, AuthFailure::unknown) << key;
    EXPECT_EQ(result.error().message, "invalid API key") << key;
  }

  KeyRing ring_;
  std::string key_;
  std::string other_key_;
  ledger::ApiKeyRecord record_;
};

TEST_F(KeyRingTest, RightKeyIsAccepted) {
  EXPECT_FALSE(ring_.empty());
  EXPECT_EQ(ring_.size(), 2u);
  const auto result = ring_.authenticate(key_, kNow);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(**result, record_);
  const auto other = ring_.authenticate(other_key_, kNow);
  ASSERT_TRUE(other);
  EXPECT_NE((*other)->id, record_.id);
}

TEST_F(KeyRingTest, WrongSecretUnknownIdAndMalformedKeysAllLookTheSame) {
  expect_unknown(wrong_secret());
  expect_unknown(key_.substr(0, key_.size() - 1));  // a prefix of the right key
  expect_unknown(key_ + "x");
  // Another key's secret under this key's id.
  expect_unknown(key_.substr(0, 20) + other_key_.substr(20));
  auto unknown_id = key_;
  unknown_id[3] = unknown_id[3] == '0' ? '1' : '0';
  expect_unknown(unknown_id);
  expect_unknown("");
  expect_unknown("hk_");
  expect_unknown("hk_0123456789abcdef");  // no secret
  expect_unknown(record_.id);
  expect_unknown(record_.id + "_");
  expect_unknown("sk-" + key_.substr(3));
  expect_unknown(record_.secret_hash);  // the stored hash is not a key
}

TEST_F(KeyRingTest, RevokedKeyIsRefusedAfterTheHashMatches) {
  auto revoked = record_;
  revoked.revoked_us = kNow - 10;
  ring_.upsert(revoked);
  EXPECT_EQ(ring_.size(), 2u);
  const auto result = ring_.authenticate(key_, kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().failure, AuthFailure::revoked);
  // Whoever does not hold the key learns nothing about its state.
  expect_unknown(wrong_secret());
}

TEST_F(KeyRingTest, ExpiredKeyIsRefusedFromItsExpiry) {
  auto expiring = record_;
  expiring.expires_us = kNow + 100;
  ring_.upsert(expiring);
  EXPECT_TRUE(ring_.authenticate(key_, kNow + 99));
  for (const auto now : {kNow + 100, kNow + 101}) {
    const auto result = ring_.authenticate(key_, now);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().failure, AuthFailure::expired);
  }
  auto wrong = wrong_secret();
  const auto result = ring_.authenticate(wrong, kNow + 200);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().failure, AuthFailure::unknown);
}

TEST_F(KeyRingTest, ReplaceDropsKeysNoLongerListed) {
  ring_.replace({});
  EXPECT_TRUE(ring_.empty());
  expect_unknown(key_);
  ring_.upsert(record_);
  EXPECT_TRUE(ring_.authenticate(key_, kNow));
}

TEST_F(KeyRingTest, ACorruptStoredHashNeverMatches) {
  auto corrupt = record_;
  corrupt.secret_hash = "";
  ring_.upsert(corrupt);
  expect_unknown(key_);
  expect_unknown("");
  corrupt.secret_hash = record_.secret_hash.substr(0, 32);
  ring_.upsert(corrupt);
  expect_unknown(key_);
  // 64 characters, one of them not a hex digit: decoded as no hash at all, not as a near miss.
  corrupt.secret_hash = record_.secret_hash;
  corrupt.secret_hash[10] = 'g';
  ring_.upsert(corrupt);
  expect_unknown(key_);
  // One hex digit off: a different hash.
  corrupt.secret_hash = record_.secret_hash;
  corrupt.secret_hash.back() = corrupt.secret_hash.back() == '0' ? '1' : '0';
  ring_.upsert(corrupt);
  expect_unknown(key_);
  // The stored hash written in upper case is the same 32 bytes.
  corrupt.secret_hash = record_.secret_hash;
  for (auto& c : corrupt.secret_hash) c = static_cast<char>(std::toupper(c));
  ring_.upsert(corrupt);
  EXPECT_TRUE(ring_.authenticate(key_, kNow));
}

TEST_F(KeyRingTest, AuthenticatedRecordOutlivesAReplace) {
  const auto result = ring_.authenticate(key_, kNow);
  ASSERT_TRUE(result);
  ring_.replace({});
  EXPECT_EQ((*result)->id, record_.id);
}

}  // namespace
}  // namespace hearth::auth
