// ASCII case folding for protocol text (HTTP header names, auth schemes). std::tolower is a
// call into the C library per character and depends on the process locale; header names are
// ASCII by definition, so a fold of A-Z alone is both exact and inlined.
#pragma once

#include <algorithm>
#include <string_view>

namespace hearth {

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// Whether a header name or value holds CR or LF, which would end its line early and let the rest
// pass as headers of its own. A loop rather than find_first_of("\r\n"), which searches the
// two-character set once per character: this runs on every header the gateway writes.
constexpr bool has_line_break(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n'; });
}

}  // namespace hearth
