// The scanner in two stages. Vectorscan finds cheap anchors in one pass over the text: the shapes
// of numbers and tokens, secret prefixes, and the context words (labels such as "DOB" or
// "routing number") after which a value is expected. Each anchor is then turned into a candidate
// by C++ that looks only at the bytes around it: it finds where the value starts and ends,
// checks checksums, issuer and country tables, context and entropy, and gives a confidence.
// Overlapping candidates are resolved last. Built-in patterns report only the end of a match
// and C++ finds the start (start-of-match tracking slows the whole database down); only custom
// patterns, whose shape is unknown, ask Vectorscan for it. Context words also head table
// columns: a label in a CSV or markdown header applies to the cells below it.
#include "privacy/scanner.hpp"

#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <map>
#include <new>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "privacy/byte_classes.hpp"
#include "privacy/class_anchors.hpp"
#include "privacy/validators.hpp"

namespace hearth::privacy {
namespace {

namespace v = validators;

constexpr std::size_t kNpos = std::string_view::npos;

// --- the built-in entities, in the order of builtin_entities() ---

enum Builtin : std::uint32_t {
  kCard,
  kIban,
  kSsn,
  kAba,
  kNhs,
  kEmail,
  kPhone,
  kIp,
  kDob,
  kPostcode,
  kPassport,
  kIdNumber,
  kPrivateKey,
  kAwsKey,
  kGithubToken,
  kGitlabToken,
  kSlackToken,
  kStripeKey,
  kOpenaiKey,
  kJwt,
  kPassword,
  kSecret,
  kBuiltinCount
};

struct BuiltinInfo {
  const char* name;
  const char* placeholder;
  const char* label;
  const char* second_label;
};

constexpr BuiltinInfo kBuiltins[kBuiltinCount] = {
    {"card", "CARD", "financial", nullptr},
    {"iban", "IBAN", "financial", nullptr},
    {"ssn", "SSN", "pii", nullptr},
    {"aba_routing", "ROUTING", "financial", nullptr},
    {"nhs_number", "NHS", "health", "pii"},
    {"email", "EMAIL", "pii", nullptr},
    {"phone", "PHONE", "pii", nullptr},
    {"ip_address", "IP", "pii", nullptr},
    {"date_of_birth", "DOB", "pii", nullptr},
    {"postal_code", "POSTCODE", "pii", nullptr},
    {"passport", "PASSPORT", "pii", nullptr},
    {"id_number", "ID", "pii", nullptr},
    {"private_key", "PRIVATE_KEY", "secret", nullptr},
    {"aws_access_key", "AWS_KEY", "secret", nullptr},
    {"github_token", "GITHUB_TOKEN", "secret", nullptr},
    {"gitlab_token", "GITLAB_TOKEN", "secret", nullptr},
    {"slack_token", "SLACK_TOKEN", "secret", nullptr},
    {"stripe_key", "STRIPE_KEY", "secret", nullptr},
    {"openai_key", "OPENAI_KEY", "secret", nullptr},
    {"jwt", "JWT", "secret", nullptr},
    {"password", "PASSWORD", "secret", nullptr},
    {"secret", "SECRET", "secret", nullptr},
};

// What C++ does with a pattern's report. A few values name no pattern, only a slot for skipping
// repeated reports of one token (kNumber, kIban, kPhoneIntl, kPhoneNational, kUsStateZip).
enum class Rule : std::uint8_t {
  kShapes,
  kNumber,
  kIban,
  kSsnContext,
  kIbanContext,
  kAbaContext,
  kNhsContext,
  kEmail,
  kPhoneIntl,
  kPhoneUsParen,
  kPhoneNational,
  kPhoneNationalParen,
  kPhoneContext,
  kIpv6,
  kDobContext,
  kPostcodeContext,
  kUsStateZip,
  kPassportContext,
  kIdContext,
  kPrivateKey,
  kAwsKey,
  kPrefixedToken,
  kJwt,
  kPasswordAssign,
  kUrlCredentials,
  kSecretAssign,
  kTokenAssign,
  kBearer,
  kBasicAuth,
  kSecretKeyword,
  kCustomRegex,
  kCustomTerm,
  kCount
};

struct Pattern {
  std::string expression;
  unsigned flags = 0;
  Rule rule = Rule::kCount;
  std::uint32_t entity = 0;
  // Custom regexes: the index into the custom entities; custom terms: the length in bytes of
  // the first word the pattern matches.
  std::uint32_t custom = 0;
};

struct BuiltinPattern {
  Builtin entity;
  Rule rule;
  unsigned flags;
  const char* expression;
};

constexpr unsigned kCaseless = HS_FLAG_CASELESS;

// Every built-in anchor. Measured on logs, JSON and code, each pattern without a literal costs a
// full pass of its own automaton over digit-dense text, so all numbers of nine digits or more
// (cards, IBAN digits, SSNs, NHS numbers, national and US phone numbers) share one anchor, found
// outside Vectorscan, and are told apart in C++; the others lean on literals (separators,
// prefixes, context words).
// Short literals and \b before a character class are avoided: both make the literal stage fire
// on ordinary text. Context words carry no trailing \b where a keyword may end in punctuation;
// the handlers check what follows instead.
const BuiltinPattern kBuiltinPatterns[] = {
    // Every shape made of character classes: nine digits or more (single spaces, dashes, dots
    // or slashes between them) reported where a run of them ends (at a word boundary, or at a
    // capital letter as inside an IBAN), dotted quads, "+44...", UK postcodes, "IL 62704",
    // "12, 75001 Paris". Not a Vectorscan pattern: find_shape_ends reports the ends of
    // kShapeExpression (privacy/class_anchors.hpp) from the digit runs, for a fraction of what
    // the automaton cost. The handler tells the shapes apart. Patterns without an expression
    // are found by C++ (find_class_anchor).
    {kCard, Rule::kShapes, 0, nullptr},
    {kSsn, Rule::kSsnContext, kCaseless,
     R"((?:\b|_)(?:ssn|ss#|social[ _]security(?:[ _]number| no\.?| #)?|soc\.? ?sec\.?(?: no\.?)?))"},
    {kAba, Rule::kAbaContext, kCaseless, R"((?:\b|_)(?:routing|aba|rtn))"},
    // IBANs are found from their digits; a label finds those whose bank part is mostly letters.
    {kIban, Rule::kIbanContext, kCaseless, R"((?:\b|_)iban)"},
    {kNhs, Rule::kNhsContext, kCaseless, R"((?:\b|_)nhs)"},
    {kEmail, Rule::kEmail, 0, R"([A-Za-z0-9_%+\-]@[A-Za-z0-9])"},
    {kPhone, Rule::kPhoneUsParen, 0, R"(\([2-9]\d{2}\) ?\d{3}[\-. ]\d{4}\b)"},
    {kPhone, Rule::kPhoneNationalParen, 0, R"(\(0\d{1,4}\) ?\d)"},
    {kPhone, Rule::kPhoneContext, kCaseless,
     R"((?:\b|_)(?:phone|tel|telephone|mobile|mob|cell|cellphone|fax|whatsapp|telefon)"
     R"(|handy|handynummer|portable|t(?:e|\xC3\xA9)l(?:e|\xC3\xA9)phone|tel(?:e|\xC3\xA9)fono)"
     R"(|t\xC3\xA9l|mobil)"
     R"(|m(?:o|\xC3\xB3)vil|celular|call me at|call|contact[ _]number|telefonnummer))"},
    {kPhone, Rule::kPhoneContext, 0,
     R"(\xE7\x94\xB5\xE8\xAF\x9D|\xE6\x89\x8B\xE6\x9C\xBA|\xE9\x9B\xBB\xE8\xA9\xB1)"},
    // "::" next to a hex digit, or three hex groups between colons: find_ipv6_ends reports
    // kIpv6Expression (privacy/class_anchors.hpp), not Vectorscan.
    {kIp, Rule::kIpv6, 0, nullptr},
    {kDob, Rule::kDobContext, kCaseless,
     R"((?:\b|_)(?:dob|date[ _]of[ _]birth|birth[ _]?date|birthday|born|geburtsdatum|geboren)"
     R"(|geb\.-datum|date[ _]de[ _]naissance|f\. nacimiento|nacimiento)"
     R"(|date de naissance|fecha de nacimiento|data di nascita|geboortedatum|nacid[oa] el)"
     R"(|nat[oa] il))"},
    {kDob, Rule::kDobContext, 0,
     R"((?:N|n)\xC3\xA9(?:e|\(e\))? le|\xE7\x94\x9F\xE5\xB9\xB4\xE6\x9C\x88\xE6\x97\xA5)"
     R"(|\xE5\x87\xBA\xE7\x94\x9F\xE6\x97\xA5\xE6\x9C\x9F|D\.O\.B|[Gg]eb\. )"},
    {kPostcode, Rule::kPostcodeContext, kCaseless,
     R"((?:\b|_)(?:zip|zip[ _]?code|post[ _]?code|postal[ _]?code|postleitzahl|plz|code[ _]postal)"
     R"(|c(?:o|\xC3\xB3)digo[ _]postal|eircode|cep))"},
    {kPostcode, Rule::kPostcodeContext, 0, R"(\b(?:CP|C\.P\.|PLZ)(?: |:))"},
    {kPassport, Rule::kPassportContext, kCaseless,
     R"((?:\b|_)(?:passport|passeport|pasaporte|reisepass(?:nummer)?|passnummer|pass-nr)"
     R"(|passaporto|paspoort))"},
    {kIdNumber, Rule::kIdContext, kCaseless,
     R"((?:\b|_)(?:driver(?:'|\xE2\x80\x99)?s?[ _]?licen[cs]e|driving[ _]licen[cs]e)"
     R"(|licen[cs]e[ _]number|national[ _]id|national[ _]identity|national[ _]insurance)"
     R"(|id[ _]number|id[ _]card|identity[ _]card|identity[ _]number|identity[ _]document)"
     R"(|personalausweis(?:nummer)?|ausweis(?:nummer|-nr)?|carte d'identit(?:e|\xC3\xA9))"
     R"(|s(?:e|\xC3\xA9)curit(?:e|\xC3\xA9) sociale|ni number|ni no)"
     R"(|num(?:e|\xC3\xA9)ro d'identit|documento de identidad|codice fiscale|tax id|steuer-?id)"
     R"(|aadhaar))"},
    {kIdNumber, Rule::kIdContext, 0,
     R"(\b(?:ID (?:No|no|Nr|nr|#)|ID#|DL#|DL No|NIE|DNI|NIF|NINO|SIN|TIN|PESEL|BSN|CPF|CURP|CNI)\b)"},
    {kPrivateKey, Rule::kPrivateKey, 0, R"(-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----)"},
    {kAwsKey, Rule::kAwsKey, 0,
     R"(\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b)"},
    {kGithubToken, Rule::kPrefixedToken, 0, R"(\bgh[pousr]_[A-Za-z0-9]{36,}\b)"},
    {kGithubToken, Rule::kPrefixedToken, 0, R"(\bgithub_pat_[A-Za-z0-9_]{40,}\b)"},
    {kGitlabToken, Rule::kPrefixedToken, 0, R"(\bgl(?:pat|dt|ptt|rt|soat)-[A-Za-z0-9_\-]{20})"},
    {kSlackToken, Rule::kPrefixedToken, 0, R"(\bxox[abposr]-[A-Za-z0-9\-]{10})"},
    {kSlackToken, Rule::kPrefixedToken, 0, R"(\bxapp-\d-[A-Za-z0-9\-]{10})"},
    {kSlackToken, Rule::kPrefixedToken, 0,
     R"(https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20})"},
    {kStripeKey, Rule::kPrefixedToken, 0, R"(\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b)"},
    {kOpenaiKey, Rule::kPrefixedToken, 0,
     R"(\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_\-]{20})"},
    {kJwt, Rule::kJwt, 0, R"(\beyJ[A-Za-z0-9_\-]{8,}\.)"},
    {kPassword, Rule::kPasswordAssign, kCaseless,
     R"(pass(?:word|wd|phrase|wort)?|pwd|kennwort|mot de passe|contrase(?:n|\xC3\xB1)a|senha)"
     R"(|wachtwoord)"},
    {kPassword, Rule::kUrlCredentials, 0,
     R"(://[A-Za-z0-9._~%!$&'*+,;=\-]{1,64}:[^\s/@:]{1,128}@)"},
    {kSecret, Rule::kSecretAssign, kCaseless,
     R"(api[_\-. ]?key|apikey|api[_\-]?secret|api[_\-]?token|secret[_\-]?key|client[_\-]?secret)"
     R"(|secret|access[_\-]?key(?:[_\-]?id)?|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token)"
     R"(|bearer[_\-]?token|session[_\-]?token|id[_\-]?token|private[_\-]?key|signing[_\-]?key)"
     R"(|encryption[_\-]?key|x-api-key|credentials?)"},
    {kSecret, Rule::kTokenAssign, kCaseless, R"(token)"},
    {kSecret, Rule::kBearer, kCaseless, R"(\bbearer[ \t]+[A-Za-z0-9\-._~+/])"},
    {kSecret, Rule::kBasicAuth, kCaseless, R"(\bauthorization:[ \t]*basic[ \t]+[A-Za-z0-9+/])"},
    {kSecret, Rule::kSecretKeyword, kCaseless,
     R"(secret|token|api[ _\-]?key|apikey|credentials?|passwd|password|private key|access key)"},
};

// The entities the shared shape anchor can produce.
constexpr std::array<Builtin, 7> kShapeEntities = {kCard,  kIban, kSsn,     kNhs,
                                                   kPhone, kIp,   kPostcode};

// --- byte classes beyond privacy/byte_classes.hpp ---

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
char to_lower(char c) { return is_upper(c) ? static_cast<char>(c + 32) : c; }
bool is_base64url(char c) { return is_alnum(c) || c == '-' || c == '_'; }

bool equals_lower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (to_lower(text[i]) != lower[i]) return false;
  }
  return true;
}

