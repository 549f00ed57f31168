// OpenAI Chat Completions <-> Anthropic Messages translation: requests, responses, errors and
// streams.
#include "cloud/anthropic_translation.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/sse.hpp"

namespace hearth::cloud {
namespace {

// Unordered: comparisons are by value. Key order is checked where it matters, with ordered_json.
using json = nlohmann::json;

constexpr const char* kUpstreamModel = "claude-sonnet-4-5";

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json translate_request(const std::string& openai_body) {
  auto result = anthropic_request_from_openai(openai_body, kUpstreamModel);
  if (!result) {
    ADD_FAILURE() << "rejected: " << result.error().message;
    return json();
  }
  return json::parse(*result);
}

json translate_response(const std::string& anthropic_body, const std::string& model = "gpt-x") {
  auto result = openai_response_from_anthropic(anthropic_body, model);
  if (!result) {
    ADD_FAILURE() << "rejected: " << result.error().message;
    return json();
  }
  return json::parse(*result);
}

// ---- requests ----

TEST(AnthropicRequest, MinimalRequestGetsUpstreamModelAndDefaultMaxTokens) {
  const json request =
      translate_request(R"({"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]})");
  EXPECT_EQ(request, json::parse(R"({"model":"claude-sonnet-4-5","max_tokens":4096,
      "messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]})"));
}

TEST(AnthropicRequest, SystemAndDeveloperMessagesBecomeTopLevelSystem) {
  const json request = translate_request(R"({"messages":[
      {"role":"system","content":"You are terse."},
      {"role":"developer","content":[{"type":"text","text":"Answer "},
                                     {"type":"text","text":"in French."}]},
      {"role":"user","content":"Hi"},
      {"role":"system","content":"Late rule."}]})");
  EXPECT_EQ(request["system"], "You are terse.\n\nAnswer in French.\n\nLate rule.");
  ASSERT_EQ(request["messages"].size(), 1U);
  EXPECT_EQ(request["messages"][0]["role"], "user");
}

TEST(AnthropicRequest, UserContentPartsBecomeTextAndImageBlocks) {
  const json request = translate_request(R"({"messages":[{"role":"user","content":[
      {"type":"text","text":"What is in these?"},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}},
      {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},
      {"type":"image_url","image_url":"http://example.com/dog.webp"}]}]})");
  EXPECT_EQ(request["messages"][0]["content"], json::parse(R"([
      {"type":"text","text":"What is in these?"},
      {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
      {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
      {"type":"image","source":{"type":"url","url":"http://example.com/dog.webp"}}])"));
}

TEST(AnthropicRequest, DataUrlWithExtraParametersKeepsMediaType) {
  const json request = translate_request(R"({"messages":[{"role":"user","content":[
      {"type":"image_url","image_url":{"url":"data:image/jpeg;name=a.jpg;base64,/9j/4AAQ"}}]}]})");
  EXPECT_EQ(request["messages"][0]["content"][0]["source"],
            json::parse(R"({"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"})"));
}

TEST(AnthropicRequest, ConsecutiveSameRoleMessagesAreMerged) {
  const json request = translate_request(R"({"messages":[
      {"role":"user","content":"one"},
      {"role":"user","content":"two"},
      {"role":"assistant","content":"three"},
      {"role":"assistant","content":[{"type":"text","text":"four"}]},
      {"role":"user","content":"five"}]})");
  EXPECT_EQ(request["messages"], json::parse(R"([
      {"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},
      {"role":"assistant","content":[{"type":"text","text":"three"},{"type":"text","text":"four"}]},
      {"role":"user","content":[{"type":"text","text":"five"}]}])"));
}

TEST(AnthropicRequest, EmptyTextIsLeftOutAndEmptyMessagesVanish) {
  const json request = translate_request(R"({"messages":[
      {"role":"user","content":"a"},
      {"role":"assistant","content":""},
      {"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"b"}]}]})");
  EXPECT_EQ(request["messages"], json::parse(R"([
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}])"));
}

