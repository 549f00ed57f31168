// How far an answer is from what was expected: pure functions, no I/O, so that every figure of
// `hearth eval` can be checked by hand (docs/EVAL.md).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::eval {

// One sample's agreement with its expectation: a score in [0, 1] and whether it is an exact match.
struct Agreement {
  double score = 0;
  bool exact = false;

  bool operator==(const Agreement&) const = default;
};

// The text without leading and trailing ASCII whitespace.
std::string_view trim(std::string_view text);

// The Unicode code points of UTF-8 text; each byte that is not part of a well-formed sequence
// becomes U+FFFD on its own, so that any byte string can be compared.
std::vector<char32_t> code_points(std::string_view text);

// The fewest single code-point insertions, deletions and substitutions turning one into the other.
std::size_t levenshtein(const std::vector<char32_t>& from, const std::vector<char32_t>& to);

// 1 - levenshtein / the longer length, on code points: 1 for equal texts (two empty ones
// included), 0 when nothing can be kept.
double edit_similarity(std::string_view left, std::string_view right);

// Text against text: exact (score 1) when equal after trimming both, else the edit similarity
// of the trimmed texts.
Agreement text_agreement(std::string_view expected, std::string_view answer);

// The answer parsed as a JSON object (surrounding whitespace and one Markdown code fence, such as
// ```json ... ```, are allowed); a discarded value when it is not one.
nlohmann::json parse_json_answer(std::string_view answer);

// Per-field match: the share of the expected object's top-level fields whose value in the answer
// (parse_json_answer) is equal as JSON (numbers by value: 1 equals 1.0; objects and arrays whole).
// An answer that is not a JSON object scores 0. Exact when every field matches. `expected` is a
// non-empty object (samples are checked when read).
Agreement json_agreement(const nlohmann::json& expected, std::string_view answer);

}  // namespace hearth::eval
