#include "common/calendar.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace hearth {
namespace {

TEST(MonthStart, UtcCalendarMonths) {
  constexpr std::int64_t kSecond = 1'000'000;
  struct Case {
    const char* description;
    std::int64_t time_us;
    std::int64_t month_start;
  };
  // Expected values from `date -u -d 2024-02-01 +%s` and the like.
  const std::vector<Case> cases = {
      {"the epoch", 0, 0},
      {"epoch month, later", 30 * 86400 * kSecond, 0},
      {"leap day 2024, last microsecond", 1'709'251'200 * kSecond - 1, 1'706'745'600 * kSecond},
      {"2024-03-01 exactly", 1'709'251'200 * kSecond, 1'709'251'200 * kSecond},
      {"leap day 2000 (divisible by 400)", 951'825'600 * kSecond, 949'363'200 * kSecond},
      {"2000-03-01 exactly", 951'868'800 * kSecond, 951'868'800 * kSecond},
      {"2100-02-28, not a leap year", 4'107'542'399 * kSecond, 4'105'123'200 * kSecond},
      {"2100-03-01 exactly", 4'107'542'400 * kSecond, 4'107'542'400 * kSecond},
      {"Dec 2023, last microsecond", 1'704'067'200 * kSecond - 1, 1'701'388'800 * kSecond},
      {"Jan 2024, first microsecond", 1'704'067'200 * kSecond, 1'704'067'200 * kSecond},
      {"Jan 2024, mid-month", 1'704'067'200 * kSecond + 14 * 86400 * kSecond + 12345,
       1'704'067'200 * kSecond},
      {"before the epoch", -1'468'800 * kSecond + 5, -2'678'400 * kSecond},
      {"just before the epoch", -1, -2'678'400 * kSecond},
  };
  for (const auto& test_case : cases) {
    EXPECT_EQ(month_start_us(test_case.time_us), test_case.month_start) << test_case.description;
  }
}

}  // namespace
}  // namespace hearth
