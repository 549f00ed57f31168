// The scannable texts of request bodies of every endpoint, and the body rebuilt with some of
// them replaced.
#include "privacy/request_texts.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/json_text.hpp"

namespace hearth::privacy {
namespace {

using Texts = std::vector<std::string>;

RequestTexts parsed(std::string_view body) {
  auto texts = RequestTexts::parse(body);
  EXPECT_TRUE(texts.has_value()) << (texts ? "" : texts.error().message);
  if (!texts) std::abort();
  return std::move(texts.value());
}

Texts texts_of(std::string_view body) { return parsed(body).texts(); }

TEST(IsStructuralKey, NamesTheKeysThatCarryNoUserText) {
  for (const char* key : {"model", "role", "type", "id", "tool_call_id", "object",
                          "encoding_format", "detail", "format", "finish_reason", "tool_choice"}) {
    EXPECT_TRUE(is_structural_key("", key)) << key;
    EXPECT_TRUE(is_structural_key("messages", key)) << key;
  }
  EXPECT_TRUE(is_structural_key("image_url", "url"));
  EXPECT_TRUE(is_structural_key("input_audio", "data"));
  EXPECT_TRUE(is_structural_key("file", "file_data"));
  EXPECT_FALSE(is_structural_key("", "url"));
  EXPECT_FALSE(is_structural_key("metadata", "data"));
  for (const char* key : {"content", "text", "description", "arguments", "prompt", "input", "query",
                          "documents", "stop", "user", "name", "enum"}) {
    EXPECT_FALSE(is_structural_key("", key)) << key;
    EXPECT_FALSE(is_structural_key("messages", key)) << key;
  }
}

TEST(RequestTexts, ChatWithStringContentAndSystem) {
  EXPECT_EQ(texts_of(R"({"model":"m","messages":[
      {"role":"system","content":"You help Dr. Smith."},
      {"role":"user","content":"Mail bob@example.com"}],
      "stop":["STOP bob","x"],"user":"u-42"})"),
            (Texts{"You help Dr. Smith.", "Mail bob@example.com", "STOP bob", "x", "u-42"}));
}

TEST(RequestTexts, ContentPartsSkipImageAndAudioPayloads) {
  EXPECT_EQ(texts_of(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"What is on this card?"},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,QUtJQTEyMzQ=","detail":"high"}},
      {"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
      {"type":"file","file":{"file_data":"JVBERi0=","filename":"claim-4411.pdf"}},
      {"type":"image_url","image_url":"data:image/jpeg;base64,/9j/4AAQ"},
      {"type":"text","text":"It belongs to Ann."}]}]})"),
            (Texts{"What is on this card?", "claim-4411.pdf", "It belongs to Ann."}));
}

TEST(RequestTexts, ToolsAndToolCalls) {
  const std::string body = R"({"model":"m","messages":[
      {"role":"user","content":"Book for ann@x.io"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"book","arguments":"{\"email\":\"ann@x.io\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"booked"}],
    "tools":[{"type":"function","function":{"name":"book","description":"Books a room",
      "parameters":{"type":"object","properties":{
        "email":{"type":"string","description":"Guest e-mail","format":"email"},
        "room":{"type":"string","enum":["Blue","Red"]}},"required":["email"]}}}],
    "tool_choice":"auto"})";
  EXPECT_EQ(texts_of(body),
            (Texts{"Book for ann@x.io", "book", R"({"email":"ann@x.io"})", "booked", "book",
                   "Books a room", "Guest e-mail", "Blue", "Red", "email"}));
}

TEST(RequestTexts, CompletionPrompts) {
  EXPECT_EQ(texts_of(R"({"model":"m","prompt":"Dear Mr. Jones","suffix":"Regards"})"),
            (Texts{"Dear Mr. Jones", "Regards"}));
  EXPECT_EQ(texts_of(R"({"model":"m","prompt":["one","two"],"max_tokens":5})"),
            (Texts{"one", "two"}));
}

TEST(RequestTexts, EmbeddingInputsButNotTokenArrays) {
  EXPECT_EQ(texts_of(R"({"model":"e","input":"patient 123","encoding_format":"float"})"),
            (Texts{"patient 123"}));
  EXPECT_EQ(texts_of(R"({"model":"e","input":["a","b"],"dimensions":64})"), (Texts{"a", "b"}));
  EXPECT_EQ(texts_of(R"({"model":"e","input":[[1,2,3],[4]]})"), Texts{});
}

