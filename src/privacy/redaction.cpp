#include "privacy/redaction.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "api/json_text.hpp"

namespace hearth::privacy {

namespace {

// Placeholders are matched from a '[' to the first ']' after it, so a prefix must hold neither.
std::string bracket_free(std::string_view prefix) {
  std::string cleaned(prefix);
  std::replace(cleaned.begin(), cleaned.end(), '[', '_');
  std::replace(cleaned.begin(), cleaned.end(), ']', '_');
  return cleaned;
}

}  // namespace

std::string Redaction::redact(std::string_view text, std::span<const Finding> findings,
                              const std::vector<EntityInfo>& entities) {
  std::string out;
  out.reserve(text.size());
  std::size_t position = 0;
  for (const Finding& finding : findings) {
    assert(finding.begin >= position && finding.begin <= finding.end &&
           finding.end <= text.size() && "findings must be sorted, in range and not overlap");
    assert(finding.entity < entities.size() && "finding of an unknown entity");
    out += text.substr(position, finding.begin - position);
    position = finding.end;

    const std::string prefix = bracket_free(entities[finding.entity].placeholder);
    const std::string_view value = text.substr(finding.begin, finding.end - finding.begin);
    std::string key;
    key.reserve(prefix.size() + 1 + value.size());
    key += prefix;
    key += '\0';
    key += value;
    auto known = placeholders_.find(key);
    if (known == placeholders_.end()) {
      const int number = ++counters_[prefix];
      std::string placeholder = "[" + prefix + "_" + std::to_string(number) + "]";
      longest_ = std::max(longest_, placeholder.size());
      values_.emplace(placeholder, std::string(value));
      known = placeholders_.emplace(std::move(key), std::move(placeholder)).first;
    }
    out += known->second;
  }
  out += text.substr(position);
  return out;
}

std::string Redaction::restore_with(std::string_view text, bool json_escaped) const {
  if (values_.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t position = 0;  // text before this is in `out`
  std::size_t open = text.find('[');
  while (open != std::string_view::npos) {
    std::size_t length = 0;
    const std::string* value = match(text.substr(open), length);
    if (value != nullptr) {
      out += text.substr(position, open - position);
      if (json_escaped) {
        api::append_json_escaped(out, *value);
      } else {
        out += *value;
      }
      position = open + length;
      open = text.find('[', position);
    } else {
      open = text.find('[', open + 1);
    }
  }
  out += text.substr(position);
  return out;
}

const std::string* Redaction::match(std::string_view text, std::size_t& length) const {
  assert(!text.empty() && text.front() == '[' && "a placeholder match starts at a bracket");
  const std::string_view window = text.substr(0, longest_);
  const std::size_t close = window.find(']');
  if (close == std::string_view::npos) return nullptr;
  const auto found = values_.find(window.substr(0, close + 1));
  if (found == values_.end()) return nullptr;
  length = close + 1;
  return &found->second;
}

bool Redaction::could_grow_into_placeholder(std::string_view tail) const {
  if (tail.size() >= longest_) return false;
  const auto candidate = values_.lower_bound(tail);
  return candidate != values_.end() && std::string_view(candidate->first).starts_with(tail);
}

std::string Redaction::restore(std::string_view text) const { return restore_with(text, false); }

std::string Redaction::restore_json_escaped(std::string_view text) const {
  return restore_with(text, true);
}

std::string StreamRestorer::feed(std::string_view piece) {
  if (redaction_->empty()) return std::string(piece);
  // The held tail is shorter than the longest placeholder, so putting it in front of the piece
  // costs no more than the piece itself.
  std::string buffer = std::move(held_);
  held_.clear();
  buffer += piece;
  const std::string_view text = buffer;

  // Only a '[' with no ']' after it can start a placeholder that is not complete yet; the first
  // such '[' whose tail may still grow into one is where holding back begins.
  std::size_t cut = text.size();
  const std::size_t last_close = text.rfind(']');
  std::size_t open = text.find('[', last_close == std::string_view::npos ? 0 : last_close + 1);
  // Tails longer than the longest placeholder cannot grow into one.
  if (open != std::string_view::npos && text.size() - open >= redaction_->longest_placeholder()) {
    open = text.find('[', text.size() - redaction_->longest_placeholder() + 1);
  }
  for (; open != std::string_view::npos; open = text.find('[', open + 1)) {
    if (redaction_->could_grow_into_placeholder(text.substr(open))) {
      cut = open;
      break;
    }
  }
  held_.assign(text.substr(cut));
  const std::string_view ready = text.substr(0, cut);
  return redaction_->restore_with(ready, json_escaped_);
}

std::string StreamRestorer::finish() {
  // A held tail is never a whole placeholder, so it goes out as it is.
  return std::exchange(held_, {});
}

}  // namespace hearth::privacy
