// The simdjson readings of the hot paths (api/json_reading.hpp) and the readers built on them:
// each must answer exactly as the nlohmann reading it stands in for. The differential tests
// read every body twice: as it is, and with a member simdjson refuses (an integer beyond 64
// bits, which nlohmann reads as a double), which sends it down the nlohmann reading.
#include "api/json_reading.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/json_text.hpp"
#include "api/parse.hpp"

namespace hearth::api {
namespace {

constexpr std::string_view kRefusedByTheFastReading =
    R"("seed_of_the_test":123456789012345678901234567890)";

// `object` with one more member that simdjson refuses, put last.
std::string for_the_full_reading(std::string_view object) {
  std::string body(object);
  const auto close = body.rfind('}');
  const bool empty = body.find_first_not_of(" \t\r\n", body.find('{') + 1) == close;
  body.insert(close, std::string(empty ? "" : ",") + std::string(kRefusedByTheFastReading));
  return body;
}

TEST(ParseForReading, RefusesIntegersBeyond64BitsWhichNlohmannReads) {
  const std::string body = for_the_full_reading(R"({"a":1})");
  EXPECT_FALSE(parse_for_reading(body).has_value());
  EXPECT_FALSE(nlohmann::json::parse(body, nullptr, false).is_discarded());
}

TEST(ParseForReading, NestingLimitIsTheGatewaysLimit) {
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(parse_for_reading(nested(kMaxJsonNestingDepth)).has_value());
  EXPECT_FALSE(parse_for_reading(nested(kMaxJsonNestingDepth + 1)).has_value());
  EXPECT_EQ(json_nesting_depth(nested(kMaxJsonNestingDepth + 1)), kMaxJsonNestingDepth + 1);
}

TEST(ParseForReading, RefusesInvalidJsonAndInvalidUtf8) {
  for (const std::string& text :
       {std::string(""), std::string("{"), std::string(R"({"a":"\ud800"})"),
        std::string("{\"a\":\"\xff\"}"), std::string("{\"a\":\"\x01\"}"), std::string("{} {}")}) {
    EXPECT_FALSE(parse_for_reading(text).has_value()) << text;
  }
}

TEST(ParseForReading, AnElementLivesUntilTheNextParseOnTheThread) {
  const auto first = parse_for_reading(R"({"name":"first"})");
  ASSERT_TRUE(first);
  EXPECT_EQ(string_value(*last_member(*first, "name")), "first");
  const auto second = parse_for_reading(R"({"name":"second"})");
  ASSERT_TRUE(second);
  EXPECT_EQ(string_value(*last_member(*second, "name")), "second");
}

TEST(LastMember, TheLastOfARepeatedKeyCountsAsInNlohmann) {
  const std::string body = R"({"k":"first","other":1,"k":"last"})";
  const auto root = parse_for_reading(body);
  ASSERT_TRUE(root);
  EXPECT_EQ(string_value(*last_member(*root, "k")), "last");
  EXPECT_EQ(nlohmann::json::parse(body)["k"], "last");
  EXPECT_FALSE(last_member(*root, "missing").has_value());
  const auto array = parse_for_reading(R"([{"k":1}])");
  ASSERT_TRUE(array);
  EXPECT_FALSE(last_member(*array, "k").has_value());  // not an object
}

TEST(ForEachMember, VisitsEveryRepeatInOrder) {
  const auto root = parse_for_reading(R"({"k":"a","x":"-","k":"b","k":3})");
  ASSERT_TRUE(root);
  std::vector<std::string> seen;
  for_each_member(*root, "k", [&](JsonElement value) {
    seen.emplace_back(string_value(value).value_or("not a string"));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "not a string"}));
}

void expect_same_routing_fields(const RoutingFields& fast, const RoutingFields& full,
                                const std::string& body) {
  EXPECT_EQ(fast.model, full.model) << body;
  EXPECT_EQ(fast.stream, full.stream) << body;
  EXPECT_EQ(fast.keep_alive, full.keep_alive) << body;
  EXPECT_EQ(fast.workload, full.workload) << body;
  EXPECT_EQ(fast.max_tokens, full.max_tokens) << body;
  EXPECT_EQ(fast.has_tools, full.has_tools) << body;
  EXPECT_EQ(fast.has_images, full.has_images) << body;
  EXPECT_EQ(fast.estimated_prompt_tokens, full.estimated_prompt_tokens) << body;
  EXPECT_EQ(fast.logprobs, full.logprobs) << body;
  EXPECT_EQ(fast.include_usage, full.include_usage) << body;
  EXPECT_EQ(fast.has_stream_options, full.has_stream_options) << body;
  EXPECT_EQ(fast.response_format, full.response_format) << body;
  EXPECT_EQ(fast.json_schema, full.json_schema) << body;
}

TEST(ParseRoutingFields, FastReadingMatchesTheFullReading) {
  const std::vector<std::string> bodies = {
      R"({})",
      R"({"model":"m","stream":true,"messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16})",
      R"({"model":null,"stream":null,"max_tokens":null,"max_completion_tokens":7})",
      R"({"model":"first","model":"second","stream":false,"stream":true})",
      R"({"max_completion_tokens":2.5,"max_tokens":9})",
      R"({"max_tokens":18446744073709551615})",
      R"({"metadata":{"workload":"support","workload":"triage"},"messages":[]})",
      R"({"metadata":{"workload":5}})",
      R"({"metadata":"not an object"})",
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"héllo wörld"},{"type":"image_url","image_url":{"url":"data:x"}}]}]})",
      R"({"messages":[{"role":"user","content":[{"type":"input_image"}]},{"role":"user","content":[{"type":"image"}]}]})",
      R"({"messages":[{"role":"assistant","content":null,"name":"bot","tool_calls":[{"id":"c1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]}]})",
      R"({"messages":[{"role":"assistant","tool_calls":{"a":{"function":{"arguments":"abc"}}}}]})",
      R"({"messages":[{"role":"assistant","tool_calls":"not calls"}],"messages":[{"content":"last wins"}]})",
      R"({"messages":"a plain string"})",
      R"({"prompt":["one","two",3],"input":"embed me","query":"q","documents":["d1",{"text":"d2"}]})",
      R"({"tools":[],"tools":null})",
      R"({"tools":"not a list"})",
      R"({"logprobs":true})",
      R"({"logprobs":false})",
      R"({"logprobs":3})",
      R"({"logprobs":0})",
      R"({"logprobs":"yes"})",
      R"({"stream_options":null})",
      R"({"stream_options":{"include_usage":true}})",
      R"({"stream_options":{"include_usage":"true"}})",
      R"({"stream_options":"odd"})",
      R"({"response_format":{"type":"json_object"}})",
      R"({"response_format":{"type":"text"}})",
      R"({"response_format":"json_object"})",
      // Read by the full reading only (nullopt from the fast one), compared all the same.
      R"({"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]})",
      R"({"keep_alive":"5m"})",
      R"({"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","required":["a"]}}}})",
  };
  for (const std::string& body : bodies) {
    const auto fast = parse_routing_fields(body);
    const auto full = parse_routing_fields(for_the_full_reading(body));
    ASSERT_TRUE(fast) << body << ": " << fast.error().message;
    ASSERT_TRUE(full) << body << ": " << full.error().message;
    expect_same_routing_fields(*fast, *full, body);
  }
}

