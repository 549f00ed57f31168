#include "engine/text_stream.hpp"

#include <algorithm>

namespace hearth::engine {

namespace {

// Bytes a UTF-8 sequence has, judged by its lead byte; 0 for a continuation or invalid byte.
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) {
    return 1;
  }
  if ((lead & 0xE0) == 0xC0) {
    return 2;
  }
  if ((lead & 0xF0) == 0xE0) {
    return 3;
  }
  if ((lead & 0xF8) == 0xF0) {
    return 4;
  }
  return 0;
}

}  // namespace

std::size_t complete_utf8_prefix(std::string_view text) {
  // Look back at most 3 bytes for the lead byte of a sequence that runs past the end.
  const std::size_t size = text.size();
  for (std::size_t back = 1; back <= std::min<std::size_t>(3, size); ++back) {
    const auto byte = static_cast<unsigned char>(text[size - back]);
    if ((byte & 0xC0) == 0x80) {
      continue;  // continuation byte: keep looking for the lead
    }
    const std::size_t needed = sequence_length(byte);
    if (needed > back) {
      return size - back;
    }
    return size;
  }
  return size;
}

TextStream::TextStream(std::vector<std::string> stop_strings) {
  for (auto& stop : stop_strings) {
    if (!stop.empty()) {
      stop_strings_.push_back(std::move(stop));
    }
  }
}

TextStream::Update TextStream::append(std::string_view piece) {
  Update update;
  if (stopped_) {
    update.stopped = true;
    return update;
  }
  const std::size_t previous_size = text_.size();
  text_.append(piece);

  // A stop string can only be completed by the new piece: search from just before it.
  std::size_t earliest_stop = std::string::npos;
  for (const auto& stop : stop_strings_) {
    const std::size_t from = previous_size >= stop.size() ? previous_size - stop.size() + 1 : 0;
    const std::size_t position = text_.find(stop, from);
    if (position != std::string::npos) {
      earliest_stop = std::min(earliest_stop, position);
    }
  }
  if (earliest_stop != std::string::npos) {
    text_.resize(std::max(earliest_stop, sent_));
    stopped_ = true;
    update.stopped = true;
    update.text = text_.substr(sent_);
    sent_ = text_.size();
    return update;
  }

  // Hold back the longest tail that is a prefix of some stop string.
  std::size_t hold = 0;
  for (const auto& stop : stop_strings_) {
    const std::size_t longest = std::min(stop.size() - 1, text_.size());
    for (std::size_t length = longest; length > hold; --length) {
      if (std::string_view(text_).substr(text_.size() - length) ==
          std::string_view(stop).substr(0, length)) {
        hold = length;
        break;
      }
    }
  }
  std::size_t safe_end = text_.size() - hold;
  safe_end = complete_utf8_prefix(std::string_view(text_).substr(0, safe_end));
  if (safe_end > sent_) {
    update.text = text_.substr(sent_, safe_end - sent_);
    sent_ = safe_end;
  }
  return update;
}

std::string TextStream::finish() {
  std::string rest = text_.substr(std::min(sent_, text_.size()));
  sent_ = text_.size();
  return rest;
}

}  // namespace hearth::engine
