// Response serialisation: each test parses the output back and checks the OpenAI shape.
#include "api/serialize.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "api/json_text.hpp"

namespace hearth::api {
namespace {

using nlohmann::json;

// Model output cut inside a multi-byte character, plus a stray byte.
const std::string kBrokenUtf8 = "caf\xc3 \xff end";

Usage sample_usage() {
  Usage usage;
  usage.prompt_tokens = 12;
  usage.completion_tokens = 5;
  usage.cached_prompt_tokens = 8;
  return usage;
}

void expect_usage(const json& usage) {
  EXPECT_EQ(usage.at("prompt_tokens"), 12);
  EXPECT_EQ(usage.at("completion_tokens"), 5);
  EXPECT_EQ(usage.at("total_tokens"), 17);
  EXPECT_EQ(usage.at("prompt_tokens_details").at("cached_tokens"), 8);
}

TEST(AppendJsonString, EscapesAndReplacesWhateverFollowsAPlainPrefix) {
  const std::pair<std::string, std::string> cases[] = {
      {"", R"("")"},
      {"gpt-4o-mini", R"("gpt-4o-mini")"},
      {"x\x7f~", "\"x\x7f~\""},
      {"a\"b\\c\n\t\x01", R"("a\"b\\c\n\t\u0001")"},
      {"\"", R"("\"")"},
      {"caf\xC3\xA9 ok", "\"caf\xC3\xA9 ok\""},
      {"ab\xFF"
       "cd",
       "\"ab\xEF\xBF\xBD"
       "cd\""},
      {"end\xC3", "\"end\xEF\xBF\xBD\""},
      {"\xFF\"\xFE", "\"\xEF\xBF\xBD\\\"\xEF\xBF\xBD\""},
  };
  for (const auto& [value, expected] : cases) {
    std::string out = "prefix:";
    hearth::api::append_json_string(out, value);
    EXPECT_EQ(out, "prefix:" + expected) << value;
  }
}

TEST(SerializeError, OpenAiShapeWithNulls) {
  const json out = json::parse(
      to_json(invalid_request("temperature is too high", "temperature", "invalid_value")));
  EXPECT_EQ(out, json::parse(R"({"error":{"message":"temperature is too high",)"
                             R"("type":"invalid_request_error","param":"temperature",)"
                             R"("code":"invalid_value"}})"));

  ApiError overloaded;
  overloaded.status = 503;
  overloaded.message = "queue full";
  overloaded.type = "server_error";
  overloaded.retry_after_seconds = 2;
  const json out2 = json::parse(to_json(overloaded));
  EXPECT_EQ(out2, json::parse(R"({"error":{"message":"queue full","type":"server_error",)"
                              R"("param":null,"code":null}})"));
}

TEST(InvalidRequest, FillsEveryField) {
  const ApiError error = invalid_request("bad", "messages", "empty_array");
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.message, "bad");
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_EQ(error.param, "messages");
  EXPECT_EQ(error.code, "empty_array");
  EXPECT_FALSE(error.retry_after_seconds.has_value());
  const ApiError bare = invalid_request("bad");
  EXPECT_FALSE(bare.param.has_value());
  EXPECT_FALSE(bare.code.has_value());
}

ChatCompletion text_completion() {
  ChatCompletion completion;
  completion.id = "chatcmpl-1";
  completion.created = 1700000000;
  completion.model = "qwen3";
  completion.system_fingerprint = "b1234";
  ChatChoice choice;
  choice.content = "Hello!";
  choice.finish_reason = "stop";
  completion.choices.push_back(choice);
  completion.usage = sample_usage();
  return completion;
}

TEST(SerializeChatCompletion, TextReply) {
  const json out = json::parse(to_json(text_completion()));
  EXPECT_EQ(out.at("id"), "chatcmpl-1");
  EXPECT_EQ(out.at("object"), "chat.completion");
  EXPECT_EQ(out.at("created"), 1700000000);
  EXPECT_EQ(out.at("model"), "qwen3");
  EXPECT_EQ(out.at("system_fingerprint"), "b1234");
  ASSERT_EQ(out.at("choices").size(), 1U);
  const json& choice = out.at("choices")[0];
  EXPECT_EQ(choice.at("index"), 0);
  EXPECT_EQ(choice.at("message"), json::parse(R"({"role":"assistant","content":"Hello!"})"));
  EXPECT_TRUE(choice.at("logprobs").is_null());
  EXPECT_EQ(choice.at("finish_reason"), "stop");
  expect_usage(out.at("usage"));
}

TEST(SerializeChatCompletion, ToolCallsWithNullContent) {
  ChatCompletion completion = text_completion();
  ChatChoice& choice = completion.choices[0];
  choice.content = std::nullopt;
  choice.finish_reason = "tool_calls";
  choice.tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"},
                       {"call_2", "get_time", "{}"}};
  const json message = json::parse(to_json(completion)).at("choices")[0].at("message");
  ASSERT_TRUE(message.contains("content"));
  EXPECT_TRUE(message.at("content").is_null());
  EXPECT_EQ(message.at("tool_calls"),
            json::parse(R"([{"id":"call_1","type":"function","function":{"name":"get_weather",)"
                        R"("arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function",)"
                        R"("function":{"name":"get_time","arguments":"{}"}}])"));
  EXPECT_FALSE(message.contains("reasoning_content"));
}

