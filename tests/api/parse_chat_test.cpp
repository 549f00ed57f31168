// Parsing of POST /v1/chat/completions bodies.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "api/parse.hpp"
#include "api/rejection_case.hpp"

namespace hearth::api {
namespace {

using testing::RejectionCase;

constexpr const char* kUserHi = R"({"role":"user","content":"hi"})";

// A valid one-message body with extra top-level fields appended.
std::string chat_with(const std::string& extra_fields) {
  std::string body = std::string(R"({"messages":[)") + kUserHi + "]";
  if (!extra_fields.empty()) body += "," + extra_fields;
  return body + "}";
}

// A body whose only message is `message`.
std::string chat_with_message(const std::string& message) {
  return R"({"messages":[)" + message + "]}";
}

std::string describe(const Expected<ChatCompletionRequest, ApiError>& parsed) {
  if (parsed) return "parsed";
  return parsed.error().message + " (param " + parsed.error().param.value_or("null") + ")";
}

TEST(ParseChat, MinimalRequestGetsDefaults) {
  const auto parsed = parse_chat_completion_request(chat_with(""));
  ASSERT_TRUE(parsed) << describe(parsed);
  const ChatCompletionRequest& request = *parsed;
  EXPECT_EQ(request.model, "");
  ASSERT_EQ(request.messages.size(), 1U);
  EXPECT_EQ(request.messages[0].role, "user");
  EXPECT_EQ(request.messages[0].content, "hi");
  EXPECT_FALSE(request.messages[0].content_was_parts);
  EXPECT_TRUE(request.messages[0].content_parts.empty());

  const GenerationOptions& generation = request.generation;
  EXPECT_FALSE(generation.max_tokens.has_value());
  EXPECT_TRUE(generation.stop.empty());
  EXPECT_FALSE(generation.stream);
  EXPECT_FALSE(generation.stream_options.include_usage);
  EXPECT_FALSE(generation.logprobs);
  EXPECT_EQ(generation.top_logprobs, 0);
  EXPECT_FALSE(generation.ignore_eos);
  EXPECT_FALSE(generation.sampling.temperature.has_value());
  EXPECT_FALSE(generation.sampling.top_p.has_value());
  EXPECT_FALSE(generation.sampling.top_k.has_value());
  EXPECT_FALSE(generation.sampling.min_p.has_value());
  EXPECT_FALSE(generation.sampling.seed.has_value());
  EXPECT_EQ(generation.sampling.presence_penalty, 0.0F);
  EXPECT_EQ(generation.sampling.frequency_penalty, 0.0F);
  EXPECT_EQ(generation.sampling.repeat_penalty, 1.0F);
  EXPECT_TRUE(generation.sampling.logit_bias.empty());

  EXPECT_EQ(request.response_format.kind, ResponseFormatKind::text);
  EXPECT_TRUE(request.tools.empty());
  EXPECT_EQ(request.tool_choice.kind, ToolChoiceKind::auto_choice);
  EXPECT_TRUE(request.parallel_tool_calls);
  EXPECT_FALSE(request.user.has_value());
}

TEST(ParseChat, ModelIsKept) {
  const auto parsed = parse_chat_completion_request(chat_with(R"("model":"qwen3-0.6b")"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->model, "qwen3-0.6b");
}

TEST(ParseChat, EveryRoleIsAccepted) {
  const auto parsed = parse_chat_completion_request(R"({"messages":[
      {"role":"system","content":"be brief"},
      {"role":"developer","content":"use tools"},
      {"role":"user","content":"weather?","name":"ana"},
      {"role":"assistant","content":"sunny"},
      {"role":"tool","content":"{\"temp\":21}","tool_call_id":"call_1"}]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  ASSERT_EQ(parsed->messages.size(), 5U);
  EXPECT_EQ(parsed->messages[0].role, "system");
  EXPECT_EQ(parsed->messages[1].role, "developer");
  EXPECT_EQ(parsed->messages[2].role, "user");
  EXPECT_EQ(parsed->messages[2].name, "ana");
  EXPECT_EQ(parsed->messages[3].role, "assistant");
  EXPECT_EQ(parsed->messages[3].content, "sunny");
  EXPECT_EQ(parsed->messages[4].role, "tool");
  EXPECT_EQ(parsed->messages[4].tool_call_id, "call_1");
  EXPECT_EQ(parsed->messages[4].content, R"({"temp":21})");
}

TEST(ParseChat, TextPartsAreKeptAndConcatenated) {
  const auto parsed = parse_chat_completion_request(chat_with_message(
      R"({"role":"user","content":[{"type":"text","text":"Hello, "},{"type":"text","text":"world"}]})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  const ChatMessage& message = parsed->messages[0];
  EXPECT_TRUE(message.content_was_parts);
  EXPECT_EQ(message.content_parts, (std::vector<std::string>{"Hello, ", "world"}));
  EXPECT_EQ(message.content, "Hello, world");
}

TEST(ParseChat, AssistantToolCallsWithNullContent) {
  const auto parsed = parse_chat_completion_request(R"({"messages":[
      {"role":"user","content":"weather in Paris?"},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
        {"id":"call_2","function":{"name":"get_time","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"21C"}]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  const ChatMessage& assistant = parsed->messages[1];
  EXPECT_EQ(assistant.content, "");
  ASSERT_EQ(assistant.tool_calls.size(), 2U);
  EXPECT_EQ(assistant.tool_calls[0].id, "call_1");
  EXPECT_EQ(assistant.tool_calls[0].name, "get_weather");
  EXPECT_EQ(assistant.tool_calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(assistant.tool_calls[1].id, "call_2");
  EXPECT_EQ(assistant.tool_calls[1].name, "get_time");
}

TEST(ParseChat, AssistantToolCallsWithoutContentField) {
  const auto parsed = parse_chat_completion_request(chat_with_message(
      R"({"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":""}}]})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->messages[0].tool_calls.size(), 1U);
}

TEST(ParseChat, SamplingOptions) {
  const auto parsed = parse_chat_completion_request(chat_with(
      R"("temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"presence_penalty":-1.5,)"
      R"("frequency_penalty":2,"repeat_penalty":1.1,"seed":42,"logit_bias":{"15":-100,"42":5.5})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  const SamplingOptions& sampling = parsed->generation.sampling;
  EXPECT_FLOAT_EQ(sampling.temperature.value_or(-1), 0.7F);
  EXPECT_FLOAT_EQ(sampling.top_p.value_or(-1), 0.9F);
  EXPECT_EQ(sampling.top_k, 40);
  EXPECT_FLOAT_EQ(sampling.min_p.value_or(-1), 0.05F);
  EXPECT_FLOAT_EQ(sampling.presence_penalty, -1.5F);
  EXPECT_FLOAT_EQ(sampling.frequency_penalty, 2.0F);
  EXPECT_FLOAT_EQ(sampling.repeat_penalty, 1.1F);
  EXPECT_EQ(sampling.seed, 42U);
  EXPECT_EQ(sampling.logit_bias, (std::map<int32_t, float>{{15, -100.0F}, {42, 5.5F}}));
}

TEST(ParseChat, RangeBoundsAreInclusive) {
  const auto parsed = parse_chat_completion_request(
      chat_with(R"("temperature":0,"top_p":1,"min_p":0,"top_k":0,"presence_penalty":-2,)"
                R"("frequency_penalty":2,"logit_bias":{"0":100})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.sampling.temperature, 0.0F);
  EXPECT_EQ(parsed->generation.sampling.top_p, 1.0F);
  EXPECT_EQ(parsed->generation.sampling.top_k, 0);
}

struct SeedCase {
  std::string json;
  uint32_t expected;
};

class ParseChatSeed : public ::testing::TestWithParam<SeedCase> {};

// Any int64 is a valid seed; it is reduced modulo 2^32.
TEST_P(ParseChatSeed, ReducedModulo2To32) {
  const auto parsed = parse_chat_completion_request(chat_with(R"("seed":)" + GetParam().json));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.sampling.seed, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ParseChatSeed,
                         ::testing::Values(SeedCase{"0", 0U}, SeedCase{"4294967295", 4294967295U},
                                           SeedCase{"4294967301", 5U}, SeedCase{"-1", 0xFFFFFFFFU},
                                           SeedCase{"-4294967297", 0xFFFFFFFFU},
                                           SeedCase{"9223372036854775807", 0xFFFFFFFFU},
                                           SeedCase{"-9223372036854775808", 0U},
                                           SeedCase{"18446744073709551615", 0xFFFFFFFFU}));

TEST(ParseChat, MaxTokens) {
  auto parsed = parse_chat_completion_request(chat_with(R"("max_tokens":128)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.max_tokens, 128);

  parsed = parse_chat_completion_request(chat_with(R"("max_completion_tokens":64)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.max_tokens, 64);
}

TEST(ParseChat, MaxCompletionTokensWinsOverMaxTokens) {
  auto parsed =
      parse_chat_completion_request(chat_with(R"("max_tokens":10,"max_completion_tokens":20)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.max_tokens, 20);
  parsed =
      parse_chat_completion_request(chat_with(R"("max_completion_tokens":20,"max_tokens":10)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.max_tokens, 20);
}

TEST(ParseChat, NPredictIsAFallbackForMaxTokens) {
  auto parsed = parse_chat_completion_request(chat_with(R"("n_predict":33)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.max_tokens, 33);

  parsed = parse_chat_completion_request(chat_with(R"("n_predict":-1)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_FALSE(parsed->generation.max_tokens.has_value());

  parsed = parse_chat_completion_request(chat_with(R"("n_predict":33,"max_tokens":5)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.max_tokens, 5);
}

TEST(ParseChat, StopAsStringOrArray) {
  auto parsed = parse_chat_completion_request(chat_with(R"("stop":"\n\n")"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.stop, (std::vector<std::string>{"\n\n"}));

  parsed = parse_chat_completion_request(chat_with(R"("stop":["END","</s>","###"])"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.stop, (std::vector<std::string>{"END", "</s>", "###"}));

  parsed = parse_chat_completion_request(chat_with(R"("stop":[])"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->generation.stop.empty());
}

TEST(ParseChat, SixteenStopSequencesAreAllowed) {
  std::string stops = "[";
  for (int i = 0; i < 16; ++i) stops += (i ? ",\"s" : "\"s") + std::to_string(i) + "\"";
  const auto parsed = parse_chat_completion_request(chat_with(R"("stop":)" + stops + "]"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->generation.stop.size(), 16U);
}

TEST(ParseChat, StreamWithIncludeUsage) {
  auto parsed = parse_chat_completion_request(
      chat_with(R"("stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->generation.stream);
  EXPECT_TRUE(parsed->generation.stream_options.include_usage);

  parsed = parse_chat_completion_request(chat_with(R"("stream":false,"stream_options":null)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_FALSE(parsed->generation.stream);
}

TEST(ParseChat, Logprobs) {
  const auto parsed =
      parse_chat_completion_request(chat_with(R"("logprobs":true,"top_logprobs":20)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->generation.logprobs);
  EXPECT_EQ(parsed->generation.top_logprobs, 20);
}

TEST(ParseChat, ResponseFormatText) {
  const auto parsed =
      parse_chat_completion_request(chat_with(R"("response_format":{"type":"text"})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->response_format.kind, ResponseFormatKind::text);
}

TEST(ParseChat, ResponseFormatJsonObject) {
  const auto parsed =
      parse_chat_completion_request(chat_with(R"("response_format":{"type":"json_object"})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->response_format.kind, ResponseFormatKind::json_object);
  EXPECT_EQ(nlohmann::json::parse(parsed->response_format.json_schema),
            nlohmann::json::parse(R"({"type":"object"})"));
}

TEST(ParseChat, ResponseFormatJsonObjectWithLlamaCppSchema) {
  const auto parsed = parse_chat_completion_request(chat_with(
      R"("response_format":{"type":"json_object","schema":{"type":"array","items":{"type":"integer"}}})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->response_format.kind, ResponseFormatKind::json_object);
  EXPECT_EQ(nlohmann::json::parse(parsed->response_format.json_schema),
            nlohmann::json::parse(R"({"type":"array","items":{"type":"integer"}})"));
}

TEST(ParseChat, ResponseFormatJsonSchema) {
  const auto parsed = parse_chat_completion_request(chat_with(
      R"("response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,)"
      R"("schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  const ResponseFormat& format = parsed->response_format;
  EXPECT_EQ(format.kind, ResponseFormatKind::json_schema);
  EXPECT_EQ(format.schema_name, "person");
  EXPECT_TRUE(format.strict);
  EXPECT_EQ(
      nlohmann::json::parse(format.json_schema),
      nlohmann::json::parse(
          R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})"));
}

TEST(ParseChat, ResponseFormatJsonSchemaNameAndStrictAreOptional) {
  const auto parsed = parse_chat_completion_request(
      chat_with(R"("response_format":{"type":"json_schema","json_schema":{"schema":{}}})"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->response_format.schema_name, "");
  EXPECT_FALSE(parsed->response_format.strict);
  EXPECT_EQ(parsed->response_format.json_schema, "{}");
}

constexpr const char* kTwoTools =
    R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now",)"
    R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},)"
    R"({"type":"function","function":{"name":"get-time_2"}}])";

TEST(ParseChat, ToolDefinitions) {
  const auto parsed = parse_chat_completion_request(chat_with(kTwoTools));
  ASSERT_TRUE(parsed) << describe(parsed);
  ASSERT_EQ(parsed->tools.size(), 2U);
  EXPECT_EQ(parsed->tools[0].name, "get_weather");
  EXPECT_EQ(parsed->tools[0].description, "Weather now");
  EXPECT_EQ(nlohmann::json::parse(parsed->tools[0].parameters_json),
            nlohmann::json::parse(R"({"type":"object","properties":{"city":{"type":"string"}}})"));
  EXPECT_EQ(parsed->tools[1].name, "get-time_2");
  EXPECT_EQ(parsed->tools[1].description, "");
  EXPECT_EQ(parsed->tools[1].parameters_json, "{}");
}

TEST(ParseChat, ToolNameOfSixtyFourCharactersIsAllowed) {
  const std::string name(64, 'a');
  const auto parsed = parse_chat_completion_request(
      chat_with(R"("tools":[{"type":"function","function":{"name":")" + name + "\"}}]"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->tools[0].name, name);
}

struct ToolChoiceCase {
  std::string name;
  std::string json;
  ToolChoiceKind kind;
  std::string function_name;
};

std::string tool_choice_case_name(const ::testing::TestParamInfo<ToolChoiceCase>& case_info) {
  return case_info.param.name;
}

class ParseChatToolChoice : public ::testing::TestWithParam<ToolChoiceCase> {};

TEST_P(ParseChatToolChoice, Variants) {
  const auto parsed = parse_chat_completion_request(
      chat_with(std::string(kTwoTools) + R"(,"tool_choice":)" + GetParam().json));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->tool_choice.kind, GetParam().kind);
  EXPECT_EQ(parsed->tool_choice.function_name, GetParam().function_name);
}

INSTANTIATE_TEST_SUITE_P(
    Choices, ParseChatToolChoice,
    ::testing::Values(ToolChoiceCase{"none", R"("none")", ToolChoiceKind::none, ""},
                      ToolChoiceCase{"auto", R"("auto")", ToolChoiceKind::auto_choice, ""},
                      ToolChoiceCase{"required", R"("required")", ToolChoiceKind::required, ""},
                      ToolChoiceCase{"null", "null", ToolChoiceKind::auto_choice, ""},
                      ToolChoiceCase{"named",
                                     R"({"type":"function","function":{"name":"get-time_2"}})",
                                     ToolChoiceKind::named, "get-time_2"}),
    tool_choice_case_name);

TEST(ParseChat, FlagsAndUser) {
  const auto parsed = parse_chat_completion_request(
      chat_with(R"("parallel_tool_calls":false,"ignore_eos":true,"user":"u-17","n":1)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_FALSE(parsed->parallel_tool_calls);
  EXPECT_TRUE(parsed->generation.ignore_eos);
  EXPECT_EQ(parsed->user, "u-17");
}

TEST(ParseChat, IgnoredAndUnknownFieldsAreAccepted) {
  const auto parsed = parse_chat_completion_request(
      chat_with(R"("metadata":{"k":"v"},"store":false,"service_tier":"auto","cache_prompt":true,)"
                R"("some_future_field":{"x":[1,2,3]},"modalities":["text"])"));
  ASSERT_TRUE(parsed) << describe(parsed);
}

// Python clients send None for fields they leave unset; OpenAI treats that as absent.
TEST(ParseChat, NullOptionalFieldsCountAsAbsent) {
  const auto parsed = parse_chat_completion_request(chat_with(
      R"("model":null,"temperature":null,"top_p":null,"stop":null,"max_tokens":null,"seed":null,)"
      R"("tools":null,"tool_choice":null,"response_format":null,"logprobs":null,"n":null,)"
      R"("stream":null,"logit_bias":null,"user":null)"));
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_FALSE(parsed->generation.sampling.temperature.has_value());
  EXPECT_FALSE(parsed->generation.max_tokens.has_value());
  EXPECT_FALSE(parsed->generation.stream);
  EXPECT_FALSE(parsed->user.has_value());
}

TEST(ParseChat, ErrorMessagesNameTheField) {
  const auto parsed = parse_chat_completion_request(R"({"messages":[
      {"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":7}]})");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().param, "messages[2].content");
  EXPECT_NE(parsed.error().message.find("messages[2].content"), std::string::npos);
}

TEST(ParseChat, EmptyMessagesMessage) {
  const auto parsed = parse_chat_completion_request(R"({"messages":[]})");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "messages must not be empty");
}

TEST(ParseChat, NGreaterThanOneMessage) {
  const auto parsed = parse_chat_completion_request(chat_with(R"("n":3)"));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "n > 1 is not supported");
}

TEST(ParseChat, UnsupportedModalityMessageSaysWhat) {
  auto parsed = parse_chat_completion_request(chat_with_message(
      R"({"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]})"));
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("does not accept images"), std::string::npos)
      << parsed.error().message;

  parsed = parse_chat_completion_request(chat_with_message(
      R"({"role":"user","content":[{"type":"input_audio","input_audio":{"data":"","format":"wav"}}]})"));
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("does not accept audio"), std::string::npos)
      << parsed.error().message;
}

// ---- rejected bodies ----

class ParseChatRejects : public ::testing::TestWithParam<RejectionCase> {};

TEST_P(ParseChatRejects, WithStatusParamAndCode) {
  const auto parsed = parse_chat_completion_request(GetParam().body);
  ASSERT_FALSE(parsed) << "accepted: " << GetParam().body;
  testing::expect_rejection(parsed.error(), GetParam());
}

std::string message_case(const std::string& message) { return chat_with_message(message); }

const std::string kSeventeenStops = [] {
  std::string stops = "[";
  for (int i = 0; i < 17; ++i) stops += (i ? ",\"s" : "\"s") + std::to_string(i) + "\"";
  return stops + "]";
}();

INSTANTIATE_TEST_SUITE_P(
    Messages, ParseChatRejects,
    ::testing::Values(
        RejectionCase{"messages_missing", R"({"model":"m"})", "messages",
                      "missing_required_parameter"},
        RejectionCase{"messages_null", R"({"messages":null})", "messages",
                      "missing_required_parameter"},
        RejectionCase{"messages_not_array", R"({"messages":"hi"})", "messages", "invalid_type"},
        RejectionCase{"messages_object", R"({"messages":{"role":"user"}})", "messages",
                      "invalid_type"},
        RejectionCase{"messages_empty", R"({"messages":[]})", "messages", "empty_array"},
        RejectionCase{"message_not_object", R"({"messages":["hi"]})", "messages[0]",
                      "invalid_type"},
        RejectionCase{"role_missing", message_case(R"({"content":"hi"})"), "messages[0].role",
                      "missing_required_parameter"},
        RejectionCase{"role_unknown", message_case(R"({"role":"robot","content":"hi"})"),
                      "messages[0].role", "invalid_value"},
        RejectionCase{"role_function", message_case(R"({"role":"function","content":"hi"})"),
                      "messages[0].role", "invalid_value"},
        RejectionCase{"role_not_string", message_case(R"({"role":1,"content":"hi"})"),
                      "messages[0].role", "invalid_type"},
        RejectionCase{"content_number", message_case(R"({"role":"user","content":5})"),
                      "messages[0].content", "invalid_type"},
        RejectionCase{"content_object", message_case(R"({"role":"user","content":{"text":"x"}})"),
                      "messages[0].content", "invalid_type"},
        RejectionCase{
            "third_content_wrong_type",
            R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},)"
            R"({"role":"user","content":true}]})",
            "messages[2].content", "invalid_type"},
        RejectionCase{"user_content_missing", message_case(R"({"role":"user"})"),
                      "messages[0].content", "missing_required_parameter"},
        RejectionCase{"user_content_null", message_case(R"({"role":"user","content":null})"),
                      "messages[0].content", "missing_required_parameter"},
        RejectionCase{"assistant_null_content_without_tool_calls",
                      message_case(R"({"role":"assistant","content":null})"), "messages[0].content",
                      "missing_required_parameter"},
        RejectionCase{"assistant_null_content_empty_tool_calls",
                      message_case(R"({"role":"assistant","content":null,"tool_calls":[]})"),
                      "messages[0].content", "missing_required_parameter"},
        RejectionCase{"name_not_string", message_case(R"({"role":"user","content":"x","name":3})"),
                      "messages[0].name", "invalid_type"},
        RejectionCase{"parts_empty", message_case(R"({"role":"user","content":[]})"),
                      "messages[0].content", "empty_array"},
        RejectionCase{"part_not_object", message_case(R"({"role":"user","content":["hi"]})"),
                      "messages[0].content[0]", "invalid_type"},
        RejectionCase{"part_type_missing",
                      message_case(R"({"role":"user","content":[{"text":"hi"}]})"),
                      "messages[0].content[0].type", "missing_required_parameter"},
        RejectionCase{"part_text_missing",
                      message_case(R"({"role":"user","content":[{"type":"text"}]})"),
                      "messages[0].content[0].text", "missing_required_parameter"},
        RejectionCase{"part_text_not_string",
                      message_case(R"({"role":"user","content":[{"type":"text","text":1}]})"),
                      "messages[0].content[0].text", "invalid_type"},
        RejectionCase{
            "part_image",
            message_case(R"({"role":"user","content":[{"type":"text","text":"what is this"},)"
                         R"({"type":"image_url","image_url":{"url":"http://x/y.png"}}]})"),
            "messages[0].content[1].type", "unsupported_content_type"},
        RejectionCase{
            "part_audio",
            message_case(R"({"role":"user","content":[{"type":"input_audio","input_audio":{}}]})"),
            "messages[0].content[0].type", "unsupported_content_type"},
        RejectionCase{"part_file",
                      message_case(R"({"role":"user","content":[{"type":"file","file":{}}]})"),
                      "messages[0].content[0].type", "unsupported_content_type"},
        RejectionCase{"part_unknown",
                      message_case(R"({"role":"user","content":[{"type":"hologram"}]})"),
                      "messages[0].content[0].type", "invalid_value"},
        RejectionCase{"tool_call_id_missing", message_case(R"({"role":"tool","content":"21C"})"),
                      "messages[0].tool_call_id", "missing_required_parameter"},
        RejectionCase{"tool_call_id_not_string",
                      message_case(R"({"role":"tool","content":"21C","tool_call_id":5})"),
                      "messages[0].tool_call_id", "invalid_type"},
        RejectionCase{"tool_calls_not_array",
                      message_case(R"({"role":"assistant","tool_calls":{}})"),
                      "messages[0].tool_calls", "invalid_type"},
        RejectionCase{
            "tool_call_type_not_function",
            message_case(R"({"role":"assistant","tool_calls":[{"id":"c","type":"retrieval",)"
                         R"("function":{"name":"f","arguments":"{}"}}]})"),
            "messages[0].tool_calls[0].type", "invalid_value"},
        RejectionCase{"tool_call_id_absent",
                      message_case(R"({"role":"assistant","tool_calls":[{"type":"function",)"
                                   R"("function":{"name":"f","arguments":"{}"}}]})"),
                      "messages[0].tool_calls[0].id", "missing_required_parameter"},
        RejectionCase{
            "tool_call_function_missing",
            message_case(R"({"role":"assistant","tool_calls":[{"id":"c","type":"function"}]})"),
            "messages[0].tool_calls[0].function", "missing_required_parameter"},
        RejectionCase{
            "tool_call_name_missing",
            message_case(R"({"role":"assistant","tool_calls":[{"id":"c","type":"function",)"
                         R"("function":{"arguments":"{}"}}]})"),
            "messages[0].tool_calls[0].function.name", "missing_required_parameter"},
        RejectionCase{
            "tool_call_arguments_object",
            message_case(R"({"role":"assistant","tool_calls":[{"id":"c","type":"function",)"
                         R"("function":{"name":"f","arguments":{"a":1}}}]})"),
            "messages[0].tool_calls[0].function.arguments", "invalid_type"}),
    testing::rejection_case_name);

INSTANTIATE_TEST_SUITE_P(
    Options, ParseChatRejects,
    ::testing::Values(
        RejectionCase{"model_number", chat_with(R"("model":7)"), "model", "invalid_type"},
        RejectionCase{"temperature_string", chat_with(R"("temperature":"0.5")"), "temperature",
                      "invalid_type"},
        RejectionCase{"temperature_above", chat_with(R"("temperature":2.01)"), "temperature",
                      "invalid_value"},
        RejectionCase{"temperature_below", chat_with(R"("temperature":-0.1)"), "temperature",
                      "invalid_value"},
        // Out of double's range: the JSON parser itself rejects the number.
        RejectionCase{"temperature_huge", chat_with(R"("temperature":1e400)"), std::nullopt,
                      "invalid_json"},
        RejectionCase{"top_p_above", chat_with(R"("top_p":1.5)"), "top_p", "invalid_value"},
        RejectionCase{"top_k_negative", chat_with(R"("top_k":-1)"), "top_k", "invalid_value"},
        RejectionCase{"top_k_fraction", chat_with(R"("top_k":1.5)"), "top_k", "invalid_type"},
        RejectionCase{"min_p_above", chat_with(R"("min_p":2)"), "min_p", "invalid_value"},
        RejectionCase{"presence_penalty_above", chat_with(R"("presence_penalty":3)"),
                      "presence_penalty", "invalid_value"},
        RejectionCase{"frequency_penalty_below", chat_with(R"("frequency_penalty":-2.5)"),
                      "frequency_penalty", "invalid_value"},
        RejectionCase{"repeat_penalty_zero", chat_with(R"("repeat_penalty":0)"), "repeat_penalty",
                      "invalid_value"},
        RejectionCase{"repeat_penalty_negative", chat_with(R"("repeat_penalty":-1)"),
                      "repeat_penalty", "invalid_value"},
        RejectionCase{"seed_fraction", chat_with(R"("seed":1.5)"), "seed", "invalid_type"},
        RejectionCase{"seed_string", chat_with(R"("seed":"42")"), "seed", "invalid_type"},
        RejectionCase{"logit_bias_array", chat_with(R"("logit_bias":[[1,2]])"), "logit_bias",
                      "invalid_type"},
        RejectionCase{"logit_bias_key_not_token", chat_with(R"("logit_bias":{"abc":1})"),
                      "logit_bias.abc", "invalid_value"},
        RejectionCase{"logit_bias_key_negative", chat_with(R"("logit_bias":{"-5":1})"),
                      "logit_bias.-5", "invalid_value"},
        RejectionCase{"logit_bias_key_too_big", chat_with(R"("logit_bias":{"99999999999":1})"),
                      "logit_bias.99999999999", "invalid_value"},
        RejectionCase{"logit_bias_value_above", chat_with(R"("logit_bias":{"5":101})"),
                      "logit_bias.5", "invalid_value"},
        RejectionCase{"logit_bias_value_string", chat_with(R"("logit_bias":{"5":"x"})"),
                      "logit_bias.5", "invalid_type"},
        RejectionCase{"n_two", chat_with(R"("n":2)"), "n", "unsupported_parameter"},
        RejectionCase{"n_zero", chat_with(R"("n":0)"), "n", "invalid_value"},
        RejectionCase{"n_string", chat_with(R"("n":"1")"), "n", "invalid_type"},
        RejectionCase{"logprobs_string", chat_with(R"("logprobs":"yes")"), "logprobs",
                      "invalid_type"},
        RejectionCase{"top_logprobs_without_logprobs", chat_with(R"("top_logprobs":3)"),
                      "top_logprobs", "invalid_value"},
        RejectionCase{"top_logprobs_with_logprobs_false",
                      chat_with(R"("logprobs":false,"top_logprobs":3)"), "top_logprobs",
                      "invalid_value"},
        RejectionCase{"top_logprobs_above", chat_with(R"("logprobs":true,"top_logprobs":21)"),
                      "top_logprobs", "invalid_value"},
        RejectionCase{"max_tokens_zero", chat_with(R"("max_tokens":0)"), "max_tokens",
                      "invalid_value"},
        RejectionCase{"max_tokens_negative", chat_with(R"("max_tokens":-5)"), "max_tokens",
                      "invalid_value"},
        RejectionCase{"max_tokens_fraction", chat_with(R"("max_tokens":1.5)"), "max_tokens",
                      "invalid_type"},
        RejectionCase{"max_tokens_string", chat_with(R"("max_tokens":"10")"), "max_tokens",
                      "invalid_type"},
        RejectionCase{"max_tokens_above_int32", chat_with(R"("max_tokens":2147483648)"),
                      "max_tokens", "invalid_value"},
        RejectionCase{"max_tokens_above_int64", chat_with(R"("max_tokens":18446744073709551615)"),
                      "max_tokens", "invalid_value"},
        RejectionCase{"max_completion_tokens_zero", chat_with(R"("max_completion_tokens":0)"),
                      "max_completion_tokens", "invalid_value"},
        RejectionCase{"n_predict_zero", chat_with(R"("n_predict":0)"), "n_predict",
                      "invalid_value"},
        RejectionCase{"n_predict_below", chat_with(R"("n_predict":-2)"), "n_predict",
                      "invalid_value"},
        RejectionCase{"stop_number", chat_with(R"("stop":5)"), "stop", "invalid_type"},
        RejectionCase{"stop_empty_string", chat_with(R"("stop":"")"), "stop", "invalid_value"},
        RejectionCase{"stop_array_empty_string", chat_with(R"("stop":["a",""])"), "stop[1]",
                      "invalid_value"},
        RejectionCase{"stop_array_number", chat_with(R"("stop":[1])"), "stop[0]", "invalid_type"},
        RejectionCase{"stop_too_many", chat_with(R"("stop":)" + kSeventeenStops), "stop",
                      "invalid_value"},
        RejectionCase{"stream_string", chat_with(R"("stream":"true")"), "stream", "invalid_type"},
        RejectionCase{"stream_options_without_stream",
                      chat_with(R"("stream_options":{"include_usage":true})"), "stream_options",
                      "invalid_value"},
        RejectionCase{"stream_options_with_stream_false",
                      chat_with(R"("stream":false,"stream_options":{"include_usage":true})"),
                      "stream_options", "invalid_value"},
        RejectionCase{"stream_options_not_object",
                      chat_with(R"("stream":true,"stream_options":true)"), "stream_options",
                      "invalid_type"},
        RejectionCase{"include_usage_string",
                      chat_with(R"("stream":true,"stream_options":{"include_usage":"yes"})"),
                      "stream_options.include_usage", "invalid_type"},
        RejectionCase{"parallel_tool_calls_string", chat_with(R"("parallel_tool_calls":"no")"),
                      "parallel_tool_calls", "invalid_type"},
        RejectionCase{"ignore_eos_number", chat_with(R"("ignore_eos":1)"), "ignore_eos",
                      "invalid_type"},
        RejectionCase{"user_number", chat_with(R"("user":5)"), "user", "invalid_type"}),
    testing::rejection_case_name);

INSTANTIATE_TEST_SUITE_P(
    ResponseFormats, ParseChatRejects,
    ::testing::Values(
        RejectionCase{"not_object", chat_with(R"("response_format":"json")"), "response_format",
                      "invalid_type"},
        RejectionCase{"type_missing", chat_with(R"("response_format":{})"), "response_format.type",
                      "missing_required_parameter"},
        RejectionCase{"type_unknown", chat_with(R"("response_format":{"type":"xml"})"),
                      "response_format.type", "invalid_value"},
        RejectionCase{"json_schema_missing",
                      chat_with(R"("response_format":{"type":"json_schema"})"),
                      "response_format.json_schema", "missing_required_parameter"},
        RejectionCase{
            "schema_missing",
            chat_with(R"("response_format":{"type":"json_schema","json_schema":{"name":"x"}})"),
            "response_format.json_schema.schema", "missing_required_parameter"},
        RejectionCase{
            "schema_string",
            chat_with(R"("response_format":{"type":"json_schema","json_schema":{"schema":"{}"}})"),
            "response_format.json_schema.schema", "invalid_type"},
        RejectionCase{"strict_string",
                      chat_with(R"("response_format":{"type":"json_schema","json_schema":)"
                                R"({"schema":{},"strict":"yes"}})"),
                      "response_format.json_schema.strict", "invalid_type"},
        RejectionCase{"json_object_schema_string",
                      chat_with(R"("response_format":{"type":"json_object","schema":"x"})"),
                      "response_format.schema", "invalid_type"}),
    testing::rejection_case_name);

INSTANTIATE_TEST_SUITE_P(
    Tools, ParseChatRejects,
    ::testing::Values(
        RejectionCase{"tools_not_array", chat_with(R"("tools":{})"), "tools", "invalid_type"},
        RejectionCase{"tool_not_object", chat_with(R"("tools":["f"])"), "tools[0]", "invalid_type"},
        RejectionCase{"tool_type_other",
                      chat_with(R"("tools":[{"type":"code_interpreter","function":{"name":"f"}}])"),
                      "tools[0].type", "invalid_value"},
        RejectionCase{"tool_function_missing", chat_with(R"("tools":[{"type":"function"}])"),
                      "tools[0].function", "missing_required_parameter"},
        RejectionCase{"tool_name_missing",
                      chat_with(R"("tools":[{"type":"function","function":{"description":"d"}}])"),
                      "tools[0].function.name", "missing_required_parameter"},
        RejectionCase{
            "tool_name_with_space",
            chat_with(R"("tools":[{"type":"function","function":{"name":"get weather"}}])"),
            "tools[0].function.name", "invalid_value"},
        RejectionCase{"tool_name_empty",
                      chat_with(R"("tools":[{"type":"function","function":{"name":""}}])"),
                      "tools[0].function.name", "invalid_value"},
        RejectionCase{"tool_name_too_long",
                      chat_with(R"("tools":[{"type":"function","function":{"name":")" +
                                std::string(65, 'a') + R"("}}])"),
                      "tools[0].function.name", "invalid_value"},
        RejectionCase{
            "tool_description_number",
            chat_with(R"("tools":[{"type":"function","function":{"name":"f","description":1}}])"),
            "tools[0].function.description", "invalid_type"},
        RejectionCase{
            "tool_parameters_string",
            chat_with(R"("tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}])"),
            "tools[0].function.parameters", "invalid_type"},
        RejectionCase{"tool_declared_twice",
                      chat_with(R"("tools":[{"type":"function","function":{"name":"f"}},)"
                                R"({"type":"function","function":{"name":"f"}}])"),
                      "tools[1].function.name", "invalid_value"},
        RejectionCase{"tool_choice_unknown_mode",
                      chat_with(std::string(kTwoTools) + R"(,"tool_choice":"sometimes")"),
                      "tool_choice", "invalid_value"},
        RejectionCase{"tool_choice_number", chat_with(R"("tool_choice":5)"), "tool_choice",
                      "invalid_type"},
        RejectionCase{"tool_choice_required_without_tools",
                      chat_with(R"("tool_choice":"required")"), "tool_choice", "invalid_value"},
        RejectionCase{
            "tool_choice_named_undeclared",
            chat_with(std::string(kTwoTools) +
                      R"(,"tool_choice":{"type":"function","function":{"name":"launch"}})"),
            "tool_choice.function.name", "invalid_value"},
        RejectionCase{"tool_choice_named_without_tools",
                      chat_with(R"("tool_choice":{"type":"function","function":{"name":"f"}})"),
                      "tool_choice.function.name", "invalid_value"},
        RejectionCase{"tool_choice_function_missing",
                      chat_with(std::string(kTwoTools) + R"(,"tool_choice":{"type":"function"})"),
                      "tool_choice.function", "missing_required_parameter"},
        RejectionCase{"tool_choice_type_other",
                      chat_with(std::string(kTwoTools) +
                                R"(,"tool_choice":{"type":"file_search","function":{"name":"f"}})"),
                      "tool_choice.type", "invalid_value"}),
    testing::rejection_case_name);

}  // namespace
}  // namespace hearth::api