TEST(RequestTexts, RerankQueryAndDocuments) {
  EXPECT_EQ(texts_of(R"({"model":"r","query":"who is ann?","documents":["Ann lives here",
      {"text":"Ann's IBAN","id":"d2"}],"top_n":1})"),
            (Texts{"who is ann?", "Ann lives here", "Ann's IBAN"}));
}

TEST(RequestTexts, MetadataAndNestedUserFieldsButNeverKeys) {
  EXPECT_EQ(texts_of(R"({"model":"m","metadata":{"customer":"ACME Ltd","ann@x.io":"key is mail"},
      "extra":{"user":{"name":"Ann","tags":["vip",{"note":"calls at 9"}]}}})"),
            (Texts{"ACME Ltd", "key is mail", "Ann", "vip", "calls at 9"}));
}

TEST(RequestTexts, UnicodeEscapesAreDecoded) {
  EXPECT_EQ(
      texts_of(R"({"messages":[{"role":"user","content":"Jos\u00e9 \ud83d\ude00 \"q\" \\ \n"}]})"),
      (Texts{"José 😀 \"q\" \\ \n"}));
}

TEST(RequestTexts, ReplaceChangesOnlyThoseStrings) {
  RequestTexts texts = parsed(
      R"({"model":"m","messages":[{"role":"user","content":"Mail bob@example.com"},)"
      R"({"role":"assistant","content":"ok"}],"temperature":0.7,"top_p":1.0,"max_tokens":100,)"
      R"("seed":9223372036854775807,"big":18446744073709551615,"neg":-12,"tiny":1.5e-07,)"
      R"("stream":false,"logprobs":true,"stop":null,"logit_bias":{"42":-100}})");
  ASSERT_EQ(texts.texts(), (Texts{"Mail bob@example.com", "ok"}));
  texts.replace(0, "Mail [EMAIL_1] \"quoted\" é");
  EXPECT_EQ(texts.texts()[0], "Mail [EMAIL_1] \"quoted\" é");
  EXPECT_EQ(
      texts.serialize(),
      R"({"model":"m","messages":[{"role":"user","content":"Mail [EMAIL_1] \"quoted\" é"},)"
      R"({"role":"assistant","content":"ok"}],"temperature":0.7,"top_p":1.0,"max_tokens":100,)"
      R"("seed":9223372036854775807,"big":18446744073709551615,"neg":-12,"tiny":1.5e-07,)"
      R"("stream":false,"logprobs":true,"stop":null,"logit_bias":{"42":-100}})");
}

TEST(RequestTexts, SerializeIsCompactAndKeepsMemberOrder) {
  RequestTexts texts = parsed("{ \"z\" : \"a\",\n  \"a\" : [ 1 , 2.50 , \"b\" ] }");
  EXPECT_EQ(texts.serialize(), R"({"z":"a","a":[1,2.5,"b"]})");
  texts.replace(1, "B");
  EXPECT_EQ(texts.serialize(), R"({"z":"a","a":[1,2.5,"B"]})");
  // Parsing the output again gives the same values.
  EXPECT_EQ(nlohmann::json::parse(texts.serialize()),
            nlohmann::json::parse(R"({"z":"a","a":[1,2.5,"B"]})"));
}

TEST(RequestTexts, ReplacedToolArgumentsStayAString) {
  RequestTexts texts =
      parsed(R"({"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function",)"
             R"("function":{"name":"f","arguments":"{\"to\":\"ann@x.io\"}"}}]}]})");
  ASSERT_EQ(texts.texts(), (Texts{"f", R"({"to":"ann@x.io"})"}));
  texts.replace(1, R"({"to":"[EMAIL_1]"})");
  const auto document = nlohmann::json::parse(texts.serialize());
  EXPECT_EQ(document["messages"][0]["tool_calls"][0]["function"]["arguments"],
            R"({"to":"[EMAIL_1]"})");
}

void expect_rejected(std::string_view body, const std::string& code,
                     const std::string& message_start) {
  const auto texts = RequestTexts::parse(body);
  ASSERT_FALSE(texts.has_value()) << body;
  EXPECT_EQ(texts.error().status, 400);
  EXPECT_EQ(texts.error().type, "invalid_request_error");
  EXPECT_EQ(texts.error().code, code);
  EXPECT_EQ(texts.error().message.rfind(message_start, 0), 0U) << texts.error().message;
}

