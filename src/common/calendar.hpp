// Calendar arithmetic in UTC, shared by budgets, the ledger's monthly spend totals and the
// dashboard: they must agree on where a month starts.
#pragma once

#include <cstdint>

namespace hearth {

// The first microsecond of the calendar month (UTC) containing `time_us` (microseconds since the
// Unix epoch; times before it count too).
std::int64_t month_start_us(std::int64_t time_us);

}  // namespace hearth
