// Reading the samples file: chat and completion lines, ids, expectations, and an error naming
// the line for each kind of bad line.
#include "eval/samples.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hearth::eval {
namespace {

// Joins lines with '\n' (operator+ chains on literals trip GCC 12's -Wrestrict).
std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) {
    text.append(line);
    text.push_back('\n');
  }
  return text;
}

TEST(Samples, ReadsChatAndCompletionLines) {
  const std::string text =
      R"({"id": "greet", "messages": [{"role": "user", "content": "hi"}], "expected": "hello"})"
      "\n"
      "\n"  // blank lines are skipped but counted
      R"({"prompt": "2+2=", "max_tokens": 3, "stream": true, "stream_options": {"include_usage": true}})"
      "\r\n"
      R"({"id": 7, "messages": [{"role": "user", "content": "json"}], "expected_json": {"a": 1}, "model": "x"})"
      "\n";
  auto set = parse_samples(text);
  ASSERT_TRUE(set) << set.error().to_string();
  ASSERT_EQ(set->samples.size(), 3u);

  const auto& chat = set->samples[0];
  EXPECT_EQ(chat.key, "greet");
  EXPECT_EQ(chat.line, 1u);
  EXPECT_EQ(chat.task, SampleTask::chat);
  EXPECT_EQ(chat.expected, "hello");
  EXPECT_FALSE(chat.expected_json);
  EXPECT_EQ(chat.body,
            nlohmann::json::parse(R"({"messages": [{"role": "user", "content": "hi"}]})"));

  const auto& completion = set->samples[1];
  EXPECT_EQ(completion.key, "line:3");
  EXPECT_EQ(completion.line, 3u);
  EXPECT_EQ(completion.task, SampleTask::completion);
  EXPECT_FALSE(completion.has_expectation());
  EXPECT_EQ(completion.body, nlohmann::json::parse(R"({"prompt": "2+2=", "max_tokens": 3})"));
  EXPECT_EQ(route_of(completion.task), "/v1/completions");

  const auto& json = set->samples[2];
  EXPECT_EQ(json.key, "7");
  EXPECT_EQ(json.expected_json, nlohmann::json::parse(R"({"a": 1})"));
  EXPECT_TRUE(json.body.contains("model"));  // replaced when sent
  EXPECT_EQ(route_of(json.task), "/v1/chat/completions");
}

TEST(Samples, HashIsTheContentsSha256) {
  const std::string text = R"({"prompt": "x", "expected": "y"})";
  auto first = parse_samples(text);
  auto again = parse_samples(text);
  auto other = parse_samples(join_lines({text}));
  ASSERT_TRUE(first && again && other);
  EXPECT_EQ(first->hash.size(), 64u);
  EXPECT_EQ(first->hash, again->hash);
  EXPECT_NE(first->hash, other->hash);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

struct BadLine {
  std::string text;
  std::size_t line;
  std::string message_part;
};

TEST(Samples, BadLinesAreNamedByNumber) {
  const std::string good = R"({"prompt": "ok", "expected": "y"})";
  const std::vector<BadLine> cases = {
      {join_lines({good, good, "{not json"}), 3, "not valid JSON"},
      {"[1, 2]\n", 1, "not a JSON object"},
      {join_lines({good, R"({"messages": [], "expected": "y"})"}), 2, "\"messages\" must be"},
      {R"({"messages": "hi"})", 1, "\"messages\" must be"},
      {R"({"prompt": 3})", 1, "\"prompt\" must be"},
      {R"({"prompt": ["a", 1]})", 1, "\"prompt\" must be"},
      {R"({"prompt": "a", "messages": [{"role": "user", "content": "b"}]})", 1, "both"},
      {R"({"input": "a"})", 1, "neither"},
      {R"({"prompt": "a", "expected": 3})", 1, "\"expected\" must be a string"},
      {R"({"prompt": "a", "expected_json": {}})", 1, "non-empty object"},
      {R"({"prompt": "a", "expected_json": [1]})", 1, "non-empty object"},
      {R"({"prompt": "a", "expected": "x", "expected_json": {"a": 1}})", 1, "both"},
      {R"({"prompt": "a", "id": 1.5})", 1, "\"id\""},
      {R"({"prompt": "a", "id": ""})", 1, "\"id\""},
      {join_lines({"", R"({"prompt": "a", "id": "x"})", R"({"prompt": "b", "id": "x"})"}), 3,
       "used by an earlier line"},
      // An explicit id may not collide with the key of a line without one.
      {join_lines({R"({"prompt": "a"})", R"({"prompt": "b", "id": "line:1"})"}), 2,
       "used by an earlier line"},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.text);
    auto set = parse_samples(bad.text);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().line, bad.line);
    EXPECT_NE(set.error().message.find(bad.message_part), std::string::npos) << set.error().message;
    EXPECT_EQ(set.error().to_string().rfind("line " + std::to_string(bad.line) + ": ", 0), 0u);
  }
}

TEST(Samples, AnEmptyFileIsAnError) {
  for (const std::string text : {"", "\n  \n\t\n"}) {
    auto set = parse_samples(text);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().line, 0u);
    EXPECT_EQ(set.error().to_string(), "the samples file has no samples");
  }
}

}  // namespace
}  // namespace hearth::eval
