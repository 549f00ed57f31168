#include "common/number_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>

namespace hearth {
namespace {

std::string printf_fixed3(double value) {
  char text[400];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

TEST(Fixed3, WritesThreeDecimals) {
  EXPECT_EQ(fixed3(0), "0.000");
  EXPECT_EQ(fixed3(12.3456), "12.346");
  EXPECT_EQ(fixed3(0.0004), "0.000");
  EXPECT_EQ(fixed3(0.0006), "0.001");
  EXPECT_EQ(fixed3(-0.5), "-0.500");
  EXPECT_EQ(fixed3(-0.0001), "-0.000");
  EXPECT_EQ(fixed3(1234567.25), "1234567.250");
  EXPECT_EQ(fixed3(999.9996), "1000.000");
}

TEST(Fixed3, AgreesWithPrintfAwayFromTies) {
  // Durations in milliseconds as the gateway writes them: nanosecond counts / 1e6. A value
  // exactly halfway between two thousandths may round either way; none of these is one.
  std::mt19937_64 random(42);
  for (int i = 0; i < 100000; ++i) {
    const auto nanoseconds = static_cast<std::int64_t>(random() % 10'000'000'000ULL);
    if (nanoseconds % 1000 == 500) continue;
    const double milliseconds = static_cast<double>(nanoseconds) / 1e6;
    ASSERT_EQ(fixed3(milliseconds), printf_fixed3(milliseconds)) << nanoseconds;
    ASSERT_EQ(fixed3(-milliseconds), printf_fixed3(-milliseconds)) << nanoseconds;
  }
}

TEST(Fixed3, LeavesLargeAndNonFiniteValuesToPrintf) {
  for (const double value : {1e16, -3.5e20, 1e300, std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(fixed3(value), printf_fixed3(value)) << value;
  }
  EXPECT_EQ(fixed3(std::nan("")), printf_fixed3(std::nan("")));
}

TEST(Fixed3, Appends) {
  std::string text = "x=";
  append_fixed3(text, 2.5);
  EXPECT_EQ(text, "x=2.500");
}

TEST(AppendHex, PadsToTheWidthAndNeverCuts) {
  std::string text;
  append_hex(text, 0xbeef, 8);
  EXPECT_EQ(text, "0000beef");
  text.clear();
  append_hex(text, 0, 3);
  EXPECT_EQ(text, "000");
  text.clear();
  append_hex(text, 0xffffffffffffffffULL, 10);
  EXPECT_EQ(text, "ffffffffffffffff");
  text.clear();
  append_hex(text, 0x1234, 0);
  EXPECT_EQ(text, "1234");
}

}  // namespace
}  // namespace hearth
