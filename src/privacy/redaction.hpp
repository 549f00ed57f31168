// Redact and restore: before a request leaves for a cloud model each chosen finding is replaced by
// a typed, numbered placeholder ([EMAIL_1]; the same value gets the same placeholder within the
// request), and the placeholders in the answer are put back before the client sees it. The mapping
// lives only in this object, for the request's lifetime.
#pragma once

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "privacy/scanner.hpp"

namespace hearth::privacy {

class Redaction {
 public:
  // `text` with every finding replaced by its placeholder. Findings must be sorted and not
  // overlap (as Scanner::scan returns them); `entities` is the scanner's entity table.
  std::string redact(std::string_view text, std::span<const Finding> findings,
                     const std::vector<EntityInfo>& entities);

  // `text` with every placeholder this redaction handed out replaced by its value; anything else,
  // brackets that are no placeholder of ours included, is left as it is.
  std::string restore(std::string_view text) const;
  // The same, with each value escaped as the inside of a JSON string (for text that is itself
  // JSON, like tool-call arguments).
  std::string restore_json_escaped(std::string_view text) const;

  bool empty() const { return values_.empty(); }
  std::size_t size() const { return values_.size(); }
  // The longest placeholder handed out, in bytes (brackets included); 0 when none.
  std::size_t longest_placeholder() const { return longest_; }

 private:
  friend class StreamRestorer;

  std::string restore_with(std::string_view text, bool json_escaped) const;
  // The value of the placeholder `text` opens with (text starts with '['), its length in
  // `length`; nullptr when it opens with none of ours.
  const std::string* match(std::string_view text, std::size_t& length) const;
  // Whether `tail` (a '[' and no ']') is the beginning of a placeholder handed out.
  bool could_grow_into_placeholder(std::string_view tail) const;

  // placeholder -> value
  std::map<std::string, std::string, std::less<>> values_;
  // prefix + '\0' + value -> placeholder
  std::map<std::string, std::string, std::less<>> placeholders_;
  // prefix -> last number used
  std::map<std::string, int, std::less<>> counters_;
  std::size_t longest_ = 0;
};

// Restores one stream of text (a choice's content, one tool call's arguments) that arrives in
// pieces: a tail that may be the beginning of a placeholder split across pieces is held back
// until the next piece shows what it is.
class StreamRestorer {
 public:
  StreamRestorer(const Redaction& redaction, bool json_escaped)
      : redaction_(&redaction), json_escaped_(json_escaped) {}

  std::string feed(std::string_view piece);
  std::string finish();  // whatever is held back, restored

 private:
  const Redaction* redaction_;
  bool json_escaped_;
  std::string held_;
};

}  // namespace hearth::privacy