bool starts_with_lower(std::string_view text, std::string_view lower) {
  return text.size() >= lower.size() && equals_lower(text.substr(0, lower.size()), lower);
}

bool contains_lower(std::string_view text, std::string_view lower) {
  if (lower.size() > text.size()) return false;
  for (std::size_t i = 0; i + lower.size() <= text.size(); ++i) {
    if (to_lower(text[i]) == lower[0] && equals_lower(text.substr(i, lower.size()), lower)) {
      return true;
    }
  }
  return false;
}

template <std::size_t N>
bool one_of(std::string_view lower_word, const std::array<std::string_view, N>& words) {
  return std::find(words.begin(), words.end(), lower_word) != words.end();
}

struct Candidate {
  std::uint32_t entity;
  std::size_t begin;
  std::size_t end;
  double confidence;
};

struct Hit {
  std::uint32_t pattern;
  std::size_t from;
  std::size_t to;
};

struct CustomInfo {
  std::string validator;
};

// The entities a custom term belongs to (several lists may hold the same term).
struct Term {
  std::vector<std::uint32_t> entities;
};

// What the handlers need of the compiled scanner.
struct Tables {
  std::vector<Pattern> patterns;  // by Vectorscan id
  // The indexes in `patterns` of the anchors C++ finds (not compiled into the database).
  std::vector<std::uint32_t> class_anchors;
  std::vector<CustomInfo> custom;
  // Custom terms are found word by word: each distinct first word is one literal pattern, and
  // the words after it are looked up here by their folded key (the folded words joined by
  // single spaces). Patterns with repeats for flexible white space made compiling thousands of
  // terms take minutes; literals compile in milliseconds.
  std::unordered_map<std::string, Term> terms;    // whole terms
  std::unordered_set<std::string> term_prefixes;  // the first k words of each longer term
  std::size_t longest_term = 0;                   // in words
  // Built-ins looked for; some anchors serve several entities, so candidates are filtered too.
  std::array<bool, kBuiltinCount> enabled{};
};

// A run of digits inside a grouped number.
struct Group {
  std::size_t begin;
  std::size_t end;
};

std::atomic<std::uint64_t> next_serial{1};

}  // namespace

struct Scanner::Impl {
  std::vector<EntityInfo> entities;
  Tables tables;
  hs_database_t* database = nullptr;
  std::uint64_t serial = next_serial.fetch_add(1);

  ~Impl() { hs_free_database(database); }
};

namespace {

// The ends of a pattern without an expression (see kBuiltinPatterns).
void find_class_anchor(Rule rule, std::string_view text, std::vector<std::size_t>& ends) {
  switch (rule) {
    case Rule::kShapes:
      return find_shape_ends(text, ends);
    case Rule::kIpv6:
      return find_ipv6_ends(text, ends);
    default:
      assert(false && "a built-in pattern without an expression and without a finder");
  }
}

// One scratch per thread, grown for every database the thread has scanned with: Vectorscan
// allows one scratch to serve several databases once hs_alloc_scratch was called for each.
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  std::uint64_t ready_for = 0;  // the serial of the last scanner it was grown for
  std::vector<Hit> hits;
  std::vector<std::size_t> anchor_ends;
  std::vector<Candidate> candidates;

  ThreadScratch() = default;
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  ~ThreadScratch() {
    if (scratch != nullptr) hs_free_scratch(scratch);
  }
};

thread_local ThreadScratch thread_scratch;

int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int,
             void* context) {
  static_cast<std::vector<Hit>*>(context)->push_back(
      {id, static_cast<std::size_t>(from), static_cast<std::size_t>(to)});
  return 0;
}

// The words of a term, split at white space (ASCII or no-break space).
std::vector<std::string> words_of(std::string_view term) {
  std::vector<std::string> words;
  std::string word;
  std::size_t p = 0;
  while (p < term.size()) {
    std::size_t length = 1;
    const char32_t c = v::code_point_at(term, p, &length);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0xA0) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word.append(term.substr(p, length));
    }
    p += length;
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

// A word with every letter folded to lower case, as a lookup key (code points, not UTF-8).
std::string folded(std::string_view word) {
  std::string key;
  key.reserve(word.size() * 4);
  std::size_t p = 0;
  while (p < word.size()) {
    std::size_t length = 1;
    const char32_t c = v::fold_case(v::code_point_at(word, p, &length));
    key.append(reinterpret_cast<const char*>(&c), sizeof c);
    p += length;
  }
  return key;
}

// Joins the folded words of a term key (a whole unit, so keys never run words together).
void append_space(std::string& key) {
  const char32_t space = U' ';
  key.append(reinterpret_cast<const char*>(&space), sizeof space);
}

// Turns the reports of one scan into candidates.
class Matcher {
 public:
  Matcher(std::string_view text, const Tables& impl, std::vector<Candidate>& out)
      : t_(text), n_(text.size()), impl_(impl), out_(out) {}

  void handle(const Hit& hit) {
    const Pattern& pattern = impl_.patterns[hit.pattern];
    const std::size_t from = hit.from;
    const std::size_t to = hit.to;
    switch (pattern.rule) {
      case Rule::kShapes:
        return shapes(to);
      case Rule::kSsnContext:
        return labelled(to, kSsn, &Matcher::ssn_value, 0.95);
      case Rule::kAbaContext:
        return labelled(to, kAba, &Matcher::aba_value, 0.95, 32);
      case Rule::kIbanContext:
        return iban_context(to);
      case Rule::kNhsContext:
        return labelled(to, kNhs, &Matcher::nhs_value, 0.97);
      case Rule::kEmail:
        return email(to);
      case Rule::kPhoneUsParen:
        return phone_us_paren(to);
      case Rule::kPhoneNationalParen:
        return phone_national_paren(to);
      case Rule::kPhoneContext:
        return labelled(to, kPhone, &Matcher::phone_value, 0.85);
      case Rule::kIpv6:
        return ipv6(to);
      case Rule::kDobContext:
        return dob_context(to);
      case Rule::kPostcodeContext:
        return labelled(to, kPostcode, &Matcher::postcode_value, 0.85);
      case Rule::kPassportContext:
        return labelled(to, kPassport, &Matcher::passport_value, 0.88);
      case Rule::kIdContext:
        return labelled(to, kIdNumber, &Matcher::id_value, 0.85);
      case Rule::kPrivateKey:
        return private_key(to);
      case Rule::kAwsKey:
        return add(kAwsKey, to - 20, to, 0.95);
      case Rule::kPrefixedToken:
        return prefixed_token(pattern.entity, to);
      case Rule::kJwt:
        return jwt(to);
      case Rule::kPasswordAssign:
        return password_assign(to);
      case Rule::kUrlCredentials:
        return url_credentials(to);
      case Rule::kSecretAssign:
        return secret_assign(to, /*generic_token=*/false);
      case Rule::kTokenAssign:
        return secret_assign(to, /*generic_token=*/true);
      case Rule::kBearer:
        return bearer(to, 16);
      case Rule::kBasicAuth:
        return bearer(to, 8);
      case Rule::kSecretKeyword:
        return secret_keyword(to);
      case Rule::kCustomRegex:
        return custom_regex(pattern, from, to);
      case Rule::kCustomTerm:
        return custom_term(pattern, to);
      case Rule::kNumber:  // the rest are only slots for skipping repeated reports
      case Rule::kIban:
      case Rule::kPhoneIntl:
      case Rule::kPhoneNational:
      case Rule::kUsStateZip:
      case Rule::kCount:
        break;
    }
    assert(false && "pattern without a rule");
  }

 private:
  char at(std::size_t i) const { return i < n_ ? t_[i] : '\0'; }
  // The byte just before position `i`.
  char before(std::size_t i) const { return i > 0 && i <= n_ ? t_[i - 1] : '\0'; }

  void add(std::uint32_t entity, std::size_t begin, std::size_t end, double confidence) {
    if (begin >= end || end > n_) return;  // nothing to redact
    if (entity < kBuiltinCount && !impl_.enabled[entity]) return;
    out_.push_back({entity, begin, end, confidence});
  }

  // Reports already covered by a candidate of the same rule are skipped (one token often
  // produces several reports).
  bool seen(Rule rule, std::size_t begin) const {
    return begin < done_[static_cast<std::size_t>(rule)];
  }
  void mark(Rule rule, std::size_t end) {
    auto& done = done_[static_cast<std::size_t>(rule)];
    done = std::max(done, end);
  }

  // A number [begin, end) that is not glued to a letter and not part of a decimal or a longer
  // chain of numbers joined by `joiners`.
  bool stands_alone(std::size_t begin, std::size_t end, std::string_view joiners) const {
    const char left = before(begin);
    if (is_alnum(left)) return false;
    if ((left == '.' || joiners.find(left) != kNpos) && left != '\0' && is_digit(before(begin - 1)))
      return false;
    const char right = at(end);
    if (is_alnum(right)) return false;
    if ((right == '.' || joiners.find(right) != kNpos) && right != '\0' && is_digit(at(end + 1)))
      return false;
    return true;
  }

  // The word just before `pos` (passing over "number", "no.", "#" and punctuation, but not
  // over another number), lower-cased, checked against words that make a number something
  // other than personal data: "Order number 555-123-4567", "version 1.2.3.4".
  bool negative_context(std::size_t pos) const {
    static constexpr std::array<std::string_view, 46> kWords = {
        "order",   "invoice",     "inv",          "ref",     "reference", "tracking",    "ticket",
        "case",    "sku",         "serial",       "part",    "isbn",      "transaction", "txn",
        "booking", "reservation", "policy",       "claim",   "item",      "product",     "model",
        "version", "ver",         "build",        "release", "account",   "acct",        "po",
        "receipt", "shipment",    "parcel",       "awb",     "lot",       "batch",       "patch",
        "section", "chapter",     "figure",       "fig",     "table",     "step",        "rule",
        "article", "firmware",    "confirmation", "ord"};
    static constexpr std::array<std::string_view, 6> kFillers = {"number", "no",  "nr",
                                                                 "num",    "nbr", "id"};
    std::size_t p = pos;
    const std::size_t limit = pos > 32 ? pos - 32 : 0;
    while (p > limit) {
      const char c = t_[p - 1];
      if (is_digit(c) || c == ',' || c == ';' || c == '\n' || c == '(' || c == ')') return false;
      if (!is_alpha(c)) {
        --p;
        continue;
      }
      const std::size_t end = p;
      while (p > limit && is_alpha(t_[p - 1])) --p;
      if (is_alnum(before(p))) return false;  // glued to something else, or cut by the window
      std::array<char, 16> lower{};
      const std::size_t length = end - p;
      if (length >= lower.size()) return false;
      for (std::size_t i = 0; i < length; ++i) lower[i] = to_lower(t_[p + i]);
      const std::string_view word(lower.data(), length);
      if (one_of(word, kFillers)) continue;
      return one_of(word, kWords);
    }
    return false;
  }

  // A number joined to a preceding word by a dash, underscore, slash or '#' is the tail of a
  // code (ORD-0612345678, ticket#0612345678), not a number of its own.
  bool part_of_code(std::size_t begin) const {
    const char left = before(begin);
    return (left == '-' || left == '_' || left == '/' || left == '#') &&
           is_alpha(before(begin - 1));
  }

  // Whether one of `words` (lower case) occurs in the `window` bytes before `pos`.
  template <std::size_t N>
  bool context_before(std::size_t pos, std::size_t window,
                      const std::array<std::string_view, N>& words) const {
    const std::size_t begin = pos > window ? pos - window : 0;
    const std::string_view region = t_.substr(begin, pos - begin);
    for (std::string_view word : words) {
      if (contains_lower(region, word)) return true;
    }
    return false;
  }

  // After a label ("SSN", "Date of birth"), skips what usually sits between it and the value:
  // punctuation, spaces and filler words ("number", "no.", "is", ...). Returns where the value
  // may start.
  std::size_t skip_label(std::size_t pos, std::size_t budget) const {
    static constexpr std::array<std::string_view, 40> kFillers = {
        "number", "num", "no",    "nr",   "nbr",     "code",   "is",     "was",    "of",     "the",
        "on",     "am",  "le",    "el",   "de",      "du",     "der",    "des",    "la",     "il",
        "ist",    "est", "es",    "en",   "at",      "id",     "card",   "nummer", "numero", "my",
        "her",    "his", "their", "your", "patient", "holder", "ending", "in",     "value",  "n"};
    const std::size_t end = std::min(n_, pos + budget);
    while (pos < end) {
      const char c = t_[pos];
      if (c == ' ' || c == '\t' || c == ':' || c == '#' || c == '=' || c == '-' || c == '.' ||
          c == '_' || c == '|' || c == '"' || c == '\'' || c == '*' || c == '\r' || c == '\n' ||
          c == ',' || c == '(' || c == ')' || c == '/' || c == '>') {
        ++pos;
        continue;
      }
      if (t_.substr(pos, 3) == "\xEF\xBC\x9A") {  // full-width colon
        pos += 3;
        continue;
      }
      if (t_.substr(pos, 2) == "\xC2\xBA" || t_.substr(pos, 2) == "\xC2\xB0") {  // n.º, n°
        pos += 2;
        continue;
      }
      if (is_alpha(c)) {
        std::size_t word_end = pos;
        while (word_end < n_ && is_alpha(t_[word_end]) && word_end - pos < 16) ++word_end;
        std::array<char, 16> lower{};
        const std::size_t length = word_end - pos;
        if (length < lower.size() && !is_alnum(at(word_end))) {
          for (std::size_t i = 0; i < length; ++i) lower[i] = to_lower(t_[pos + i]);
          if (one_of(std::string_view(lower.data(), length), kFillers)) {
            pos = word_end;
            continue;
          }
        }
      }
      break;
    }
    return pos;
  }

  // A context word ends at `to`; it must not run on into a longer word.
  bool keyword_ends(std::size_t to) const { return !(is_alpha(before(to)) && is_alpha(at(to))); }

