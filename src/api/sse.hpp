// Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// writing the "data:" frames that OpenAI streaming uses, and reading them back incrementally.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hearth::api {

// "data: <json>\n\n". A payload holding newlines is split over several data lines, so that the
// receiver joins it back unchanged.
std::string sse_data(std::string_view json);

// "data: [DONE]\n\n", the sentinel OpenAI sends after the last chunk.
std::string sse_done();

struct SseEvent {
  std::string event;  // the "event:" field; empty when the event did not name one
  std::string data;   // "data:" lines joined with "\n"

  bool is_done() const { return data == "[DONE]"; }
};

// Reads an event stream that arrives in arbitrary pieces: feed() buffers an incomplete line and
// returns the events completed by the bytes given so far. Lines may end in "\n", "\r\n" or "\r";
// lines starting with ':' are comments; "id" and "retry" fields are ignored.
class SseParser {
 public:
  std::vector<SseEvent> feed(std::string_view bytes);

 private:
  void process_line(std::string_view line, std::vector<SseEvent>& events);

  std::string partial_line_;
  std::string event_name_;
  std::string data_;
  bool has_data_ = false;
  // A "\r" ended the previous piece; a "\n" opening the next one belongs to the same line end.
  bool last_was_cr_ = false;
  bool at_stream_start_ = true;  // a UTF-8 byte order mark may open the stream
};

}  // namespace hearth::api
