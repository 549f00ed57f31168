// The gateway's routing fields: read without validating the rest of the body.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "api/parse.hpp"

namespace hearth::api {
namespace {

using std::chrono::milliseconds;

TEST(ParseRoutingFields, ReadsModelAndStreamAndIgnoresTheRest) {
  const auto fields = parse_routing_fields(
      R"({"model":"qwen","stream":true,"messages":"not checked here","max_tokens":-5})");
  ASSERT_TRUE(fields) << fields.error().message;
  EXPECT_EQ(fields->model, "qwen");
  EXPECT_TRUE(fields->stream);
  EXPECT_FALSE(fields->keep_alive.has_value());
}

TEST(ParseRoutingFields, AbsentOrNullFieldsTakeTheirDefaults) {
  for (const char* body : {"{}", R"({"model":null,"stream":null,"keep_alive":null})"}) {
    const auto fields = parse_routing_fields(body);
    ASSERT_TRUE(fields) << body;
    EXPECT_EQ(fields->model, "") << body;
    EXPECT_FALSE(fields->stream) << body;
    EXPECT_FALSE(fields->keep_alive.has_value()) << body;
  }
}

TEST(ParseRoutingFields, KeepAliveInOllamasForms) {
  const std::pair<const char*, milliseconds> cases[] = {
      {R"({"keep_alive":30})", milliseconds(30'000)},
      {R"({"keep_alive":0})", milliseconds(0)},
      {R"({"keep_alive":1.5})", milliseconds(1'500)},
      {R"({"keep_alive":"90s"})", milliseconds(90'000)},
      {R"({"keep_alive":"5m"})", milliseconds(300'000)},
      {R"({"keep_alive":"1h"})", milliseconds(3'600'000)},
      {R"({"keep_alive":"250ms"})", milliseconds(250)},
      {R"({"keep_alive":"10"})", milliseconds(10'000)},
      {R"({"keep_alive":-1})", milliseconds::max()},
      {R"({"keep_alive":"-1m"})", milliseconds::max()},
  };
  for (const auto& [body, expected] : cases) {
    const auto fields = parse_routing_fields(body);
    ASSERT_TRUE(fields) << body << ": " << fields.error().message;
    ASSERT_TRUE(fields->keep_alive.has_value()) << body;
    EXPECT_EQ(fields->keep_alive->count(), expected.count()) << body;
  }
}

TEST(ParseRoutingFields, BadValuesNameTheirField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"model":7})", "model"},
      {R"({"stream":"yes"})", "stream"},
      {R"({"keep_alive":"soon"})", "keep_alive"},
      {R"({"keep_alive":"5 days"})", "keep_alive"},
      {R"({"keep_alive":true})", "keep_alive"},
  };
  for (const auto& [body, param] : cases) {
    const auto fields = parse_routing_fields(body);
    ASSERT_FALSE(fields) << body;
    EXPECT_EQ(fields.error().status, 400) << body;
    EXPECT_EQ(fields.error().param, param) << body;
  }
}

TEST(ParseRoutingFields, TheBodyItselfIsCheckedAsForEveryEndpoint) {
  EXPECT_EQ(parse_routing_fields("{not json").error().code, "invalid_json");
  EXPECT_EQ(parse_routing_fields("[1]").error().code, "invalid_type");
  EXPECT_EQ(parse_routing_fields("{\"model\":\"caf\xff\"}").error().code, "invalid_utf8");
}

TEST(ReplaceModel, SetsTheModelAndKeepsKeyOrder) {
  const auto replaced = replace_model(R"({"z":1,"model":"alias","a":[1,2]})", "upstream");
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced.value(), R"({"z":1,"model":"upstream","a":[1,2]})");
  const auto added = replace_model(R"({"prompt":"hi"})", "upstream");
  ASSERT_TRUE(added);
  EXPECT_EQ(added.value(), R"({"prompt":"hi","model":"upstream"})");
  EXPECT_FALSE(replace_model("{oops", "upstream"));
}

}  // namespace
}  // namespace hearth::api
