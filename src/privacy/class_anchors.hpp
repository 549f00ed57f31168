// The scanner's anchors made of character classes only, found by C++ instead of Vectorscan.
// A class-only expression gives Vectorscan no literal to look for, so its automaton runs over
// every byte; measured on the mixed corpus, these two cost more than all other built-in
// patterns together (logs and JSON are full of digits and colons). C++ finds the same report
// positions from the text's digit runs and colons, located 64 bytes at a time with SIMD.
//
// Each expression stays here as the specification: tests/privacy/class_anchors_test.cpp
// compiles it with Vectorscan and checks that both report the same positions.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace hearth::privacy {

// Vectorscan syntax, no flags (bytes, \d = [0-9], \b between [A-Za-z0-9_] and anything else).
// Numbers of nine digits or more, dotted quads, "+44 ...", UK postcodes, "IL 62704",
// "12, 75001 Paris".
inline constexpr std::string_view kShapeExpression =
    R"(\d(?:[ \-./]?\d){8}(?:\b|[A-Z])|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b)"
    R"(|\+[1-9]\d?(?:[ \-.(]| \()?\d)"
    R"(|[A-Z]\d[A-Z0-9]? \d[A-Z][A-Z]\b|[A-Z][A-Z],? \d{5}\b|[a-z0-9.], \d{5} (?:[A-Z]|\xC3))";

// IPv6 addresses: a "::" next to a hex digit, or three hex groups between colons.
inline constexpr std::string_view kIpv6Expression =
    R"([0-9A-Fa-f]::|::[0-9A-Fa-f]|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:)";

// Append to `ends`, in increasing order and each once, every offset just past the end of a
// match of the expression in `text`: what Vectorscan reports for it in block mode.
void find_shape_ends(std::string_view text, std::vector<std::size_t>& ends);
void find_ipv6_ends(std::string_view text, std::vector<std::size_t>& ends);

}  // namespace hearth::privacy
