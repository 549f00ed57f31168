// What every reader of untrusted JSON text shares (client bodies in api/parse.cpp, provider
// answers in cloud/, model output checked in api/json_schema.cpp): a nesting limit checked before
// the parser runs, and parser messages without nlohmann's exception ids. And what writers of JSON
// text without a document (the access log, restored placeholders) share: string escaping.
#pragma once

#include <string>
#include <string_view>

namespace hearth::api {

// Deeply nested JSON would make later recursive work on it (dumping, destroying) overflow the
// stack; no honest request or answer nests anywhere near this deep.
inline constexpr int kMaxJsonNestingDepth = 128;

// Deepest nesting of arrays and objects in `text`, counted outside string literals.
int json_nesting_depth(std::string_view text);

// `text` (well-formed UTF-8) escaped for the inside of a JSON string: quote, backslash and the
// control characters; everything else as it is.
void append_json_escaped(std::string& out, std::string_view text);

// `value` as a JSON string, quotes included. Bytes that are not well-formed UTF-8 become U+FFFD,
// so that the result is always valid JSON whatever the value held.
void append_json_string(std::string& out, std::string_view value);

// nlohmann's messages open with "[json.exception.parse_error.101] ", which means nothing to a
// client; the rest ("parse error at line 1, column 2: ...") is the useful part.
std::string without_exception_id(std::string_view message);

}  // namespace hearth::api
