#include "common/ascii.hpp"

#include <gtest/gtest.h>

namespace hearth {
namespace {

TEST(Ascii, FoldsOnlyTheAsciiCapitals) {
  EXPECT_EQ(ascii_lower('A'), 'a');
  EXPECT_EQ(ascii_lower('Z'), 'z');
  EXPECT_EQ(ascii_lower('a'), 'a');
  EXPECT_EQ(ascii_lower('@'), '@');  // just before 'A'
  EXPECT_EQ(ascii_lower('['), '[');  // just after 'Z'
  EXPECT_EQ(ascii_lower('-'), '-');
  // Bytes of UTF-8 sequences stay as they are, whatever the process locale.
  EXPECT_EQ(ascii_lower('\xC3'), '\xC3');
  EXPECT_EQ(ascii_lower('\x80'), '\x80');
}

TEST(Ascii, EqualityIgnoresCaseButNotLengthOrOtherBytes) {
  EXPECT_TRUE(ascii_iequals("Content-Type", "content-type"));
  EXPECT_TRUE(ascii_iequals("X-API-KEY", "x-api-key"));
  EXPECT_TRUE(ascii_iequals("", ""));
  EXPECT_FALSE(ascii_iequals("content-type", "content-typ"));
  EXPECT_FALSE(ascii_iequals("content-type", "content_type"));
  EXPECT_FALSE(ascii_iequals("\xC3\x89", "\xC3\xA9"));  // É and é: not ASCII, not folded
}

TEST(Ascii, LineBreaksAreFoundAnywhere) {
  EXPECT_FALSE(has_line_break(""));
  EXPECT_FALSE(has_line_break("text/plain; charset=utf-8\t "));
  EXPECT_TRUE(has_line_break("\r"));
  EXPECT_TRUE(has_line_break("a\nx-injected: 1"));
  EXPECT_TRUE(has_line_break("value\r\n"));
  EXPECT_TRUE(has_line_break(std::string_view("\0\n", 2)));
}

}  // namespace
}  // namespace hearth