// The whole round trip of a tool call: OpenAI request with tools and a previous call and its
// result, then the upstream's next tool_use answer back in OpenAI's shape.
TEST(AnthropicRoundTrip, ToolCall) {
  const json request = translate_request(R"({
    "model": "gpt-4o",
    "messages": [
      {"role": "system", "content": "Use tools."},
      {"role": "user", "content": "Weather in Paris and Rome?"},
      {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"c\"}"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
      {"role": "tool", "tool_call_id": "call_2",
       "content": [{"type": "text", "text": "21C"}, {"type": "text", "text": "sunny"}]},
      {"role": "user", "content": "And tomorrow?"}
    ],
    "tools": [
      {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                         "unit": {"type": "string"}},
                       "required": ["city"]},
        "strict": true}},
      {"type": "function", "function": {"name": "now"}}
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false,
    "max_completion_tokens": 300,
    "temperature": 0.2
  })");
  EXPECT_EQ(request["model"], kUpstreamModel);
  EXPECT_EQ(request["max_tokens"], 300);
  EXPECT_EQ(request["system"], "Use tools.");
  EXPECT_EQ(request["temperature"], 0.2);
  ASSERT_EQ(request["messages"].size(), 3U);
  EXPECT_EQ(request["messages"][0], json::parse(R"({"role":"user","content":[
                {"type":"text","text":"Weather in Paris and Rome?"}]})"));
  EXPECT_EQ(request["messages"][1], json::parse(R"({"role":"assistant","content":[
      {"type":"text","text":"Checking."},
      {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris","unit":"c"}},
      {"type":"tool_use","id":"call_2","name":"get_weather","input":{"city":"Rome"}}]})"));
  // Tool results travel as a user turn, followed by the user's next words in the same turn.
  EXPECT_EQ(request["messages"][2], json::parse(R"({"role":"user","content":[
      {"type":"tool_result","tool_use_id":"call_1","content":"18C"},
      {"type":"tool_result","tool_use_id":"call_2",
       "content":[{"type":"text","text":"21C"},{"type":"text","text":"sunny"}]},
      {"type":"text","text":"And tomorrow?"}]})"));
  EXPECT_EQ(request["tools"], json::parse(R"([
      {"name":"get_weather","description":"Current weather",
       "input_schema":{"type":"object","properties":{"city":{"type":"string"},
                                                     "unit":{"type":"string"}},
                       "required":["city"]}},
      {"name":"now","input_schema":{"type":"object"}}])"));
  // Schema key order reaches the model's prompt: it is kept.
  const auto ordered = nlohmann::ordered_json::parse(*anthropic_request_from_openai(
      R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{
          "name":"f","parameters":{"type":"object","properties":{"zeta":{},"alpha":{}}}}}]})",
      kUpstreamModel));
  EXPECT_EQ(ordered["tools"][0]["input_schema"]["properties"].begin().key(), "zeta");
  EXPECT_EQ(
      request["tool_choice"],
      json::parse(R"({"type":"tool","name":"get_weather","disable_parallel_tool_use":true})"));
  EXPECT_FALSE(request.contains("parallel_tool_calls"));

  const json response = translate_response(R"({
    "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
      {"type": "text", "text": "Let me look."},
      {"type": "tool_use", "id": "toolu_01A", "name": "get_weather",
       "input": {"city": "Paris", "unit": "c", "days": [1, 2]}},
      {"type": "tool_use", "id": "toolu_01B", "name": "now", "input": {}}
    ],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 120, "output_tokens": 40}
  })",
                                           "gpt-4o");
  EXPECT_EQ(response["id"], "chatcmpl-msg_01Aq9w938a90dw8q");
  EXPECT_EQ(response["object"], "chat.completion");
  EXPECT_EQ(response["model"], "gpt-4o");
  ASSERT_EQ(response["choices"].size(), 1U);
  const json& choice = response["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], "Let me look.");
  const json& calls = choice["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[0]["id"], "toolu_01A");
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  ASSERT_TRUE(calls[0]["function"]["arguments"].is_string());
  EXPECT_EQ(calls[0]["function"]["arguments"], R"({"city":"Paris","unit":"c","days":[1,2]})");
  EXPECT_EQ(calls[1]["function"]["name"], "now");
  EXPECT_EQ(calls[1]["function"]["arguments"], "{}");
  EXPECT_EQ(response["usage"]["prompt_tokens"], 120);
  EXPECT_EQ(response["usage"]["completion_tokens"], 40);
  EXPECT_EQ(response["usage"]["total_tokens"], 160);
}

TEST(AnthropicRequest, EmptyToolArgumentsBecomeEmptyInput) {
  const json request = translate_request(R"({"messages":[
      {"role":"user","content":"t?"},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"c1","type":"function","function":{"name":"now","arguments":""}}]},
      {"role":"tool","tool_call_id":"c1","content":"noon"}]})");
  EXPECT_EQ(request["messages"][1]["content"], json::parse(R"([
      {"type":"tool_use","id":"c1","name":"now","input":{}}])"));
}

TEST(AnthropicRequest, ToolChoiceModes) {
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"f"}}])";
  const auto choice_for = [&](const std::string& extra) {
    return translate_request(R"({"messages":[{"role":"user","content":"x"}],)" + tools + extra +
                             "}")["tool_choice"];
  };
  EXPECT_EQ(choice_for(R"(,"tool_choice":"auto")"), json::parse(R"({"type":"auto"})"));
  EXPECT_EQ(choice_for(R"(,"tool_choice":"required")"), json::parse(R"({"type":"any"})"));
  EXPECT_EQ(choice_for(R"(,"tool_choice":"none")"), json::parse(R"({"type":"none"})"));
  EXPECT_EQ(choice_for(R"(,"tool_choice":{"type":"function","function":{"name":"f"}})"),
            json::parse(R"({"type":"tool","name":"f"})"));
  EXPECT_TRUE(choice_for("").is_null());
  EXPECT_EQ(choice_for(R"(,"parallel_tool_calls":false)"),
            json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
  EXPECT_EQ(choice_for(R"(,"tool_choice":"required","parallel_tool_calls":false)"),
            json::parse(R"({"type":"any","disable_parallel_tool_use":true})"));
  // "none" cannot carry disable_parallel_tool_use, and needs none.
  EXPECT_EQ(choice_for(R"(,"tool_choice":"none","parallel_tool_calls":false)"),
            json::parse(R"({"type":"none"})"));
  EXPECT_TRUE(choice_for(R"(,"parallel_tool_calls":true)").is_null());

  // Anthropic rejects tool_choice without tools.
  const json without_tools = translate_request(
      R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"auto","tools":[]})");
  EXPECT_FALSE(without_tools.contains("tool_choice"));
  EXPECT_FALSE(without_tools.contains("tools"));
}

