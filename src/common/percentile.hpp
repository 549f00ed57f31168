// Percentiles by nearest rank, the one definition the advisor, `hearth eval` and the dashboard
// share (docs/ADVISOR.md), so that their figures can be checked by hand alike.
#pragma once

#include <cstdint>
#include <span>

namespace hearth {

// The value at rank ceil(percent / 100 x n) (1-based, at least 1) of `values` in ascending
// order; 0 when there are none. Reorders `values` (a partial sort, no copy: the advisor passes
// millions).
double nearest_rank(std::span<double> values, std::int64_t percent);

}  // namespace hearth
