// Takes the usage chunk out of a relayed OpenAI stream. The gateway asks every backend for
// stream_options.include_usage (the ledger needs the token counts); when the client did not ask
// for it, the chunk it adds ("choices": [] with "usage") is removed here, so the client sees the
// stream it asked for. A hearth worker's `: hearth-busy-ms N` comment (its compute time for the
// request, sent just before [DONE]) is read and always removed: it is for the gateway's
// accounting, not the client. Events are passed on whole; a partial event waits for its end.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/parse.hpp"

namespace hearth::gateway {

class StreamUsageFilter {
 public:
  // `keep_usage_chunk`: the client asked for it; the chunk is read but passed on.
  explicit StreamUsageFilter(bool keep_usage_chunk) : keep_usage_chunk_(keep_usage_chunk) {}
  std::string feed(std::string_view piece);
  // Whatever is left at the end of the stream (an unterminated last event).
  std::string finish();
  const std::optional<api::AnswerSummary>& usage() const { return usage_; }
  // The worker's busy time from its `: hearth-busy-ms` comment; 0 when there was none.
  double busy_ms() const { return busy_ms_; }

 private:
  bool keep_usage_chunk_;
  std::string pending_;
  std::optional<api::AnswerSummary> usage_;
  double busy_ms_ = 0;
};

}  // namespace hearth::gateway