TEST(AnthropicRequest, ToolParametersWithoutTypeGetObjectType) {
  const json request = translate_request(R"({"messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{}}}]})");
  EXPECT_EQ(request["tools"][0], json::parse(R"({"name":"f","input_schema":{"type":"object"}})"));
}

TEST(AnthropicRequest, GenerationOptions) {
  const json request = translate_request(R"({"messages":[{"role":"user","content":"x"}],
      "max_tokens":77,"temperature":0.5,"top_p":0.9,"stop":"END","stream":true,
      "stream_options":{"include_usage":true},"user":"u-1",
      "frequency_penalty":0.5,"presence_penalty":0.1,"seed":7,"logit_bias":{"1":2},
      "response_format":{"type":"json_object"},"n":1,"logprobs":false,"store":true,
      "service_tier":"auto","something_new":1})");
  EXPECT_EQ(request, json::parse(R"({"model":"claude-sonnet-4-5","max_tokens":77,
      "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
      "temperature":0.5,"top_p":0.9,"stop_sequences":["END"],"stream":true,
      "metadata":{"user_id":"u-1"}})"));
}

TEST(AnthropicRequest, StopListAndMaxCompletionTokensPrecedence) {
  const json request = translate_request(R"({"messages":[{"role":"user","content":"x"}],
      "max_tokens":10,"max_completion_tokens":20,"stop":["a","","b"]})");
  EXPECT_EQ(request["max_tokens"], 20);
  EXPECT_EQ(request["stop_sequences"], json::parse(R"(["a","b"])"));
}

TEST(AnthropicRequest, TemperatureAboveAnthropicsRangeIsCapped) {
  const json request =
      translate_request(R"({"messages":[{"role":"user","content":"x"}],"temperature":1.7})");
  EXPECT_EQ(request["temperature"], 1.0);
}

TEST(AnthropicRequest, MetadataUserIdWinsOverUser) {
  const json request = translate_request(R"({"messages":[{"role":"user","content":"x"}],
      "user":"from-user","metadata":{"user_id":"from-metadata","other":"dropped"}})");
  EXPECT_EQ(request["metadata"], json::parse(R"({"user_id":"from-metadata"})"));
}

struct RequestRejection {
  std::string name;
  std::string body;
  std::optional<std::string> param;
  std::string code;
};

std::ostream& operator<<(std::ostream& out, const RequestRejection& c) {
  return out << c.name << ": " << c.body;
}

class AnthropicRequestRejection : public ::testing::TestWithParam<RequestRejection> {};

TEST_P(AnthropicRequestRejection, IsA400NamingTheField) {
  const RequestRejection& expected = GetParam();
  auto result = anthropic_request_from_openai(expected.body, kUpstreamModel);
  ASSERT_FALSE(result.has_value()) << *result;
  const api::ApiError& error = result.error();
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_EQ(error.param, expected.param);
  EXPECT_EQ(error.code, std::optional<std::string>(expected.code));
  EXPECT_FALSE(error.message.empty());
}

std::string deeply_nested_body() {
  std::string body = R"({"messages":[{"role":"user","content":"x"}],"metadata":)";
  for (int i = 0; i < 1000; ++i) body += "[";
  for (int i = 0; i < 1000; ++i) body += "]";
  return body + "}";
}

std::string rejection_name(const ::testing::TestParamInfo<RequestRejection>& param_info) {
  return param_info.param.name;
}

const std::string kUser = R"({"role":"user","content":"x"})";

