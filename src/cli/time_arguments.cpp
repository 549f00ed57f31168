#include "cli/time_arguments.hpp"

#include <charconv>
#include <chrono>

namespace hearth::cli {

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::int64_t> parse_duration_us(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  std::int64_t unit_us = 0;
  switch (unit) {
    case 's':
      unit_us = kMicrosPerSecond;
      break;
    case 'm':
      unit_us = 60 * kMicrosPerSecond;
      break;
    case 'h':
      unit_us = 3600 * kMicrosPerSecond;
      break;
    case 'd':
      unit_us = kMicrosPerDay;
      break;
    case 'w':
      unit_us = 7 * kMicrosPerDay;
      break;
    default:
      return std::nullopt;
  }
  const auto count = parse_integer(text.substr(0, text.size() - 1));
  // Bounded so that the product cannot overflow: a hundred years is plenty.
  if (!count || *count <= 0 || *count > 100 * 366 * kMicrosPerDay / unit_us) {
    return std::nullopt;
  }
  return *count * unit_us;
}

std::optional<std::int64_t> parse_date_us(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const auto year = parse_integer(text.substr(0, 4));
  const auto month = parse_integer(text.substr(5, 2));
  const auto day = parse_integer(text.substr(8, 2));
  if (!year || !month || !day || *month < 1 || *day < 1) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(static_cast<int>(*year)),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  const std::chrono::sys_days days(date);
  return std::chrono::duration_cast<std::chrono::microseconds>(days.time_since_epoch()).count();
}

std::optional<std::int64_t> parse_point_in_time(std::string_view text, std::int64_t now,
                                                bool end_of_day) {
  if (auto date = parse_date_us(text)) {
    return end_of_day ? *date + kMicrosPerDay : *date;
  }
  if (auto span = parse_duration_us(text)) {
    return now - *span;
  }
  return std::nullopt;
}

}  // namespace hearth::cli
