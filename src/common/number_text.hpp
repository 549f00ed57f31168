// Numbers written into text that every request produces (response headers, access-log lines,
// request ids). fmt's general formatting costs about a thousand instructions a number; these
// cost tens, and the gateway writes several per request.
#pragma once

#include <cstdint>
#include <string>

namespace hearth {

// `value` with exactly three decimals, as printf's "%.3f" writes it ("12.346", "-0.500"); NaN
// and infinities as printf spells them ("nan", "inf", "-inf").
void append_fixed3(std::string& out, double value);
std::string fixed3(double value);

// `value` in lower-case hexadecimal, zero-padded on the left to at least `width` digits.
void append_hex(std::string& out, std::uint64_t value, int width);

}  // namespace hearth