TEST(SerializeChatCompletion, ReasoningContentOnlyWhenPresent) {
  ChatCompletion completion = text_completion();
  json message = json::parse(to_json(completion)).at("choices")[0].at("message");
  EXPECT_FALSE(message.contains("reasoning_content"));
  EXPECT_FALSE(message.contains("tool_calls"));

  completion.choices[0].reasoning_content = "The user greets me.";
  message = json::parse(to_json(completion)).at("choices")[0].at("message");
  EXPECT_EQ(message.at("reasoning_content"), "The user greets me.");
}

TEST(SerializeChatCompletion, Logprobs) {
  ChatCompletion completion = text_completion();
  TokenLogprob token;
  token.token = "Hi";
  token.logprob = -0.25F;
  token.bytes = {72, 105};
  token.top_logprobs = {{"Hi", -0.25F, {72, 105}}, {"Hey", -1.5F, {72, 101, 121}}};
  TokenLogprob impossible;
  impossible.token = "!";
  impossible.logprob = -std::numeric_limits<float>::infinity();
  impossible.bytes = {33};
  completion.choices[0].logprobs = std::vector<TokenLogprob>{token, impossible};

  const json logprobs = json::parse(to_json(completion)).at("choices")[0].at("logprobs");
  const json& content = logprobs.at("content");
  ASSERT_EQ(content.size(), 2U);
  EXPECT_EQ(content[0],
            json::parse(R"({"token":"Hi","logprob":-0.25,"bytes":[72,105],)"
                        R"("top_logprobs":[{"token":"Hi","logprob":-0.25,"bytes":[72,105]},)"
                        R"({"token":"Hey","logprob":-1.5,"bytes":[72,101,121]}]})"));
  // -inf would print as null; it becomes the lowest finite float instead.
  ASSERT_TRUE(content[1].at("logprob").is_number());
  EXPECT_EQ(content[1].at("logprob").get<float>(), std::numeric_limits<float>::lowest());
  EXPECT_EQ(content[1].at("top_logprobs"), json::array());
}

TEST(SerializeChatCompletion, InvalidUtf8FromTheModelDoesNotThrow) {
  ChatCompletion completion = text_completion();
  completion.choices[0].content = kBrokenUtf8;
  completion.choices[0].reasoning_content = kBrokenUtf8;
  std::string text;
  ASSERT_NO_THROW(text = to_json(completion));
  const json out = json::parse(text);  // the output is valid UTF-8 JSON
  EXPECT_EQ(out.at("choices")[0].at("message").at("content"), "caf\xef\xbf\xbd \xef\xbf\xbd end");
}

