#include "engine/text_stream.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/utf8.hpp"

namespace hearth::engine {
namespace {

// Feeds pieces and returns what was released along the way, plus the final flush.
std::string run(TextStream& stream, const std::vector<std::string>& pieces, bool* stopped) {
  std::string released;
  *stopped = false;
  for (const auto& piece : pieces) {
    auto update = stream.append(piece);
    released += update.text;
    if (update.stopped) {
      *stopped = true;
      return released;
    }
  }
  return released + stream.finish();
}

TEST(TextStream, ReleasesPlainTextAtOnce) {
  TextStream stream({});
  auto update = stream.append("hello");
  EXPECT_EQ(update.text, "hello");
  EXPECT_FALSE(update.stopped);
}

TEST(TextStream, CutsBeforeAStopStringSplitAcrossPieces) {
  TextStream stream({"STOP"});
  bool stopped = false;
  EXPECT_EQ(run(stream, {"abc S", "TO", "P and more"}, &stopped), "abc ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(stream.text(), "abc ");
}

TEST(TextStream, HoldsBackAPossibleStopPrefixThenReleasesIt) {
  TextStream stream({"STOP"});
  auto first = stream.append("abc ST");
  EXPECT_EQ(first.text, "abc ");  // "ST" may start "STOP"
  auto second = stream.append("ART");
  EXPECT_EQ(second.text, "START");
  EXPECT_FALSE(second.stopped);
}

TEST(TextStream, FinishFlushesAHeldPrefix) {
  TextStream stream({"</end>"});
  EXPECT_EQ(stream.append("text </e").text, "text ");
  EXPECT_EQ(stream.finish(), "</e");
}

TEST(TextStream, EarliestOfSeveralStopsWins) {
  TextStream stream({"world", "lo w"});
  bool stopped = false;
  EXPECT_EQ(run(stream, {"hello world"}, &stopped), "hel");
  EXPECT_TRUE(stopped);
}

TEST(TextStream, IgnoresEmptyStopStrings) {
  TextStream stream({""});
  bool stopped = false;
  EXPECT_EQ(run(stream, {"a", "b"}, &stopped), "ab");
  EXPECT_FALSE(stopped);
}

TEST(TextStream, NeverReleasesHalfAUtf8Character) {
  TextStream stream({});
  const std::string euro = "\xE2\x82\xAC";  // U+20AC in three bytes
  EXPECT_EQ(stream.append("price " + euro.substr(0, 1)).text, "price ");
  EXPECT_EQ(stream.append(euro.substr(1, 1)).text, "");
  EXPECT_EQ(stream.append(euro.substr(2)).text, euro);
}

TEST(TextStream, AppendAfterStopReportsStoppedWithNoText) {
  TextStream stream({"x"});
  EXPECT_TRUE(stream.append("ax").stopped);
  auto later = stream.append("more");
  EXPECT_TRUE(later.stopped);
  EXPECT_EQ(later.text, "");
}

struct Utf8Case {
  std::string text;
  std::size_t complete_prefix;
  bool valid;
};

class Utf8 : public ::testing::TestWithParam<Utf8Case> {};

TEST_P(Utf8, PrefixAndValidity) {
  EXPECT_EQ(complete_utf8_prefix(GetParam().text), GetParam().complete_prefix);
  EXPECT_EQ(is_valid_utf8(GetParam().text), GetParam().valid);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Utf8,
    ::testing::Values(Utf8Case{"", 0, true}, Utf8Case{"abc", 3, true},
                      Utf8Case{"a\xC3", 1, false},            // lead of a 2-byte char
                      Utf8Case{"a\xC3\xA9", 3, true},         // é complete
                      Utf8Case{"\xF0\x9F\x98", 0, false},     // 3 of 4 bytes of an emoji
                      Utf8Case{"\xF0\x9F\x98\x80", 4, true},  // the whole emoji
                      Utf8Case{"\xC0\xAF", 2, false},         // overlong encoding of '/'
                      Utf8Case{"\xED\xA0\x80", 3, false},     // a UTF-16 surrogate
                      Utf8Case{"\xFF", 1, false}));           // never valid in UTF-8

}  // namespace
}  // namespace hearth::engine
