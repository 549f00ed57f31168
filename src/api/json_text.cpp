#include "api/json_text.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "common/utf8.hpp"

namespace hearth::api {

int json_nesting_depth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

void append_json_escaped(std::string& out, std::string_view text) {
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(text.substr(run_start, i - run_start));
    run_start = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default: {
        char escape[8];
        std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
        out += escape;
      }
    }
  }
  out.append(text.substr(run_start));
}

namespace {

// Bytes that go into a JSON string as they are: printable ASCII but the quote and backslash.
constexpr std::array<bool, 256> kPlainBytes = []() {
  std::array<bool, 256> plain{};
  for (int byte = 0x20; byte < 0x80; ++byte) {
    plain[static_cast<std::size_t>(byte)] = byte != '"' && byte != '\\';
  }
  return plain;
}();

}  // namespace

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  // Most values (ids, model names, routes) are plain ASCII: one pass finding that is cheaper
  // than validating UTF-8 and then looking for escapes. What follows the plain prefix starts
  // on a character boundary, so the checks below see whole characters.
  std::size_t plain = 0;
  while (plain < value.size() && kPlainBytes[static_cast<unsigned char>(value[plain])]) {
    ++plain;
  }
  out.append(value.substr(0, plain));
  value.remove_prefix(plain);
  while (!value.empty()) {
    const std::size_t invalid = first_invalid_utf8(value);
    append_json_escaped(out, value.substr(0, invalid));
    if (invalid == std::string_view::npos) break;
    out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    value.remove_prefix(invalid + 1);
  }
  out += '"';
}

std::string without_exception_id(std::string_view message) {
  if (message.starts_with("[json.exception.")) {
    if (const size_t end = message.find("] "); end != std::string_view::npos) {
      message.remove_prefix(end + 2);
    }
  }
  return std::string(message);
}

}  // namespace hearth::api