  // Exactly `count` digits at `pos`, in groups joined by single characters of `joiners`; the
  // value must stand alone. Sets `end` and the digits.
  bool digits_value(std::size_t pos, std::size_t count, std::string_view joiners, std::size_t* end,
                    char* digits) const {
    if (is_alnum(before(pos))) return false;
    std::size_t q = pos;
    std::size_t n = 0;
    while (true) {
      const std::size_t group = q;
      while (q < n_ && is_digit(t_[q])) {
        if (n == count) return false;
        digits[n++] = t_[q++];
      }
      if (q == group) return false;
      if (n == count) {
        if (!stands_alone(pos, q, joiners)) return false;
        *end = q;
        return true;
      }
      if (q < n_ && joiners.find(t_[q]) != kNpos && is_digit(at(q + 1))) {
        ++q;
        continue;
      }
      return false;
    }
  }

  // --- numbers of nine digits or more ---

  // Whether `shape` ("ddd-dd-dddd": d a digit, A a capital letter, s one of `separators`, the
  // same each time, any other character itself) matches the text at `pos`.
  bool shaped(std::size_t pos, std::string_view shape, std::string_view separators) const {
    if (pos + shape.size() > n_) return false;
    char separator = 0;
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const char c = t_[pos + i];
      if (shape[i] == 'd') {
        if (!is_digit(c)) return false;
      } else if (shape[i] == 'A') {
        if (!is_upper(c)) return false;
      } else if (shape[i] == 's') {
        if (separators.find(c) == kNpos || (separator != 0 && c != separator)) return false;
        separator = c;
      } else if (c != shape[i]) {
        return false;
      }
    }
    return true;
  }

  void shapes(std::size_t to) {
    const char last = t_[to - 1];
    if (is_digit(last)) {
      for (std::size_t back = 3; back <= 6 && back <= to; ++back) {
        if (t_[to - back] == '+') {
          phone_intl(to - back);
          break;
        }
      }
      number(to);
    } else if (is_upper(last) || last == '\xC3') {
      if (to >= 2 && is_digit(t_[to - 2])) number(to - 1);  // digits a capital letter ends
      uk_postcode(to);
      eu_address_zip(to);
    }
  }

  // One report per digit past the ninth; the whole token (digit groups joined by single
  // separators) is classified once, at its first report.
  void number(std::size_t to) {
    if (to <= done_[static_cast<std::size_t>(Rule::kNumber)]) return;  // inside the last token
    auto joiner = [](char c) { return c == ' ' || c == '-' || c == '.' || c == '/'; };
    std::size_t begin = to;
    while (begin > 0 && to - begin < 128) {
      const char c = t_[begin - 1];
      if (is_digit(c) ||
          (joiner(c) && begin >= 2 && is_digit(t_[begin - 2]) && is_digit(t_[begin]))) {
        --begin;
        continue;
      }
      break;
    }
    std::size_t end = to;
    while (end < n_ && end - begin < 192) {
      const char c = t_[end];
      if (is_digit(c) || (joiner(c) && is_digit(at(end + 1)) && is_digit(t_[end - 1]))) {
        ++end;
        continue;
      }
      break;
    }
    mark(Rule::kNumber, end);
    std::size_t total = 0;
    std::size_t dots = 0;
    std::size_t first_group = 0;
    for (std::size_t i = begin; i < end; ++i) {
      if (is_digit(t_[i])) {
        ++total;
        if (total == i - begin + 1) first_group = total;
      } else if (t_[i] == '.') {
        ++dots;
      }
    }
    if (first_group == 5) us_state_zip(begin + 5);
    if (dots >= 3) {
      std::size_t dots_before = 0;
      for (std::size_t i = begin + 1; i <= end; ++i) {
        if ((i == end || !is_digit(t_[i])) && dots_before >= 3) ipv4(i);
        if (i < end && t_[i] == '.') ++dots_before;
      }
    }
    if (total < 9) return;
    // The country code and check digits sit just before, or a word of the bank code does.
    if (is_upper(before(begin)) || before(begin) == ' ') iban_lookback(begin);
    if (t_[begin] == '0') phone_national_at(begin);
    std::size_t digits = 0;
    std::size_t p = begin;
    while (p < end) {
      if (!is_digit(t_[p])) {
        ++p;
        continue;
      }
      const std::size_t group = p;
      while (p < end && is_digit(t_[p])) ++p;
      digits += p - group;
      const std::size_t group_end = p;
      if (digits >= 13) card(group_end);
      if (group_end >= begin + 11 && shaped(group_end - 11, "dddsddsdddd", "- ")) {
        ssn_formatted(group_end);
      }
      if (group_end >= begin + 12) {
        if (shaped(group_end - 12, "ddd ddd dddd", "")) nhs_spaced(group_end);
        // Area codes start at 2; exchanges should too, but 555-123-4567 is what people write.
        if (shaped(group_end - 12, "dddsdddsdddd", "-.") && t_[group_end - 12] >= '2') {
          phone_us_dashed(group_end);
        }
      }
      // Spanish numbers: nine digits from 6 to 9, as 612 345 678 or 912 34 56 78.
      if (group_end >= begin + 11 && shaped(group_end - 11, "ddd ddd ddd", "") &&
          t_[group_end - 11] >= '6') {
        phone_spanish(group_end - 11, group_end);
      } else if (group_end >= begin + 12 && shaped(group_end - 12, "ddd dd dd dd", "") &&
                 t_[group_end - 12] >= '6') {
        phone_spanish(group_end - 12, group_end);
      }
      const std::size_t length = group_end - group;
      if ((length == 10 || length == 11) && t_[group] == '0' &&
          (t_[group + 1] == '6' || t_[group + 1] == '7')) {
        phone_national_bare(group_end);
      }
    }
  }

  // --- payment cards ---

  void card(std::size_t to) {
    std::array<Group, 7> groups{};  // from the end backwards
    std::size_t count = 0;
    std::size_t total = 0;
    char separator = 0;
    std::size_t p = to;
    while (count < groups.size()) {
      const std::size_t end = p;
      while (p > 0 && is_digit(t_[p - 1]) && end - p < 20) --p;
      if (p == end) break;
      groups[count++] = {p, end};
      total += end - p;
      if (total > 19) break;
      const char c = before(p);
      if ((c == ' ' || c == '-') && (separator == 0 || separator == c) && is_digit(before(p - 1))) {
        separator = c;
        --p;
        continue;
      }
      break;
    }
    std::size_t digit_count = 0;
    for (std::size_t k = 1; k <= count; ++k) {
      digit_count += groups[k - 1].end - groups[k - 1].begin;
      if (digit_count > 19) break;
      if (digit_count < 13) continue;
      // Part of a longer chain of numbers (a table row, an id), unless what precedes is short.
      if (k < count && groups[k].end - groups[k].begin >= 3) continue;
      if (!card_layout(groups, k)) continue;
      const std::size_t begin = groups[k - 1].begin;
      if (!stands_alone(begin, to, "")) continue;
      if (separator == '-' && at(to) == '-' && is_digit(at(to + 1))) continue;  // a longer code
      std::array<char, 20> digits{};
      std::size_t n = 0;
      for (std::size_t i = begin; i < to; ++i) {
        if (is_digit(t_[i])) digits[n++] = t_[i];
      }
      if (!v::card_number(std::string_view(digits.data(), n))) continue;
      add(kCard, begin, to, 0.97);
    }
  }

  // Groups of four (the last one shorter), Amex 4-6-5, Diners 4-6-4, or one run.
  static bool card_layout(const std::array<Group, 7>& groups, std::size_t k) {
    if (k == 1) return true;
    auto size = [&](std::size_t left_to_right) {
      const Group& g = groups[k - 1 - left_to_right];
      return g.end - g.begin;
    };
    if (k == 3 && size(0) == 4 && size(1) == 6 && (size(2) == 5 || size(2) == 4)) return true;
    for (std::size_t i = 0; i + 1 < k; ++i) {
      if (size(i) != 4) return false;
    }
    return size(k - 1) >= 1 && size(k - 1) <= 4;
  }

  // --- IBAN ---

  // An IBAN starts with a country code and two check digits a little before its first long
  // run of digits (the bank code may hold letters: GB82 WEST 1234 ...).
  void iban_lookback(std::size_t digits_begin) {
    const std::size_t first = digits_begin > 40 ? digits_begin - 40 : 0;
    for (std::size_t p = first; p + 2 <= digits_begin; ++p) {
      if (is_upper(t_[p]) && is_upper(t_[p + 1]) && is_digit(at(p + 2)) && is_digit(at(p + 3)) &&
          !is_word(before(p))) {
        iban_at(p);
      }
    }
  }

  void iban_at(std::size_t begin) {
    if (seen(Rule::kIban, begin)) return;
    const int length = v::iban_length(t_.substr(begin, 2));
    if (length == 0) return;
    std::array<char, 40> compact{};
    std::size_t n = 0;
    std::size_t p = begin;
    std::size_t end = begin;
    while (p < n_ && n < static_cast<std::size_t>(length)) {
      const char c = t_[p];
      if (is_upper(c) || is_digit(c)) {
        compact[n++] = c;
        end = ++p;
      } else if (c == ' ' && p > begin && t_[p - 1] != ' ' &&
                 (is_upper(at(p + 1)) || is_digit(at(p + 1)))) {
        ++p;
      } else {
        break;
      }
    }
    if (n != static_cast<std::size_t>(length) || is_alnum(at(end))) return;
    if (!v::iban(std::string_view(compact.data(), n))) return;
    mark(Rule::kIban, end);
    add(kIban, begin, end, 0.98);
  }

  // --- SSN ---

  static constexpr std::array<std::string_view, 5> kSsnWords = {"ssn", "social security", "ss#",
                                                                "soc sec", "soc. sec"};

  void ssn_formatted(std::size_t to) {
    const std::size_t begin = to - 11;
    const char separator = t_[begin + 3];
    if (t_[begin + 6] != separator) return;
    const char joiners[2] = {separator, '\0'};
    if (!stands_alone(begin, to, std::string_view(joiners, 1))) return;
    const std::array<char, 9> digits = {t_[begin],     t_[begin + 1], t_[begin + 2],
                                        t_[begin + 4], t_[begin + 5], t_[begin + 7],
                                        t_[begin + 8], t_[begin + 9], t_[begin + 10]};
    if (!v::ssn(std::string_view(digits.data(), digits.size()))) return;
    double confidence = separator == '-' ? 0.85 : 0.7;
    if (context_before(begin, 48, kSsnWords)) confidence = 0.95;
    add(kSsn, begin, to, confidence);
  }

  std::size_t ssn_value(std::size_t pos) const {
    std::size_t end = 0;
    std::array<char, 9> digits{};
    if (!digits_value(pos, 9, "- ", &end, digits.data())) return 0;
    return v::ssn(std::string_view(digits.data(), digits.size())) ? end : 0;
  }

  // --- ABA routing numbers ---

  std::size_t aba_value(std::size_t pos) const {
    std::size_t end = 0;
    std::array<char, 9> digits{};
    if (!digits_value(pos, 9, "", &end, digits.data())) return 0;
    return v::aba_routing(std::string_view(digits.data(), digits.size())) ? end : 0;
  }

  // --- NHS numbers ---

  void nhs_spaced(std::size_t to) {
    const std::size_t begin = to - 12;
    if (!stands_alone(begin, to, " ")) return;
    const std::array<char, 10> digits = {
        t_[begin],     t_[begin + 1], t_[begin + 2], t_[begin + 4],  t_[begin + 5],
        t_[begin + 6], t_[begin + 8], t_[begin + 9], t_[begin + 10], t_[begin + 11]};
    if (!v::nhs_number(std::string_view(digits.data(), digits.size()))) return;
    static constexpr std::array<std::string_view, 3> kWords = {"nhs", "patient", "chi"};
    add(kNhs, begin, to, context_before(begin, 48, kWords) ? 0.97 : 0.8);
  }

  std::size_t nhs_value(std::size_t pos) const {
    std::size_t end = 0;
    std::array<char, 10> digits{};
    if (!digits_value(pos, 10, " -", &end, digits.data())) return 0;
    return v::nhs_number(std::string_view(digits.data(), digits.size())) ? end : 0;
  }

  // --- e-mail ---

  static bool local_part_char(char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
  }

  void email(std::size_t to) {
    const std::size_t at_sign = to - 2;
    if (seen(Rule::kEmail, at_sign)) return;
    std::size_t begin = at_sign;
    while (begin > 0 && local_part_char(t_[begin - 1]) && at_sign - begin < 64) --begin;
    while (begin < at_sign && t_[begin] == '.') ++begin;
    if (begin == at_sign || t_[at_sign - 1] == '.') return;
    // user:password@host in a URL is no address: back to the first '/' it must not be "://".
    for (std::size_t q = begin; q > 0 && q + 256 > begin && !is_space(t_[q - 1]); --q) {
      if (t_[q - 1] == '/') {
        if (before(q - 1) == '/' && before(q - 2) == ':') return;
        break;
      }
    }
    std::size_t p = at_sign + 1;
    std::size_t end = p;
    std::size_t labels = 0;
    Group last{p, p};
    while (p < n_) {
      const std::size_t label = p;
      while (p < n_ && (is_alnum(t_[p]) || t_[p] == '-') && p - label < 63) ++p;
      if (p == label || t_[label] == '-' || t_[p - 1] == '-') break;
      ++labels;
      last = {label, p};
      end = p;
      if (at(p) == '.' && is_alnum(at(p + 1))) {
        ++p;
        continue;
      }
      break;
    }
    if (labels < 2 || end - at_sign > 254) return;
    const std::string_view tld = t_.substr(last.begin, last.end - last.begin);
    if (tld.size() < 2 || tld.size() > 24) return;
    for (char c : tld) {
      if (!is_alpha(c)) return;
    }
    static constexpr std::array<std::string_view, 24> kFileExtensions = {
        "png", "jpg",  "jpeg", "gif", "svg", "webp", "ico", "bmp", "css",  "js",  "jsx", "ts",
        "tsx", "json", "html", "htm", "php", "map",  "py",  "rb",  "lock", "mp4", "mp3", "pdf"};
    std::array<char, 8> lower{};
    if (tld.size() < lower.size()) {
      for (std::size_t i = 0; i < tld.size(); ++i) lower[i] = to_lower(tld[i]);
      if (one_of(std::string_view(lower.data(), tld.size()), kFileExtensions)) return;
    }
    if (at(end) == ':' && is_alpha(at(end + 1))) return;  // git@host:org/repo
    mark(Rule::kEmail, end);
    add(kEmail, begin, end, 0.95);
  }

  // --- phone numbers ---

  struct PhoneToken {
    std::size_t begin = 0;
    std::size_t end = 0;
    int digits = 0;
    int groups = 0;
    std::array<int, 10> sizes{};  // digits per group
    std::string_view separators;  // as found between groups, in order
    std::array<char, 10> separator_storage{};
    bool plus = false;
    bool paren = false;
  };

  // A phone-shaped token at `pos`: an optional '+', groups of digits (one may be in
  // parentheses) joined by single spaces, dashes, dots or slashes.
  bool read_phone(std::size_t pos, PhoneToken& token) const {
    std::size_t p = pos;
    token.begin = pos;
    std::size_t separators = 0;
    if (at(p) == '+') {
      token.plus = true;
      ++p;
    }
    while (token.groups < 10) {
      if (at(p) == '(') {
        std::size_t q = p + 1;
        while (q < n_ && is_digit(t_[q]) && q - p <= 5) ++q;
        if (q == p + 1 || at(q) != ')') break;
        token.sizes[token.groups++] = static_cast<int>(q - p - 1);
        token.digits += static_cast<int>(q - p - 1);
        token.paren = true;
        p = q + 1;
        token.end = p;
        if (is_digit(at(p))) continue;
        if ((at(p) == ' ' || at(p) == '-') && is_digit(at(p + 1)) && separators < 9) {
          token.separator_storage[separators++] = t_[p];
          ++p;
          continue;
        }
        break;
      }
      if (!is_digit(at(p))) break;
      const std::size_t group = p;
      while (p < n_ && is_digit(t_[p]) && p - group < 16) ++p;
      token.sizes[token.groups++] = static_cast<int>(p - group);
      token.digits += static_cast<int>(p - group);
      token.end = p;
      const char c = at(p);
      if ((c == ' ' || c == '-' || c == '.' || c == '/') &&
          (is_digit(at(p + 1)) || at(p + 1) == '(') && separators < 9) {
        token.separator_storage[separators++] = c;
        ++p;
        continue;
      }
      break;
    }
    token.separators = std::string_view(token.separator_storage.data(), separators);
    if (token.groups == 0 || token.end <= token.begin) return false;
    // What follows must not continue the number as a time, a date or a longer code.
    const char next = at(token.end);
    if (is_alnum(next)) return false;
    if ((next == '.' || next == ':' || next == '-' || next == '/') && is_digit(at(token.end + 1))) {
      return false;
    }
    return true;
  }

  void phone_intl(std::size_t begin) {
    if (seen(Rule::kPhoneIntl, begin)) return;
    const char left = before(begin);
    if (is_alnum(left) || left == '+' || left == '_' || left == '.') return;
    PhoneToken token;
    if (!read_phone(begin, token)) return;
    if (token.digits < 8 || token.digits > 15) return;
    mark(Rule::kPhoneIntl, token.end);
    add(kPhone, begin, token.end, 0.85);
  }

  void phone_us_dashed(std::size_t to) {
    std::size_t begin = to - 12;
    const char separator = t_[begin + 3];
    if (t_[begin + 7] != separator) return;
    char left = before(begin);
    // A leading country code "1-" belongs to the number.
    if ((left == separator || left == ' ') && before(begin - 1) == '1' &&
        !is_alnum(before(begin - 2))) {
      begin -= 2;
      left = before(begin);
    }
    if (left == '+') return;  // the international rule has it
    if (!stands_alone(begin, to, "-.") || part_of_code(begin)) return;
    if (negative_context(begin)) return;
    add(kPhone, begin, to, 0.8);
  }

  void phone_us_paren(std::size_t to) {
    const std::size_t window = to > 16 ? to - 16 : 0;
    const std::size_t begin = t_.rfind('(', to);
    if (begin == kNpos || begin < window) return;
    if (is_alnum(before(begin))) return;
    const char right = at(to);
    if ((right == '-' || right == '.') && is_digit(at(to + 1))) return;
    if (negative_context(begin)) return;
    add(kPhone, begin, to, 0.85);
  }

  void phone_national_paren(std::size_t to) {
    const std::size_t begin = t_.rfind('(', to);
    if (begin != kNpos && to - begin <= 9) phone_national_at(begin);
  }

  // A national number with a trunk zero: "020 7946 0958", "06 12 34 56 78", "030/1234567",
  // "(030) 1234567", "0171-1234567".
  void phone_national_at(std::size_t begin) {
    if (seen(Rule::kPhoneNational, begin)) return;
    const char left = before(begin);
    if (is_alnum(left) || left == '+') return;
    if ((left == '.' || left == '-' || left == '/' || left == ':') && is_digit(before(begin - 1))) {
      return;
    }
    if (part_of_code(begin)) return;
    PhoneToken token;
    if (!read_phone(begin, token)) return;
    mark(Rule::kPhoneNational, token.end);
    // Ten to twelve digits; nine for a German area code and number ("040 636818").
    const bool german_short = token.digits == 9 && token.groups == 2 && !token.paren &&
                              token.sizes[0] >= 3 && token.sizes[0] <= 5 &&
                              token.separators.find('.') == kNpos;
    if ((token.digits < 10 && !german_short) || token.digits > 12 || token.groups < 2) return;
    const std::string_view separators = token.separators;
    const bool dotted = separators.find('.') != kNpos;
    bool french = token.groups == 5 && token.digits == 10 && !token.paren;
    for (int i = 0; i < token.groups; ++i) french = french && token.sizes[i] == 2;
    if (dotted && (!french || separators.find_first_not_of('.') != kNpos)) return;
    const std::size_t slash = separators.find('/');
    if (slash != kNpos && slash != 0) return;
    if (!token.paren && (token.sizes[0] < 2 || token.sizes[0] > 5)) return;
    for (int i = 1; i < token.groups; ++i) {
      if (token.sizes[i] < 2) return;
    }
    if (negative_context(begin)) return;
    add(kPhone, begin, token.end, french ? 0.8 : 0.75);
  }

  void phone_spanish(std::size_t begin, std::size_t end) {
    if (!stands_alone(begin, end, " ") || part_of_code(begin) || negative_context(begin)) return;
    add(kPhone, begin, end, 0.7);
  }

  void phone_national_bare(std::size_t to) {
    std::size_t begin = to;
    while (begin > 0 && is_digit(t_[begin - 1])) --begin;
    if (t_[begin] != '0' || before(begin) == '+') return;
    if (!stands_alone(begin, to, "") || part_of_code(begin)) return;
    if (negative_context(begin)) return;
    add(kPhone, begin, to, 0.7);
  }

  std::size_t phone_value(std::size_t pos) const {
    if (is_alnum(before(pos))) return 0;
    PhoneToken token;
    if (!read_phone(pos, token) || token.digits < 7 || token.digits > 15) return 0;
    // A date is no phone number even after "call".
    if (token.groups == 3 && token.sizes[0] == 4 && token.sizes[1] <= 2 && token.sizes[2] <= 2) {
      return 0;
    }
    return token.end;
  }

  // --- IP addresses ---

  void ipv4(std::size_t to) {
    std::size_t p = to;
    for (int i = 3; i >= 0; --i) {
      const std::size_t end = p;
      while (p > 0 && is_digit(t_[p - 1]) && end - p < 3) --p;
      if (p == end) return;
      int octet = 0;
      for (std::size_t j = p; j < end; ++j) octet = octet * 10 + (t_[j] - '0');
      if (octet > 255 || (end - p > 1 && t_[p] == '0')) return;
      if (i > 0) {
        if (before(p) != '.') return;
        --p;
      }
    }
    const std::size_t begin = p;
    if (is_digit(before(begin)) || !stands_alone(begin, to, "")) return;
    if (part_of_code(begin) || negative_context(begin)) return;  // Chrome/122.0.0.0
    add(kIp, begin, to, 0.9);
  }

  static bool ipv6_char(char c) { return is_hex(c) || c == ':' || c == '.'; }

  void ipv6(std::size_t to) {
    std::size_t begin = to;
    while (begin > 0 && ipv6_char(t_[begin - 1]) && to - begin < 64) --begin;
    if (seen(Rule::kIpv6, begin)) return;
    std::size_t end = to;
    while (end < n_ && ipv6_char(t_[end]) && end - begin < 64) ++end;
    mark(Rule::kIpv6, end);
    // Sentence punctuation and a lone colon (a label or a port) are not part of the address.
    while (end > begin && t_[end - 1] == '.') --end;
    if (end - begin >= 2 && t_[end - 1] == ':' && t_[end - 2] != ':') --end;
    if (end - begin >= 2 && t_[begin] == ':' && t_[begin + 1] != ':') ++begin;
    if (is_word(before(begin)) || is_word(at(end))) return;
    if (!valid_ipv6(t_.substr(begin, end - begin))) return;
    add(kIp, begin, end, 0.9);
  }

  static bool valid_ipv4(std::string_view text) {
    int parts = 0;
    std::size_t p = 0;
    while (p <= text.size()) {
      const std::size_t start = p;
      int value = 0;
      while (p < text.size() && is_digit(text[p]) && p - start < 3)
        value = value * 10 + (text[p++] - '0');
      if (p == start || value > 255 || (p - start > 1 && text[start] == '0')) return false;
      ++parts;
      if (p == text.size()) break;
      if (text[p] != '.') return false;
      ++p;
    }
    return parts == 4;
  }

  static bool valid_ipv6(std::string_view text) {
    if (text.size() < 3 || text.size() > 45) return false;
    const std::size_t gap = text.find("::");
    if (gap != kNpos && text.find("::", gap + 1) != kNpos) return false;
    int groups = 0;
    int longest = 0;
    bool digit = false;
    bool embedded_ipv4 = false;
    std::size_t p = 0;
    while (p < text.size()) {
      if (p == gap) {
        p += 2;
        continue;
      }
      const std::size_t start = p;
      while (p < text.size() && is_hex(text[p])) {
        digit = digit || is_digit(text[p]);
        ++p;
      }
      if (p < text.size() && text[p] == '.') {
        // The last 32 bits as an IPv4 address.
        if (!valid_ipv4(text.substr(start))) return false;
        embedded_ipv4 = true;
        groups += 2;
        digit = true;
        break;
      }
      const std::size_t length = p - start;
      if (length == 0 || length > 4) return false;
      ++groups;
      longest = std::max(longest, static_cast<int>(length));
      if (p == text.size()) break;
      if (text[p] != ':') return false;
      if (p == gap) continue;
      ++p;
      if (p == text.size()) return false;  // a trailing single colon
    }
    if (!digit) return false;
    if (gap == kNpos) return groups == 8;
    if (groups > 7) return false;
    // Compressed forms need enough substance not to be a slice (a[1::2]) or a scope (a::b).
    if (text == "::1" || embedded_ipv4) return true;
    return groups >= 2 && longest >= 3;
  }

  // --- dates of birth ---

  // A month name in English, German, French, Spanish, Italian or Dutch (or its abbreviation),
  // lower-cased; 0 when the word is none.
  static int month_number(std::string_view lower) {
    struct Month {
      std::string_view name;
      int month;
    };
    static constexpr Month kMonths[] = {
        {"january", 1},
        {"jan", 1},
        {"januar", 1},
        {"janvier", 1},
        {"enero", 1},
        {"gennaio", 1},
        {"januari", 1},
        {"february", 2},
        {"feb", 2},
        {"februar", 2},
        {"f\xC3\xA9vrier", 2},
        {"fevrier", 2},
        {"febrero", 2},
        {"febbraio", 2},
        {"februari", 2},
        {"march", 3},
        {"mar", 3},
        {"m\xC3\xA4rz", 3},
        {"maerz", 3},
        {"mars", 3},
        {"marzo", 3},
        {"maart", 3},
        {"april", 4},
        {"apr", 4},
        {"avril", 4},
        {"abril", 4},
        {"aprile", 4},
        {"may", 5},
        {"mai", 5},
        {"mayo", 5},
        {"maggio", 5},
        {"mei", 5},
        {"june", 6},
        {"jun", 6},
        {"juni", 6},
        {"juin", 6},
        {"junio", 6},
        {"giugno", 6},
        {"july", 7},
        {"jul", 7},
        {"juli", 7},
        {"juillet", 7},
        {"julio", 7},
        {"luglio", 7},
        {"august", 8},
        {"aug", 8},
        {"ao\xC3\xBBt", 8},
        {"aout", 8},
        {"agosto", 8},
        {"augustus", 8},
        {"september", 9},
        {"sep", 9},
        {"sept", 9},
        {"septembre", 9},
        {"septiembre", 9},
        {"setiembre", 9},
        {"settembre", 9},
        {"october", 10},
        {"oct", 10},
        {"oktober", 10},
        {"octobre", 10},
        {"octubre", 10},
        {"ottobre", 10},
        {"november", 11},
        {"nov", 11},
        {"novembre", 11},
        {"noviembre", 11},
        {"december", 12},
        {"dec", 12},
        {"dezember", 12},
        {"d\xC3\xA9"
         "cembre",
         12},
        {"decembre", 12},
        {"diciembre", 12},
        {"dicembre", 12},
    };
    for (const Month& month : kMonths) {
      if (month.name == lower) return month.month;
    }
    return 0;
  }

  // Reads a month name at `pos`; sets `end` past it (and a trailing abbreviation dot).
  int read_month(std::size_t pos, std::size_t* end) const {
    std::size_t p = pos;
    std::array<char, 16> lower{};
    std::size_t n = 0;
    while (p < n_ && (is_alpha(t_[p]) || static_cast<unsigned char>(t_[p]) >= 0x80)) {
      if (n == lower.size()) return 0;
      lower[n++] = to_lower(t_[p++]);
    }
    const int month = n >= 3 ? month_number(std::string_view(lower.data(), n)) : 0;
    if (month == 0) return 0;
    if (at(p) == '.') ++p;
    *end = p;
    return month;
  }

  // Reads 1..max digits at `p`; returns how many.
  std::size_t read_number(std::size_t p, std::size_t max, int* value) const {
    std::size_t q = p;
    *value = 0;
    while (q < n_ && is_digit(t_[q]) && q - p < max) *value = *value * 10 + (t_[q++] - '0');
    if (q < n_ && is_digit(t_[q])) return 0;  // longer than allowed
    return q - p;
  }

  std::size_t skip_blanks(std::size_t p) const {
    while (p < n_ && (t_[p] == ' ' || t_[p] == '\t')) ++p;
    return p;
  }

  // A date at `pos` in one of the usual written forms; sets `end`.
  bool parse_date(std::size_t pos, std::size_t* end) const {
    int a = 0;
    int b = 0;
    int c = 0;
    if (is_digit(at(pos))) {
      const std::size_t la = read_number(pos, 4, &a);
      if (la == 0) return false;
      std::size_t p = pos + la;
      const char separator = at(p);
      if ((separator == '-' || separator == '/' || separator == '.') && is_digit(at(p + 1))) {
        const std::size_t lb = read_number(p + 1, 2, &b);
        p += 1 + lb;
        if (lb == 0 || at(p) != separator || !is_digit(at(p + 1))) {
          // "3. März 1985": a day with a dot, then a month name.
          if (separator != '.' || la > 2) return false;
        } else {
          const std::size_t lc = read_number(p + 1, 4, &c);
          p += 1 + lc;
          if (lc == 0 || is_alnum(at(p)) ||
              ((at(p) == separator || at(p) == '.') && is_digit(at(p + 1)))) {
            return false;
          }
          bool ok;
          if (la == 4) {
            ok = lc <= 2 && a >= 1900 && a <= 2100 && v::valid_date(a, b, c);
          } else {
            if (la > 2 || (lc != 2 && lc != 4)) return false;
            const int year = lc == 2 ? 1900 + c : c;
            if (lc == 4 && (c < 1900 || c > 2100)) return false;
            ok = v::valid_date(year, b, a) || v::valid_date(year, a, b);
          }
          if (!ok) return false;
          *end = p;
          return true;
        }
      }
      // Day first with a month name: "15 March 1985", "3. März 1985", "15 de marzo de 1985",
      // "1er mars 1985", "2nd May 1985"; or "1985年3月15日".
      if (la == 4 && t_.substr(p, 3) == "\xE5\xB9\xB4") {
        int month = 0;
        int day = 0;
        const std::size_t lm = read_number(p + 3, 2, &month);
        if (lm == 0 || t_.substr(p + 3 + lm, 3) != "\xE6\x9C\x88") return false;
        const std::size_t q = p + 3 + lm + 3;
        const std::size_t ld = read_number(q, 2, &day);
        if (ld == 0 || t_.substr(q + ld, 3) != "\xE6\x97\xA5") return false;
        if (!v::valid_date(a, month, day)) return false;
        *end = q + ld + 3;
        return true;
      }
      if (la > 2) return false;
      p = pos + la;
      for (std::string_view suffix : {"st", "nd", "rd", "th", "er"}) {
        if (starts_with_lower(t_.substr(p), suffix) && !is_alpha(at(p + 2))) {
          p += 2;
          break;
        }
      }
      if (at(p) == '.') ++p;
      p = skip_blanks(p);
      if (starts_with_lower(t_.substr(p), "de ")) p = skip_blanks(p + 3);
      std::size_t q = 0;
      const int month = read_month(p, &q);
      if (month == 0) return false;
      p = skip_blanks(q);
      if (at(p) == ',') p = skip_blanks(p + 1);
      if (starts_with_lower(t_.substr(p), "de ")) p = skip_blanks(p + 3);
      int year = 0;
      const std::size_t ly = read_number(p, 4, &year);
      if (ly != 4 || is_alnum(at(p + 4)) || !v::valid_date(year, month, a)) return false;
      if (year < 1900 || year > 2100) return false;
      *end = p + 4;
      return true;
    }
    // Month first: "March 15, 1985", "Jan. 3 1985".
    std::size_t p = 0;
    const int month = read_month(pos, &p);
    if (month == 0) return false;
    p = skip_blanks(p);
    const std::size_t ld = read_number(p, 2, &a);
    if (ld == 0) return false;
    p += ld;
    for (std::string_view suffix : {"st", "nd", "rd", "th"}) {
      if (starts_with_lower(t_.substr(p), suffix)) {
        p += 2;
        break;
      }
    }
    if (at(p) == ',') ++p;
    p = skip_blanks(p);
    const std::size_t ly = read_number(p, 4, &c);
    if (ly != 4 || is_alnum(at(p + 4)) || c < 1900 || c > 2100 || !v::valid_date(c, month, a)) {
      return false;
    }
    *end = p + 4;
    return true;
  }

  std::size_t dob_value(std::size_t pos) const {
    std::size_t end = 0;
    return parse_date(pos, &end) ? end : 0;
  }

  // A date shortly after the label, in the same sentence ("born in London on 3 May 1985").
  void dob_context(std::size_t to) {
    if (!keyword_ends(to) || column(to, kDob, &Matcher::dob_value)) return;
    const std::size_t limit = std::min(n_, to + 40);
    for (std::size_t p = to; p < limit; ++p) {
      const char c = t_[p];
      if (c == '\n' && at(p + 1) == '\n') return;
      // The label's sentence ends: what follows is another matter ("DOB unknown. Date: ...").
      if ((c == '.' || c == ';' || c == '!' || c == '?') && p > to + 1 && is_space(at(p + 1))) {
        return;
      }
      const bool starts_token = is_digit(c) || is_alpha(c);
      if (!starts_token || is_alnum(before(p))) continue;
      std::size_t end = 0;
      if (parse_date(p, &end)) {
        add(kDob, p, end, 0.9);
        return;
      }
    }
  }

  // --- postal codes ---

  // A postal code at `pos` in a common national form; returns its end or 0.
  std::size_t parse_postcode(std::size_t pos) const {
    auto digits = [&](std::size_t p, std::size_t count) {
      for (std::size_t i = 0; i < count; ++i) {
        if (!is_digit(at(p + i))) return false;
      }
      return true;
    };
    auto ends = [&](std::size_t p) { return !is_alnum(at(p)) ? p : 0; };
    std::size_t best = 0;
    // US ZIP+4, Brazil 12345-678, ZIP, DE/FR/ES/IT.
    if (digits(pos, 5)) {
      if (at(pos + 5) == '-' && digits(pos + 6, 4) && ends(pos + 10)) return pos + 10;
      if (at(pos + 5) == '-' && digits(pos + 6, 3) && ends(pos + 9)) return pos + 9;
      if (ends(pos + 5)) return pos + 5;
    }
    // Japan 123-4567, Poland 00-950, Sweden/Czechia 114 55, Netherlands 1234 AB, 4-6 digits.
    if (digits(pos, 3) && at(pos + 3) == '-' && digits(pos + 4, 4) && ends(pos + 8)) return pos + 8;
    if (digits(pos, 2) && at(pos + 2) == '-' && digits(pos + 3, 3) && ends(pos + 6)) return pos + 6;
    if (digits(pos, 3) && at(pos + 3) == ' ' && digits(pos + 4, 2) && ends(pos + 6)) return pos + 6;
    if (digits(pos, 4)) {
      std::size_t p = pos + 4;
      if (at(p) == ' ') ++p;
      if (is_upper(at(p)) && is_upper(at(p + 1)) && ends(p + 2)) return p + 2;
      if (ends(pos + 4)) return pos + 4;
      if (digits(pos, 6) && ends(pos + 6)) return pos + 6;
    }
    // UK (SW1A 1AA), Canada (K1A 0B1), Ireland (D02 X285).
    if (is_upper(at(pos))) {
      std::size_t p = pos;
      while (p < n_ && is_alnum(t_[p]) && p - pos < 4) ++p;
      const std::size_t outward = p - pos;
      std::size_t q = p;
      if (at(q) == ' ') ++q;
      if (outward >= 2 && is_digit(at(q)) && is_upper(at(q + 1)) && is_upper(at(q + 2)) &&
          ends(q + 3) && is_digit(t_[pos + (is_upper(t_[pos + 1]) ? 2 : 1)])) {
        best = q + 3;
      } else if (outward == 3 && is_digit(t_[pos + 1]) && is_upper(t_[pos + 2]) &&
                 is_digit(at(q)) && is_upper(at(q + 1)) && is_digit(at(q + 2)) && ends(q + 3)) {
        best = q + 3;
      } else if (outward == 3 && is_digit(t_[pos + 1]) && is_digit(t_[pos + 2])) {
        std::size_t r = q;
        while (r < n_ && is_alnum(t_[r]) && r - q < 4) ++r;
        if (r - q == 4 && ends(r)) best = r;
      }
    }
    return best;
  }

  std::size_t postcode_value(std::size_t pos) const {
    return is_alnum(before(pos)) ? 0 : parse_postcode(pos);
  }

  static bool uk_area(std::string_view letters) {
    static constexpr std::array<std::string_view, 124> kAreas = {
        "AB", "AL", "B",  "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS", "BT", "CA", "CB",
        "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL",
        "DN", "DT", "DY", "E",  "EC", "EH", "EN", "EX", "FK", "FY", "G",  "GL", "GU", "GY",
        "HA", "HD", "HG", "HP", "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE", "KA",
        "KT", "KW", "KY", "L",  "LA", "LD", "LE", "LL", "LN", "LS", "LU", "M",  "ME", "MK",
        "ML", "N",  "NE", "NG", "NN", "NP", "NR", "NW", "OL", "OX", "PA", "PE", "PH", "PL",
        "PO", "PR", "RG", "RH", "RM", "S",  "SA", "SE", "SG", "SK", "SL", "SM", "SN", "SO",
        "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR", "TS", "TW",
        "UB", "W",  "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE"};
    return one_of(letters, kAreas);
  }

  void uk_postcode(std::size_t to) {
    if (to < 6 || !shaped(to - 4, " dAA", "")) return;
    std::size_t begin = to - 4;  // the space before the inward code
    while (begin > 0 && (is_upper(t_[begin - 1]) || is_digit(t_[begin - 1])) && to - begin < 9) {
      --begin;
    }
    std::size_t letters = 0;
    while (is_upper(t_[begin + letters])) ++letters;
    if (letters == 0 || letters > 2 || is_word(before(begin))) return;
    const std::size_t outward = to - 4 - begin;  // A9, A9A, A99, AA9, AA9A, AA99
    if (!is_digit(t_[begin + letters]) || outward < letters + 1 || outward > letters + 2) return;
    if (!uk_area(t_.substr(begin, letters))) return;
    add(kPostcode, begin, to, 0.75);
  }

  static bool us_state(std::string_view code) {
    static constexpr std::array<std::string_view, 56> kStates = {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN",
        "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV",
        "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN",
        "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP"};
    return one_of(code, kStates);
  }

  // "Springfield, IL 62704" or "..., IL 62704-1234": `five` is the end of the five digits.
  void us_state_zip(std::size_t five) {
    if (five < 10) return;
    const std::size_t zip = five - 5;
    if (seen(Rule::kUsStateZip, zip) || before(zip) != ' ') return;
    const std::size_t state = t_[zip - 2] == ',' ? zip - 4 : zip - 3;
    if (!us_state(t_.substr(state, 2)) || is_alnum(before(state))) return;
    if (!(before(state) == ' ' && before(state - 1) == ',') && before(state) != '\n') return;
    std::size_t end = five;
    if (at(five) == '-' && shaped(five + 1, "dddd", "") && !is_alnum(at(five + 5))) end = five + 5;
    if (is_alnum(at(end)) || ((at(end) == '-' || at(end) == '.') && is_digit(at(end + 1)))) return;
    mark(Rule::kUsStateZip, end);
    add(kPostcode, zip, end, 0.8);
  }

  // "Musterstraße 12, 10115 Berlin", "12 rue de Rivoli, 75001 Paris": `to` is just past the
  // city's first byte.
  void eu_address_zip(std::size_t to) {
    if (to < 10 || !shaped(to - 9, ", ddddd ", "")) return;
    const std::size_t zip = to - 7;
    if (!is_alpha(at(to)) && static_cast<unsigned char>(at(to)) < 0x80) return;
    // A street before it: "Musterstraße 12, 10115 Berlin", "12 rue de Rivoli, 75001 Paris".
    static constexpr std::array<std::string_view, 24> kStreets = {
        "stra\xC3\x9F"
        "e",
        "strasse",
        "str.",
        "weg ",
        "platz",
        "allee",
        "gasse",
        "ring ",
        "damm",
        "rue ",
        "avenue",
        "boulevard",
        "bd ",
        "place ",
        "chemin",
        "all\xC3\xA9"
        "e",
        "calle",
        "avenida",
        "plaza",
        "via ",
        "viale",
        "piazza",
        "corso",
        "straat"};
    if (!context_before(zip, 48, kStreets)) return;
    add(kPostcode, zip, zip + 5, 0.75);
  }

  // --- passports and identity documents ---

  // Six to twelve capital letters and digits with at least one digit ("C01X00T47"), or a
  // series and a number ("79 8479411").
  std::size_t passport_value(std::size_t pos) const {
    if (is_alnum(before(pos))) return 0;
    std::size_t p = pos;
    std::size_t length = 0;
    bool digit = false;
    while (p < n_ && length <= 12) {
      if (is_upper(t_[p]) || is_digit(t_[p])) {
        digit = digit || is_digit(t_[p]);
        ++length;
        ++p;
      } else if (t_[p] == ' ' && p - pos >= 2 && p - pos <= 4 && length == p - pos &&
                 is_digit(t_[p - 1]) && is_digit(at(p + 1))) {
        ++p;
      } else {
        break;
      }
    }
    if (!digit || length < 6 || length > 12 || is_alnum(at(p))) return 0;
    return p;
  }

  // Groups of capital letters and digits ("QQ 12 34 56 C", "1234 5678 9012", "X1234567L").
  std::size_t id_value(std::size_t pos) const {
    if (is_alnum(before(pos))) return 0;
    std::size_t p = pos;
    std::size_t significant = 0;
    std::size_t digits = 0;
    std::size_t end = pos;
    while (p < n_) {
      const std::size_t group = p;
      std::size_t group_digits = 0;
      while (p < n_ && (is_upper(t_[p]) || is_digit(t_[p])) && p - group < 20) {
        group_digits += is_digit(t_[p]) ? 1 : 0;
        ++p;
      }
      const std::size_t length = p - group;
      if (length == 0 || is_alnum(at(p))) break;
      // A German identity card serial is nine characters without vowels that may hold no
      // digit at all ("PZJPJVMWM"); any other value needs a digit.
      if (group == pos && group_digits == 0 && length == 9 &&
          std::string_view(t_.data() + group, 9).find_first_not_of("CFGHJKLMNPRTVWXYZ") ==
              std::string_view::npos &&
          !(at(p) == ' ' && (is_upper(at(p + 1)) || is_digit(at(p + 1))))) {
        return p;
      }
      // A first group of letters only is a prefix ("QQ"), not a word ("IVA", "DOB").
      const bool joins =
          group == pos ? (group_digits > 0 || length <= 2) : (group_digits > 0 || length == 1);
      if (!joins || length > 20) break;
      significant += length;
      digits += group_digits;
      end = p;
      if ((at(p) == ' ' || at(p) == '-') && (is_upper(at(p + 1)) || is_digit(at(p + 1))) &&
          significant < 20) {
        ++p;
        continue;
      }
      break;
    }
    if (significant < 6 || significant > 20 || digits == 0) return 0;
    return end;
  }

  // --- values after context words ---

  using Parser = std::size_t (Matcher::*)(std::size_t) const;

  // A context word ends at `to`: the value right after it (past punctuation and filler words),
  // or, when the word heads a column of a table, the value in that column of every row.
  void labelled(std::size_t to, Builtin entity, Parser parse, double confidence,
                std::size_t budget = 32) {
    if (!keyword_ends(to) || column(to, entity, parse)) return;
    const std::size_t pos = skip_label(to, budget);
    if (pos != to && is_alnum(before(pos))) return;
    if (const std::size_t end = (this->*parse)(pos); end > pos) add(entity, pos, end, confidence);
  }

  // When the word ending at `to` is a header cell of a delimited table (CSV, TSV, semicolon or
  // a markdown table), every cell of its column whose whole content parses becomes a finding.
  bool column(std::size_t to, Builtin entity, Parser parse) {
    // Most context words stand in prose: a header cell is short, so a separator or the end of
    // the line must be near on both sides.
    const auto separates = [](char c) {
      return c == ',' || c == ';' || c == '\t' || c == '|' || c == '\n';
    };
    std::size_t right = to;
    while (right < n_ && right - to < 32 && !separates(t_[right])) ++right;
    if (right == n_ || right - to == 32) return false;
    std::size_t left = to;
    while (left > 0 && to - left < 48 && !separates(t_[left - 1])) --left;
    if (to - left == 48) return false;
    std::size_t line_begin = to;
    while (line_begin > 0 && t_[line_begin - 1] != '\n' && to - line_begin < 1024) --line_begin;
    if (line_begin > 0 && t_[line_begin - 1] != '\n') return false;
    const std::size_t line_end = t_.find('\n', to);
    if (line_end == kNpos || line_end - line_begin > 4096) return false;
    const std::string_view header = t_.substr(line_begin, line_end - line_begin);
    char separator = 0;
    for (char c : {'|', '\t', ';', ','}) {
      if (std::count(header.begin(), header.end(), c) >= 2) {
        separator = c;
        break;
      }
    }
    // Two columns ("nhs_number,name"): only a short header line without digits, and rows with
    // exactly one separator too, count as a table.
    bool two_columns = false;
    const auto header_like = [](char c) {
      return is_alpha(c) || c == ' ' || c == '_' || c == '-' || c == '.' || c == '#' || c == '/' ||
             c == '\t' || c == ';' || c == ',' || c == '\r' ||
             static_cast<unsigned char>(c) >= 0x80;
    };
    if (separator == 0 && header.size() <= 64 &&
        std::all_of(header.begin(), header.end(), header_like)) {
      for (char c : {'\t', ';', ','}) {
        const std::size_t at_separator = header.find(c);
        if (at_separator != kNpos && header.find(c, at_separator + 1) == kNpos &&
            header.find_first_not_of(" \t\r", at_separator + 1) != kNpos) {
          separator = c;
          two_columns = true;
          break;
        }
      }
    }
    if (separator == 0) return false;
    // A word in a row of a table already read is data, not a header (and reading the rest of
    // the table again for every such word would be quadratic).
    if (line_begin > table_header_end_ && line_begin < table_end_) return false;
    const auto columns =
        static_cast<std::size_t>(std::count(header.begin(), header.end(), separator));
    const auto index =
        static_cast<std::size_t>(std::count(t_.begin() + line_begin, t_.begin() + to, separator));
    // The header cell is short and holds no digits; otherwise this is a line of data.
    Group cell = cell_at(line_begin, line_end, separator, index);
    if (cell.end - cell.begin > 32) return false;
    for (std::size_t i = cell.begin; i < cell.end; ++i) {
      if (is_digit(t_[i])) return false;
    }
    std::size_t row = line_end + 1;
    bool rows = false;
    for (int count = 0; row < n_ && count < 100000; ++count) {
      std::size_t row_end = t_.find('\n', row);
      if (row_end == kNpos) row_end = n_;
      const std::string_view line = t_.substr(row, row_end - row);
      const auto separators =
          static_cast<std::size_t>(std::count(line.begin(), line.end(), separator));
      if (separators + 1 < columns || separators > columns + 1) break;  // the table has ended
      if (two_columns && separators != 1) break;
      rows = true;
      cell = cell_at(row, row_end, separator, index);
      if (cell.end > cell.begin && t_[cell.begin] != '-' && t_[cell.begin] != ':') {
        if ((this->*parse)(cell.begin) == cell.end) add(entity, cell.begin, cell.end, 0.85);
      }
      row = row_end + 1;
    }
    table_header_end_ = line_end;
    table_end_ = std::max(table_end_, row);
    return rows;
  }

  // The `index`th cell of the line [begin, end), trimmed of blanks and quotes.
  Group cell_at(std::size_t begin, std::size_t end, char separator, std::size_t index) const {
    std::size_t p = begin;
    for (std::size_t i = 0; i < index && p < end; ++p) {
      if (t_[p] == separator) ++i;
    }
    std::size_t cell_end = p;
    while (cell_end < end && t_[cell_end] != separator) ++cell_end;
    std::size_t cell_begin = p;
    while (cell_begin < cell_end && (t_[cell_begin] == ' ' || t_[cell_begin] == '"' ||
                                     t_[cell_begin] == '\t' || t_[cell_begin] == '\r')) {
      ++cell_begin;
    }
    while (cell_end > cell_begin && (t_[cell_end - 1] == ' ' || t_[cell_end - 1] == '"' ||
                                     t_[cell_end - 1] == '\t' || t_[cell_end - 1] == '\r')) {
      --cell_end;
    }
    return {cell_begin, cell_end};
  }

  void iban_context(std::size_t to) {
    if (!keyword_ends(to)) return;
    const std::size_t pos = skip_label(to, 24);
    if (is_upper(at(pos)) && !is_alnum(before(pos))) iban_at(pos);
  }

  // --- secrets ---

  void private_key(std::size_t to) {
    const std::size_t window = to > 120 ? to - 120 : 0;
    // The header's own "-----BEGIN", not one that starts right where this header ends.
    const std::size_t begin = t_.rfind("-----BEGIN", to - 1);
    if (begin == kNpos || begin < window || seen(Rule::kPrivateKey, begin)) return;
    std::size_t end = kNpos;
    const std::size_t footer = t_.find("-----END", to);
    if (footer != kNpos && footer - to < (1u << 16)) {
      const std::size_t close = t_.find("-----", footer + 8);
      end = (close != kNpos && close - footer < 80) ? close + 5 : footer + 8;
    } else {
      // No footer (cut off): the key runs as far as base64 lines do.
      end = to;
      while (end < n_) {
        const char c = t_[end];
        if (!(is_alnum(c) || c == '+' || c == '/' || c == '=' || is_space(c) || c == '\\')) break;
        ++end;
      }
      while (end > to && is_space(t_[end - 1])) --end;
    }
    mark(Rule::kPrivateKey, end);
    add(kPrivateKey, begin, end, 0.99);
  }

  // Where the token a report ending at `to` saw begins: the first of its entity's prefixes at a
  // word boundary in the run of token characters before `to` (start-of-match tracking in the
  // automaton costs every pattern; this costs only the reports).
  std::size_t prefixed_start(std::uint32_t entity, std::size_t to) const {
    static constexpr std::string_view kWebhook = "https://hooks.slack.com/services/";
    if (entity == kSlackToken && to >= kWebhook.size() + 20 &&
        t_.compare(to - kWebhook.size() - 20, kWebhook.size(), kWebhook) == 0) {
      return to - kWebhook.size() - 20;  // the pattern has a fixed length
    }
    std::array<std::string_view, 2> prefixes{};
    switch (entity) {
      case kGithubToken:
        prefixes = {"gh", "github_pat_"};
        break;
      case kGitlabToken:
        prefixes = {"gl", "gl"};
        break;
      case kSlackToken:
        prefixes = {"xox", "xapp-"};
        break;
      case kStripeKey:
        prefixes = {"sk_", "rk_"};
        break;
      default:
        prefixes = {"sk-", "sk-"};
        break;
    }
    std::size_t run = to;
    while (run > 0 && to - run < 600 && (is_word(t_[run - 1]) || t_[run - 1] == '-')) --run;
    for (std::size_t p = run; p < to; ++p) {
      if (is_word(before(p))) continue;
      for (std::string_view prefix : prefixes) {
        if (t_.compare(p, prefix.size(), prefix) == 0) return p;
      }
    }
    return kNpos;
  }

  void prefixed_token(std::uint32_t entity, std::size_t to) {
    const std::size_t from = prefixed_start(entity, to);
    if (from == kNpos || seen(Rule::kPrefixedToken, from)) return;
    auto body_char = [entity](char c) {
      switch (entity) {
        case kGithubToken:
          return is_word(c);
        case kStripeKey:
          return is_alnum(c);
        case kSlackToken:
          return is_alnum(c) || c == '-' || c == '_' || c == '/';
        default:
          return is_alnum(c) || c == '-' || c == '_';
      }
    };
    std::size_t end = to;
    while (end < n_ && body_char(t_[end]) && end - from < 512) ++end;
    while (end > from && t_[end - 1] == '-') --end;
    mark(Rule::kPrefixedToken, end);
    double confidence = 0.95;
    if (entity == kGithubToken) confidence = 0.97;
    if (entity == kStripeKey && t_.substr(from + 3, 4) == "test") confidence = 0.9;
    if (entity == kOpenaiKey) {
      bool digit = false;
      bool upper = false;
      bool lower = false;
      for (std::size_t i = from + 3; i < end; ++i) {
        digit = digit || is_digit(t_[i]);
        upper = upper || is_upper(t_[i]);
        lower = lower || is_lower(t_[i]);
      }
      if (!digit || !(upper || lower) || end - from < 23) return;
      confidence = 0.9;
    }
    add(entity, from, end, confidence);
  }

  void jwt(std::size_t to) {
    const std::size_t dot = to - 1;
    std::size_t begin = dot;
    while (begin > 0 && is_base64url(t_[begin - 1]) && dot - begin < 2048) --begin;
    if (t_.substr(begin, 3) != "eyJ" || seen(Rule::kJwt, begin)) return;
    std::size_t p = dot + 1;
    while (p < n_ && is_base64url(t_[p])) ++p;
    if (p == dot + 1 || at(p) != '.') return;
    std::size_t end = p + 1;
    while (end < n_ && is_base64url(t_[end])) ++end;
    mark(Rule::kJwt, end);
    if (!v::jwt_header(t_.substr(begin, dot - begin))) return;
    add(kJwt, begin, end, 0.97);
  }

  struct Value {
    std::size_t begin = 0;
    std::size_t end = 0;
    bool quoted = false;
  };

  // The value of an assignment whose separator ends at `pos`: quoted (also JSON-escaped
  // quotes), or up to whitespace or punctuation that ends a value in configs and URLs.
  bool read_value(std::size_t pos, Value& value) const {
    std::size_t p = pos;
    while (p < n_ && (t_[p] == ' ' || t_[p] == '\t')) ++p;
    if (p >= n_) return false;
    // Typographic quotes: « x » (with the French spaces), “x”, „x“, ‘x’.
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kQuotes = {{
        {"\xC2\xAB", "\xC2\xBB"},
        {"\xE2\x80\x9C", "\xE2\x80\x9D"},
        {"\xE2\x80\x9E", "\xE2\x80\x9C"},
        {"\xE2\x80\x98", "\xE2\x80\x99"},
    }};
    for (const auto& [open, close] : kQuotes) {
      if (t_.substr(p, open.size()) != open) continue;
      // French typography puts (no-break) spaces inside the guillemets.
      std::size_t begin = p + open.size();
      while (true) {
        if (at(begin) == ' ') {
          ++begin;
        } else if (at(begin) == '\xC2' && at(begin + 1) == '\xA0') {
          begin += 2;
        } else {
          break;
        }
      }
      const std::size_t close_at = t_.find(close, begin);
      if (close_at == kNpos || close_at - begin > 512) return false;
      std::size_t end = close_at;
      while (end > begin) {
        if (t_[end - 1] == ' ') {
          --end;
        } else if (end - begin >= 2 && t_[end - 2] == '\xC2' && t_[end - 1] == '\xA0') {
          end -= 2;
        } else {
          break;
        }
      }
      if (t_.substr(begin, end - begin).find('\n') != kNpos) return false;
      value = {begin, end, true};
      return end > begin;
    }
    if (t_[p] == '\\' && (at(p + 1) == '"' || at(p + 1) == '\'')) {
      const char quote = t_[p + 1];
      const std::size_t begin = p + 2;
      std::size_t q = begin;
      while (q + 1 < n_ && !(t_[q] == '\\' && t_[q + 1] == quote) && t_[q] != '\n' &&
             q - begin < 512) {
        ++q;
      }
      if (q + 1 >= n_ || t_[q] != '\\') return false;
      value = {begin, q, true};
      return q > begin;
    }
    if (t_[p] == '"' || t_[p] == '\'' || t_[p] == '`') {
      const char quote = t_[p];
      const std::size_t begin = p + 1;
      std::size_t q = begin;
      while (q < n_ && t_[q] != quote && t_[q] != '\n' && q - begin < 512) {
        q += (t_[q] == '\\') ? 2 : 1;
      }
      if (q >= n_ || t_[q] != quote) return false;
      value = {begin, q, true};
      return q > begin;
    }
    const std::size_t begin = p;
    while (p < n_ && p - begin < 512) {
      const char c = t_[p];
      if (is_space(c) || c == ',' || c == ';' || c == '&' || c == '"' || c == '\'' || c == '<' ||
          c == '>' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
          c == '|' || c == '`') {
        break;
      }
      ++p;
    }
    while (p > begin && t_[p - 1] == '.') --p;
    value = {begin, p, false};
    return p > begin;
  }

  // Whether an assigned value is a real value rather than a placeholder, a template, a type
  // or a code expression (`password = request.form["password"]`).
  bool real_value(const Value& value) const {
    const std::string_view text = t_.substr(value.begin, value.end - value.begin);
    if (text.find_first_not_of(text[0]) == kNpos && text.size() > 1) return false;  // ****, xxxx
    const char first = text[0];
    if (first == '$' || first == '%' || first == '<' || first == '{' || first == '[' ||
        first == '=' || first == '*' || first == '#') {
      return false;
    }
    if (text.find("{{") != kNpos || text.find("${") != kNpos || text.find("%(") != kNpos) {
      return false;
    }
    static constexpr std::array<std::string_view, 36> kPlaceholders = {
        "null",       "none",      "nil",      "undefined",     "true",        "false",
        "yes",        "no",        "required", "optional",      "string",      "str",
        "text",       "password",  "passwd",   "secret",        "token",       "redacted",
        "[redacted]", "hidden",    "masked",   "example",       "placeholder", "xxx",
        "todo",       "tbd",       "env",      "empty",         "...",         "bytes",
        "int",        "secretstr", "any",      "optional[str]", "pwd",         "changeit"};
    std::array<char, 16> lower{};
    if (text.size() < lower.size()) {
      for (std::size_t i = 0; i < text.size(); ++i) lower[i] = to_lower(text[i]);
      if (one_of(std::string_view(lower.data(), text.size()), kPlaceholders)) return false;
    }
    if (starts_with_lower(text, "your") || starts_with_lower(text, "my_") ||
        contains_lower(text, "example") || contains_lower(text, "placeholder") ||
        contains_lower(text, "redacted") || contains_lower(text, "_here")) {
      return false;
    }
    if (!value.quoted) {
      const char next = at(value.end);
      if (next == '(' || next == '[') return false;  // a call or an index
      // An identifier or a member chain (self.password, os.environ, cfg.Password).
      bool identifier = is_alpha(first) || first == '_';
      bool dotted = false;
      bool digit = false;
      for (char c : text) {
        if (c == '.') {
          dotted = true;
        } else if (is_digit(c)) {
          digit = true;
        } else if (!is_word(c)) {
          identifier = false;
        }
      }
      if (identifier && dotted && !digit) return false;
      if (identifier && !digit &&
          (contains_lower(text, "pass") || contains_lower(text, "pwd") ||
           contains_lower(text, "secret") || contains_lower(text, "token") ||
           contains_lower(text, "key") || contains_lower(text, "cred"))) {
        return false;
      }
    }
    return true;
  }

  // After a keyword ending at `to`: a closing quote (JSON-escaped too), blanks and one of
  // ":", "=", ":=", "=>". Returns where the value may start, or npos.
  std::size_t assignment(std::size_t to) const {
    std::size_t p = to;
    if (at(p) == '\\' && (at(p + 1) == '"' || at(p + 1) == '\'')) {
      p += 2;
    } else if (at(p) == '"' || at(p) == '\'') {
      ++p;
    }
    while (at(p) == ' ' || at(p) == '\t') ++p;
    if ((at(p) == ':' && at(p + 1) == '=') || (at(p) == '=' && at(p + 1) == '>')) return p + 2;
    if (at(p) == ':' || at(p) == '=') return p + 1;
    return kNpos;
  }

  void password_assign(std::size_t to) {
    const std::size_t value_at = assignment(to);
    if (value_at == kNpos) return;
    const std::size_t p = to;
    std::size_t from = p;
    while (from > 0 && is_alpha(t_[from - 1]) && p - from < 32) --from;
    const std::string_view keyword = t_.substr(from, p - from);
    // "pass" and "pwd" only as words of their own (not bypass:, compass =).
    for (std::string_view short_word : {std::string_view("pass"), std::string_view("pwd")}) {
      if (keyword.size() > short_word.size() &&
          equals_lower(keyword.substr(keyword.size() - short_word.size()), short_word)) {
        return;
      }
    }
    Value value;
    if (!read_value(value_at, value) || value.end - value.begin < 3 ||
        value.end - value.begin > 128) {
      return;
    }
    if (!real_value(value)) return;
    if (equals_lower(keyword, "pwd") && t_[value.begin] == '/') return;  // a working directory
    add(kPassword, value.begin, value.end, value.quoted ? 0.9 : 0.8);
  }

  void url_credentials(std::size_t to) {
    const std::size_t at_sign = to - 1;
    const std::size_t colon = t_.rfind(':', at_sign);
    if (colon == kNpos || colon + 1 >= at_sign) return;
    Value value{colon + 1, at_sign, true};
    if (!real_value(value)) return;
    add(kPassword, value.begin, value.end, 0.9);
  }

  struct CharClasses {
    bool lower = false;
    bool upper = false;
    bool digit = false;
    bool other = false;
    int count() const { return lower + upper + digit + other; }
  };

  static CharClasses classes_of(std::string_view text) {
    CharClasses classes;
    for (char c : text) {
      if (is_lower(c)) {
        classes.lower = true;
      } else if (is_upper(c)) {
        classes.upper = true;
      } else if (is_digit(c)) {
        classes.digit = true;
      } else {
        classes.other = true;
      }
    }
    return classes;
  }

  void secret_assign(std::size_t to, bool generic_token) {
    const std::size_t value_at = assignment(to);
    Value value;
    if (value_at == kNpos || !read_value(value_at, value)) return;
    const std::string_view text = t_.substr(value.begin, value.end - value.begin);
    if (text.size() < 8 || !real_value(value)) return;
    const CharClasses classes = classes_of(text);
    if (generic_token) {
      if (text.size() < 16 || !classes.digit || !(classes.lower || classes.upper)) return;
      if (v::shannon_entropy(text) < 3.0) return;
      add(kSecret, value.begin, value.end, 0.75);
      return;
    }
    if (classes.count() < 2 && text.size() < 16) return;
    if (!classes.lower && !classes.upper && text.size() < 20) return;  // a number
    add(kSecret, value.begin, value.end, value.quoted ? 0.85 : 0.8);
  }

  void bearer(std::size_t to, std::size_t minimum) {
    const std::size_t begin = to - 1;
    std::size_t end = begin;
    while (end < n_ && (is_alnum(t_[end]) || t_[end] == '-' || t_[end] == '.' || t_[end] == '_' ||
                        t_[end] == '~' || t_[end] == '+' || t_[end] == '/' || t_[end] == '=')) {
      ++end;
    }
    while (end > begin && t_[end - 1] == '.') --end;
    if (end - begin < minimum) return;
    const Value value{begin, end, true};
    if (!real_value(value)) return;
    const CharClasses classes = classes_of(t_.substr(begin, end - begin));
    if (classes.count() < 2) return;
    add(kSecret, begin, end, 0.85);
  }

  // Whether a token next to a secret keyword looks random enough to be the secret itself.
  static bool high_entropy(std::string_view token) {
    if (token.size() < 16 || token.size() > 512) return false;
    const CharClasses classes = classes_of(token);
    if (!classes.digit || !(classes.lower || classes.upper)) return false;
    if (token[0] == '/' || token.substr(0, 2) == "./") return false;  // a path
    if (token.size() >= 10 && is_digit(token[0]) && is_digit(token[3]) && token[4] == '-') {
      return false;  // an ISO timestamp
    }
    const std::size_t dot = token.rfind('.');
    if (dot != kNpos && token.size() - dot <= 5) {
      bool extension = true;
      for (std::size_t i = dot + 1; i < token.size(); ++i)
        extension = extension && is_lower(token[i]);
      if (extension) return false;  // a file name
    }
    const double entropy = v::shannon_entropy(token);
    return entropy >= (token.size() < 24 ? 3.2 : 3.5);
  }

  static bool secret_char(char c) {
    return is_alnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' || c == '.' ||
           c == '~';
  }

  // The first few words after the keyword, on its line and before the clause ends.
  void secret_keyword(std::size_t to) {
    if (is_alpha(at(to))) return;  // secretary, tokens
    const std::size_t limit = std::min(n_, to + 48);
    std::size_t p = to;
    int tokens = 0;
    while (p < limit && tokens < 4) {
      if (!secret_char(t_[p])) {
        const char c = t_[p];
        if (c == '\n' || c == ';' || c == ',' || c == '}' || c == ']' || c == ')') return;
        ++p;
        continue;
      }
      ++tokens;
      const std::size_t begin = p;
      while (p < n_ && secret_char(t_[p]) && p - begin < 512) ++p;
      std::size_t end = p;
      while (end > begin && (t_[end - 1] == '.' || t_[end - 1] == '-')) --end;
      if (high_entropy(t_.substr(begin, end - begin)) && !is_word(before(begin))) {
        add(kSecret, begin, end, 0.7);
        return;
      }
    }
  }

  // --- custom entities ---

  void custom_regex(const Pattern& pattern, std::size_t from, std::size_t to) {
    if (to <= from) return;
    const CustomInfo& info = impl_.custom[pattern.custom];
    double confidence = 0.9;
    if (!info.validator.empty()) {
      if (!v::run_named(info.validator, t_.substr(from, to - from))) return;
      confidence = 0.97;
    }
    add(pattern.entity, from, to, confidence);
  }

  // The first word of some terms ends at `to` (its length in bytes is the pattern's): the
  // words after it, across any run of white space, extend the key while it is the beginning of
  // some term; wherever it is a whole term standing as a whole word, that is a finding. The
  // last word may be followed by punctuation ("Acme Corp.,"): every prefix of the last text
  // token is tried.
  void custom_term(const Pattern& pattern, std::size_t to) {
    const std::size_t begin = to - pattern.custom;
    if (word_glued(begin, /*before=*/true)) return;
    std::string key = folded(t_.substr(begin, to - begin));
    emit_term(key, begin, to);
    std::size_t pos = to;
    for (std::size_t words = 1; words < impl_.longest_term; ++words) {
      if (!impl_.term_prefixes.contains(key)) return;
      std::size_t next = pos;
      while (next < n_ && (is_space(t_[next]) || (t_[next] == '\xC2' && at(next + 1) == '\xA0'))) {
        next += t_[next] == '\xC2' ? 2 : 1;
      }
      if (next == pos || next >= n_) return;
      std::size_t token_end = next;
      while (token_end < n_ && token_end - next < 128 && !is_space(t_[token_end]) &&
             !(t_[token_end] == '\xC2' && at(token_end + 1) == '\xA0')) {
        ++token_end;
      }
      // Every prefix of the token that ends on a character boundary, longest first.
      for (std::size_t end = token_end; end > next; --end) {
        if (end < n_ && (static_cast<unsigned char>(t_[end]) & 0xC0) == 0x80) continue;
        std::string candidate = key;
        append_space(candidate);
        candidate += folded(t_.substr(next, end - next));
        emit_term(candidate, begin, end);
      }
      append_space(key);
      key += folded(t_.substr(next, token_end - next));
      pos = token_end;
    }
  }

  void emit_term(const std::string& key, std::size_t begin, std::size_t end) {
    const auto term = impl_.terms.find(key);
    if (term == impl_.terms.end() || word_glued(end, /*before=*/false)) return;
    for (const std::uint32_t entity : term->second.entities) add(entity, begin, end, 0.9);
  }

  // Whether the term edge at `pos` runs into a word: a word character on both sides of it.
  bool word_glued(std::size_t pos, bool before_edge) const {
    if (pos == 0 || pos >= n_) return false;
    std::size_t length = 0;
    const char32_t inside =
        before_edge ? v::code_point_at(t_, pos, &length) : v::previous_code_point(t_, pos);
    const char32_t outside =
        before_edge ? v::previous_code_point(t_, pos) : v::code_point_at(t_, pos, &length);
    return v::is_word_code_point(inside) && v::is_word_code_point(outside);
  }

  std::string_view t_;
  std::size_t n_;
  const Tables& impl_;
  std::vector<Candidate>& out_;
  std::array<std::size_t, static_cast<std::size_t>(Rule::kCount)> done_{};
  // The last table whose columns were read: its header line's end and its rows' end.
  std::size_t table_header_end_ = 0;
  std::size_t table_end_ = 0;
};

