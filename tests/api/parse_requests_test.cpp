// Body-level checks shared by every endpoint, and parsing of completions, embeddings and rerank.
#include <gtest/gtest.h>

#include <string>

#include "api/parse.hpp"
#include "api/rejection_case.hpp"

namespace hearth::api {
namespace {

using testing::RejectionCase;

template <class T>
std::string describe(const Expected<T, ApiError>& parsed) {
  if (parsed) return "parsed";
  return parsed.error().message + " (param " + parsed.error().param.value_or("null") + ")";
}

// ---- the body itself ----

TEST(ParseBody, InvalidJsonCarriesTheParsersReason) {
  const auto parsed = parse_chat_completion_request(R"({"messages": [)");
  ASSERT_FALSE(parsed);
  const ApiError& error = parsed.error();
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_EQ(error.code, "invalid_json");
  EXPECT_FALSE(error.param.has_value());
  EXPECT_TRUE(error.message.starts_with("Invalid JSON body:")) << error.message;
  // The reason follows, without nlohmann's internal exception id.
  EXPECT_NE(error.message.find("parse error"), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find("[json.exception"), std::string::npos) << error.message;
}

TEST(ParseBody, InvalidUtf8IsRejectedBeforeParsing) {
  const auto parsed =
      parse_chat_completion_request("{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xff\"}]}");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().status, 400);
  EXPECT_EQ(parsed.error().code, "invalid_utf8");
  EXPECT_FALSE(parsed.error().param.has_value());
  EXPECT_NE(parsed.error().message.find("not valid UTF-8"), std::string::npos)
      << parsed.error().message;
}

class ParseBodyUtf8 : public ::testing::TestWithParam<std::string> {};

// Each string sits inside a JSON string literal of an otherwise valid body.
TEST_P(ParseBodyUtf8, InvalidSequencesAreRejected) {
  const std::string body = R"({"input":"x)" + GetParam() + R"("})";
  const auto parsed = parse_embedding_request(body);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "invalid_utf8");
}

INSTANTIATE_TEST_SUITE_P(Sequences, ParseBodyUtf8,
                         ::testing::Values(std::string("\xff"), std::string("\x80"),
                                           std::string("\xc3"),              // truncated
                                           std::string("\xc0\xaf"),          // overlong '/'
                                           std::string("\xe0\x80\xaf"),      // overlong
                                           std::string("\xed\xa0\x80"),      // surrogate
                                           std::string("\xf4\x90\x80\x80"),  // above U+10FFFF
                                           std::string("\xf5\x80\x80\x80"),
                                           std::string("\xe2\x82")));  // truncated euro sign

TEST(ParseBody, ValidMultibyteUtf8IsAccepted) {
  const auto parsed = parse_embedding_request(
      "{\"input\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd\"}");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->inputs[0], "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd");
}

TEST(ParseBody, EscapedUnicodeIsDecoded) {
  const auto parsed = parse_embedding_request(R"({"input":"caf\u00e9 \ud83d\ude00"})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->inputs[0], "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(ParseBody, LoneSurrogateEscapeIsInvalidJson) {
  const auto parsed = parse_embedding_request(R"({"input":"\ud800"})");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "invalid_json");
}

TEST(ParseBody, DeepNestingIsRejected) {
  const std::string deep =
      R"({"input":"x","extra":)" + std::string(200, '[') + std::string(200, ']') + "}";
  const auto parsed = parse_embedding_request(deep);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "invalid_json");
  EXPECT_EQ(parsed.error().status, 400);
}

TEST(ParseBody, BracketsInsideStringsDoNotCountAsNesting) {
  const std::string body = R"({"input":")" + std::string(500, '[') + R"(\"{{"})";
  const auto parsed = parse_embedding_request(body);
  ASSERT_TRUE(parsed) << describe(parsed);
}

class ParseBodyRejects : public ::testing::TestWithParam<RejectionCase> {};

