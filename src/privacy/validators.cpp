#include "privacy/validators.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

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
