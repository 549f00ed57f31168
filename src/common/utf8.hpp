// UTF-8 validation, for untrusted text at the edges: request texts the privacy scanner reads,
// text a model produces.
#pragma once

#include <cstddef>
#include <string_view>

namespace hearth {

// Offset of the first byte that is not part of well-formed UTF-8 (overlongs, surrogates and
// code points above U+10FFFF included), or npos. AVX2 where the processor has it.
std::size_t first_invalid_utf8(std::string_view text);

// The same answers without SIMD: a shift-based DFA over four interleaved chains. What
// first_invalid_utf8 uses where the processor lacks AVX2.
std::size_t first_invalid_utf8_portable(std::string_view text);

inline bool is_valid_utf8(std::string_view text) {
  return first_invalid_utf8(text) == std::string_view::npos;
}

}  // namespace hearth
