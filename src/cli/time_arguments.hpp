// Command-line values shared by the ledger commands (`hearth usage`, `keys create --expires`,
// `hearth advise`): integers, spans and points in time, in Unix microseconds (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth::cli {

inline constexpr std::int64_t kMicrosPerSecond = 1'000'000;
inline constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// A whole decimal number, nothing around it.
std::optional<std::int64_t> parse_integer(std::string_view text);

// "30d", "12h", "90m", "45s", "2w": a positive span in microseconds.
std::optional<std::int64_t> parse_duration_us(std::string_view text);

// "YYYY-MM-DD": midnight UTC of that day, in microseconds.
std::optional<std::int64_t> parse_date_us(std::string_view text);

// A DATE (its midnight, or the next one for an inclusive end) or a DURATION before now.
std::optional<std::int64_t> parse_point_in_time(std::string_view text, std::int64_t now,
                                                bool end_of_day);

}  // namespace hearth::cli