// Of overlapping candidates the more confident wins, then the longer, then the earlier.
std::vector<Finding> resolve(std::vector<Candidate>& candidates) {
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.confidence != b.confidence) return a.confidence > b.confidence;
    if (a.end - a.begin != b.end - b.begin) return a.end - a.begin > b.end - b.begin;
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.entity < b.entity;
  });
  std::vector<Finding> findings;
  if (candidates.size() <= 32) {  // the usual case: a linear check beats a tree
    for (const Candidate& candidate : candidates) {
      const bool overlaps = std::any_of(findings.begin(), findings.end(), [&](const Finding& f) {
        return f.begin < candidate.end && candidate.begin < f.end;
      });
      if (!overlaps) {
        findings.push_back(
            {candidate.entity, candidate.begin, candidate.end, candidate.confidence});
      }
    }
    std::sort(findings.begin(), findings.end(),
              [](const Finding& a, const Finding& b) { return a.begin < b.begin; });
    return findings;
  }
  std::map<std::size_t, const Candidate*> accepted;  // by begin
  for (const Candidate& candidate : candidates) {
    auto next = accepted.lower_bound(candidate.begin);
    if (next != accepted.end() && next->first < candidate.end) continue;
    if (next != accepted.begin() && std::prev(next)->second->end > candidate.begin) continue;
    accepted.emplace(candidate.begin, &candidate);
  }
  findings.reserve(accepted.size());
  for (const auto& [begin, candidate] : accepted) {
    findings.push_back(
        {candidate->entity, candidate->begin, candidate->end, candidate->confidence});
  }
  return findings;
}

