// Redaction: typed, numbered placeholders per request, restored in whole texts and in streams
// split anywhere.
#include "privacy/redaction.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::privacy {
namespace {

const std::vector<EntityInfo>& entities() {
  static const std::vector<EntityInfo> table = {
      {"email", "EMAIL", {"pii"}},
      {"card", "CARD", {"financial"}},
      {"custom:odd", "ODD]NAME[", {"custom:odd"}},
  };
  return table;
}

constexpr std::uint32_t kEmail = 0;
constexpr std::uint32_t kCard = 1;
constexpr std::uint32_t kOdd = 2;

// Findings for each (entity, value) in order of first occurrence from the previous one on.
std::vector<Finding> find_all(std::string_view text,
                              const std::vector<std::pair<std::uint32_t, std::string>>& wanted) {
  std::vector<Finding> findings;
  std::size_t from = 0;
  for (const auto& [entity, value] : wanted) {
    const std::size_t begin = text.find(value, from);
    EXPECT_NE(begin, std::string_view::npos) << value;
    if (begin == std::string_view::npos) continue;
    findings.push_back(Finding{entity, begin, begin + value.size(), 1.0});
    from = begin + value.size();
  }
  return findings;
}

std::string redact(Redaction& redaction, std::string_view text,
                   const std::vector<std::pair<std::uint32_t, std::string>>& wanted) {
  return redaction.redact(text, find_all(text, wanted), entities());
}

// A redaction holding EMAIL_1..EMAIL_12 (values a1@x.io ... a12@x.io) and CARD_1, CARD_2.
Redaction twelve_emails_two_cards() {
  Redaction redaction;
  for (int i = 1; i <= 12; ++i) {
    std::string value = "a";  // not "a" + ...: GCC 12 -Wrestrict false positive at -O3
    value += std::to_string(i);
    value += "@x.io";
    redact(redaction, value, {{kEmail, value}});
  }
  redact(redaction, "4111 1111 1111 1111 / 5500 0000 0000 0004",
         {{kCard, "4111 1111 1111 1111"}, {kCard, "5500 0000 0000 0004"}});
  return redaction;
}

TEST(Redaction, NumbersPerPrefixAndReusesThePlaceholderOfAValue) {
  Redaction redaction;
  const std::string text = "a@x.io, 4111 1111 1111 1111, b@y.io, a@x.io";
  EXPECT_EQ(redact(redaction, text,
                   {{kEmail, "a@x.io"},
                    {kCard, "4111 1111 1111 1111"},
                    {kEmail, "b@y.io"},
                    {kEmail, "a@x.io"}}),
            "[EMAIL_1], [CARD_1], [EMAIL_2], [EMAIL_1]");
  EXPECT_EQ(redaction.size(), 3U);
  EXPECT_EQ(redaction.longest_placeholder(), std::string("[EMAIL_1]").size());
}

TEST(Redaction, NumberingAndMappingSpanEveryTextOfTheRequest) {
  Redaction redaction;
  EXPECT_EQ(redact(redaction, "first a@x.io", {{kEmail, "a@x.io"}}), "first [EMAIL_1]");
  EXPECT_EQ(
      redact(redaction, "second b@y.io then a@x.io", {{kEmail, "b@y.io"}, {kEmail, "a@x.io"}}),
      "second [EMAIL_2] then [EMAIL_1]");
  EXPECT_EQ(redaction.restore("[EMAIL_2] wrote to [EMAIL_1]"), "b@y.io wrote to a@x.io");
}

TEST(Redaction, TheSameValueOfAnotherTypeGetsItsOwnPlaceholder) {
  Redaction redaction;
  EXPECT_EQ(redact(redaction, "12345 12345", {{kEmail, "12345"}, {kCard, "12345"}}),
            "[EMAIL_1] [CARD_1]");
  EXPECT_EQ(redaction.size(), 2U);
}

TEST(Redaction, EmptyRedactionChangesNothing) {
  Redaction redaction;
  EXPECT_TRUE(redaction.empty());
  EXPECT_EQ(redaction.longest_placeholder(), 0U);
  EXPECT_EQ(redaction.redact("nothing here", {}, entities()), "nothing here");
  EXPECT_EQ(redaction.restore("[EMAIL_1]"), "[EMAIL_1]");
  StreamRestorer stream(redaction, false);
  EXPECT_EQ(stream.feed("[EMA"), "[EMA");
  EXPECT_EQ(stream.finish(), "");
}

TEST(Redaction, FindingsAtTheEdgesAndAdjacent) {
  Redaction redaction;
  EXPECT_EQ(redact(redaction, "a@x.iob@y.io", {{kEmail, "a@x.io"}, {kEmail, "b@y.io"}}),
            "[EMAIL_1][EMAIL_2]");
  EXPECT_EQ(redaction.restore("[EMAIL_1][EMAIL_2]"), "a@x.iob@y.io");
}

TEST(Redaction, ValuesInAnyScriptRoundTrip) {
  Redaction redaction;
  const std::string text = "Пациент: Иван Петров, 東京都港区, ✉ josé@exämple.es";
  const std::string redacted = redact(
      redaction, text, {{kOdd, "Иван Петров"}, {kOdd, "東京都港区"}, {kEmail, "josé@exämple.es"}});
  EXPECT_EQ(redacted, "Пациент: [ODD_NAME__1], [ODD_NAME__2], ✉ [EMAIL_1]");
  EXPECT_EQ(redaction.restore(redacted), text);
}

TEST(Redaction, BracketsInAConfiguredPrefixAreReplaced) {
  Redaction redaction;
  EXPECT_EQ(redact(redaction, "x secret y", {{kOdd, "secret"}}), "x [ODD_NAME__1] y");
  EXPECT_EQ(redaction.restore("[ODD_NAME__1]"), "secret");
}

TEST(Redaction, RestoreLeavesEverythingElseAlone) {
  const Redaction redaction = twelve_emails_two_cards();
  EXPECT_EQ(redaction.restore(""), "");
  EXPECT_EQ(redaction.restore("[EMAIL_13] [EMAIL_0] [EMAIL_] [email_1] [EMAIL_1 ] [ EMAIL_1]"),
            "[EMAIL_13] [EMAIL_0] [EMAIL_] [email_1] [EMAIL_1 ] [ EMAIL_1]");
  EXPECT_EQ(redaction.restore("[EMAIL_1"), "[EMAIL_1");
  EXPECT_EQ(redaction.restore("[]][[x]"), "[]][[x]");
  EXPECT_EQ(redaction.restore("[[EMAIL_1]]"), "[a1@x.io]");
  EXPECT_EQ(redaction.restore("[EMAIL_1][EMAIL_12][EMAIL_1]"), "a1@x.ioa12@x.ioa1@x.io");
  EXPECT_EQ(redaction.restore("arr[i] = [CARD_2];"), "arr[i] = 5500 0000 0000 0004;");
}

TEST(Redaction, RestoreJsonEscapedEscapesTheValue) {
  Redaction redaction;
  const std::string value = "a\"b\\c\nd\te\x01 é";
  redaction.redact(value, std::vector<Finding>{{kOdd, 0, value.size(), 1.0}}, entities());
  EXPECT_EQ(redaction.restore("{\"k\":\"[ODD_NAME__1]\"}"), "{\"k\":\"" + value + "\"}");
  EXPECT_EQ(redaction.restore_json_escaped("{\"k\":\"[ODD_NAME__1]\"}"),
            "{\"k\":\"a\\\"b\\\\c\\nd\\te\\u0001 é\"}");
}

// ---- streams ----

std::string stream_pieces(const Redaction& redaction, const std::vector<std::string_view>& pieces,
                          bool json_escaped = false) {
  StreamRestorer stream(redaction, json_escaped);
  std::string out;
  for (const std::string_view piece : pieces) out += stream.feed(piece);
  out += stream.finish();
  return out;
}

std::vector<std::string> stream_texts() {
  return {
      "Mail [EMAIL_1] or [EMAIL_12], card [CARD_1][CARD_2].",
      "[EMAIL_1][EMAIL_1][EMAIL_10]",
      "[[EMAIL_1]",
      "[EMAIL_1]]",
      "[EMAIL_1",
      "[EMAIL_12",
      "[EMAIL_13]",
      "[EMAIL_1 2]",
      "a[i] = b[j]; [x] [EMAIL_",
      "é[EMAIL_2]ü 日本語 [EMAIL_11]🙂 [CARD_1",
      "[[[[EMAIL_3]]]] [ [E [EM [EMAIL_4]",
      "[CARD_1][CARD_2][EMAIL_5][EMAIL_11][EMAIL_1]",
      "[]",
      "[",
      "",
  };
}

TEST(StreamRestorer, EverySingleSplitMatchesTheWholeRestore) {
  const Redaction redaction = twelve_emails_two_cards();
  for (const std::string& text : stream_texts()) {
    const std::string expected = redaction.restore(text);
    const std::string_view view = text;
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
      EXPECT_EQ(stream_pieces(redaction, {view.substr(0, cut), view.substr(cut)}), expected)
          << text << " cut at " << cut;
    }
  }
}

