// Shared shape of the data-driven "this body is rejected" tests.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

#include "api/types.hpp"

namespace hearth::api::testing {

struct RejectionCase {
  std::string name;  // test name suffix: letters, digits and '_' only
  std::string body;
  std::optional<std::string> param;
  std::string code;
  int status = 400;
};

inline std::ostream& operator<<(std::ostream& out, const RejectionCase& c) {
  return out << c.name << ": " << c.body;
}

inline std::string rejection_case_name(const ::testing::TestParamInfo<RejectionCase>& info) {
  return info.param.name;
}

// Checks the parts of an error that clients and the gateway act on.
inline void expect_rejection(const ApiError& error, const RejectionCase& expected) {
  EXPECT_EQ(error.status, expected.status);
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_EQ(error.param, expected.param);
  EXPECT_EQ(error.code, std::optional<std::string>(expected.code));
  EXPECT_FALSE(error.message.empty());
}

}  // namespace hearth::api::testing