INSTANTIATE_TEST_SUITE_P(
    Cases, AnthropicRequestRejection,
    ::testing::Values(
        RequestRejection{"NotJson", "{\"messages\": [", std::nullopt, "invalid_json"},
        RequestRejection{"NotAnObject", "[1,2]", std::nullopt, "invalid_type"},
        RequestRejection{"TooDeep", deeply_nested_body(), std::nullopt, "invalid_json"},
        RequestRejection{"MessagesMissing", R"({"model":"m"})", "messages",
                         "missing_required_parameter"},
        RequestRejection{"MessagesNotArray", R"({"messages":"hi"})", "messages", "invalid_type"},
        RequestRejection{"MessagesEmpty", R"({"messages":[]})", "messages", "empty_array"},
        RequestRejection{"OnlySystem", R"({"messages":[{"role":"system","content":"s"}]})",
                         "messages", "invalid_value"},
        RequestRejection{"UnknownRole", R"({"messages":[{"role":"robot","content":"x"}]})",
                         "messages[0].role", "invalid_value"},
        RequestRejection{"RoleMissing", R"({"messages":[{"content":"x"}]})", "messages[0].role",
                         "missing_required_parameter"},
        RequestRejection{"UserContentMissing", R"({"messages":[{"role":"user"}]})",
                         "messages[0].content", "missing_required_parameter"},
        RequestRejection{"BadArgumentsJson",
                         R"({"messages":[)" + kUser +
                             R"(,{"role":"assistant","tool_calls":[
            {"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
            {"id":"b","type":"function","function":{"name":"f","arguments":"{\"x\":"}}]}]})",
                         "messages[1].tool_calls[1].function.arguments", "invalid_value"},
        RequestRejection{"ArgumentsNotAnObject",
                         R"({"messages":[)" + kUser +
                             R"(,{"role":"assistant","tool_calls":[
            {"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]})",
                         "messages[1].tool_calls[0].function.arguments", "invalid_value"},
        RequestRejection{"ToolCallWithoutName",
                         R"({"messages":[)" + kUser +
                             R"(,{"role":"assistant","tool_calls":[
            {"id":"a","type":"function","function":{"arguments":"{}"}}]}]})",
                         "messages[1].tool_calls[0].function.name", "missing_required_parameter"},
        RequestRejection{"ToolMessageWithoutId",
                         R"({"messages":[)" + kUser + R"(,{"role":"tool","content":"r"}]})",
                         "messages[1].tool_call_id", "missing_required_parameter"},
        RequestRejection{"ImageInSystem",
                         R"({"messages":[{"role":"system","content":[
            {"type":"image_url","image_url":{"url":"https://x/y.png"}}]},)" +
                             kUser + "]}",
                         "messages[0].content[0].type", "unsupported_content_type"},
        RequestRejection{"AudioPart",
                         R"({"messages":[{"role":"user","content":[
            {"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]})",
                         "messages[0].content[0].type", "unsupported_content_type"},
        RequestRejection{"UnknownPart",
                         R"({"messages":[{"role":"user","content":[{"type":"hologram"}]}]})",
                         "messages[0].content[0].type", "invalid_value"},
        RequestRejection{"ImageFtpUrl",
                         R"({"messages":[{"role":"user","content":[
            {"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]})",
                         "messages[0].content[0].image_url.url", "invalid_value"},
        RequestRejection{"ImageDataUrlNotBase64",
                         R"({"messages":[{"role":"user","content":[
            {"type":"image_url","image_url":{"url":"data:image/png,rawbytes"}}]}]})",
                         "messages[0].content[0].image_url.url", "invalid_value"},
        RequestRejection{"ImageDataUrlWithoutMediaType",
                         R"({"messages":[{"role":"user","content":[
            {"type":"image_url","image_url":{"url":"data:;base64,AAAA"}}]}]})",
                         "messages[0].content[0].image_url.url", "invalid_value"},
        RequestRejection{"NAboveOne", R"({"messages":[)" + kUser + R"(],"n":2})", "n",
                         "unsupported_parameter"},
        RequestRejection{"NZero", R"({"messages":[)" + kUser + R"(],"n":0})", "n", "invalid_value"},
        RequestRejection{"Logprobs", R"({"messages":[)" + kUser + R"(],"logprobs":true})",
                         "logprobs", "unsupported_parameter"},
        RequestRejection{"MaxTokensZero", R"({"messages":[)" + kUser + R"(],"max_tokens":0})",
                         "max_tokens", "invalid_value"},
        RequestRejection{"MaxCompletionTokensString",
                         R"({"messages":[)" + kUser + R"(],"max_completion_tokens":"9"})",
                         "max_completion_tokens", "invalid_type"},
        RequestRejection{"TemperatureString",
                         R"({"messages":[)" + kUser + R"(],"temperature":"hot"})", "temperature",
                         "invalid_type"},
        RequestRejection{"TemperatureTooHigh",
                         R"({"messages":[)" + kUser + R"(],"temperature":2.5})", "temperature",
                         "invalid_value"},
        RequestRejection{"StopNumber", R"({"messages":[)" + kUser + R"(],"stop":[1]})", "stop[0]",
                         "invalid_type"},
        RequestRejection{"ToolTypeNotFunction",
                         R"({"messages":[)" + kUser + R"(],"tools":[{"type":"web_search"}]})",
                         "tools[0].type", "invalid_value"},
        RequestRejection{
            "ToolParametersNotObject",
            R"({"messages":[)" + kUser +
                R"(],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]})",
            "tools[0].function.parameters", "invalid_type"},
        RequestRejection{"ToolChoiceUnknown",
                         R"({"messages":[)" + kUser + R"(],"tool_choice":"sometimes"})",
                         "tool_choice", "invalid_value"},
        RequestRejection{"StreamNotBool", R"({"messages":[)" + kUser + R"(],"stream":"yes"})",
                         "stream", "invalid_type"}),
    rejection_name);

// ---- responses ----