ChatChunk base_chunk() {
  ChatChunk chunk;
  chunk.id = "chatcmpl-2";
  chunk.created = 1700000001;
  chunk.model = "qwen3";
  chunk.system_fingerprint = "b1234";
  return chunk;
}

TEST(SerializeChatChunk, FirstChunkWithRole) {
  ChatChunk chunk = base_chunk();
  chunk.delta.role = "assistant";
  chunk.delta.content = "";
  const json out = json::parse(to_json(chunk));
  EXPECT_EQ(out.at("id"), "chatcmpl-2");
  EXPECT_EQ(out.at("object"), "chat.completion.chunk");
  EXPECT_EQ(out.at("created"), 1700000001);
  EXPECT_EQ(out.at("model"), "qwen3");
  EXPECT_EQ(out.at("system_fingerprint"), "b1234");
  EXPECT_FALSE(out.contains("usage"));
  ASSERT_EQ(out.at("choices").size(), 1U);
  const json& choice = out.at("choices")[0];
  EXPECT_EQ(choice.at("index"), 0);
  EXPECT_EQ(choice.at("delta"), json::parse(R"({"role":"assistant","content":""})"));
  ASSERT_TRUE(choice.contains("finish_reason"));
  EXPECT_TRUE(choice.at("finish_reason").is_null());
  ASSERT_TRUE(choice.contains("logprobs"));
  EXPECT_TRUE(choice.at("logprobs").is_null());
}

TEST(SerializeChatChunk, ContentAndReasoningDeltas) {
  ChatChunk chunk = base_chunk();
  chunk.delta.content = "Hel";
  EXPECT_EQ(json::parse(to_json(chunk)).at("choices")[0].at("delta"),
            json::parse(R"({"content":"Hel"})"));

  chunk.delta = {};
  chunk.delta.reasoning_content = "thinking";
  EXPECT_EQ(json::parse(to_json(chunk)).at("choices")[0].at("delta"),
            json::parse(R"({"reasoning_content":"thinking"})"));
}

TEST(SerializeChatChunk, ToolCallDeltas) {
  ChatChunk chunk = base_chunk();
  // The opening delta of a call names it; later ones carry only argument text.
  chunk.delta.tool_calls = {{0, "call_1", "get_weather", ""},
                            {1, std::nullopt, std::nullopt, "{\"ci"}};
  const json delta = json::parse(to_json(chunk)).at("choices")[0].at("delta");
  EXPECT_EQ(
      delta,
      json::parse(
          R"({"tool_calls":[)"
          R"({"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}},)"
          R"({"index":1,"function":{"arguments":"{\"ci"}}]})"));
}

TEST(SerializeChatChunk, EmptyDeltaWithFinishReason) {
  ChatChunk chunk = base_chunk();
  chunk.finish_reason = "length";
  const json choice = json::parse(to_json(chunk)).at("choices")[0];
  EXPECT_EQ(choice.at("delta"), json::object());
  EXPECT_EQ(choice.at("finish_reason"), "length");
}

TEST(SerializeChatChunk, LogprobsInChunk) {
  ChatChunk chunk = base_chunk();
  chunk.delta.content = "a";
  chunk.logprobs = std::vector<TokenLogprob>{{"a", -0.5F, {97}, {}}};
  const json choice = json::parse(to_json(chunk)).at("choices")[0];
  EXPECT_EQ(
      choice.at("logprobs"),
      json::parse(R"({"content":[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[]}]})"));
}

TEST(SerializeChatChunk, FinalUsageChunkHasEmptyChoices) {
  ChatChunk chunk = base_chunk();
  chunk.has_choice = false;
  chunk.usage = sample_usage();
  const json out = json::parse(to_json(chunk));
  EXPECT_EQ(out.at("object"), "chat.completion.chunk");
  EXPECT_EQ(out.at("choices"), json::array());
  expect_usage(out.at("usage"));
}

