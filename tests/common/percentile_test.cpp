#include "common/percentile.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace hearth {
namespace {

// The cases the advisor, `hearth eval` and the dashboard each tested on their own copies.
TEST(NearestRank, PicksTheCeilingRank) {
  std::vector<double> twenty;
  for (int i = 20; i >= 1; --i) twenty.push_back(i);  // unsorted on purpose
  EXPECT_DOUBLE_EQ(nearest_rank(twenty, 50), 10.0);   // rank ceil(10) = 10
  EXPECT_DOUBLE_EQ(nearest_rank(twenty, 95), 19.0);   // rank ceil(19) = 19
  EXPECT_DOUBLE_EQ(nearest_rank(twenty, 100), 20.0);
  EXPECT_DOUBLE_EQ(nearest_rank(twenty, 0), 1.0);
  std::vector<double> three{7.0, 1.0, 3.0};
  EXPECT_DOUBLE_EQ(nearest_rank(three, 50), 3.0);  // rank ceil(1.5) = 2
  EXPECT_DOUBLE_EQ(nearest_rank(three, 95), 7.0);  // rank ceil(2.85) = 3
  std::vector<double> one{4.0};
  EXPECT_DOUBLE_EQ(nearest_rank(one, 50), 4.0);
  std::vector<double> seven{7.0};
  EXPECT_DOUBLE_EQ(nearest_rank(seven, 95), 7.0);
  std::vector<double> two{6.0, 5.0};
  EXPECT_DOUBLE_EQ(nearest_rank(two, 0), 5.0);
  std::vector<double> none;
  EXPECT_DOUBLE_EQ(nearest_rank(none, 50), 0.0);
}

}  // namespace
}  // namespace hearth
