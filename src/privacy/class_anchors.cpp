#include "privacy/class_anchors.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "privacy/byte_classes.hpp"

namespace hearth::privacy {
namespace {

enum : std::uint8_t { kWordByte = 1, kUpperByte = 2, kChainSeparator = 4 };

constexpr std::array<std::uint8_t, 256> kByteClasses = [] {
  std::array<std::uint8_t, 256> classes{};
  for (int c = 0; c < 256; ++c) {
    const auto byte = static_cast<char>(c);
    if (is_word(byte)) classes[static_cast<std::size_t>(c)] |= kWordByte;
    if (is_upper(byte)) classes[static_cast<std::size_t>(c)] |= kUpperByte;
    if (byte == ' ' || byte == '-' || byte == '.' || byte == '/') {
      classes[static_cast<std::size_t>(c)] |= kChainSeparator;
    }
  }
  return classes;
}();

// Bit i set when data[i] is within [first, first + span], for the `count` (at most 64) bytes at
// `data`. Most text has long stretches without digits or colons, and digit runs of random
// length made a byte loop mispredict at every run; SSE2 is part of x86-64 itself, so no
// dispatch is needed.
std::uint64_t range_mask(const char* data, std::size_t count, char first, char span) {
#if defined(__SSE2__)
  if (count == 64) {
    const __m128i low = _mm_set1_epi8(first);
    const __m128i width = _mm_set1_epi8(span);
    std::uint64_t mask = 0;
    for (int part = 0; part < 4; ++part) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * part));
      const __m128i offset = _mm_sub_epi8(bytes, low);  // in range: 0..span unsigned
      const auto bits = static_cast<std::uint16_t>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(offset, width), offset)));
      mask |= std::uint64_t{bits} << (16 * part);
    }
    return mask;
  }
#endif
  std::uint64_t mask = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto offset = static_cast<unsigned char>(data[i] - first);
    if (offset <= static_cast<unsigned char>(span)) mask |= std::uint64_t{1} << i;
  }
  return mask;
}

std::uint64_t digit_mask(const char* data, std::size_t count) {
  return range_mask(data, count, '0', 9);
}
std::uint64_t colon_mask(const char* data, std::size_t count) {
  return range_mask(data, count, ':', 0);
}

// Sorts what was appended after `first` and drops repeats: ends come per digit run or colon,
// and a "+44 (..." prefix or a "::" may reach past the next one's ends.
void sort_ends(std::vector<std::size_t>& ends, std::size_t first) {
  const auto from = ends.begin() + static_cast<std::ptrdiff_t>(first);
  if (!std::is_sorted(from, ends.end())) std::sort(from, ends.end());
  ends.erase(std::unique(from, ends.end()), ends.end());
}

// :[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}: ending with the colon at `colon`.
bool three_hex_groups_before(std::string_view text, std::size_t colon) {
  std::size_t p = colon;
  for (int group = 0; group < 3; ++group) {
    std::size_t length = 0;
    while (length < 5 && length < p && is_hex(text[p - 1 - length])) ++length;
    if (length == 0 || length > 4 || length == p || text[p - 1 - length] != ':') return false;
    p -= length + 1;
  }
  return true;
}

class ShapeFinder {
 public:
  ShapeFinder(std::string_view text, std::vector<std::size_t>& ends)
      : t_(text), n_(text.size()), ends_(ends) {}

  void run() {
    for (std::size_t base = 0; base < n_; base += 64) {
      const std::size_t count = std::min<std::size_t>(64, n_ - base);
      const std::uint64_t digits = digit_mask(t_.data() + base, count);
      if (digits == 0) continue;
      const std::uint64_t next_is_digit = digit_at(base + 64) ? 1 : 0;
      std::uint64_t last_digits = digits & ~((digits >> 1) | (next_is_digit << 63));
      while (last_digits != 0) {
        const int last = __builtin_ctzll(last_digits);
        last_digits &= last_digits - 1;
        const std::uint64_t earlier_non_digits = ~digits & ((std::uint64_t{2} << last) - 1);
        std::size_t begin = base;
        if (earlier_non_digits != 0) {
          begin += static_cast<std::size_t>(64 - __builtin_clzll(earlier_non_digits));
        } else {
          while (begin > 0 && is_digit(t_[begin - 1])) --begin;  // the run started earlier
        }
        digit_run(begin, base + static_cast<std::size_t>(last) + 1);
      }
    }
  }

 private:
  // Every report that ends in or just after the digit run [begin, end), runs taken in order.
  // Logs hold a digit run every few bytes and nearly none is reported, so one test made of
  // plain arithmetic (no branch to mispredict per condition) screens them first.
  void digit_run(std::size_t begin, std::size_t end) {
    const std::size_t length = end - begin;
    const char left = before(begin);
    const char right = at(end);
    const std::uint8_t left_class = kByteClasses[static_cast<unsigned char>(left)];
    const std::uint8_t right_class = kByteClasses[static_cast<unsigned char>(right)];
    const bool joined = (previous_end_ + 1 == begin) & ((left_class & kChainSeparator) != 0);
    chain_ = joined ? chain_ + length : length;
    previous_end_ = end;
    const bool boundary = (right_class & kWordByte) == 0;
    const bool upper_after = (right_class & kUpperByte) != 0;
    const bool worth_a_look = (left == '+') | ((chain_ >= 9) & (boundary | upper_after)) |
                              ((left == '.') & (length <= 3) & boundary) |
                              ((length == 5) & (left == ' ')) | ((length == 1) & upper_after);
    if (!worth_a_look) return;

    if (left == '+' && t_[begin] != '0') international_prefix(begin);
    // \d(?:[ \-./]?\d){8}(?:\b|[A-Z])
    if (chain_ >= 9) {
      if (boundary) {
        ends_.push_back(end);
      } else if (upper_after) {
        ends_.push_back(end + 1);
      }
    }
    // \d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b
    if (boundary && length <= 3 && dotted_quad_before(begin)) ends_.push_back(end);
    // [A-Z][A-Z],? \d{5}\b
    if (boundary && length == 5 && state_before(begin)) ends_.push_back(end);
    // [A-Z]\d[A-Z0-9]? \d[A-Z][A-Z]\b
    if (length == 1 && uk_postcode_around(begin)) ends_.push_back(end + 2);
    // [a-z0-9.], \d{5} (?:[A-Z]|\xC3)
    if (length == 5 && city_after(begin, end)) ends_.push_back(end + 2);
  }

