// Translation between the OpenAI Chat Completions API (what clients speak) and the Anthropic
// Messages API (what an Anthropic-shaped upstream speaks). Pure and synchronous: JSON text in,
// JSON or SSE text out, no I/O. Nothing throws: malformed client input becomes a 400 ApiError
// naming the offending field, a malformed upstream answer a 502.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/sse.hpp"
#include "api/types.hpp"
#include "common/expected.hpp"

namespace hearth::cloud {

// Anthropic's usage counts, which split the prompt into uncached, cache-written and cache-read
// tokens; OpenAI's prompt_tokens is their sum.
struct AnthropicTokenCounts {
  int64_t input = 0;
  int64_t cache_creation = 0;
  int64_t cache_read = 0;
  int64_t output = 0;
};

// Anthropic requires max_tokens; OpenAI clients usually leave it out.
inline constexpr int kDefaultAnthropicMaxTokens = 4096;

// An OpenAI /v1/chat/completions body -> an Anthropic /v1/messages body whose "model" is
// `upstream_model`. Fields Anthropic cannot honour in a way the client would expect (n > 1,
// logprobs) are 400 errors; the rest of OpenAI's optional fields are dropped (listed in the .cpp).
Expected<std::string, api::ApiError> anthropic_request_from_openai(
    std::string_view openai_body, const std::string& upstream_model);

// An Anthropic non-streamed response -> an OpenAI "chat.completion"; `model` is the name the
// client asked for. A body that is not an Anthropic message is a 502 (the provider's fault).
Expected<std::string, api::ApiError> openai_response_from_anthropic(std::string_view anthropic_body,
                                                                    const std::string& model);

// An Anthropic error answer (any status, any body) -> an error in the OpenAI shape with the same
// status; the message says the provider sent it and `code` carries Anthropic's error type. A
// `status` outside 400-599 is replaced by the one Anthropic uses for the error's type, else 502.
api::ApiError openai_error_from_anthropic(int status, std::string_view anthropic_body);

// Turns an Anthropic SSE stream into OpenAI "chat.completion.chunk" SSE, incrementally: bytes may
// arrive split anywhere (one at a time, even), lines may end in "\n" or "\r\n".
class AnthropicStreamTranslator {
 public:
  // `include_usage` is the client's stream_options.include_usage: a last chunk with "choices": []
  // and "usage" precedes [DONE].
  AnthropicStreamTranslator(std::string model, bool include_usage);

  // Returns the OpenAI SSE text to send now (possibly empty): "data: {...}\n\n" frames, and
  // "data: [DONE]\n\n" after message_stop. After an Anthropic error event, or an event that
  // cannot be read, it returns one OpenAI error frame `data: {"error":{...}}` and no [DONE];
  // once finished or failed, further bytes are ignored.
  std::string feed(std::string_view bytes);

  // message_stop was seen and [DONE] emitted.
  bool finished() const { return finished_; }
  // The stream failed: the provider sent an error event, or an event this translator could not
  // read (502).
  const std::optional<api::ApiError>& error() const { return error_; }
  // Usage reported so far (message_start and message_delta), for cost accounting.
  const AnthropicTokenCounts& tokens() const { return tokens_; }

 private:
  struct ToolBlock {
    int openai_index = 0;
    bool has_arguments = false;  // some argument text was sent for this call
  };

  std::string handle_event(const api::SseEvent& event);
  std::string handle_message_start(const nlohmann::ordered_json& event);
  std::string handle_block_start(const nlohmann::ordered_json& event);
  std::string handle_block_delta(const nlohmann::ordered_json& event);
  std::string handle_block_stop(const nlohmann::ordered_json& event);
  std::string handle_message_delta(const nlohmann::ordered_json& event);
  std::string handle_message_stop();
  std::string fail(api::ApiError error);
  api::ChatChunk chunk() const;
  std::string frame(const api::ChatChunk& out) const;

  std::string model_;
  bool include_usage_ = false;
  api::SseParser parser_;
  std::string id_;  // "chatcmpl-" + the Anthropic message id
  int64_t created_ = 0;
  int tool_calls_seen_ = 0;
  std::map<int64_t, ToolBlock> tool_blocks_;  // by Anthropic content block index
  AnthropicTokenCounts tokens_;
  bool finished_ = false;
  std::optional<api::ApiError> error_;
};

}  // namespace hearth::cloud