TEST(ParseRoutingFields, ErrorsAreTheFullReadingsErrors) {
  for (const std::string& body :
       std::vector<std::string>{R"({"model":5})", R"({"stream":"yes"})", R"([1,2])", R"({"a":)",
                                R"({"keep_alive":"soon"})"}) {
    const auto fields = parse_routing_fields(body);
    ASSERT_FALSE(fields) << body;
    if (body.front() == '{' && body.back() == '}') {
      const auto full = parse_routing_fields(for_the_full_reading(body));
      ASSERT_FALSE(full) << body;
      EXPECT_EQ(fields.error().message, full.error().message) << body;
      EXPECT_EQ(fields.error().param, full.error().param) << body;
    }
  }
}

TEST(ParseRoutingFields, ReadsThePlacementFacts) {
  const auto fields = parse_routing_fields(
      R"({"metadata":{"workload":"w"},"max_completion_tokens":12,"logprobs":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"12345678"}]})");
  ASSERT_TRUE(fields) << fields.error().message;
  EXPECT_EQ(fields->workload, "w");
  EXPECT_EQ(fields->max_tokens, 12);
  EXPECT_TRUE(fields->logprobs);
  EXPECT_TRUE(fields->include_usage);
  EXPECT_TRUE(fields->has_stream_options);
  EXPECT_EQ(fields->estimated_prompt_tokens, 2);  // 8 characters / 4
  const auto without = parse_routing_fields(R"({"stream":true})");
  ASSERT_TRUE(without);
  EXPECT_FALSE(without->has_stream_options);
}