TEST(StreamRestorer, EveryPairOfSplitsMatchesTheWholeRestore) {
  const Redaction redaction = twelve_emails_two_cards();
  for (const std::string& text : stream_texts()) {
    const std::string expected = redaction.restore(text);
    const std::string_view view = text;
    for (std::size_t first = 0; first <= text.size(); ++first) {
      for (std::size_t second = first; second <= text.size(); ++second) {
        ASSERT_EQ(
            stream_pieces(redaction, {view.substr(0, first), view.substr(first, second - first),
                                      view.substr(second)}),
            expected)
            << text << " cut at " << first << " and " << second;
      }
    }
  }
}

TEST(StreamRestorer, OneByteAtATimeMatchesTheWholeRestore) {
  const Redaction redaction = twelve_emails_two_cards();
  for (const std::string& text : stream_texts()) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < text.size(); ++i)
      bytes.push_back(std::string_view(text).substr(i, 1));
    EXPECT_EQ(stream_pieces(redaction, bytes), redaction.restore(text)) << text;
    EXPECT_EQ(stream_pieces(redaction, bytes, true), redaction.restore_json_escaped(text)) << text;
  }
}

TEST(StreamRestorer, RandomTextsAndSplitsMatchTheWholeRestore) {
  const Redaction redaction = twelve_emails_two_cards();
  const std::vector<std::string> atoms = {"[",         "]",          "EMAIL_",  "CARD_", "1",
                                          "2",         "0",          "x",       " ",     "é",
                                          "[EMAIL_1]", "[EMAIL_12]", "[CARD_2]"};
  std::mt19937 random(20240605);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const int atom_count = static_cast<int>(random() % 24);
    for (int i = 0; i < atom_count; ++i) text += atoms[random() % atoms.size()];
    std::vector<std::string_view> pieces;
    std::size_t position = 0;
    while (position < text.size()) {
      const std::size_t length = std::min<std::size_t>(random() % 6, text.size() - position);
      pieces.push_back(std::string_view(text).substr(position, length));
      position += length;
    }
    ASSERT_EQ(stream_pieces(redaction, pieces), redaction.restore(text)) << text;
  }
}