// A word of a custom term as a pattern: every byte a literal, letters of both cases (ASCII
// through the caseless flag, other scripts as alternations).
std::string term_expression(std::string_view term) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto byte_escape = [](std::string& out, unsigned char byte) {
    out += "\\x";
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  };
  auto utf8 = [&](std::string& out, char32_t c) {
    std::array<unsigned char, 4> bytes{};
    std::size_t n;
    if (c < 0x80) {
      bytes[0] = static_cast<unsigned char>(c);
      n = 1;
    } else if (c < 0x800) {
      bytes[0] = static_cast<unsigned char>(0xC0 | (c >> 6));
      bytes[1] = static_cast<unsigned char>(0x80 | (c & 0x3F));
      n = 2;
    } else if (c < 0x10000) {
      bytes[0] = static_cast<unsigned char>(0xE0 | (c >> 12));
      bytes[1] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
      bytes[2] = static_cast<unsigned char>(0x80 | (c & 0x3F));
      n = 3;
    } else {
      bytes[0] = static_cast<unsigned char>(0xF0 | (c >> 18));
      bytes[1] = static_cast<unsigned char>(0x80 | ((c >> 12) & 0x3F));
      bytes[2] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
      bytes[3] = static_cast<unsigned char>(0x80 | (c & 0x3F));
      n = 4;
    }
    for (std::size_t i = 0; i < n; ++i) byte_escape(out, bytes[i]);
  };
  std::string expression;
  std::size_t p = 0;
  while (p < term.size()) {
    std::size_t length = 1;
    const char32_t c = v::code_point_at(term, p, &length);
    if (c < 0x80) {
      if (is_alnum(static_cast<char>(c))) {
        expression += static_cast<char>(c);
      } else {
        byte_escape(expression, static_cast<unsigned char>(c));
      }
    } else if (const char32_t other = v::other_case(c); other != c) {
      expression += "(?:";
      utf8(expression, c);
      expression += '|';
      utf8(expression, other);
      expression += ')';
    } else {
      utf8(expression, c);
    }
    p += length;
  }
  return expression;
}

}  // namespace

