#include "api/sse.hpp"

#include <cstring>
#include <utility>

namespace hearth::api {

std::string sse_data(std::string_view json) {
  std::string frame;
  frame.reserve(json.size() + 8);
  size_t line_start = 0;
  while (true) {
    const size_t line_end = json.find('\n', line_start);
    frame += "data: ";
    frame += json.substr(line_start, line_end - line_start);
    frame += '\n';
    if (line_end == std::string_view::npos) break;
    line_start = line_end + 1;
  }
  frame += '\n';
  return frame;
}

std::string sse_done() { return "data: [DONE]\n\n"; }

namespace {

// The first '\r' or '\n' from `position`: string_view::find_first_of calls memchr on the two
// characters for every byte it passes, which costs more than the rest of the parser.
size_t find_line_end(std::string_view bytes, size_t position) {
  const std::string_view rest = bytes.substr(position);
  const void* newline = std::memchr(rest.data(), '\n', rest.size());
  const size_t newline_at = newline != nullptr ? static_cast<const char*>(newline) - bytes.data()
                                               : std::string_view::npos;
  // A '\r' ends a line too, but only one before the '\n' matters.
  const size_t cr_search = newline != nullptr ? newline_at - position : rest.size();
  const void* carriage_return = std::memchr(rest.data(), '\r', cr_search);
  return carriage_return != nullptr ? static_cast<const char*>(carriage_return) - bytes.data()
                                    : newline_at;
}

}  // namespace

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  std::vector<SseEvent> events;
  if (at_stream_start_ && !bytes.empty()) {
    // The BOM may itself arrive split; wait until the first three bytes are known.
    partial_line_ += bytes;
    if (partial_line_.size() < 3 && std::string_view("\xEF\xBB\xBF").starts_with(partial_line_)) {
      return events;
    }
    at_stream_start_ = false;
    std::string buffered = std::exchange(partial_line_, {});
    std::string_view rest = buffered;
    if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);
    return feed(rest);
  }

  size_t position = 0;
  if (last_was_cr_ && !bytes.empty()) {
    last_was_cr_ = false;
    if (bytes.front() == '\n') position = 1;
  }
  while (position < bytes.size()) {
    const size_t line_end = find_line_end(bytes, position);
    if (line_end == std::string_view::npos) {
      partial_line_ += bytes.substr(position);
      break;
    }
    std::string_view line = bytes.substr(position, line_end - position);
    if (!partial_line_.empty()) {
      partial_line_ += line;
      process_line(partial_line_, events);
      partial_line_.clear();
    } else {
      process_line(line, events);
    }
    position = line_end + 1;
    if (bytes[line_end] == '\r') {
      if (position == bytes.size()) {
        last_was_cr_ = true;
      } else if (bytes[position] == '\n') {
        ++position;
      }
    }
  }
  return events;
}

void SseParser::process_line(std::string_view line, std::vector<SseEvent>& events) {
  if (line.empty()) {
    // A blank line dispatches the event gathered so far; one without data is dropped.
    if (has_data_) {
      events.push_back(SseEvent{std::move(event_name_), std::move(data_)});
    }
    event_name_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment, used as a keep-alive

  std::string_view field = line;
  std::string_view value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  } else if (field == "event") {
    event_name_ = value;
  }
}

}  // namespace hearth::api
