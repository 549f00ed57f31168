// Scoring of `hearth eval`: edit similarity on code points (not bytes), text and JSON agreement,
// nearest-rank percentiles; each expectation computed by hand.
#include "eval/scoring.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth::eval {
namespace {

TEST(Trim, RemovesAsciiWhitespaceAtBothEnds) {
  EXPECT_EQ(trim("  \t hello world \r\n"), "hello world");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \n "), "");
  EXPECT_EQ(trim("x"), "x");
}

TEST(CodePoints, DecodesUtf8AndReplacesEachBadByte) {
  EXPECT_EQ(code_points("aé中😀"), (std::vector<char32_t>{U'a', U'é', U'中', U'😀'}));
  // A lone continuation byte, a truncated sequence, an overlong and a surrogate: one U+FFFD per
  // byte that is not part of a well-formed sequence.
  EXPECT_EQ(code_points("a\x80"
                        "b"),
            (std::vector<char32_t>{U'a', U'\uFFFD', U'b'}));
  EXPECT_EQ(code_points("\xE4\xB8"), (std::vector<char32_t>{U'\uFFFD', U'\uFFFD'}));
  EXPECT_EQ(code_points("\xC0\xAF"), (std::vector<char32_t>{U'\uFFFD', U'\uFFFD'}));
  EXPECT_EQ(code_points("\xED\xA0\x80"), (std::vector<char32_t>{U'\uFFFD', U'\uFFFD', U'\uFFFD'}));
  EXPECT_EQ(code_points("\xF4\x8F\xBF\xBF"), (std::vector<char32_t>{U'\U0010FFFF'}));
}

TEST(Levenshtein, ClassicDistances) {
  const auto distance = [](const char* left, const char* right) {
    return levenshtein(code_points(left), code_points(right));
  };
  EXPECT_EQ(distance("kitten", "sitting"), 3u);
  EXPECT_EQ(distance("sitting", "kitten"), 3u);
  EXPECT_EQ(distance("", "abc"), 3u);
  EXPECT_EQ(distance("abc", ""), 3u);
  EXPECT_EQ(distance("", ""), 0u);
  EXPECT_EQ(distance("flaw", "lawn"), 2u);
  EXPECT_EQ(distance("same", "same"), 0u);
}

TEST(EditSimilarity, CountsCodePointsNotBytes) {
  // "café" and "cafe": one substitution over 4 code points (bytes would say 2 edits over 5).
  EXPECT_DOUBLE_EQ(edit_similarity("café", "cafe"), 0.75);
  // Two emoji differing in one: 1 - 1/2.
  EXPECT_DOUBLE_EQ(edit_similarity("😀😀", "😀😃"), 0.5);
  EXPECT_DOUBLE_EQ(edit_similarity("中文", "中文"), 1.0);
  EXPECT_DOUBLE_EQ(edit_similarity("", ""), 1.0);
  EXPECT_DOUBLE_EQ(edit_similarity("abc", ""), 0.0);
  EXPECT_DOUBLE_EQ(edit_similarity("abc", "xyz"), 0.0);
  // kitten -> sitting: 1 - 3/7.
  EXPECT_DOUBLE_EQ(edit_similarity("kitten", "sitting"), 1.0 - 3.0 / 7.0);
}

TEST(TextAgreement, ExactAfterTrimmingElseSimilarity) {
  EXPECT_EQ(text_agreement("Paris", "  Paris\n"), (Agreement{1.0, true}));
  const auto near = text_agreement("Paris", "paris");
  EXPECT_FALSE(near.exact);
  EXPECT_DOUBLE_EQ(near.score, 0.8);
  // Similarity is measured on the trimmed texts: "Paris" vs "Paris!" is 1 - 1/6.
  const auto punctuated = text_agreement(" Paris ", "Paris!  ");
  EXPECT_FALSE(punctuated.exact);
  EXPECT_DOUBLE_EQ(punctuated.score, 1.0 - 1.0 / 6.0);
  EXPECT_EQ(text_agreement("", "   "), (Agreement{1.0, true}));
}

TEST(JsonAgreement, ShareOfExpectedFieldsThatMatch) {
  const auto expected = nlohmann::json::parse(
      R"({"name": "Ada", "age": 36, "tags": ["a", "b"], "address": {"city": "London"}})");
  EXPECT_EQ(json_agreement(expected, R"({"name":"Ada","age":36,"tags":["a","b"],)"
                                     R"("address":{"city":"London"},"extra":1})"),
            (Agreement{1.0, true}));
  // Numbers compare by value; arrays and objects whole.
  EXPECT_EQ(json_agreement(expected, R"({"name":"Ada","age":36.0,"tags":["a","b"],)"
                                     R"("address":{"city":"London"}})"),
            (Agreement{1.0, true}));
  const auto half = json_agreement(
      expected, R"({"name":"Ada","age":37,"tags":["b","a"],"address":{"city":"London"}})");
  EXPECT_DOUBLE_EQ(half.score, 0.5);
  EXPECT_FALSE(half.exact);
  const auto one = json_agreement(expected, R"({"name":"Ada"})");
  EXPECT_DOUBLE_EQ(one.score, 0.25);
  // A string "36" is not the number 36.
  EXPECT_DOUBLE_EQ(json_agreement(nlohmann::json{{"age", 36}}, R"({"age":"36"})").score, 0.0);
}

TEST(JsonAgreement, UnparsableOrNonObjectAnswersScoreZero) {
  const nlohmann::json expected = {{"ok", true}};
  EXPECT_EQ(json_agreement(expected, "not json"), (Agreement{0.0, false}));
  EXPECT_EQ(json_agreement(expected, R"([{"ok": true}])"), (Agreement{0.0, false}));
  EXPECT_EQ(json_agreement(expected, R"({"ok": true)"), (Agreement{0.0, false}));
  EXPECT_EQ(json_agreement(expected, ""), (Agreement{0.0, false}));
}

TEST(JsonAgreement, AcceptsWhitespaceAndOneCodeFence) {
  const nlohmann::json expected = {{"ok", true}};
  EXPECT_EQ(json_agreement(expected, "\n  {\"ok\": true}  \n"), (Agreement{1.0, true}));
  EXPECT_EQ(json_agreement(expected, "```json\n{\"ok\": true}\n```"), (Agreement{1.0, true}));
  EXPECT_EQ(json_agreement(expected, "```\n{\"ok\": true}\n```\n"), (Agreement{1.0, true}));
  // Text around the fence is not stripped: the answer is not JSON.
  EXPECT_EQ(json_agreement(expected, "Here: ```json\n{\"ok\": true}\n```"),
            (Agreement{0.0, false}));
}

}  // namespace
}  // namespace hearth::eval
