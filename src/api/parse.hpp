// Parses untrusted OpenAI-style JSON request bodies into the plain types of api/types.hpp.
// Nothing here throws: every malformed or out-of-range input comes back as an ApiError whose
// `param` names the offending field (e.g. "messages[2].content"), as OpenAI's errors do.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/types.hpp"
#include "common/expected.hpp"

namespace hearth::api {

// POST /v1/chat/completions
Expected<ChatCompletionRequest, ApiError> parse_chat_completion_request(std::string_view body);

// POST /v1/completions
Expected<CompletionRequest, ApiError> parse_completion_request(std::string_view body);

// POST /v1/embeddings
Expected<EmbeddingRequest, ApiError> parse_embedding_request(std::string_view body);

// POST /v1/rerank
Expected<RerankRequest, ApiError> parse_rerank_request(std::string_view body);

// The route a path names: "/v1/chat/completions" and "/chat/completions" are both
// "/chat/completions", as many clients leave the version out.
std::string route_of(const std::string& path);

// The fields the gateway routes on, read without validating the rest of the body: the backend
// that serves the request validates it in full and its errors reach the client unchanged.
struct RoutingFields {
  std::string model;  // "" when absent or null
  bool stream = false;
  // Ollama's per-request keep_alive: how long the model stays loaded once idle after this
  // request. A number is seconds, a string has a unit ("90s", "5m", "1h", "500ms"); negative
  // means forever (returned as std::chrono::milliseconds::max()); 0 unloads at once.
  std::optional<std::chrono::milliseconds> keep_alive;

  // What placement policy matches on (none of it validated beyond its type).
  std::string workload;                    // metadata.workload
  std::optional<std::int64_t> max_tokens;  // max_tokens or max_completion_tokens
  bool has_tools = false;                  // a non-empty "tools" list
  bool has_images = false;                 // an image_url / input_image content part
  // Characters of text in messages, prompt, input, query and documents (and the tool
  // definitions), over four: the usual rule of thumb for English with BPE vocabularies. The
  // backend's tokenizer is not at hand here; the estimate only has to place the request.
  std::int64_t estimated_prompt_tokens = 0;
  bool logprobs = false;            // the client asked for log-probabilities
  bool include_usage = false;       // stream_options.include_usage
  bool has_stream_options = false;  // a "stream_options" member, of any value
  // response_format: "json_object" or "json_schema" (then `json_schema` holds the schema, dumped);
  // "" when absent or "text".
  std::string response_format;
  std::string json_schema;
};
Expected<RoutingFields, ApiError> parse_routing_fields(std::string_view body);

// The body with its "model" field set to `model`, for backends that know the model by another
// name; key order is kept.
Expected<std::string, ApiError> replace_model(std::string_view body, const std::string& model);

// Changes made to a request body on its way to a backend; key order is kept.
struct BodyRewrite {
  std::optional<std::string> model;
  bool request_logprobs = false;  // "logprobs": true (chat) or "logprobs": 1 (completions)
  bool request_usage = false;     // "stream_options": {"include_usage": true}
  // RoutingFields::has_stream_options was false: when usage is all there is to ask for, the
  // member is put in front of the client's bytes instead of rebuilding the body.
  bool without_stream_options = false;
};
Expected<std::string, ApiError> rewrite_body(std::string_view body, const BodyRewrite& rewrite,
                                             bool is_chat);

// The parts of a (non-streamed) chat, completion or embedding answer that quality escalation
// and cost accounting read.
struct AnswerSummary {
  std::string content;  // choices[0].message.content (chat) or choices[0].text (completion)
  int tool_calls = 0;
  std::string finish_reason;
  std::optional<double> mean_logprob;  // over the answer's tokens, when logprobs are present
  int logprob_tokens = 0;
  bool has_choices = false;
  // usage; cached_tokens from prompt_tokens_details.cached_tokens (0 when absent)
  std::int64_t prompt_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t completion_tokens = 0;
};
Expected<AnswerSummary, std::string> summarize_answer(std::string_view body);

// The answer without its log-probabilities (asked for by the gateway, not by the client).
std::string without_logprobs(std::string_view body);

}  // namespace hearth::api