TEST(AnthropicResponse, TextReply) {
  const int64_t before = now_seconds();
  const json response = translate_response(R"({"id":"msg_1","type":"message","role":"assistant",
      "content":[{"type":"text","text":"Hello"},{"type":"text","text":", world"}],
      "stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":3}})",
                                           "my-model");
  EXPECT_EQ(response["id"], "chatcmpl-msg_1");
  EXPECT_EQ(response["object"], "chat.completion");
  EXPECT_EQ(response["model"], "my-model");
  EXPECT_GE(response["created"].get<int64_t>(), before);
  EXPECT_LE(response["created"].get<int64_t>(), now_seconds());
  const json& choice = response["choices"][0];
  EXPECT_EQ(choice["message"]["content"], "Hello, world");
  EXPECT_FALSE(choice["message"].contains("tool_calls"));
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(response["usage"], json::parse(R"({"prompt_tokens":5,"completion_tokens":3,
      "total_tokens":8,"prompt_tokens_details":{"cached_tokens":0}})"));
}

TEST(AnthropicResponse, OnlyToolCallsGiveNullContent) {
  const json response = translate_response(R"({"id":"m","content":[
      {"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"tool_use"})");
  EXPECT_TRUE(response["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(response["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            R"({"a":1})");
}

TEST(AnthropicResponse, StopReasons) {
  const std::map<std::string, std::string> expected = {{"end_turn", "stop"},
                                                       {"stop_sequence", "stop"},
                                                       {"max_tokens", "length"},
                                                       {"tool_use", "tool_calls"},
                                                       {"refusal", "content_filter"}};
  for (const auto& [anthropic, openai] : expected) {
    const json response =
        translate_response(R"({"id":"m","content":[{"type":"text","text":"x"}],"stop_reason":")" +
                           anthropic + R"("})");
    EXPECT_EQ(response["choices"][0]["finish_reason"], openai) << anthropic;
  }
}

TEST(AnthropicResponse, UsageCountsCacheTokensAsPrompt) {
  const json response = translate_response(R"({"id":"m","content":[{"type":"text","text":"x"}],
      "stop_reason":"end_turn","usage":{"input_tokens":10,"cache_creation_input_tokens":200,
      "cache_read_input_tokens":3000,"output_tokens":7}})");
  EXPECT_EQ(response["usage"], json::parse(R"({"prompt_tokens":3210,"completion_tokens":7,
      "total_tokens":3217,"prompt_tokens_details":{"cached_tokens":3000}})"));
}

TEST(AnthropicResponse, ThinkingBecomesReasoningContent) {
  const json response = translate_response(R"({"id":"m","content":[
      {"type":"thinking","thinking":"Hmm.","signature":"sig"},{"type":"text","text":"Yes"}],
      "stop_reason":"end_turn"})");
  EXPECT_EQ(response["choices"][0]["message"]["reasoning_content"], "Hmm.");
  EXPECT_EQ(response["choices"][0]["message"]["content"], "Yes");
}

TEST(AnthropicResponse, UnreadableAnswersAre502) {
  for (const std::string body :
       {"<html>oops</html>", "[]", R"({"id":"m"})",
        R"({"id":"m","content":[{"type":"text","text":5}]})", R"({"content":[]})",
        R"({"id":"m","content":[{"type":"tool_use","name":"f"}]})"}) {
    auto result = openai_response_from_anthropic(body, "m");
    ASSERT_FALSE(result.has_value()) << body;
    EXPECT_EQ(result.error().status, 502) << body;
    EXPECT_EQ(result.error().type, "server_error") << body;
    EXPECT_EQ(result.error().code, std::optional<std::string>("bad_provider_response")) << body;
  }
}

// ---- errors ----

TEST(AnthropicError, KeepsStatusAndSaysItCameFromTheProvider) {
  const api::ApiError error = openai_error_from_anthropic(
      429, R"({"type":"error","error":{"type":"rate_limit_error","message":"Slow down"},
               "request_id":"req_1"})");
  EXPECT_EQ(error.status, 429);
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_EQ(error.code, std::optional<std::string>("rate_limit_error"));
  EXPECT_NE(error.message.find("provider"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("Slow down"), std::string::npos) << error.message;
  EXPECT_FALSE(error.param.has_value());
}

