#include "common/utf8.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hearth {

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
std::size_t first_invalid_utf8_portable(std::string_view text) {
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
  return first_invalid_utf8_portable(text);
}

}  // namespace hearth
