#include "common/calendar.hpp"

#include <chrono>

namespace hearth {

std::int64_t month_start_us(std::int64_t time_us) {
  using namespace std::chrono;
  const sys_time<microseconds> time{microseconds(time_us)};
  const year_month_day date{floor<days>(time)};
  const sys_days first_day{date.year() / date.month() / day(1)};
  return duration_cast<microseconds>(first_day.time_since_epoch()).count();
}

}  // namespace hearth