TEST(StreamRestorer, EmitsAtOnceWhatCannotBecomeAPlaceholder) {
  const Redaction redaction = twelve_emails_two_cards();
  StreamRestorer stream(redaction, false);
  EXPECT_EQ(stream.feed("hello [EMA"), "hello ");
  EXPECT_EQ(stream.feed("IL_1] and [x"), "a1@x.io and [x");
  EXPECT_EQ(stream.feed("] [EMAIL_1"), "] ");  // could still be [EMAIL_1] or [EMAIL_10..12]
  EXPECT_EQ(stream.feed("2"), "");
  EXPECT_EQ(stream.feed("]!"), "a12@x.io!");
  EXPECT_EQ(stream.feed("[EMAIL_1"), "");
  EXPECT_EQ(stream.feed("3"), "[EMAIL_13");  // no placeholder of ours starts so
  EXPECT_EQ(stream.feed("] [CARD"), "] ");
  EXPECT_EQ(stream.finish(), "[CARD");
  EXPECT_EQ(stream.finish(), "");
}

TEST(StreamRestorer, HoldsBackNoMoreThanAPlaceholder) {
  const Redaction redaction = twelve_emails_two_cards();
  StreamRestorer stream(redaction, false);
  // Brackets that open and never grow into a placeholder are emitted as they come.
  const std::string brackets(100000, '[');
  const std::string out = stream.feed(brackets);
  EXPECT_EQ(out.size(), brackets.size() - 1);
  EXPECT_EQ(stream.finish(), "[");
  StreamRestorer long_tail(redaction, false);
  EXPECT_EQ(long_tail.feed("[EMAIL_1111111111"), "[EMAIL_1111111111");
}

TEST(StreamRestorer, JsonEscapedStreamEscapesValues) {
  Redaction redaction;
  const std::string value = "O\"Brien\\";
  redaction.redact(value, std::vector<Finding>{{kEmail, 0, value.size(), 1.0}}, entities());
  EXPECT_EQ(stream_pieces(redaction, {"{\"name\":\"[EM", "AIL", "_1]\"}"}, true),
            "{\"name\":\"O\\\"Brien\\\\\"}");
  EXPECT_EQ(stream_pieces(redaction, {"{\"name\":\"[EM", "AIL", "_1]\"}"}, false),
            "{\"name\":\"" + value + "\"}");
}

}  // namespace
}  // namespace hearth::privacy
