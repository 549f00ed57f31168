// A request body through scan_request and redact_request, with the real scanner.
#include "privacy/request_scan.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace hearth::privacy {
namespace {

const Scanner& scanner() {
  static const auto created = Scanner::create({});
  return **created;
}

const std::string kBody =
    nlohmann::json{
        {"model", "m"},
        {"messages",
         {{{"role", "system"}, {"content", "Write to ops@example.com"}},
          {{"role", "user"},
           {"content",
            "Card 4111 1111 1111 1111, mail ops@example.com, key AKIAIOSFODNN7EXAMPLE"}}}}}
        .dump();

TEST(RequestScan, CountsFindingsAndLabelsOfEveryText) {
  auto scanned = scan_request(scanner(), kBody);
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_EQ(scanned->counts, (FindingCounts{{"aws_access_key", 1}, {"card", 1}, {"email", 2}}));
  EXPECT_EQ(scanned->findings.size(), scanned->texts->texts().size());
  EXPECT_EQ(scanned->labels, (std::vector<std::string>{"pii", "financial", "secret"}));
  EXPECT_EQ(describe_counts(scanned->counts), "aws_access_key=1, card=1, email=2");
}

TEST(RequestScan, RedactsOnlyWhatIsChosen) {
  auto scanned = scan_request(scanner(), kBody);
  ASSERT_TRUE(scanned);
  Redaction redaction;
  FindingCounts replaced;
  auto body = redact_request(
      scanner(), *scanned, redaction,
      [](const EntityInfo& entity) { return entity.name != "aws_access_key"; }, replaced);
  ASSERT_TRUE(body);
  EXPECT_EQ(replaced, (FindingCounts{{"card", 1}, {"email", 2}}));
  const auto document = nlohmann::json::parse(*body);
  EXPECT_EQ(document["messages"][0]["content"], "Write to [EMAIL_1]");
  EXPECT_EQ(document["messages"][1]["content"],
            "Card [CARD_1], mail [EMAIL_1], key AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(redaction.restore(document["messages"][1]["content"].get<std::string>()),
            "Card 4111 1111 1111 1111, mail ops@example.com, key AKIAIOSFODNN7EXAMPLE");
}

TEST(RequestScan, NothingChosenIsNoNewBody) {
  auto scanned = scan_request(scanner(), kBody);
  ASSERT_TRUE(scanned);
  Redaction redaction;
  FindingCounts replaced;
  EXPECT_FALSE(redact_request(
      scanner(), *scanned, redaction, [](const EntityInfo&) { return false; }, replaced));
  EXPECT_TRUE(replaced.empty());
  EXPECT_TRUE(redaction.empty());
}

TEST(RequestScan, ABodyThatIsNoObjectIsA400) {
  auto scanned = scan_request(scanner(), "[1, 2]");
  ASSERT_FALSE(scanned);
  EXPECT_EQ(scanned.error().status, 400);
}

}  // namespace
}  // namespace hearth::privacy