TEST(AnthropicError, ServerSideErrorsAreServerErrors) {
  const api::ApiError error = openai_error_from_anthropic(
      529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  EXPECT_EQ(error.status, 529);
  EXPECT_EQ(error.type, "server_error");
  EXPECT_EQ(error.code, std::optional<std::string>("overloaded_error"));
}

TEST(AnthropicError, BodyThatIsNotAnthropicsShapeIsQuoted) {
  const api::ApiError error = openai_error_from_anthropic(503, "<html>upstream down</html>");
  EXPECT_EQ(error.status, 503);
  EXPECT_EQ(error.code, std::optional<std::string>("provider_error"));
  EXPECT_NE(error.message.find("<html>upstream down</html>"), std::string::npos);
  EXPECT_NE(error.message.find("provider"), std::string::npos);

  const api::ApiError long_body = openai_error_from_anthropic(500, std::string(10000, 'x'));
  EXPECT_LT(long_body.message.size(), 400U);
}

TEST(AnthropicError, StatusThatIsNotAnErrorFollowsTheErrorType) {
  EXPECT_EQ(openai_error_from_anthropic(
                200, R"({"type":"error","error":{"type":"overloaded_error","message":"o"}})")
                .status,
            529);
  EXPECT_EQ(openai_error_from_anthropic(200, "garbage").status, 502);
}

// ---- streams ----

struct StreamOutput {
  std::vector<json> chunks;  // every data frame but [DONE], parsed
  int done_count = 0;
  bool done_last = false;
};

StreamOutput read_stream(const std::string& sse) {
  api::SseParser parser;
  StreamOutput output;
  for (const api::SseEvent& event : parser.feed(sse)) {
    output.done_last = false;
    if (event.is_done()) {
      ++output.done_count;
      output.done_last = true;
      continue;
    }
    output.chunks.push_back(json::parse(event.data));
  }
  return output;
}

// What an OpenAI client builds from the chunks.
struct Reassembled {
  std::string content;
  std::string reasoning;
  struct Call {
    std::string id;
    std::string name;
    std::string arguments;
  };
  std::map<int, Call> calls;
  std::string finish_reason;
  std::optional<json> usage;
};

Reassembled reassemble(const StreamOutput& output) {
  Reassembled result;
  for (const json& chunk : output.chunks) {
    if (chunk.contains("usage")) result.usage = chunk["usage"];
    if (chunk["choices"].empty()) continue;
    const json& choice = chunk["choices"][0];
    const json& delta = choice["delta"];
    if (delta.contains("content")) result.content += delta["content"].get<std::string>();
    if (delta.contains("reasoning_content")) {
      result.reasoning += delta["reasoning_content"].get<std::string>();
    }
    if (delta.contains("tool_calls")) {
      for (const json& call : delta["tool_calls"]) {
        Reassembled::Call& target = result.calls[call["index"].get<int>()];
        if (call.contains("id")) target.id += call["id"].get<std::string>();
        if (call["function"].contains("name")) {
          target.name += call["function"]["name"].get<std::string>();
        }
        target.arguments += call["function"]["arguments"].get<std::string>();
      }
    }
    if (!choice["finish_reason"].is_null()) result.finish_reason = choice["finish_reason"];
  }
  return result;
}

std::string event(const std::string& name, const std::string& data) {
  return "event: " + name + "\ndata: " + data + "\n\n";
}

const std::string kToolStream =
    event("message_start",
          R"({"type":"message_start","message":{"id":"msg_014p7","type":"message",)"
          R"("role":"assistant","model":"claude","content":[],"stop_reason":null,)"
          R"("usage":{"input_tokens":472,"cache_creation_input_tokens":0,)"
          R"("cache_read_input_tokens":28,"output_tokens":2}}})") +
    event("content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
    event("ping", R"({"type": "ping"})") +
    event(
        "content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay"}})") +
    event("content_block_delta",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta",)"
          R"("text":", checking \u00e9t\u00e9 \ud83c\udf24."}})") +
    event("content_block_stop", R"({"type":"content_block_stop","index":0})") +
    event("content_block_start",
          R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use",)"
          R"("id":"toolu_01T1","name":"get_weather","input":{}}})") +
    event("content_block_delta",
          R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",)"
          R"("partial_json":""}})") +
    event("content_block_delta",
          R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",)"
          R"("partial_json":"{\"location\":"}})") +
    event("content_block_delta",
          R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",)"
          R"("partial_json":" \"San Francisco, CA\", \"unit\": \"fahrenheit\"}"}})") +
    event("content_block_stop", R"({"type":"content_block_stop","index":1})") +
    event("content_block_start",
          R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use",)"
          R"("id":"toolu_01T2","name":"now","input":{}}})") +
    event("content_block_stop", R"({"type":"content_block_stop","index":2})") +
    event("message_delta",
          R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},)"
          R"("usage":{"output_tokens":89}})") +
    event("message_stop", R"({"type":"message_stop"})");

// `created` is the time the message started: it may differ between two runs a second apart.
std::vector<json> without_created(std::vector<json> chunks) {
  for (json& chunk : chunks) chunk.erase("created");
  return chunks;
}