Scanner::Scanner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Scanner::~Scanner() = default;

const std::vector<std::string>& Scanner::builtin_entities() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> result;
    for (const BuiltinInfo& info : kBuiltins) result.emplace_back(info.name);
    return result;
  }();
  return names;
}

const std::vector<std::string>& Scanner::validator_names() {
  static const std::vector<std::string> names = {"luhn", "mod97", "mod11", "aba", "verhoeff"};
  return names;
}

Expected<std::shared_ptr<const Scanner>, std::string> Scanner::create(
    const ScannerSettings& settings) {
  auto impl = std::make_unique<Impl>();
  std::array<bool, kBuiltinCount> enabled{};
  enabled.fill(true);
  for (const std::string& name : settings.disabled) {
    const auto& names = builtin_entities();
    const auto found = std::find(names.begin(), names.end(), name);
    if (found == names.end()) {
      return unexpected("privacy: unknown built-in entity '" + name + "' in disabled");
    }
    enabled[static_cast<std::size_t>(found - names.begin())] = false;
  }
  impl->tables.enabled = enabled;
  // Every built-in entity keeps its index, enabled or not, so that findings are comparable
  // across configurations.
  for (const BuiltinInfo& info : kBuiltins) {
    EntityInfo entity{info.name, info.placeholder, {info.label}};
    if (info.second_label != nullptr) entity.labels.emplace_back(info.second_label);
    impl->entities.push_back(std::move(entity));
  }
  for (const BuiltinPattern& pattern : kBuiltinPatterns) {
    const bool wanted = pattern.rule == Rule::kShapes
                            ? std::any_of(kShapeEntities.begin(), kShapeEntities.end(),
                                          [&](Builtin entity) { return enabled[entity]; })
                            : enabled[pattern.entity];
    if (!wanted) continue;
    if (pattern.expression == nullptr) {
      impl->tables.class_anchors.push_back(
          static_cast<std::uint32_t>(impl->tables.patterns.size()));
    }
    impl->tables.patterns.push_back({pattern.expression != nullptr ? pattern.expression : "",
                                     pattern.flags, pattern.rule, pattern.entity, 0});
  }

  std::vector<std::string> custom_names;
  std::unordered_set<std::string> first_words;  // folded, one literal pattern each
  for (const CustomEntity& custom : settings.custom) {
    const std::string where = "privacy: custom entity '" + custom.name + "': ";
    if (custom.name.empty()) return unexpected(std::string("privacy: a custom entity has no name"));
    if (std::find(custom_names.begin(), custom_names.end(), custom.name) != custom_names.end()) {
      return unexpected(where + "defined twice");
    }
    custom_names.push_back(custom.name);
    const bool has_pattern = !custom.pattern.empty();
    const bool has_terms = !custom.terms.empty();
    if (has_pattern == has_terms) {
      return unexpected(where + "needs exactly one of a pattern and a non-empty term list");
    }
    if (!custom.validator.empty()) {
      if (!has_pattern) return unexpected(where + "a validator applies to a pattern only");
      if (!v::known_name(custom.validator)) {
        return unexpected(where + "unknown validator '" + custom.validator + "'");
      }
    }
    EntityInfo entity;
    entity.name = "custom:" + custom.name;
    entity.labels = custom.labels.empty() ? std::vector<std::string>{entity.name} : custom.labels;
    entity.placeholder = custom.placeholder;
    if (entity.placeholder.empty()) {
      for (char c : custom.name) {
        const char upper = is_lower(c) ? static_cast<char>(c - 32) : c;
        entity.placeholder += (is_upper(upper) || is_digit(upper)) ? upper : '_';
      }
    }
    const auto entity_index = static_cast<std::uint32_t>(impl->entities.size());
    const auto custom_index = static_cast<std::uint32_t>(impl->tables.custom.size());
    impl->entities.push_back(std::move(entity));
    impl->tables.custom.push_back({custom.validator});
    if (has_pattern) {
      if (first_invalid_utf8(custom.pattern) != kNpos) {
        return unexpected(where + "the pattern is not valid UTF-8");
      }
      impl->tables.patterns.push_back({custom.pattern, HS_FLAG_SOM_LEFTMOST | HS_FLAG_UTF8,
                                       Rule::kCustomRegex, entity_index, custom_index});
      continue;
    }
    for (const std::string& raw : custom.terms) {
      if (first_invalid_utf8(raw) != kNpos) return unexpected(where + "a term is not valid UTF-8");
      const std::vector<std::string> words = words_of(raw);
      if (words.empty()) return unexpected(where + "an empty term");
      std::string key = folded(words[0]);
      if (first_words.insert(key).second) {
        impl->tables.patterns.push_back({term_expression(words[0]), HS_FLAG_CASELESS,
                                         Rule::kCustomTerm, entity_index,
                                         static_cast<std::uint32_t>(words[0].size())});
      }
      for (std::size_t w = 1; w < words.size(); ++w) {
        impl->tables.term_prefixes.insert(key);
        append_space(key);
        key += folded(words[w]);
      }
      auto& entities = impl->tables.terms[key].entities;
      if (std::find(entities.begin(), entities.end(), entity_index) == entities.end()) {
        entities.push_back(entity_index);
      }
      impl->tables.longest_term = std::max(impl->tables.longest_term, words.size());
    }
  }

  if (impl->tables.patterns.size() > impl->tables.class_anchors.size()) {
    std::vector<const char*> expressions;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (std::size_t i = 0; i < impl->tables.patterns.size(); ++i) {
      if (impl->tables.patterns[i].expression.empty()) continue;  // a class anchor
      expressions.push_back(impl->tables.patterns[i].expression.c_str());
      flags.push_back(impl->tables.patterns[i].flags);
      ids.push_back(static_cast<unsigned>(i));
    }
    hs_compile_error_t* error = nullptr;
    const hs_error_t status = hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                                               static_cast<unsigned>(expressions.size()),
                                               HS_MODE_BLOCK, nullptr, &impl->database, &error);
    if (status != HS_SUCCESS) {
      std::string message = error != nullptr ? error->message : "compilation failed";
      std::string subject = "privacy: ";
      if (error != nullptr && error->expression >= 0) {
        // error->expression counts the compiled expressions; class anchors are not among them.
        const Pattern& pattern =
            impl->tables.patterns[ids[static_cast<std::size_t>(error->expression)]];
        subject =
            pattern.entity >= kBuiltinCount
                ? "privacy: custom entity '" + impl->entities[pattern.entity].name.substr(7) + "': "
                : "privacy: built-in pattern of '" + impl->entities[pattern.entity].name + "': ";
      }
      hs_free_compile_error(error);
      return unexpected(subject + message);
    }
  }
  return std::shared_ptr<const Scanner>(new Scanner(std::move(impl)));
}

