#include "eval/scoring.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hearth::eval {

namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool in_range(unsigned char byte, unsigned char low, unsigned char high) {
  return byte >= low && byte <= high;
}

// The length of the well-formed UTF-8 sequence starting at `at` (Unicode table 3-7), 0 when the
// byte there does not start one.
std::size_t sequence_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t offset) -> unsigned char {
    return at + offset < text.size() ? static_cast<unsigned char>(text[at + offset]) : 0;
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (in_range(lead, 0xC2, 0xDF)) return in_range(byte(1), 0x80, 0xBF) ? 2 : 0;
  if (in_range(lead, 0xE0, 0xEF)) {
    const unsigned char low = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char high = lead == 0xED ? 0x9F : 0xBF;
    return in_range(byte(1), low, high) && in_range(byte(2), 0x80, 0xBF) ? 3 : 0;
  }
  if (in_range(lead, 0xF0, 0xF4)) {
    const unsigned char low = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xF4 ? 0x8F : 0xBF;
    return in_range(byte(1), low, high) && in_range(byte(2), 0x80, 0xBF) &&
                   in_range(byte(3), 0x80, 0xBF)
               ? 4
               : 0;
  }
  return 0;
}

// Strips one Markdown code fence around the whole text ("```json\n{...}\n```").
std::string_view strip_code_fence(std::string_view text) {
  constexpr std::string_view kFence = "```";
  if (text.size() < 2 * kFence.size() || text.substr(0, kFence.size()) != kFence ||
      text.substr(text.size() - kFence.size()) != kFence) {
    return text;
  }
  const std::size_t line_end = text.find('\n');
  if (line_end == std::string_view::npos || line_end + 1 > text.size() - kFence.size()) {
    return text;
  }
  return trim(text.substr(line_end + 1, text.size() - kFence.size() - line_end - 1));
}

}  // namespace

std::string_view trim(std::string_view text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_ascii_space(text[begin])) ++begin;
  while (end > begin && is_ascii_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::vector<char32_t> code_points(std::string_view text) {
  std::vector<char32_t> points;
  points.reserve(text.size());
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t length = sequence_length(text, at);
    if (length == 0) {
      points.push_back(U'\uFFFD');
      ++at;
      continue;
    }
    const auto lead = static_cast<unsigned char>(text[at]);
    char32_t point = length == 1   ? lead
                     : length == 2 ? lead & 0x1Fu
                     : length == 3 ? lead & 0x0Fu
                                   : lead & 0x07u;
    for (std::size_t i = 1; i < length; ++i) {
      point = (point << 6) | (static_cast<unsigned char>(text[at + i]) & 0x3Fu);
    }
    points.push_back(point);
    at += length;
  }
  return points;
}

std::size_t levenshtein(const std::vector<char32_t>& from, const std::vector<char32_t>& to) {
  // One row of the dynamic programme, over the shorter text.
  const auto& longer = from.size() >= to.size() ? from : to;
  const auto& shorter = from.size() >= to.size() ? to : from;
  std::vector<std::size_t> row(shorter.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= longer.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= shorter.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitution = diagonal + (longer[i - 1] == shorter[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[shorter.size()];
}

double edit_similarity(std::string_view left, std::string_view right) {
  const auto left_points = code_points(left);
  const auto right_points = code_points(right);
  const std::size_t longest = std::max(left_points.size(), right_points.size());
  if (longest == 0) return 1.0;
  const std::size_t distance = levenshtein(left_points, right_points);
  return 1.0 - static_cast<double>(distance) / static_cast<double>(longest);
}

Agreement text_agreement(std::string_view expected, std::string_view answer) {
  const auto wanted = trim(expected);
  const auto got = trim(answer);
  if (wanted == got) return {1.0, true};
  return {edit_similarity(wanted, got), false};
}

nlohmann::json parse_json_answer(std::string_view answer) {
  const auto text = strip_code_fence(trim(answer));
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return nlohmann::json(nlohmann::json::value_t::discarded);
  return parsed;
}

Agreement json_agreement(const nlohmann::json& expected, std::string_view answer) {
  if (!expected.is_object() || expected.empty()) return {0.0, false};
  const auto parsed = parse_json_answer(answer);
  if (parsed.is_discarded()) return {0.0, false};
  std::size_t matched = 0;
  for (const auto& [field, value] : expected.items()) {
    const auto found = parsed.find(field);
    if (found != parsed.end() && *found == value) ++matched;
  }
  return {static_cast<double>(matched) / static_cast<double>(expected.size()),
          matched == expected.size()};
}

}  // namespace hearth::eval