TEST(RequestTexts, RejectsWhatIsNotAJsonObject) {
  expect_rejected("[1,2]", "invalid_type", "Request body must be a JSON object, not array");
  expect_rejected("\"text\"", "invalid_type", "Request body must be a JSON object, not string");
  expect_rejected("{\"a\":", "invalid_json", "Invalid JSON body: parse error");
  expect_rejected("", "invalid_json", "Invalid JSON body: ");
  expect_rejected(R"({"a":"\ud800"})", "invalid_json", "Invalid JSON body: ");
  expect_rejected("{\"a\":\"\xff\"}", "invalid_utf8",
                  "Request body is not valid UTF-8 (first invalid byte at offset 6)");
}

TEST(RequestTexts, RejectsNestingDeeperThanTheLimit) {
  const int depth = api::kMaxJsonNestingDepth + 1;
  std::string deep = "{\"a\":";
  for (int i = 1; i < depth; ++i) deep += "[";
  for (int i = 1; i < depth; ++i) deep += "]";
  deep += "}";
  expect_rejected(deep, "invalid_json",
                  "Invalid JSON body: nesting deeper than " +
                      std::to_string(api::kMaxJsonNestingDepth) + " levels");

  std::string deepest_allowed = "{\"a\":";
  for (int i = 1; i < api::kMaxJsonNestingDepth; ++i) deepest_allowed += "[";
  deepest_allowed += "\"x\"";
  for (int i = 1; i < api::kMaxJsonNestingDepth; ++i) deepest_allowed += "]";
  deepest_allowed += "}";
  EXPECT_EQ(texts_of(deepest_allowed), Texts{"x"});
}

TEST(RequestTexts, MovesKeepTheTexts) {
  RequestTexts first = parsed(R"({"prompt":"p"})");
  RequestTexts second = std::move(first);
  second.replace(0, "q");
  RequestTexts third = parsed("{}");
  third = std::move(second);
  EXPECT_EQ(third.texts(), Texts{"q"});
  EXPECT_EQ(third.serialize(), R"({"prompt":"q"})");
}

}  // namespace
}  // namespace hearth::privacy

namespace hearth::privacy {
namespace {

TEST(RequestTexts, FastReadingMatchesTheFullReading) {
  const std::vector<std::string> bodies = {
      R"({"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"héllo"},{"type":"image_url","image_url":{"url":"data:x"}}]}],"metadata":{"note":"n","tags":["a","b"]},"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"enum":["x"]}}}]})",
      R"({"input":["one","two"],"encoding_format":"float","user":"u"})",
      R"({"query":"q","documents":["d1","d2"],"top_n":2})",
  };
  for (const std::string& body : bodies) {
    std::string full_body = body;
    full_body.insert(full_body.rfind('}'), R"(,"big":123456789012345678901234567890)");
    EXPECT_EQ(texts_of(body), texts_of(full_body)) << body;
  }
}

// nlohmann's document keeps the last value of a repeated key and the texts must line up with
// its nodes: such a body is read by nlohmann alone, and is replaced and serialized as it reads.
TEST(RequestTexts, RepeatedKeysAreReadAsTheDocumentKeepsThem) {
  RequestTexts texts = parsed(R"({"messages":[{"content":"first","content":"second"}],"x":"y"})");
  EXPECT_EQ(texts.texts(), (Texts{"second", "y"}));
  ASSERT_TRUE(texts.prepare_replacements());
  texts.replace(0, "[REDACTED]");
  EXPECT_EQ(texts.serialize(), R"({"messages":[{"content":"[REDACTED]"}],"x":"y"})");
}

TEST(RequestTexts, ReplacingAfterTheFastReadingBuildsTheDocument) {
  RequestTexts texts = parsed(R"({"a":"keep","b":["swap me"]})");
  ASSERT_TRUE(texts.prepare_replacements());
  ASSERT_TRUE(texts.prepare_replacements());  // a second call changes nothing
  texts.replace(1, "swapped");
  EXPECT_EQ(texts.texts(), (Texts{"keep", "swapped"}));
  EXPECT_EQ(texts.serialize(), R"({"a":"keep","b":["swapped"]})");
}

}  // namespace
}  // namespace hearth::privacy