Expected<std::vector<Finding>, InvalidText> Scanner::scan(std::string_view text) const {
  if (const std::size_t invalid = first_invalid_utf8(text); invalid != kNpos) {
    return unexpected(
        InvalidText{invalid, "text is not valid UTF-8 at byte " + std::to_string(invalid)});
  }
  if (impl_->tables.patterns.empty() || text.empty()) return std::vector<Finding>{};

  ThreadScratch& local = thread_scratch;
  if (impl_->database != nullptr && local.ready_for != impl_->serial) {
    if (hs_alloc_scratch(impl_->database, &local.scratch) != HS_SUCCESS) throw std::bad_alloc();
    local.ready_for = impl_->serial;
  }
  local.hits.clear();
  local.candidates.clear();

  // Vectorscan takes lengths as unsigned int; longer texts go in overlapping pieces (a value
  // longer than the overlap across a piece boundary is the price of texts over 4 GiB).
  constexpr std::size_t kPiece = std::size_t{1} << 30;
  constexpr std::size_t kOverlap = std::size_t{1} << 16;
  for (std::size_t offset = 0; impl_->database != nullptr && offset < text.size();
       offset += kPiece) {
    const std::size_t start = offset == 0 ? 0 : offset - kOverlap;
    const std::size_t length = std::min(text.size() - start, kPiece + (offset - start));
    const std::size_t first_hit = local.hits.size();
    const hs_error_t status =
        hs_scan(impl_->database, text.data() + start, static_cast<unsigned>(length), 0,
                local.scratch, on_match, &local.hits);
    assert(status == HS_SUCCESS && "hs_scan failed");
    (void)status;
    for (std::size_t i = first_hit; i < local.hits.size(); ++i) {
      local.hits[i].from += start;
      local.hits[i].to += start;
    }
  }
  // Reports come in order of their end, not always across engines; the handlers that skip
  // repeated reports of one token need them ordered.
  const auto by_end = [](const Hit& a, const Hit& b) {
    return a.to != b.to ? a.to < b.to : a.pattern < b.pattern;
  };
  if (!std::is_sorted(local.hits.begin(), local.hits.end(), by_end)) {
    std::sort(local.hits.begin(), local.hits.end(), by_end);
  }
  for (const std::uint32_t anchor : impl_->tables.class_anchors) {
    local.anchor_ends.clear();
    find_class_anchor(impl_->tables.patterns[anchor].rule, text, local.anchor_ends);
    const auto middle = static_cast<std::ptrdiff_t>(local.hits.size());
    for (std::size_t end : local.anchor_ends) local.hits.push_back({anchor, end, end});
    std::inplace_merge(local.hits.begin(), local.hits.begin() + middle, local.hits.end(), by_end);
  }
  Matcher matcher(text, impl_->tables, local.candidates);
  for (const Hit& hit : local.hits) matcher.handle(hit);
  std::vector<Finding> findings = resolve(local.candidates);
  // One huge text must not leave each thread holding its buffers for good.
  constexpr std::size_t kKeep = std::size_t{1} << 16;
  if (local.hits.capacity() > kKeep) std::vector<Hit>().swap(local.hits);
  if (local.anchor_ends.capacity() > kKeep) std::vector<std::size_t>().swap(local.anchor_ends);
  if (local.candidates.capacity() > kKeep) std::vector<Candidate>().swap(local.candidates);
  return findings;
}

const std::vector<EntityInfo>& Scanner::entities() const { return impl_->entities; }

const EntityInfo& Scanner::entity(const Finding& finding) const {
  assert(finding.entity < impl_->entities.size() && "finding of another scanner");
  return impl_->entities[finding.entity];
}

}  // namespace hearth::privacy