// Every endpoint shares the body checks, so each case runs against all four parsers.
TEST_P(ParseBodyRejects, OnEveryEndpoint) {
  const std::string& body = GetParam().body;
  const auto chat = parse_chat_completion_request(body);
  ASSERT_FALSE(chat);
  testing::expect_rejection(chat.error(), GetParam());
  const auto completion = parse_completion_request(body);
  ASSERT_FALSE(completion);
  testing::expect_rejection(completion.error(), GetParam());
  const auto embedding = parse_embedding_request(body);
  ASSERT_FALSE(embedding);
  testing::expect_rejection(embedding.error(), GetParam());
  const auto rerank = parse_rerank_request(body);
  ASSERT_FALSE(rerank);
  testing::expect_rejection(rerank.error(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, ParseBodyRejects,
    ::testing::Values(
        RejectionCase{"empty", "", std::nullopt, "invalid_json"},
        RejectionCase{"whitespace", "  \n", std::nullopt, "invalid_json"},
        RejectionCase{"truncated", R"({"model":)", std::nullopt, "invalid_json"},
        RejectionCase{"trailing_garbage", R"({} x)", std::nullopt, "invalid_json"},
        RejectionCase{"single_quotes", R"({'model':'m'})", std::nullopt, "invalid_json"},
        RejectionCase{"array", R"([{"role":"user"}])", std::nullopt, "invalid_type"},
        RejectionCase{"string", R"("hello")", std::nullopt, "invalid_type"},
        RejectionCase{"number", "42", std::nullopt, "invalid_type"},
        RejectionCase{"null", "null", std::nullopt, "invalid_type"},
        RejectionCase{"invalid_utf8", "{\"model\":\"\xff\"}", std::nullopt, "invalid_utf8"},
        RejectionCase{"model_not_string", R"({"model":["a"]})", "model", "invalid_type"}),
    testing::rejection_case_name);

// ---- /v1/completions ----

TEST(ParseCompletion, StringPrompt) {
  const auto parsed = parse_completion_request(R"({"model":"m","prompt":"Once upon a time"})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->model, "m");
  EXPECT_EQ(parsed->prompts, (std::vector<std::string>{"Once upon a time"}));
  EXPECT_TRUE(parsed->token_prompts.empty());
  EXPECT_FALSE(parsed->echo);
  EXPECT_EQ(parsed->suffix, "");
  EXPECT_EQ(parsed->response_format.kind, ResponseFormatKind::text);
}

TEST(ParseCompletion, EmptyStringPromptIsAllowed) {
  const auto parsed = parse_completion_request(R"({"prompt":""})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->prompts, (std::vector<std::string>{""}));
}

TEST(ParseCompletion, ArrayOfStrings) {
  const auto parsed = parse_completion_request(R"({"prompt":["a","b"]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->prompts, (std::vector<std::string>{"a", "b"}));
}

TEST(ParseCompletion, TokenPrompt) {
  const auto parsed = parse_completion_request(R"({"prompt":[1,15043,3186]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->prompts.empty());
  EXPECT_EQ(parsed->token_prompts, (std::vector<std::vector<int32_t>>{{1, 15043, 3186}}));
}

TEST(ParseCompletion, ArrayOfTokenPrompts) {
  const auto parsed = parse_completion_request(R"({"prompt":[[1,2],[3],[2147483647]]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->token_prompts, (std::vector<std::vector<int32_t>>{{1, 2}, {3}, {2147483647}}));
}

TEST(ParseCompletion, OptionsAndExtensions) {
  const auto parsed = parse_completion_request(
      R"({"prompt":"x","echo":true,"suffix":"end","best_of":1,"n":1,"max_tokens":16,)"
      R"("stop":["\n"],"stream":true,"stream_options":{"include_usage":true},"temperature":0,)"
      R"("seed":7,"ignore_eos":true,"response_format":{"type":"json_object"}})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->echo);
  EXPECT_EQ(parsed->suffix, "end");
  EXPECT_EQ(parsed->generation.max_tokens, 16);
  EXPECT_EQ(parsed->generation.stop, (std::vector<std::string>{"\n"}));
  EXPECT_TRUE(parsed->generation.stream);
  EXPECT_TRUE(parsed->generation.stream_options.include_usage);
  EXPECT_EQ(parsed->generation.sampling.temperature, 0.0F);
  EXPECT_EQ(parsed->generation.sampling.seed, 7U);
  EXPECT_TRUE(parsed->generation.ignore_eos);
  EXPECT_EQ(parsed->response_format.kind, ResponseFormatKind::json_object);
}

// The legacy API's logprobs is a count of alternatives per token.
TEST(ParseCompletion, LegacyIntegerLogprobs) {
  auto parsed = parse_completion_request(R"({"prompt":"x","logprobs":5})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->generation.logprobs);
  EXPECT_EQ(parsed->generation.top_logprobs, 5);

  parsed = parse_completion_request(R"({"prompt":"x","logprobs":0})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->generation.logprobs);
  EXPECT_EQ(parsed->generation.top_logprobs, 0);

  parsed = parse_completion_request(R"({"prompt":"x","logprobs":true,"top_logprobs":3})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_TRUE(parsed->generation.logprobs);
  EXPECT_EQ(parsed->generation.top_logprobs, 3);
}

class ParseCompletionRejects : public ::testing::TestWithParam<RejectionCase> {};

TEST_P(ParseCompletionRejects, WithStatusParamAndCode) {
  const auto parsed = parse_completion_request(GetParam().body);
  ASSERT_FALSE(parsed) << "accepted: " << GetParam().body;
  testing::expect_rejection(parsed.error(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Completions, ParseCompletionRejects,
    ::testing::Values(
        RejectionCase{"prompt_missing", R"({"model":"m"})", "prompt", "missing_required_parameter"},
        RejectionCase{"prompt_number", R"({"prompt":5})", "prompt", "invalid_type"},
        RejectionCase{"prompt_object", R"({"prompt":{"text":"x"}})", "prompt", "invalid_type"},
        RejectionCase{"prompt_empty_array", R"({"prompt":[]})", "prompt", "empty_array"},
        RejectionCase{"prompt_array_of_objects", R"({"prompt":[{}]})", "prompt[0]", "invalid_type"},
        RejectionCase{"prompt_mixed_strings", R"({"prompt":["a",1]})", "prompt[1]", "invalid_type"},
        RejectionCase{"prompt_mixed_tokens", R"({"prompt":[1,"a"]})", "prompt[1]", "invalid_type"},
        RejectionCase{"prompt_token_fraction", R"({"prompt":[1,2.5]})", "prompt[1]",
                      "invalid_type"},
        RejectionCase{"prompt_token_negative", R"({"prompt":[1,-2]})", "prompt[1]",
                      "invalid_value"},
        RejectionCase{"prompt_token_too_big", R"({"prompt":[2147483648]})", "prompt[0]",
                      "invalid_value"},
        RejectionCase{"prompt_empty_token_array", R"({"prompt":[[1],[]]})", "prompt[1]",
                      "empty_array"},
        RejectionCase{"prompt_nested_bad_token", R"({"prompt":[[1],[2,"x"]]})", "prompt[1][1]",
                      "invalid_type"},
        RejectionCase{"echo_string", R"({"prompt":"x","echo":"yes"})", "echo", "invalid_type"},
        RejectionCase{"suffix_number", R"({"prompt":"x","suffix":1})", "suffix", "invalid_type"},
        RejectionCase{"best_of_two", R"({"prompt":"x","best_of":2})", "best_of",
                      "unsupported_parameter"},
        RejectionCase{"best_of_zero", R"({"prompt":"x","best_of":0})", "best_of", "invalid_value"},
        RejectionCase{"n_two", R"({"prompt":"x","n":2})", "n", "unsupported_parameter"},
        RejectionCase{"logprobs_string", R"({"prompt":"x","logprobs":"5"})", "logprobs",
                      "invalid_type"},
        RejectionCase{"logprobs_above", R"({"prompt":"x","logprobs":21})", "logprobs",
                      "invalid_value"},
        RejectionCase{"top_logprobs_without_logprobs", R"({"prompt":"x","top_logprobs":2})",
                      "top_logprobs", "invalid_value"},
        RejectionCase{"max_tokens_zero", R"({"prompt":"x","max_tokens":0})", "max_tokens",
                      "invalid_value"},
        RejectionCase{"temperature_above", R"({"prompt":"x","temperature":3})", "temperature",
                      "invalid_value"},
        RejectionCase{"stream_options_without_stream",
                      R"({"prompt":"x","stream_options":{"include_usage":true}})", "stream_options",
                      "invalid_value"},
        RejectionCase{"response_format_unknown",
                      R"({"prompt":"x","response_format":{"type":"yaml"}})", "response_format.type",
                      "invalid_value"}),
    testing::rejection_case_name);

// ---- /v1/embeddings ----

TEST(ParseEmbedding, StringInput) {
  const auto parsed = parse_embedding_request(R"({"model":"bge","input":"hello"})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->model, "bge");
  EXPECT_EQ(parsed->inputs, (std::vector<std::string>{"hello"}));
  EXPECT_TRUE(parsed->token_inputs.empty());
  EXPECT_EQ(parsed->encoding_format, EncodingFormat::float_array);
  EXPECT_FALSE(parsed->dimensions.has_value());
}

TEST(ParseEmbedding, ArrayOfStrings) {
  const auto parsed = parse_embedding_request(R"({"input":["a","b","c"]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->inputs, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ParseEmbedding, TokenInputs) {
  auto parsed = parse_embedding_request(R"({"input":[101,2023,102]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->token_inputs, (std::vector<std::vector<int32_t>>{{101, 2023, 102}}));

  parsed = parse_embedding_request(R"({"input":[[1,2],[3]]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->token_inputs, (std::vector<std::vector<int32_t>>{{1, 2}, {3}}));
}

TEST(ParseEmbedding, EncodingFormatAndDimensions) {
  auto parsed = parse_embedding_request(
      R"({"input":"x","encoding_format":"base64","dimensions":256,"user":"u"})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->encoding_format, EncodingFormat::base64);
  EXPECT_EQ(parsed->dimensions, 256);

  parsed = parse_embedding_request(R"({"input":"x","encoding_format":"float"})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->encoding_format, EncodingFormat::float_array);
}

class ParseEmbeddingRejects : public ::testing::TestWithParam<RejectionCase> {};

TEST_P(ParseEmbeddingRejects, WithStatusParamAndCode) {
  const auto parsed = parse_embedding_request(GetParam().body);
  ASSERT_FALSE(parsed) << "accepted: " << GetParam().body;
  testing::expect_rejection(parsed.error(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Embeddings, ParseEmbeddingRejects,
    ::testing::Values(
        RejectionCase{"input_missing", R"({"model":"m"})", "input", "missing_required_parameter"},
        RejectionCase{"input_null", R"({"input":null})", "input", "missing_required_parameter"},
        RejectionCase{"input_empty_string", R"({"input":""})", "input", "invalid_value"},
        RejectionCase{"input_empty_array", R"({"input":[]})", "input", "empty_array"},
        RejectionCase{"input_array_empty_string", R"({"input":["a",""]})", "input[1]",
                      "invalid_value"},
        RejectionCase{"input_number", R"({"input":3})", "input", "invalid_type"},
        RejectionCase{"input_object", R"({"input":{"text":"x"}})", "input", "invalid_type"},
        RejectionCase{"input_mixed", R"({"input":["a",[1]]})", "input[1]", "invalid_type"},
        RejectionCase{"input_array_of_bools", R"({"input":[true]})", "input[0]", "invalid_type"},
        RejectionCase{"input_empty_token_array", R"({"input":[[]]})", "input[0]", "empty_array"},
        RejectionCase{"input_negative_token", R"({"input":[-1]})", "input[0]", "invalid_value"},
        RejectionCase{"encoding_format_unknown", R"({"input":"x","encoding_format":"binary"})",
                      "encoding_format", "invalid_value"},
        RejectionCase{"encoding_format_number", R"({"input":"x","encoding_format":1})",
                      "encoding_format", "invalid_type"},
        RejectionCase{"dimensions_zero", R"({"input":"x","dimensions":0})", "dimensions",
                      "invalid_value"},
        RejectionCase{"dimensions_negative", R"({"input":"x","dimensions":-8})", "dimensions",
                      "invalid_value"},
        RejectionCase{"dimensions_fraction", R"({"input":"x","dimensions":1.5})", "dimensions",
                      "invalid_type"},
        RejectionCase{"dimensions_string", R"({"input":"x","dimensions":"256"})", "dimensions",
                      "invalid_type"}),
    testing::rejection_case_name);

// ---- /v1/rerank ----

TEST(ParseRerank, StringDocuments) {
  const auto parsed = parse_rerank_request(
      R"({"model":"bge-reranker","query":"capital of France?","documents":["Paris","Berlin"]})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->model, "bge-reranker");
  EXPECT_EQ(parsed->query, "capital of France?");
  EXPECT_EQ(parsed->documents, (std::vector<std::string>{"Paris", "Berlin"}));
  EXPECT_FALSE(parsed->top_n.has_value());
  EXPECT_TRUE(parsed->return_documents);
}

TEST(ParseRerank, ObjectDocumentsAndOptions) {
  const auto parsed = parse_rerank_request(
      R"({"query":"q","documents":[{"text":"one"},"two",{"text":""}],"top_n":2,)"
      R"("return_documents":false})");
  ASSERT_TRUE(parsed) << describe(parsed);
  EXPECT_EQ(parsed->documents, (std::vector<std::string>{"one", "two", ""}));
  EXPECT_EQ(parsed->top_n, 2);
  EXPECT_FALSE(parsed->return_documents);
}

class ParseRerankRejects : public ::testing::TestWithParam<RejectionCase> {};

TEST_P(ParseRerankRejects, WithStatusParamAndCode) {
  const auto parsed = parse_rerank_request(GetParam().body);
  ASSERT_FALSE(parsed) << "accepted: " << GetParam().body;
  testing::expect_rejection(parsed.error(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Rerank, ParseRerankRejects,
    ::testing::Values(
        RejectionCase{"query_missing", R"({"documents":["a"]})", "query",
                      "missing_required_parameter"},
        RejectionCase{"query_number", R"({"query":1,"documents":["a"]})", "query", "invalid_type"},
        RejectionCase{"query_empty", R"({"query":"","documents":["a"]})", "query", "invalid_value"},
        RejectionCase{"documents_missing", R"({"query":"q"})", "documents",
                      "missing_required_parameter"},
        RejectionCase{"documents_string", R"({"query":"q","documents":"a"})", "documents",
                      "invalid_type"},
        RejectionCase{"documents_empty", R"({"query":"q","documents":[]})", "documents",
                      "empty_array"},
        RejectionCase{"document_number", R"({"query":"q","documents":["a",2]})", "documents[1]",
                      "invalid_type"},
        RejectionCase{"document_object_without_text",
                      R"({"query":"q","documents":[{"title":"t"}]})", "documents[0].text",
                      "missing_required_parameter"},
        RejectionCase{"document_text_number", R"({"query":"q","documents":[{"text":5}]})",
                      "documents[0].text", "invalid_type"},
        RejectionCase{"top_n_zero", R"({"query":"q","documents":["a"],"top_n":0})", "top_n",
                      "invalid_value"},
        RejectionCase{"top_n_string", R"({"query":"q","documents":["a"],"top_n":"1"})", "top_n",
                      "invalid_type"},
        RejectionCase{"return_documents_string",
                      R"({"query":"q","documents":["a"],"return_documents":"no"})",
                      "return_documents", "invalid_type"}),
    testing::rejection_case_name);

}  // namespace
}  // namespace hearth::api
