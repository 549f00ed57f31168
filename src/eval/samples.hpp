// The samples of `hearth eval`: a JSONL file, one request per line (docs/EVAL.md).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace hearth::eval {

enum class SampleTask { chat, completion };
std::string_view to_string(SampleTask task);
// The gateway route a sample goes to: "/v1/chat/completions" or "/v1/completions".
std::string_view route_of(SampleTask task);

struct Sample {
  std::string key;       // the line's "id" when it has one, else "line:N"
  std::size_t line = 0;  // 1-based
  SampleTask task = SampleTask::chat;
  nlohmann::json body;  // the request as sent, less id, expected, expected_json and stream
  std::optional<std::string> expected;          // the expected answer text
  std::optional<nlohmann::json> expected_json;  // a non-empty object: fields the answer must have

  bool has_expectation() const { return expected.has_value() || expected_json.has_value(); }
};

struct SampleSet {
  std::vector<Sample> samples;
  std::string hash;  // hex SHA-256 of the file's bytes: results are only reused for this content
};

struct SamplesError {
  std::size_t line = 0;  // 0: about the whole file
  std::string message;
  // "LINE N: MESSAGE" (or the message alone).
  std::string to_string() const;
};

// Each non-blank line is a JSON object: a chat request body ("messages", a non-empty array) or a
// completion body ("prompt", a string or an array of strings), not both; optionally "id" (a
// string or an integer, unique in the file), "expected" (a string) or "expected_json" (a
// non-empty object), not both. "model" is replaced by each target's name when sent; "stream" and
// "stream_options" are dropped (answers are compared whole). An empty file is an error.
Expected<SampleSet, SamplesError> parse_samples(std::string_view text);

// Hex SHA-256 of the bytes.
std::string sha256_hex(std::string_view bytes);

}  // namespace hearth::eval
