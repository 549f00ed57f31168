// Detection of sensitive data in request and answer texts: every built-in and configured pattern
// is compiled into one Vectorscan database and matched in a single pass over the text; each
// candidate is then validated (checksums, context words, entropy) before it becomes a finding.
// Findings carry a type, a byte span and a confidence, never a copy of the value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/utf8.hpp"

namespace hearth::privacy {

// One kind of thing the scanner finds.
struct EntityInfo {
  std::string name;                 // "email", "card", ... or "custom:<name>"
  std::string placeholder;          // the redaction prefix: "EMAIL" gives [EMAIL_1], [EMAIL_2]
  std::vector<std::string> labels;  // "pii", "financial", "health", "secret", "custom:<name>"
};

struct Finding {
  std::uint32_t entity = 0;  // index into Scanner::entities()
  std::size_t begin = 0;     // byte offsets in the scanned text: [begin, end)
  std::size_t end = 0;
  double confidence = 0;  // 0..1: how sure the validation is that this is the real thing

  bool operator==(const Finding&) const = default;
};

// A configured entity: a regular expression (Vectorscan syntax, optionally checked by one of
// `validator_names()`), or a list of terms matched case-insensitively as whole words.
struct CustomEntity {
  std::string name;
  std::string pattern;  // exactly one of pattern and terms
  std::vector<std::string> terms;
  std::string validator;            // "" or one of validator_names(); pattern only
  std::vector<std::string> labels;  // default {"custom:<name>"}
  std::string placeholder;          // default: the name upper-cased, other than [A-Z0-9] as '_'
};

struct ScannerSettings {
  std::vector<std::string> disabled;  // built-in entity names not looked for
  std::vector<CustomEntity> custom;
};

// Text that is not valid UTF-8: an input error, the request is refused.
struct InvalidText {
  std::size_t offset = 0;  // of the first invalid byte
  std::string message;
};

class Scanner {
 public:
  // Compiles the database. An unknown disabled name, an invalid or empty custom pattern, an
  // unknown validator or an empty term list is an error naming the entity.
  static Expected<std::shared_ptr<const Scanner>, std::string> create(
      const ScannerSettings& settings);

  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;
  ~Scanner();

  // The findings in `text`, sorted by `begin`, not overlapping (of overlapping candidates the
  // higher confidence wins, then the longer). Safe to call from several threads at once.
  Expected<std::vector<Finding>, InvalidText> scan(std::string_view text) const;

  const std::vector<EntityInfo>& entities() const;
  const EntityInfo& entity(const Finding& finding) const;

  // The built-in entity names, in a fixed order.
  static const std::vector<std::string>& builtin_entities();
  // Checks a custom pattern may ask for: "luhn", "mod97" (IBAN-style), "mod11" (NHS-style),
  // "aba" (routing-number weights), "verhoeff".
  static const std::vector<std::string>& validator_names();

 private:
  struct Impl;
  explicit Scanner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::privacy