  char at(std::size_t i) const { return i < n_ ? t_[i] : '\0'; }
  char before(std::size_t i) const { return i > 0 && i <= n_ ? t_[i - 1] : '\0'; }
  bool digit_at(std::size_t i) const { return i < n_ && is_digit(t_[i]); }

  // \+[1-9]\d?(?:[ \-.(]| \()?\d with the '+' just before `first`, a digit 1-9: every end.
  void international_prefix(std::size_t first) {
    for (std::size_t gap = first + 1; gap <= first + 2; ++gap) {
      if (gap == first + 2 && !digit_at(first + 1)) break;  // the optional second digit
      if (digit_at(gap)) ends_.push_back(gap + 1);
      const char c = at(gap);
      if ((c == ' ' || c == '-' || c == '.' || c == '(') && digit_at(gap + 1)) {
        ends_.push_back(gap + 2);
      }
      if (c == ' ' && at(gap + 1) == '(' && digit_at(gap + 2)) ends_.push_back(gap + 3);
    }
  }

  // The run at `begin` (1-3 digits) is the last group of a dotted quad: the two groups before
  // it are whole runs of 1-3 digits after a dot, and a digit precedes the first dot.
  bool dotted_quad_before(std::size_t begin) const {
    std::size_t start = begin;
    for (int group = 0; group < 2; ++group) {
      if (before(start) != '.') return false;
      std::size_t p = start - 1;
      std::size_t digits = 0;
      while (p > 0 && is_digit(t_[p - 1]) && digits < 4) {
        --p;
        ++digits;
      }
      if (digits == 0 || digits > 3) return false;
      start = p;
    }
    return before(start) == '.' && start >= 2 && is_digit(t_[start - 2]);
  }

  // "IL 62704", "IL, 62704": two capitals, an optional comma and a space before the run.
  bool state_before(std::size_t begin) const {
    if (before(begin) != ' ' || begin < 3) return false;
    if (is_upper(t_[begin - 2])) return is_upper(t_[begin - 3]);
    return t_[begin - 2] == ',' && begin >= 4 && is_upper(t_[begin - 3]) && is_upper(t_[begin - 4]);
  }

  // "M1 1AE", "SW1A 1AA": the single digit at `begin` is the inward code's, two capitals and a
  // word boundary follow it, the outward code (capital, digit, optional capital or digit) and a
  // space precede it.
  bool uk_postcode_around(std::size_t begin) const {
    if (!is_upper(at(begin + 1)) || !is_upper(at(begin + 2))) return false;
    if (begin + 3 < n_ && is_word(t_[begin + 3])) return false;
    if (before(begin) != ' ' || begin < 3) return false;
    const char c = t_[begin - 2];
    if (is_digit(c) && is_upper(t_[begin - 3])) return true;
    return (is_digit(c) || is_upper(c)) && begin >= 4 && is_digit(t_[begin - 3]) &&
           is_upper(t_[begin - 4]);
  }

  // "12, 75001 Paris": ", " before the five digits after a lower-case letter, digit or dot, and
  // a space and a capital (or the first byte of an accented one) after them.
  bool city_after(std::size_t begin, std::size_t end) const {
    if (at(end) != ' ') return false;
    const char next = at(end + 1);
    if (!is_upper(next) && next != '\xC3') return false;
    if (begin < 3 || t_[begin - 1] != ' ' || t_[begin - 2] != ',') return false;
    const char c = t_[begin - 3];
    return is_lower(c) || is_digit(c) || c == '.';
  }

  std::string_view t_;
  std::size_t n_;
  std::vector<std::size_t>& ends_;
  std::size_t chain_ = 0;  // digits in the chain (runs joined by single separators) so far
  std::size_t previous_end_ = ~std::size_t{0};  // of the last run; none yet
};

}  // namespace

void find_shape_ends(std::string_view text, std::vector<std::size_t>& ends) {
  const std::size_t first = ends.size();
  ShapeFinder(text, ends).run();
  sort_ends(ends, first);
}

void find_ipv6_ends(std::string_view text, std::vector<std::size_t>& ends) {
  const std::size_t first = ends.size();
  const std::size_t size = text.size();
  const auto at = [&](std::size_t i) { return i < size ? text[i] : '\0'; };
  for (std::size_t base = 0; base < size; base += 64) {
    std::uint64_t colons = colon_mask(text.data() + base, std::min<std::size_t>(64, size - base));
    while (colons != 0) {
      const std::size_t colon = base + static_cast<std::size_t>(__builtin_ctzll(colons));
      colons &= colons - 1;
      // [0-9A-Fa-f]:: and ::[0-9A-Fa-f]
      if (at(colon + 1) == ':') {
        if (colon > 0 && is_hex(text[colon - 1])) ends.push_back(colon + 2);
        if (is_hex(at(colon + 2))) ends.push_back(colon + 3);
      }
      if (three_hex_groups_before(text, colon)) ends.push_back(colon + 1);
    }
  }
  sort_ends(ends, first);
}

}  // namespace hearth::privacy
