#include "common/number_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace hearth {

namespace {

// Beyond this the thousandths no longer fit an int64 exactly: printf handles those.
constexpr double kLargestExactThousandths = 9.0e15;

void append_decimal(std::string& out, std::uint64_t value) {
  char digits[20];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

}  // namespace

void append_fixed3(std::string& out, double value) {
  const double thousandths = value * 1000.0;
  if (!std::isfinite(value) || std::fabs(thousandths) >= kLargestExactThousandths) {
    char text[400];
    const int length = std::snprintf(text, sizeof text, "%.3f", value);
    out.append(text, static_cast<std::size_t>(length));
    return;
  }
  const std::int64_t rounded = std::llround(thousandths);
  // printf keeps the sign of a negative value that rounds to zero ("-0.000").
  if (rounded < 0 || (rounded == 0 && std::signbit(value))) out += '-';
  const std::uint64_t magnitude =
      rounded < 0 ? static_cast<std::uint64_t>(-rounded) : static_cast<std::uint64_t>(rounded);
  append_decimal(out, magnitude / 1000);
  const auto fraction = static_cast<unsigned>(magnitude % 1000);
  out += '.';
  out += static_cast<char>('0' + fraction / 100);
  out += static_cast<char>('0' + fraction / 10 % 10);
  out += static_cast<char>('0' + fraction % 10);
}

std::string fixed3(double value) {
  std::string text;
  append_fixed3(text, value);
  return text;
}

void append_hex(std::string& out, std::uint64_t value, int width) {
  char digits[16];
  const auto end = std::to_chars(digits, digits + sizeof digits, value, 16).ptr;
  const auto length = static_cast<int>(end - digits);
  if (width > length) out.append(static_cast<std::size_t>(width - length), '0');
  out.append(digits, end);
}

}  // namespace hearth
