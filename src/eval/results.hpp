// What `hearth eval` records per answer (a JSONL file per samples file and target, appended as
// answers arrive so that `--resume` can skip them after a kill), and reading a gateway answer
// into such a record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "eval/samples.hpp"

namespace hearth::eval {

struct SampleResult {
  std::string samples_hash;  // SampleSet::hash of the file the sample came from
  std::string sample;        // Sample::key
  std::size_t line = 0;
  std::string target;     // the model entry's name
  int status = 0;         // HTTP status; 0 when no answer came (connection, timeout)
  std::string error;      // "" for a usable answer
  std::string answer;     // the answer's text (content, or the first tool call's arguments)
  double latency_ms = 0;  // request sent to answer read, at the client
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::optional<double> busy_ms;  // x-hearth-busy-ms: the local worker's compute time
  std::string placement;          // x-hearth-placement of the answer
  std::string backend;            // x-hearth-backend
  std::string served_by;          // x-hearth-target: the model entry that answered
  std::int64_t time_us = 0;       // when the answer arrived, microseconds since the epoch

  bool ok() const { return error.empty(); }
};

// One JSON object on one line (no newline at the end).
std::string to_json_line(const SampleResult& result);
Expected<SampleResult, std::string> parse_result_line(std::string_view line);

struct ResultsFile {
  std::vector<SampleResult> results;  // in file order
  std::size_t unreadable_lines = 0;   // e.g. the last line cut by a kill
};
// A file that does not exist reads as empty; one that cannot be read is an error.
Expected<ResultsFile, std::string> read_results_file(const std::string& path);

// The answer's text and usage from an OpenAI-shaped body: choices[0].message.content for chat
// (or, when that is empty and tool calls were made, the first call's arguments), choices[0].text
// for completions; usage.prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens.
// Fills answer and the token counts; an error names what is missing.
Expected<bool, std::string> read_answer(std::string_view body, SampleTask task,
                                        SampleResult& result);

// The error message of an OpenAI-shaped error body, or the start of the body.
std::string error_message(std::string_view body);

}  // namespace hearth::eval
