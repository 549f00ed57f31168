#include "privacy/validators.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "privacy/scanner.hpp"

namespace hearth::privacy {

namespace {

// Validation as a shift-based DFA: each state is a bit offset (a multiple of 6) into a 64-bit
// row, and the row for a byte holds, at each state's offset, the state that byte leads to. One
// table load and one shift per byte, no branches.
enum Utf8State : std::uint64_t {
  kError = 0,
  kAccept = 6,
  kOneMore = 12,    // any continuation byte, then a character ends
  kTwoMore = 18,    // two continuation bytes
  kAfterE0 = 24,    // A0..BF (no overlong three-byte forms)
  kAfterED = 30,    // 80..9F (no surrogates)
  kAfterF0 = 36,    // 90..BF (no overlong four-byte forms)
  kThreeMore = 42,  // three continuation bytes
  kAfterF4 = 48,    // 80..8F (nothing above U+10FFFF)
};

constexpr std::uint64_t utf8_next(std::uint64_t state, unsigned byte) {
  const bool continuation = byte >= 0x80 && byte <= 0xBF;
  switch (state) {
    case kAccept:
      if (byte < 0x80) return kAccept;
      if (byte >= 0xC2 && byte <= 0xDF) return kOneMore;
      if (byte == 0xE0) return kAfterE0;
      if (byte == 0xED) return kAfterED;
      if (byte >= 0xE1 && byte <= 0xEF) return kTwoMore;
      if (byte == 0xF0) return kAfterF0;
      if (byte >= 0xF1 && byte <= 0xF3) return kThreeMore;
      if (byte == 0xF4) return kAfterF4;
      return kError;
    case kOneMore:
      return continuation ? kAccept : kError;
    case kTwoMore:
      return continuation ? kOneMore : kError;
    case kAfterE0:
      return byte >= 0xA0 && byte <= 0xBF ? kOneMore : kError;
    case kAfterED:
      return byte >= 0x80 && byte <= 0x9F ? kOneMore : kError;
    case kAfterF0:
      return byte >= 0x90 && byte <= 0xBF ? kTwoMore : kError;
    case kThreeMore:
      return continuation ? kTwoMore : kError;
    case kAfterF4:
      return byte >= 0x80 && byte <= 0x8F ? kTwoMore : kError;
    default:
      return kError;
  }
}

constexpr std::array<std::uint64_t, 256> make_utf8_table() {
  std::array<std::uint64_t, 256> table{};
  constexpr std::uint64_t kStates[] = {kAccept,  kOneMore, kTwoMore,   kAfterE0,
                                       kAfterED, kAfterF0, kThreeMore, kAfterF4};
  for (unsigned byte = 0; byte < 256; ++byte) {
    std::uint64_t row = 0;
    for (std::uint64_t state : kStates) row |= utf8_next(state, byte) << state;
    table[byte] = row;
  }
  return table;
}

constexpr std::array<std::uint64_t, 256> kUtf8Table = make_utf8_table();

// The exact offset of the first invalid byte at or after `pos`, a character boundary; decodes
// one character at a time. Only run once the DFA has seen an error.
std::size_t locate_invalid_utf8(const unsigned char* bytes, std::size_t size, std::size_t pos) {
  while (pos < size) {
    const unsigned char lead = bytes[pos];
    if (lead < 0x80) {
      ++pos;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;  // the bounds of the second byte exclude overlongs and surrogates
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return pos;
    }
    if (pos + 1 >= size || bytes[pos + 1] < low || bytes[pos + 1] > high) return pos;
    for (std::size_t i = 2; i < length; ++i) {
      if (pos + i >= size || (bytes[pos + i] & 0xC0) != 0x80) return pos;
    }
    pos += length;
  }
  return std::string_view::npos;
}

}  // namespace

// The DFA above, four chains at a time.
std::size_t validators::first_invalid_utf8_portable(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  // Most text is ASCII: skip it sixteen bytes at a time.
  std::size_t pos = 0;
  while (pos + 16 <= size) {
    std::uint64_t words[2];
    std::memcpy(words, bytes + pos, 16);
    if ((words[0] | words[1]) & 0x8080808080808080ULL) break;
    pos += 16;
  }
  const auto step = [](std::uint64_t state, unsigned char byte) {
    return (kUtf8Table[byte] >> (state & 63)) & 63;
  };
  // The DFA is bound by the latency of its chain of shifts: four independent chains over four
  // quarters of the rest (each starting where a character starts) run about four times faster.
  // Errors are absorbing, so each chain is only checked at its end.
  std::array<std::size_t, 5> cut{};
  cut[0] = pos;
  cut[4] = size;
  const std::size_t rest = size - pos;
  const int chains = rest >= 256 ? 4 : 1;
  if (chains == 1) {
    cut[1] = cut[2] = cut[3] = size;
  } else {
    for (int k = 1; k < 4; ++k) {
      std::size_t c = std::max(cut[k - 1], pos + rest * k / 4);
      for (int skipped = 0; skipped < 3 && c < size && (bytes[c] & 0xC0) == 0x80; ++skipped) ++c;
      cut[k] = c;
    }
  }
  std::array<std::uint64_t, 4> state = {kAccept, kAccept, kAccept, kAccept};
  std::size_t common = size;
  for (int k = 0; k < 4; ++k) common = std::min(common, cut[k + 1] - cut[k]);
  // In blocks of sixteen: where all four chains are in plain ASCII the block is skipped,
  // otherwise the four advance in lockstep.
  const auto ascii = [](const unsigned char* block) {
    std::uint64_t words[2];
    std::memcpy(words, block, 16);
    return ((words[0] | words[1]) & 0x8080808080808080ULL) == 0;
  };
  std::size_t i = 0;
  for (; i + 16 <= common; i += 16) {
    const unsigned char* b0 = bytes + cut[0] + i;
    const unsigned char* b1 = bytes + cut[1] + i;
    const unsigned char* b2 = bytes + cut[2] + i;
    const unsigned char* b3 = bytes + cut[3] + i;
    if ((state[0] | state[1] | state[2] | state[3]) == kAccept && ascii(b0) && ascii(b1) &&
        ascii(b2) && ascii(b3)) {
      continue;
    }
    for (std::size_t j = 0; j < 16; ++j) {
      state[0] = step(state[0], b0[j]);
      state[1] = step(state[1], b1[j]);
      state[2] = step(state[2], b2[j]);
      state[3] = step(state[3], b3[j]);
    }
  }
  for (; i < common; ++i) {
    for (int k = 0; k < 4; ++k) state[k] = step(state[k], bytes[cut[k] + i]);
  }
  for (int k = 0; k < 4; ++k) {
    for (std::size_t j = cut[k] + common; j < cut[k + 1]; ++j) state[k] = step(state[k], bytes[j]);
    if (state[k] != kAccept) return locate_invalid_utf8(bytes, size, pos);
  }
  return std::string_view::npos;
}

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HEARTH_UTF8_AVX2 1

// The "lookup" validation of Keiser and Lemire (simdjson, simdutf): per 32 bytes, three
// table lookups on the high and low nibbles of each byte and the one before classify every
// byte pair, and saturating subtractions check the bytes two and three after a lead. Nothing
// is decoded; an error only says that this block holds one, and the exact offset is then
// found one character at a time from a boundary before it.
__attribute__((target("avx2"))) std::size_t first_invalid_utf8_avx2(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  constexpr std::uint8_t kTooShort = 1 << 0;
  constexpr std::uint8_t kTooLong = 1 << 1;
  constexpr std::uint8_t kOverlong3 = 1 << 2;
  constexpr std::uint8_t kTooLarge = 1 << 3;
  constexpr std::uint8_t kSurrogate = 1 << 4;
  constexpr std::uint8_t kOverlong2 = 1 << 5;
  constexpr std::uint8_t kTooLarge1000 = 1 << 6;
  constexpr std::uint8_t kOverlong4 = 1 << 6;
  constexpr std::uint8_t kTwoConts = 1 << 7;
  constexpr std::uint8_t kCarry = kTooShort | kTooLong | kTwoConts;
  constexpr std::uint8_t kLarge = kCarry | kTooLarge | kTooLarge1000;
  constexpr std::uint8_t kCont = kTooLong | kOverlong2 | kTwoConts;
  // Indexed by the high nibble of the previous byte, its low nibble, the high nibble of this one.
  static constexpr std::uint8_t kByte1High[16] = {
      kTooLong,
      kTooLong,
      kTooLong,
      kTooLong,
      kTooLong,
      kTooLong,
      kTooLong,
      kTooLong,
      kTwoConts,
      kTwoConts,
      kTwoConts,
      kTwoConts,
      kTooShort | kOverlong2,
      kTooShort,
      kTooShort | kOverlong3 | kSurrogate,
      kTooShort | kTooLarge | kTooLarge1000 | kOverlong4};
  static constexpr std::uint8_t kByte1Low[16] = {kCarry | kOverlong3 | kOverlong2 | kOverlong4,
                                                 kCarry | kOverlong2,
                                                 kCarry,
                                                 kCarry,
                                                 kCarry | kTooLarge,
                                                 kLarge,
                                                 kLarge,
                                                 kLarge,
                                                 kLarge,
                                                 kLarge,
                                                 kLarge,
                                                 kLarge,
                                                 kLarge,
                                                 kLarge | kSurrogate,
                                                 kLarge,
                                                 kLarge};
  static constexpr std::uint8_t kByte2High[16] = {kTooShort,
                                                  kTooShort,
                                                  kTooShort,
                                                  kTooShort,
                                                  kTooShort,
                                                  kTooShort,
                                                  kTooShort,
                                                  kTooShort,
                                                  kCont | kOverlong3 | kTooLarge1000 | kOverlong4,
                                                  kCont | kOverlong3 | kTooLarge,
                                                  kCont | kSurrogate | kTooLarge,
                                                  kCont | kSurrogate | kTooLarge,
                                                  kTooShort,
                                                  kTooShort,
                                                  kTooShort,
                                                  kTooShort};
  const __m256i byte_1_high =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kByte1High)));
  const __m256i byte_1_low =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kByte1Low)));
  const __m256i byte_2_high =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kByte2High)));
  const __m256i low_nibble = _mm256_set1_epi8(0x0F);
  // A block that ends inside a character: its last bytes are leads still waiting.
  const __m256i incomplete_limit =
      _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                       -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, static_cast<char>(0xF0 - 1),
                       static_cast<char>(0xE0 - 1), static_cast<char>(0xC0 - 1));

  __m256i previous = _mm256_setzero_si256();
  __m256i previous_incomplete = _mm256_setzero_si256();
  std::size_t pos = 0;
  std::array<unsigned char, 32> tail{};
  while (pos < size) {
    __m256i input;
    if (pos + 32 <= size) {
      input = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + pos));
    } else {
      tail.fill(0);  // NUL bytes are plain ASCII: they end nothing and start nothing
      std::memcpy(tail.data(), bytes + pos, size - pos);
      input = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tail.data()));
    }
    __m256i error;
    if (_mm256_movemask_epi8(input) == 0) {
      error = previous_incomplete;  // ASCII cannot complete what the last block began
      if (_mm256_testz_si256(error, error)) {
        // In an ASCII stretch: skip the rest of it 64 bytes at a time.
        previous_incomplete = _mm256_setzero_si256();
        previous = input;
        pos += 32;
        while (pos + 64 <= size) {
          const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + pos));
          const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + pos + 32));
          if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) != 0) break;
          previous = b;
          pos += 64;
        }
        continue;
      }
    } else {
      const __m256i carried = _mm256_permute2x128_si256(previous, input, 0x21);
      const __m256i prev1 = _mm256_alignr_epi8(input, carried, 15);
      const __m256i prev2 = _mm256_alignr_epi8(input, carried, 14);
      const __m256i prev3 = _mm256_alignr_epi8(input, carried, 13);
      const __m256i nibble_1_high = _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low_nibble);
      const __m256i nibble_1_low = _mm256_and_si256(prev1, low_nibble);
      const __m256i nibble_2_high = _mm256_and_si256(_mm256_srli_epi16(input, 4), low_nibble);
      const __m256i special =
          _mm256_and_si256(_mm256_and_si256(_mm256_shuffle_epi8(byte_1_high, nibble_1_high),
                                            _mm256_shuffle_epi8(byte_1_low, nibble_1_low)),
                           _mm256_shuffle_epi8(byte_2_high, nibble_2_high));
      const __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8(0xE0 - 0x80));
      const __m256i fourth =
          _mm256_subs_epu8(prev3, _mm256_set1_epi8(static_cast<char>(0xF0 - 0x80)));
      const __m256i must_be_continuation = _mm256_and_si256(
          _mm256_or_si256(third, fourth), _mm256_set1_epi8(static_cast<char>(0x80)));
      error = _mm256_xor_si256(must_be_continuation, special);
      previous_incomplete = _mm256_subs_epu8(input, incomplete_limit);
    }
    if (!_mm256_testz_si256(error, error)) {
      // The bad sequence may have begun up to three bytes before this block (its lead checked
      // against bytes here): back over those, then to a character boundary.
      std::size_t start = pos >= 3 ? pos - 3 : 0;
      while (start > 0 && pos - start < 7 && (bytes[start] & 0xC0) == 0x80) --start;
      return locate_invalid_utf8(bytes, size, start);
    }
    previous = input;
    pos += 32;
  }
  if (!_mm256_testz_si256(previous_incomplete, previous_incomplete)) {
    std::size_t start = size >= 32 ? size - 32 : 0;
    while (start > 0 && (bytes[start] & 0xC0) == 0x80) --start;
    return locate_invalid_utf8(bytes, size, start);
  }
  return std::string_view::npos;
}
#endif

}  // namespace

