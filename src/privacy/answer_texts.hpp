// Placeholders in a cloud model's answer, put back before the client sees it, and the answer's
// texts for the scanner (secrets echoed back). Non-streamed answers are rewritten as a whole;
// streams are rewritten event by event, per choice and per tool call, holding back a placeholder
// split across events until it is complete.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "api/sse.hpp"
#include "privacy/redaction.hpp"

namespace hearth::privacy {

// A chat or completion answer body (OpenAI shape) with placeholders restored in every choice's
// message content, reasoning_content, refusal, tool-call arguments (JSON-escaped values) and
// completion text. A body that is not such an answer (an error) is restored as plain text.
std::string restore_answer(std::string_view body, const Redaction& redaction);

// The texts of an answer body (contents, reasoning, tool-call arguments, completion texts).
std::vector<std::string> answer_texts(std::string_view body);

// An OpenAI event stream, restored: feed() takes upstream bytes in any pieces and returns the
// bytes for the client (whole events only); finish() returns what is still held back — the held
// text of every choice goes out in one more chunk before "data: [DONE]" when the upstream ends
// without putting it anywhere else. The held text of a choice is put into that choice's chunk
// carrying its finish_reason. With nothing to restore (an empty redaction: the stream is only
// kept for the secret scan) the bytes go out as they came.
class StreamAnswerRestorer {
 public:
  explicit StreamAnswerRestorer(const Redaction& redaction) : redaction_(&redaction) {}

  std::string feed(std::string_view bytes);
  std::string finish();

  // Every text the stream carried, as upstream sent it (before restoring), joined per choice,
  // field and tool call: for scanning the answer once it is complete.
  std::vector<std::string> upstream_texts() const;

 private:
  using Key = std::tuple<int, int, int>;

  void on_event(const api::SseEvent& event, std::string& out);
  // An event's data, restored: a chunk with its choices rewritten, anything else (an error, not
  // JSON) restored as plain text. Its texts are kept for upstream_texts() either way; without
  // `rewrite` that is all, and "" is returned.
  std::string restore_data(std::string_view data, bool rewrite = true);
  // restore_data(data, false) on simdjson's reading (repeated keys each kept); false when
  // simdjson refused the text, which restore_data must then read.
  bool collect_texts(std::string_view data);
  // The held text of every choice as one more chunk ("" when nothing is held).
  std::string flush_all();
  StreamRestorer& restorer(const Key& key);

  const Redaction* redaction_;
  api::SseParser parser_;
  // (choice index, field, tool call index) -> restorer; field 0 content, 1 reasoning_content,
  // 2 tool-call arguments, 3 completion text, 4 refusal, 5 legacy function_call arguments.
  std::map<Key, StreamRestorer> restorers_;
  std::map<Key, std::string> upstream_;
  std::string last_chunk_template_;  // id/object/created/model of the last chunk seen, as JSON
};

}  // namespace hearth::privacy
