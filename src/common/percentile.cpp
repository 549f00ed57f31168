#include "common/percentile.hpp"

#include <algorithm>
#include <cassert>

namespace hearth {

double nearest_rank(std::span<double> values, std::int64_t percent) {
  assert(percent >= 0 && percent <= 100 && "a percentile is between 0 and 100");
  if (values.empty()) return 0;
  const auto count = static_cast<std::int64_t>(values.size());
  // Integer arithmetic: 95 x 20 / 100 is rank 19 exactly, with no rounding to guard against.
  const std::int64_t rank = std::max<std::int64_t>(1, (percent * count + 99) / 100);
  const auto nth = values.begin() + (rank - 1);
  std::nth_element(values.begin(), nth, values.end());
  return *nth;
}

}  // namespace hearth
