// Turns a growing sequence of token pieces into text that is safe to send: never half a UTF-8
// character, never the start of what may become a stop string, and nothing after a stop string.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::engine {

// Length of the longest prefix of `text` that does not end inside an incomplete UTF-8 sequence.
std::size_t complete_utf8_prefix(std::string_view text);

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop_strings);

  struct Update {
    std::string text;      // new text that may be sent now
    bool stopped = false;  // a stop string was found: generation must end
  };

  // Appends a token's piece and returns what became safe to send.
  Update append(std::string_view piece);
  // Flushes what was held back (at the end of generation, when no stop can follow).
  std::string finish();

  const std::string& text() const { return text_; }  // everything accepted, stop excluded

 private:
  std::vector<std::string> stop_strings_;
  std::string text_;
  std::size_t sent_ = 0;
  bool stopped_ = false;
};

}  // namespace hearth::engine