TEST(AnthropicStream, ToolCallStreamTranslates) {
  const int64_t before = now_seconds();
  AnthropicStreamTranslator translator("gpt-4o", /*include_usage=*/true);
  const StreamOutput output = read_stream(translator.feed(kToolStream));
  EXPECT_TRUE(translator.finished());
  EXPECT_FALSE(translator.error().has_value());
  EXPECT_EQ(output.done_count, 1);
  EXPECT_TRUE(output.done_last);

  ASSERT_FALSE(output.chunks.empty());
  for (const json& chunk : output.chunks) {
    EXPECT_EQ(chunk["id"], "chatcmpl-msg_014p7");
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["model"], "gpt-4o");
    EXPECT_GE(chunk["created"].get<int64_t>(), before);
    EXPECT_LE(chunk["created"].get<int64_t>(), now_seconds());
  }
  EXPECT_EQ(output.chunks.front()["choices"][0]["delta"],
            json::parse(R"({"role":"assistant","content":""})"));
  EXPECT_TRUE(output.chunks.front()["choices"][0]["finish_reason"].is_null());
  // The opening of the first call carries id, type and name, with empty arguments.
  bool saw_opening = false;
  for (const json& chunk : output.chunks) {
    if (chunk["choices"].empty()) continue;
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("tool_calls") && delta["tool_calls"][0].contains("id") &&
        delta["tool_calls"][0]["id"] == "toolu_01T1") {
      EXPECT_EQ(delta["tool_calls"], json::parse(R"([{"index":0,"id":"toolu_01T1",
          "type":"function","function":{"arguments":"","name":"get_weather"}}])"));
      saw_opening = true;
    }
  }
  EXPECT_TRUE(saw_opening);

  // The finish chunk has an empty delta; the usage chunk has no choices and comes last.
  const json& finish = output.chunks[output.chunks.size() - 2];
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "tool_calls");
  const json& usage = output.chunks.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"], json::parse(R"({"prompt_tokens":500,"completion_tokens":89,
      "total_tokens":589,"prompt_tokens_details":{"cached_tokens":28}})"));

  const Reassembled result = reassemble(output);
  EXPECT_EQ(result.content, "Okay, checking \u00e9t\u00e9 \U0001F324.");
  ASSERT_EQ(result.calls.size(), 2U);
  EXPECT_EQ(result.calls.at(0).id, "toolu_01T1");
  EXPECT_EQ(result.calls.at(0).name, "get_weather");
  EXPECT_EQ(json::parse(result.calls.at(0).arguments),
            json::parse(R"({"location":"San Francisco, CA","unit":"fahrenheit"})"));
  EXPECT_EQ(result.calls.at(1).id, "toolu_01T2");
  EXPECT_EQ(result.calls.at(1).name, "now");
  // A call without arguments still gets arguments a client can parse.
  EXPECT_EQ(result.calls.at(1).arguments, "{}");
  EXPECT_EQ(result.finish_reason, "tool_calls");
}

TEST(AnthropicStream, ByteByByteAndCrLfGiveTheSameOutput) {
  AnthropicStreamTranslator whole("gpt-4o", true);
  const std::string whole_output = whole.feed(kToolStream);

  AnthropicStreamTranslator bytewise("gpt-4o", true);
  std::string bytewise_output;
  for (const char byte : kToolStream) bytewise_output += bytewise.feed(std::string_view(&byte, 1));
  EXPECT_TRUE(bytewise.finished());

  std::string crlf_stream;
  for (const char c : kToolStream) {
    if (c == '\n') crlf_stream += '\r';
    crlf_stream += c;
  }
  AnthropicStreamTranslator crlf("gpt-4o", true);
  std::string crlf_output;
  // Split so that some "\r\n" pairs fall across two pieces.
  for (size_t i = 0; i < crlf_stream.size(); i += 7) {
    crlf_output += crlf.feed(std::string_view(crlf_stream).substr(i, 7));
  }
  EXPECT_TRUE(crlf.finished());

  const StreamOutput expected = read_stream(whole_output);
  EXPECT_EQ(without_created(read_stream(bytewise_output).chunks), without_created(expected.chunks));
  EXPECT_EQ(without_created(read_stream(crlf_output).chunks), without_created(expected.chunks));
  EXPECT_EQ(read_stream(bytewise_output).done_count, 1);
  EXPECT_EQ(read_stream(crlf_output).done_count, 1);
  EXPECT_EQ(reassemble(read_stream(bytewise_output)).calls.at(0).arguments,
            reassemble(expected).calls.at(0).arguments);
}

TEST(AnthropicStream, TextStreamWithoutUsage) {
  AnthropicStreamTranslator translator("m", /*include_usage=*/false);
  std::string out;
  out += translator.feed(event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_a","usage":{"input_tokens":3,"output_tokens":1}}})"));
  out += translator.feed(event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})"));
  EXPECT_FALSE(translator.finished());
  out += translator.feed(event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":1}})"));
  out += translator.feed(event("message_stop", R"({"type":"message_stop"})"));
  EXPECT_TRUE(translator.finished());
  const StreamOutput output = read_stream(out);
  ASSERT_EQ(output.chunks.size(), 3U);
  EXPECT_EQ(output.chunks[1]["choices"][0]["delta"], json::parse(R"({"content":"Hi"})"));
  EXPECT_EQ(output.chunks[2]["choices"][0]["finish_reason"], "length");
  for (const json& chunk : output.chunks) EXPECT_FALSE(chunk.contains("usage"));
  EXPECT_EQ(output.done_count, 1);
  // Nothing is sent after [DONE].
  EXPECT_EQ(translator.feed(event("message_stop", R"({"type":"message_stop"})")), "");
}

TEST(AnthropicStream, StopReasonsInStream) {
  const std::map<std::string, std::string> expected = {{"end_turn", "stop"},
                                                       {"stop_sequence", "stop"},
                                                       {"max_tokens", "length"},
                                                       {"tool_use", "tool_calls"},
                                                       {"refusal", "content_filter"}};
  for (const auto& [anthropic, openai] : expected) {
    AnthropicStreamTranslator translator("m", false);
    const std::string out = translator.feed(
        event("message_start", R"({"type":"message_start","message":{"id":"x"}})") +
        event("message_delta",
              R"({"type":"message_delta","delta":{"stop_reason":")" + anthropic + R"("}})"));
    EXPECT_EQ(reassemble(read_stream(out)).finish_reason, openai) << anthropic;
  }
}