std::size_t first_invalid_utf8(std::string_view text) {
#ifdef HEARTH_UTF8_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return first_invalid_utf8_avx2(text);
#endif
  return validators::first_invalid_utf8_portable(text);
}

}  // namespace hearth::privacy

namespace hearth::privacy::validators {
namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int digit(char c) { return c - '0'; }

int prefix_number(std::string_view digits, std::size_t length) {
  int value = 0;
  for (std::size_t i = 0; i < length && i < digits.size(); ++i)
    value = value * 10 + digit(digits[i]);
  return value;
}

struct IbanCountry {
  char code[3];
  int length;
};

// The IBAN registry (SWIFT, release 2024): country code and total length.
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27},
    {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
    {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24}, {"PL", 28},
    {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31},
    {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28},
    {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

bool in_range(char32_t c, char32_t low, char32_t high) { return c >= low && c <= high; }

}  // namespace

bool luhn(std::string_view digits) {
  if (!all_digits(digits)) return false;
  int sum = 0;
  bool twice = false;
  for (std::size_t i = digits.size(); i-- > 0;) {
    int d = digit(digits[i]);
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

bool mod97(std::string_view alnum) {
  if (alnum.size() < 5) return false;
  int remainder = 0;
  auto feed = [&remainder](char c) {
    if (c >= '0' && c <= '9') {
      remainder = (remainder * 10 + (c - '0')) % 97;
      return true;
    }
    if (c >= 'A' && c <= 'Z') {
      remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
      return true;
    }
    return false;
  };
  for (std::size_t i = 4; i < alnum.size(); ++i) {
    if (!feed(alnum[i])) return false;
  }
  for (std::size_t i = 0; i < 4; ++i) {
    if (!feed(alnum[i])) return false;
  }
  return remainder == 1;
}

bool mod11(std::string_view digits) {
  if (digits.size() < 2 || !all_digits(digits)) return false;
  const std::size_t n = digits.size();
  int sum = 0;
  for (std::size_t i = 0; i + 1 < n; ++i) sum += digit(digits[i]) * static_cast<int>(n - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return false;
  return check == digit(digits[n - 1]);
}

bool aba(std::string_view digits) {
  if (digits.size() < 3 || !all_digits(digits)) return false;
  static constexpr int kWeights[3] = {3, 7, 1};
  int sum = 0;
  for (std::size_t i = 0; i < digits.size(); ++i) sum += digit(digits[i]) * kWeights[i % 3];
  return sum % 10 == 0;
}

bool verhoeff(std::string_view digits) {
  if (digits.size() < 2 || !all_digits(digits)) return false;
  static constexpr std::uint8_t kMultiply[10][10] = {
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
      {2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
      {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
      {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
      {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}};
  static constexpr std::uint8_t kPermute[8][10] = {
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
      {5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
      {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
      {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8}};
  int check = 0;
  std::size_t position = 0;
  for (std::size_t i = digits.size(); i-- > 0; ++position) {
    check = kMultiply[check][kPermute[position % 8][digit(digits[i])]];
  }
  return check == 0;
}

bool card_number(std::string_view digits) {
  const std::size_t n = digits.size();
  if (n < 12 || n > 19 || !all_digits(digits)) return false;
  const int p1 = prefix_number(digits, 1);
  const int p2 = prefix_number(digits, 2);
  const int p3 = prefix_number(digits, 3);
  const int p4 = prefix_number(digits, 4);
  bool issuer = false;
  if (p1 == 4) {
    issuer = n == 13 || n == 16 || n == 19;  // Visa
  } else if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) {
    issuer = n == 16;  // Mastercard
  } else if (p2 == 34 || p2 == 37) {
    issuer = n == 15;  // American Express
  } else if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) {
    issuer = n >= 16;  // Discover
  } else if (p4 >= 3528 && p4 <= 3589) {
    issuer = n >= 16;  // JCB
  } else if (p2 == 36) {
    issuer = n >= 14;  // Diners Club International
  } else if ((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 38 || p2 == 39) {
    issuer = n >= 14;  // Diners Club
  } else if (p2 == 62) {
    issuer = n >= 16;  // UnionPay
  } else if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p4 == 6304 || p4 == 6759 ||
             (p4 >= 6761 && p4 <= 6763)) {
    issuer = n >= 12;  // Maestro
  } else if (p4 >= 2200 && p4 <= 2204) {
    issuer = n >= 16;  // Mir
  }
  return issuer && luhn(digits);
}

int iban_length(std::string_view country) {
  if (country.size() != 2) return 0;
  for (const auto& entry : kIbanCountries) {
    if (entry.code[0] == country[0] && entry.code[1] == country[1]) return entry.length;
  }
  return 0;
}

bool iban(std::string_view compact) {
  if (compact.size() < 15) return false;
  const int length = iban_length(compact.substr(0, 2));
  if (length == 0 || static_cast<std::size_t>(length) != compact.size()) return false;
  if (compact[2] < '0' || compact[2] > '9' || compact[3] < '0' || compact[3] > '9') return false;
  return mod97(compact);
}

bool ssn(std::string_view digits) {
  if (digits.size() != 9 || !all_digits(digits)) return false;
  const int area = prefix_number(digits, 3);
  const int group = prefix_number(digits.substr(3), 2);
  const int serial = prefix_number(digits.substr(5), 4);
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
  if (digits == "078051120" || digits == "219099999") return false;
  return true;
}

bool aba_routing(std::string_view digits) {
  if (digits.size() != 9 || !all_digits(digits)) return false;
  const int prefix = prefix_number(digits, 2);
  const bool federal_reserve = prefix <= 12 || (prefix >= 21 && prefix <= 32) ||
                               (prefix >= 61 && prefix <= 72) || prefix == 80;
  return federal_reserve && aba(digits);
}

bool nhs_number(std::string_view digits) { return digits.size() == 10 && mod11(digits); }

bool valid_date(int year, int month, int day) {
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int days = kDays[month - 1];
  if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) days = 29;
  return day <= days;
}

bool jwt_header(std::string_view base64url) {
  // A header is small; anything longer than this is not one we need to believe.
  if (base64url.size() < 8 || base64url.size() > 2048) return false;
  std::array<char, 1536> decoded{};
  std::size_t size = 0;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : base64url) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '-' || c == '+') {
      value = 62;
    } else if (c == '_' || c == '/') {
      value = 63;
    } else if (c == '=') {
      break;
    } else {
      return false;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      if (size >= decoded.size()) return false;
      decoded[size++] = static_cast<char>((bits >> count) & 0xFF);
    }
  }
  const std::string_view json(decoded.data(), size);
  const std::size_t open = json.find_first_not_of(" \t\r\n");
  if (open == std::string_view::npos || json[open] != '{') return false;
  return json.find("\"alg\"") != std::string_view::npos;
}

double shannon_entropy(std::string_view text) {
  if (text.empty()) return 0;
  // H = log2(n) - (1/n) * sum(c * log2(c)) over the byte counts c; c * log2(c) from a table
  // for the counts short tokens have.
  static const std::array<double, 257> kCountTimesLog = [] {
    std::array<double, 257> table{};
    for (std::size_t c = 1; c < table.size(); ++c) {
      table[c] = static_cast<double>(c) * std::log2(static_cast<double>(c));
    }
    return table;
  }();
  std::array<std::uint32_t, 256> counts{};
  for (char c : text) ++counts[static_cast<unsigned char>(c)];
  double sum = 0;
  for (std::uint32_t count : counts) {
    sum += count < kCountTimesLog.size() ? kCountTimesLog[count]
                                         : count * std::log2(static_cast<double>(count));
  }
  const double total = static_cast<double>(text.size());
  return std::log2(total) - sum / total;
}

bool known_name(std::string_view name) {
  return name == "luhn" || name == "mod97" || name == "mod11" || name == "aba" ||
         name == "verhoeff";
}

bool run_named(std::string_view name, std::string_view matched) {
  std::string significant;
  significant.reserve(matched.size());
  const bool letters = name == "mod97";
  for (char c : matched) {
    if (c >= '0' && c <= '9') {
      significant.push_back(c);
    } else if (letters && c >= 'a' && c <= 'z') {
      significant.push_back(static_cast<char>(c - 'a' + 'A'));
    } else if (letters && c >= 'A' && c <= 'Z') {
      significant.push_back(c);
    }
  }
  if (name == "luhn") return significant.size() >= 2 && luhn(significant);
  if (name == "mod97") return mod97(significant);
  if (name == "mod11") return mod11(significant);
  if (name == "aba") return aba(significant);
  if (name == "verhoeff") return verhoeff(significant);
  return false;
}

bool is_word_code_point(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  }
  if (c < 0x0300) {
    return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
  }
  if (c < 0x0370) return true;                                       // combining diacritical marks
  if (c < 0x0400) return c != 0x037E && c != 0x0387 && c != 0x0375;  // Greek
  if (c < 0x0530) return c != 0x0482;                                // Cyrillic
  if (c < 0x0590) return !in_range(c, 0x055A, 0x055F) && c != 0x0589 && c != 0x058A;  // Armenian
  if (c < 0x0600) {                                                                   // Hebrew
    return (in_range(c, 0x0591, 0x05C7) && c != 0x05BE && c != 0x05C0 && c != 0x05C3 &&
            c != 0x05C6) ||
           in_range(c, 0x05D0, 0x05F2);
  }
  if (c < 0x0700) {  // Arabic: letters, marks and digits, not its comma, semicolon or stops
    return in_range(c, 0x0610, 0x061A) || in_range(c, 0x0620, 0x0669) ||
           in_range(c, 0x066E, 0x06D3) || in_range(c, 0x06D5, 0x06FF);
  }
  if (c < 0x0E00) {  // Syriac, Arabic supplement, Thaana, N'Ko, ..., the Indic scripts
    return c != 0x0964 && c != 0x0965 && c != 0x0970 && c != 0x0DF4;
  }
  if (c < 0x10A0) return false;  // Thai, Lao, Tibetan, Myanmar: no spaces between words
  if (c < 0x1100) return true;   // Georgian
  if (c < 0x1200) return false;  // Hangul Jamo
  if (c < 0x1680) return c != 0x1361 && c != 0x1362 && c != 0x166E;  // Ethiopic, Cherokee, UCAS
  if (c < 0x1780) return false;                                      // Ogham, Runic, ...
  if (c < 0x1800) return false;                                      // Khmer
  if (c < 0x18B0) return in_range(c, 0x1820, 0x18AA);                // Mongolian letters
  if (c < 0x1AB0) return false;
  if (c < 0x1B00) return true;  // combining marks extended
  if (c < 0x1DC0) return false;
  if (c < 0x2000) return true;  // marks supplement, Latin extended additional, Greek extended
  if (c == 0x200C || c == 0x200D) return true;  // joiners inside words
  if (c < 0x20D0) return false;                 // punctuation, symbols
  if (c < 0x2100) return true;                  // combining marks for symbols
  if (c < 0x2C00) return false;
  if (c < 0x2E00) return true;   // Glagolitic, Latin extended-C, Coptic, Tifinagh, Cyrillic ext
  if (c < 0xA640) return false;  // CJK, kana, Hangul compatibility, Yi: no word separation
  if (c < 0xA6A0) return true;   // Cyrillic extended-B
  if (c < 0xA720) return false;
  if (c < 0xA800) return true;  // Latin extended-D
  if (c < 0xAB30) return false;
  if (c < 0xAB70) return true;   // Latin extended-E
  if (c < 0xFB00) return false;  // Hangul syllables, surrogates, private use, CJK compatibility
  if (c < 0xFB50) return true;   // alphabetic presentation forms
  if (c < 0xFE00) return c != 0xFD3E && c != 0xFD3F;  // Arabic presentation forms-A
  if (c < 0xFE10) return true;                        // variation selectors
  if (c < 0xFE20) return false;
  if (c < 0xFE30) return true;  // combining half marks
  if (c < 0xFE70) return false;
  if (c < 0xFEFF) return true;  // Arabic presentation forms-B
  if (c < 0xFF00) return false;
  return in_range(c, 0xFF10, 0xFF19) || in_range(c, 0xFF21, 0xFF3A) ||
         in_range(c, 0xFF41, 0xFF5A);  // full-width letters and digits
}

char32_t code_point_at(std::string_view text, std::size_t pos, std::size_t* length) {
  const auto byte = [&](std::size_t i) -> char32_t {
    return pos + i < text.size() ? static_cast<unsigned char>(text[pos + i]) : 0;
  };
  const char32_t lead = byte(0);
  std::size_t n = 1;
  char32_t value = lead;
  if (lead >= 0xF0) {
    n = 4;
    value = ((lead & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) |
            (byte(3) & 0x3F);
  } else if (lead >= 0xE0) {
    n = 3;
    value = ((lead & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
  } else if (lead >= 0xC0) {
    n = 2;
    value = ((lead & 0x1F) << 6) | (byte(1) & 0x3F);
  }
  if (length != nullptr) *length = n;
  return value;
}

char32_t previous_code_point(std::string_view text, std::size_t pos) {
  if (pos == 0 || pos > text.size()) return 0;
  std::size_t start = pos - 1;
  while (start > 0 && pos - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
    --start;
  }
  return code_point_at(text, start, nullptr);
}

namespace {

// Upper -> lower for the letters with a one-to-one pair; 0 when `c` is no such upper-case letter.
char32_t lower_of(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((in_range(c, 0xC0, 0xDE) && c != 0xD7)) return c + 32;
  if (c == 0x178) return 0xFF;
  if ((in_range(c, 0x100, 0x137) || in_range(c, 0x14A, 0x177)) && c % 2 == 0) return c + 1;
  if ((in_range(c, 0x139, 0x148) || in_range(c, 0x179, 0x17E)) && c % 2 == 1) return c + 1;
  if (in_range(c, 0x391, 0x3AB) && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (in_range(c, 0x388, 0x38A)) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (in_range(c, 0x410, 0x42F)) return c + 32;
  if (in_range(c, 0x400, 0x40F)) return c + 80;
  if ((in_range(c, 0x460, 0x481) || in_range(c, 0x48A, 0x4BF) || in_range(c, 0x4D0, 0x52F)) &&
      c % 2 == 0) {
    return c + 1;
  }
  if (in_range(c, 0x531, 0x556)) return c + 48;
  return 0;
}

// Lower -> upper, the inverse of lower_of; 0 when `c` is no such lower-case letter.
char32_t upper_of(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (in_range(c, 0xE0, 0xFE) && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if ((in_range(c, 0x101, 0x137) || in_range(c, 0x14B, 0x177)) && c % 2 == 1) return c - 1;
  if ((in_range(c, 0x13A, 0x148) || in_range(c, 0x17A, 0x17E)) && c % 2 == 0) return c - 1;
  if (c == 0x3C2) return 0x3A3;  // final sigma
  if (in_range(c, 0x3B1, 0x3CB)) return c - 32;
  if (c == 0x3AC) return 0x386;
  if (in_range(c, 0x3AD, 0x3AF)) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (in_range(c, 0x430, 0x44F)) return c - 32;
  if (in_range(c, 0x450, 0x45F)) return c - 80;
  if ((in_range(c, 0x461, 0x481) || in_range(c, 0x48B, 0x4BF) || in_range(c, 0x4D1, 0x52F)) &&
      c % 2 == 1) {
    return c - 1;
  }
  if (in_range(c, 0x561, 0x586)) return c - 48;
  return 0;
}

}  // namespace

char32_t fold_case(char32_t c) {
  const char32_t lower = lower_of(c);
  return lower != 0 ? lower : c;
}

char32_t other_case(char32_t c) {
  if (const char32_t lower = lower_of(c); lower != 0) return lower;
  if (const char32_t upper = upper_of(c); upper != 0) return upper;
  return c;
}

}  // namespace hearth::privacy::validators