TEST(RewriteBody, AsksForUsageInFrontOfTheClientsBytes) {
  BodyRewrite rewrite;
  rewrite.request_usage = true;
  rewrite.without_stream_options = true;
  const std::pair<std::string, std::string> cases[] = {
      {R"({"model":"m", "stream":true})",
       R"({"stream_options":{"include_usage":true},"model":"m", "stream":true})"},
      {" \n{ }", " \n{\"stream_options\":{\"include_usage\":true} }"},
  };
  for (const auto& [body, expected] : cases) {
    const auto rewritten = rewrite_body(body, rewrite, /*is_chat=*/true);
    ASSERT_TRUE(rewritten) << body;
    EXPECT_EQ(*rewritten, expected);
    EXPECT_EQ(nlohmann::json::parse(*rewritten)["stream_options"]["include_usage"], true);
  }
}

TEST(RewriteBody, RebuildsTheBodyWhenStreamOptionsArePresentOrMoreChanges) {
  BodyRewrite rewrite;
  rewrite.request_usage = true;
  rewrite.without_stream_options = false;
  auto rewritten = rewrite_body(R"({"stream_options":null,"stream":true})", rewrite, true);
  ASSERT_TRUE(rewritten);
  EXPECT_EQ(*rewritten, R"({"stream_options":{"include_usage":true},"stream":true})");
  rewrite.without_stream_options = true;
  rewrite.model = "upstream-name";
  rewritten = rewrite_body(R"({"model":"m","stream":true})", rewrite, true);
  ASSERT_TRUE(rewritten);
  EXPECT_EQ(*rewritten,
            R"({"model":"upstream-name","stream":true,"stream_options":{"include_usage":true}})");
}

void expect_same_summary(const AnswerSummary& fast, const AnswerSummary& full,
                         const std::string& body) {
  EXPECT_EQ(fast.content, full.content) << body;
  EXPECT_EQ(fast.tool_calls, full.tool_calls) << body;
  EXPECT_EQ(fast.finish_reason, full.finish_reason) << body;
  EXPECT_EQ(fast.mean_logprob, full.mean_logprob) << body;
  EXPECT_EQ(fast.logprob_tokens, full.logprob_tokens) << body;
  EXPECT_EQ(fast.has_choices, full.has_choices) << body;
  EXPECT_EQ(fast.prompt_tokens, full.prompt_tokens) << body;
  EXPECT_EQ(fast.cached_tokens, full.cached_tokens) << body;
  EXPECT_EQ(fast.completion_tokens, full.completion_tokens) << body;
}

TEST(SummarizeAnswer, FastReadingMatchesTheFullReading) {
  const std::vector<std::string> bodies = {
      R"({})",
      R"({"choices":[]})",
      R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":16,"total_tokens":25}})",
      R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}})",
      R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"a"},{"id":"b"}]},"finish_reason":"tool_calls"}]})",
      R"({"choices":[{"text":"completion text","finish_reason":"length","logprobs":{"token_logprobs":[-0.5,-1.5,null]}}]})",
      R"({"choices":[{"message":{"content":"x"},"logprobs":{"content":[{"token":"a","logprob":-0.25},{"token":"b","logprob":-2},{"token":"c"}]}}]})",
      R"({"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":7,"completion_tokens":"3"}})",
      R"({"choices":[{"message":{"content":"first"},"message":{"content":"last"}}]})",
      R"({"choices":"not a list","usage":{"prompt_tokens":-4,"completion_tokens":9223372036854775807}})",
  };
  for (const std::string& body : bodies) {
    const auto fast = summarize_answer(body);
    const auto full = summarize_answer(for_the_full_reading(body));
    ASSERT_TRUE(fast) << body << ": " << fast.error();
    ASSERT_TRUE(full) << body << ": " << full.error();
    expect_same_summary(*fast, *full, body);
  }
  const auto usage = summarize_answer(bodies[3]);
  EXPECT_EQ(usage->content, "Hello there");
  EXPECT_EQ(usage->prompt_tokens, 9);
  EXPECT_EQ(usage->cached_tokens, 4);
  EXPECT_EQ(summarize_answer(bodies[7])->prompt_tokens, 7);  // the last "usage" counts
}

TEST(SummarizeAnswer, WhatIsNoObjectIsAnError) {
  EXPECT_FALSE(summarize_answer("[1]"));
  EXPECT_FALSE(summarize_answer("not json"));
}

}  // namespace
}  // namespace hearth::api
