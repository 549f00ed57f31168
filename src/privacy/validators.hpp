// Checks that turn a pattern match into a finding: checksums (Luhn, mod-97, mod-11, ABA weights,
// Verhoeff), issuer and country tables, character classification for word boundaries in any
// script, entropy, and the small parsers the scanner runs on candidates only. Internal to the
// privacy library; pure functions, no allocation on the hot paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hearth::privacy::validators {

// --- checksums (arguments are the significant characters only: separators already removed) ---

// Luhn (payment cards, IMEI): the doubled-alternate digit sum is a multiple of 10. Digits only.
bool luhn(std::string_view digits);
// ISO 7064 mod 97-10 as IBAN uses it: the first four characters moved to the end, letters as
// 10..35, the whole number mod 97 equals 1. Digits and upper-case ASCII letters only.
bool mod97(std::string_view alnum);
// NHS-style mod 11: weights n..2 over all but the last digit, check digit 11 - (sum mod 11)
// (11 counts as 0, 10 is never valid).
bool mod11(std::string_view digits);
// ABA routing-number weights 3, 7, 1 repeated: the weighted sum is a multiple of 10.
bool aba(std::string_view digits);
// Verhoeff dihedral-group check (Aadhaar and others): the check digit is the last one.
bool verhoeff(std::string_view digits);

// --- entity rules ---

// A payment card number (12-19 digits) whose issuer prefix is a known range (Visa, Mastercard,
// Amex, Discover, JCB, Diners, UnionPay, Maestro, Mir) with a length that issuer uses, and whose
// Luhn sum holds.
bool card_number(std::string_view digits);
// The IBAN length registered for a two-letter country code, or 0 when the country has none.
int iban_length(std::string_view country);
// A compact IBAN (no spaces): known country, its registered length, digits as check, mod 97.
bool iban(std::string_view compact);
// US SSN area/group/serial rules (no area 000, 666 or 900-999, no group 00, no serial 0000) and
// the numbers published as never issued (078-05-1120, 219-09-9999). Nine digits.
bool ssn(std::string_view digits);
// An ABA routing number: nine digits, a Federal Reserve prefix (00-12, 21-32, 61-72, 80) and
// the weighted checksum.
bool aba_routing(std::string_view digits);
// An NHS number: ten digits passing mod 11.
bool nhs_number(std::string_view digits);
// A calendar date that exists (Gregorian, 1..9999).
bool valid_date(int year, int month, int day);

// A JWT header (the first base64url part) that decodes to a JSON object naming "alg".
bool jwt_header(std::string_view base64url);

// Shannon entropy of the byte distribution, in bits per byte.
double shannon_entropy(std::string_view text);

// A custom validator by name ("luhn", "mod97", "mod11", "aba", "verhoeff") applied to a matched
// text: the check's significant characters are extracted first (digits, or for mod97 digits
// and letters upper-cased), anything else is ignored. Unknown names never validate.
bool run_named(std::string_view name, std::string_view matched);
bool known_name(std::string_view name);

// --- text helpers ---

// Whether a code point belongs to a word for whole-word checks: ASCII letters, digits and '_',
// letters, digits and combining marks of alphabetic scripts (Latin, Greek, Cyrillic, Armenian,
// Hebrew, Arabic, Indic, Georgian, Ethiopic, ...). Scripts written without spaces between words
// or with particles glued to nouns (CJK, kana, Hangul, Thai, Lao, Khmer, Myanmar) do not count,
// so a term stands as a word next to them; punctuation, symbols and emoji do not count either.
bool is_word_code_point(char32_t code_point);

// The code point that starts at `pos` (which must be a character boundary in valid UTF-8) and
// its length in bytes; for the one that ends just before `pos`, see previous_code_point.
char32_t code_point_at(std::string_view text, std::size_t pos, std::size_t* length);
char32_t previous_code_point(std::string_view text, std::size_t pos);

// Simple case folding (to lower case) of the letters that have a one-to-one upper/lower pair
// in Latin-1, Latin Extended-A, Greek, Cyrillic and Armenian; other code points are returned
// unchanged. Used to turn custom terms into case-insensitive patterns.
char32_t fold_case(char32_t code_point);
// The other case of a letter with a one-to-one pair in the same ranges, or the code point itself.
char32_t other_case(char32_t code_point);

}  // namespace hearth::privacy::validators