TEST(AnthropicStream, UsageWithCacheTokensUsesFinalCounts) {
  AnthropicStreamTranslator translator("m", true);
  const std::string out = translator.feed(
      event(
          "message_start",
          R"({"type":"message_start","message":{"id":"x","usage":{"input_tokens":4,)"
          R"("cache_creation_input_tokens":100,"cache_read_input_tokens":900,"output_tokens":1}}})") +
      event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},)"
                             R"("usage":{"output_tokens":12}})") +
      event("message_stop", R"({"type":"message_stop"})"));
  const Reassembled result = reassemble(read_stream(out));
  ASSERT_TRUE(result.usage.has_value());
  EXPECT_EQ(*result.usage, json::parse(R"({"prompt_tokens":1004,"completion_tokens":12,
      "total_tokens":1016,"prompt_tokens_details":{"cached_tokens":900}})"));
}

TEST(AnthropicStream, ThinkingDeltasBecomeReasoningContent) {
  AnthropicStreamTranslator translator("m", false);
  const std::string out = translator.feed(
      event("message_start", R"({"type":"message_start","message":{"id":"x"}})") +
      event(
          "content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})") +
      event(
          "content_block_delta",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}})") +
      event(
          "content_block_delta",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}})"));
  const Reassembled result = reassemble(read_stream(out));
  EXPECT_EQ(result.reasoning, "Let me");
  EXPECT_EQ(result.content, "");
}

TEST(AnthropicStream, ErrorEventEndsTheStreamWithAnOpenAiErrorAndNoDone) {
  AnthropicStreamTranslator translator("m", true);
  std::string out = translator.feed(
      event("message_start", R"({"type":"message_start","message":{"id":"x"}})") +
      event(
          "content_block_delta",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hal"}})"));
  EXPECT_FALSE(translator.error().has_value());
  const std::string error_event = event(
      "error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  // The error event arrives in two pieces, then more bytes that must be ignored.
  out += translator.feed(error_event.substr(0, 20));
  EXPECT_FALSE(translator.error().has_value());
  out +=
      translator.feed(error_event.substr(20) + event("message_stop", R"({"type":"message_stop"})"));
  EXPECT_EQ(translator.feed(event("message_stop", R"({"type":"message_stop"})")), "");
  EXPECT_FALSE(translator.finished());
  ASSERT_TRUE(translator.error().has_value());
  EXPECT_EQ(translator.error()->status, 529);
  EXPECT_EQ(translator.error()->code, std::optional<std::string>("overloaded_error"));
  EXPECT_NE(translator.error()->message.find("Overloaded"), std::string::npos);

  const StreamOutput output = read_stream(out);
  EXPECT_EQ(output.done_count, 0);
  ASSERT_FALSE(output.chunks.empty());
  const json& last = output.chunks.back();
  ASSERT_TRUE(last.contains("error"));
  EXPECT_EQ(last["error"]["code"], "overloaded_error");
  EXPECT_EQ(last["error"]["type"], "server_error");
  EXPECT_EQ(last["error"]["message"], translator.error()->message);
  EXPECT_TRUE(last["error"]["param"].is_null());
}

TEST(AnthropicStream, PingAndUnknownEventsAreIgnored) {
  AnthropicStreamTranslator translator("m", false);
  translator.feed(event("message_start", R"({"type":"message_start","message":{"id":"x"}})"));
  EXPECT_EQ(
      translator.feed(": comment\n\n" + event("ping", R"({"type":"ping"})") +
                      event("future_event", R"({"type":"future_event","x":1})") +
                      event("content_block_stop", R"({"type":"content_block_stop","index":0})")),
      "");
  EXPECT_FALSE(translator.error().has_value());
}

TEST(AnthropicStream, UnreadableEventFailsWith502) {
  for (
      const std::string& bad :
      {event("message_start", "not json"), event("message_start", R"({"type":"message_start"})"),
       event(
           "content_block_delta",
           R"({"type":"content_block_delta","index":"zero","delta":{"type":"text_delta","text":"x"}})"),
       event(
           "content_block_delta",
           R"({"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":"{"}})")}) {
    AnthropicStreamTranslator translator("m", false);
    const StreamOutput output = read_stream(translator.feed(bad));
    ASSERT_TRUE(translator.error().has_value()) << bad;
    EXPECT_EQ(translator.error()->status, 502) << bad;
    EXPECT_EQ(translator.error()->code, std::optional<std::string>("bad_provider_response"));
    ASSERT_EQ(output.chunks.size(), 1U) << bad;
    EXPECT_TRUE(output.chunks[0].contains("error"));
    EXPECT_EQ(output.done_count, 0);
  }
}

TEST(AnthropicStream, StreamCutShortIsNotFinished) {
  AnthropicStreamTranslator translator("m", true);
  const std::string out =
      translator.feed(event("message_start", R"({"type":"message_start","message":{"id":"x"}})") +
                      "event: content_block_delta\ndata: {\"type\":\"content_block_del");
  EXPECT_FALSE(translator.finished());
  EXPECT_FALSE(translator.error().has_value());
  EXPECT_EQ(read_stream(out).done_count, 0);
}

}  // namespace
}  // namespace hearth::cloud
