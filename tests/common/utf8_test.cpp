// UTF-8 validation: both implementations (AVX2 where the processor has it, and the portable
// one), on valid text, each kind of malformed sequence, errors at every offset of long texts,
// and random bytes.
#include "common/utf8.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth {
namespace {

// Both validators: the one first_invalid_utf8 picks (AVX2 where available) and the portable one.
using Validator = std::size_t (*)(std::string_view);
const std::vector<std::pair<const char*, Validator>> kValidators = {
    {"dispatched", &first_invalid_utf8}, {"portable", &first_invalid_utf8_portable}};

TEST(Utf8, ValidTextOfEveryLength) {
  for (const auto& [which, check] : kValidators) {
    SCOPED_TRACE(which);
    EXPECT_EQ(check(""), std::string_view::npos);
    EXPECT_EQ(check("plain ASCII"), std::string_view::npos);
    EXPECT_EQ(check("Grüße, 中文, عربى, 😀, e\u0301"), std::string_view::npos);
    EXPECT_EQ(check("\xF4\x8F\xBF\xBF"), std::string_view::npos);  // U+10FFFF
    EXPECT_EQ(check("\xED\x9F\xBF"), std::string_view::npos);      // U+D7FF
    EXPECT_EQ(check("\xEE\x80\x80"), std::string_view::npos);      // U+E000
  }
}

TEST(Utf8, InvalidSequencesAreFoundAtTheirFirstByte) {
  for (const auto& [which, check] : kValidators) {
    SCOPED_TRACE(which);
    using namespace std::string_literals;
    EXPECT_EQ(check("ab\x80"), 2u);              // lone continuation
    EXPECT_EQ(check("ab\xC0\xAF"), 2u);          // overlong '/'
    EXPECT_EQ(check("ab\xC1\xBF"), 2u);          // overlong
    EXPECT_EQ(check("ab\xE0\x80\xAF"), 2u);      // overlong three bytes
    EXPECT_EQ(check("ab\xF0\x80\x80\xAF"), 2u);  // overlong four bytes
    EXPECT_EQ(check("ab\xED\xA0\x80"), 2u);      // surrogate D800
    EXPECT_EQ(check("ab\xED\xBF\xBF"), 2u);      // surrogate DFFF
    EXPECT_EQ(check("ab\xF4\x90\x80\x80"), 2u);  // above U+10FFFF
    EXPECT_EQ(check("ab\xF5\x80\x80\x80"), 2u);  // F5 never appears
    EXPECT_EQ(check("ab\xFF"), 2u);
    EXPECT_EQ(check("ab\xC3"), 2u);       // cut off at the end
    EXPECT_EQ(check("ab\xE4\xB8"), 2u);   // cut off at the end
    EXPECT_EQ(check("ab\xE4\xB8z"), 2u);  // cut off in the middle
    EXPECT_EQ(check("\xC3\xA9\xC3"), 2u);
    EXPECT_EQ(check("a\0b\xFF"s), 3u);  // NUL is valid
  }
}

// Long texts are validated in four interleaved chains; an error must be found at its exact
// offset wherever it falls, including at and around the cut points between chains.
TEST(Utf8, ErrorsInLongTextsAtEveryOffset) {
  for (const auto& [which, check] : kValidators) {
    SCOPED_TRACE(which);
    const std::string unit = "中文ü😀a";  // 3 + 3 + 2 + 4 + 1 bytes
    std::string text;
    while (text.size() < 1200) text += unit;
    ASSERT_EQ(check(text), std::string_view::npos);
    for (std::size_t offset = 0; offset < text.size(); ++offset) {
      // Only offsets where a character starts: there an 0xFF byte is the first invalid one.
      if ((static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) continue;
      std::string broken = text;
      broken[offset] = '\xFF';
      ASSERT_EQ(check(broken), offset) << offset;
    }
    // A truncated character at the very end.
    std::string cut = text + "\xF0\x9F\x98";
    EXPECT_EQ(check(cut), text.size());
    // Mostly ASCII with one bad byte far in.
    std::string ascii(5000, 'x');
    ascii[4321] = '\x80';
    EXPECT_EQ(check(ascii), 4321u);
  }
}

// Random mixtures of valid characters with bytes overwritten and ends cut: both validators
// report the same offset.
TEST(Utf8, ImplementationsAgreeOnRandomBytes) {
  std::mt19937_64 random(11);
  const std::vector<std::string> pieces = {
      "a", "é", "中", "😀", "\x7f", " ", "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\xEF\xBF\xBD"};
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const std::size_t length = random() % 300;
    while (text.size() < length) text += pieces[random() % pieces.size()];
    for (int e = static_cast<int>(random() % 3); e > 0 && !text.empty(); --e) {
      text[random() % text.size()] = static_cast<char>(random() % 256);
    }
    if (random() % 4 == 0 && !text.empty()) text.resize(random() % text.size());
    ASSERT_EQ(first_invalid_utf8(text), first_invalid_utf8_portable(text)) << round;
  }
}

TEST(Utf8, IsValidSaysTheSame) {
  EXPECT_TRUE(is_valid_utf8("Grüße"));
  EXPECT_FALSE(is_valid_utf8("ab\xC0\xAF"));
}

}  // namespace
}  // namespace hearth