TEST(SerializeChatChunk, InvalidUtf8DoesNotThrow) {
  ChatChunk chunk = base_chunk();
  chunk.delta.content = kBrokenUtf8;
  std::string text;
  ASSERT_NO_THROW(text = to_json(chunk));
  EXPECT_TRUE(json::accept(text)) << text;
}

TEST(SerializeCompletion, WholeCompletion) {
  Completion completion;
  completion.id = "cmpl-1";
  completion.created = 1700000002;
  completion.model = "llama";
  completion.system_fingerprint = "b1";
  completion.choices.push_back({0, " there", std::string("length"), std::nullopt});
  completion.usage = sample_usage();
  const json out = json::parse(to_json(completion));
  EXPECT_EQ(out.at("id"), "cmpl-1");
  EXPECT_EQ(out.at("object"), "text_completion");
  EXPECT_EQ(out.at("created"), 1700000002);
  EXPECT_EQ(out.at("model"), "llama");
  EXPECT_EQ(
      out.at("choices"),
      json::parse(R"([{"text":" there","index":0,"logprobs":null,"finish_reason":"length"}])"));
  expect_usage(out.at("usage"));
}

TEST(SerializeCompletion, StreamedChunkOmitsUsage) {
  Completion chunk;
  chunk.id = "cmpl-1";
  chunk.model = "llama";
  chunk.choices.push_back({0, "tok", std::nullopt, std::nullopt});
  const json out = json::parse(to_json(chunk));
  EXPECT_FALSE(out.contains("usage"));
  EXPECT_TRUE(out.at("choices")[0].at("finish_reason").is_null());
  EXPECT_EQ(out.at("choices")[0].at("text"), "tok");
}

TEST(SerializeCompletion, LogprobsAndInvalidUtf8) {
  Completion completion;
  completion.choices.push_back({0, kBrokenUtf8, std::string("stop"),
                                std::vector<TokenLogprob>{{"\xc3", -2.0F, {0xc3}, {}}}});
  std::string text;
  ASSERT_NO_THROW(text = to_json(completion));
  const json choice = json::parse(text).at("choices")[0];
  EXPECT_EQ(choice.at("logprobs").at("content")[0].at("bytes"), json::parse("[195]"));
  EXPECT_EQ(choice.at("logprobs").at("content")[0].at("logprob"), -2.0);
}

// Decodes standard base64, for checking the encoder against an independent implementation.
std::vector<uint8_t> base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> bytes;
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    const size_t value = alphabet.find(c);
    EXPECT_NE(value, std::string::npos) << "bad base64 character " << c;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<uint8_t>((buffer >> bits) & 0xFF));
    }
  }
  return bytes;
}

std::vector<float> floats_from_little_endian(const std::vector<uint8_t>& bytes) {
  std::vector<float> values(bytes.size() / 4);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits = 0;
    for (int k = 3; k >= 0; --k) bits = (bits << 8) | bytes[i * 4 + static_cast<size_t>(k)];
    values[i] = std::bit_cast<float>(bits);
  }
  return values;
}

EmbeddingList sample_embeddings() {
  EmbeddingList list;
  list.model = "bge";
  list.embeddings = {{0.1F, -0.25F, 3.0e-8F, 1.0F}, {0.0F, -1.0F}, {}};
  list.usage.prompt_tokens = 9;
  return list;
}

TEST(SerializeEmbeddings, FloatArrays) {
  const EmbeddingList list = sample_embeddings();
  const json out = json::parse(to_json(list));
  EXPECT_EQ(out.at("object"), "list");
  EXPECT_EQ(out.at("model"), "bge");
  EXPECT_EQ(out.at("usage"), json::parse(R"({"prompt_tokens":9,"total_tokens":9})"));
  ASSERT_EQ(out.at("data").size(), 3U);
  for (size_t i = 0; i < 3; ++i) {
    const json& item = out.at("data")[i];
    EXPECT_EQ(item.at("object"), "embedding");
    EXPECT_EQ(item.at("index"), i);
    EXPECT_EQ(item.at("embedding").get<std::vector<float>>(), list.embeddings[i]);
  }
}

// Floats print in their shortest form, not widened to double's 17 digits.
TEST(SerializeEmbeddings, FloatsPrintShort) {
  EmbeddingList list;
  list.embeddings = {{0.1F}};
  const std::string text = to_json(list);
  EXPECT_NE(text.find("[0.1]"), std::string::npos) << text;
}

TEST(SerializeEmbeddings, Base64RoundTrip) {
  EmbeddingList list = sample_embeddings();
  list.encoding_format = EncodingFormat::base64;
  const json out = json::parse(to_json(list));
  ASSERT_EQ(out.at("data").size(), 3U);
  for (size_t i = 0; i < 3; ++i) {
    const json& embedding = out.at("data")[i].at("embedding");
    ASSERT_TRUE(embedding.is_string());
    const std::vector<uint8_t> bytes = base64_decode(embedding.get<std::string>());
    EXPECT_EQ(bytes.size(), list.embeddings[i].size() * 4);
    EXPECT_EQ(floats_from_little_endian(bytes), list.embeddings[i]);
  }
}

// Known answer: 1.0f is 00 00 80 3f in little-endian order.
TEST(SerializeEmbeddings, Base64KnownBytes) {
  EmbeddingList list;
  list.encoding_format = EncodingFormat::base64;
  list.embeddings = {{1.0F}, {1.0F, 1.0F}, {1.0F, 1.0F, 1.0F}};
  const json data = json::parse(to_json(list)).at("data");
  EXPECT_EQ(data[0].at("embedding"), "AACAPw==");
  EXPECT_EQ(data[1].at("embedding"), "AACAPwAAgD8=");
  EXPECT_EQ(data[2].at("embedding"), "AACAPwAAgD8AAIA/");
}

TEST(SerializeRerank, LlamaServerShape) {
  RerankResponse response;
  response.model = "bge-reranker";
  response.usage.prompt_tokens = 30;
  response.results = {{1, 0.92, std::string("Paris is the capital")}, {0, -2.5, std::nullopt}};
  const json out = json::parse(to_json(response));
  EXPECT_FALSE(out.contains("id"));
  EXPECT_EQ(out.at("model"), "bge-reranker");
  EXPECT_EQ(out.at("object"), "list");
  EXPECT_EQ(out.at("usage"), json::parse(R"({"prompt_tokens":30,"total_tokens":30})"));
  EXPECT_EQ(out.at("results"),
            json::parse(
                R"([{"index":1,"relevance_score":0.92,"document":{"text":"Paris is the capital"}},)"
                R"({"index":0,"relevance_score":-2.5}])"));

  response.id = "rerank-1";
  EXPECT_EQ(json::parse(to_json(response)).at("id"), "rerank-1");
}

TEST(SerializeModels, ListWithMeta) {
  ModelCard chat;
  chat.id = "qwen3-0.6b";
  chat.created = 1700000003;
  chat.task = "chat";
  chat.context_length = 4096;
  ModelCard embedding;
  embedding.id = "bge-small";
  embedding.owned_by = "local";
  embedding.task = "embedding";
  embedding.context_length = 512;
  const json out = json::parse(models_to_json({chat, embedding}));
  EXPECT_EQ(
      out,
      json::parse(R"({"object":"list","data":[)"
                  R"({"id":"qwen3-0.6b","object":"model","created":1700000003,"owned_by":"hearth",)"
                  R"("meta":{"task":"chat","context_length":4096}},)"
                  R"({"id":"bge-small","object":"model","created":0,"owned_by":"local",)"
                  R"("meta":{"task":"embedding","context_length":512}}]})"));

  EXPECT_EQ(json::parse(models_to_json({})), json::parse(R"({"object":"list","data":[]})"));
}

}  // namespace
}  // namespace hearth::api
