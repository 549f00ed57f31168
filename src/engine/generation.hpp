// Builds engine jobs from API requests (chat template, grammar, sampler) and turns generated
// text back into chat messages (content, reasoning, tool calls) through llama.cpp's chat library.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/types.hpp"
#include "common/expected.hpp"
#include "engine/engine.hpp"
#include "engine/model.hpp"

namespace hearth::engine {

class ChatOutputParser;

struct PreparedChat {
  std::unique_ptr<GenerationJob> job;  // sink and cancellation still to be set
  std::shared_ptr<ChatOutputParser> parser;
};

// Applies the model's chat template (Jinja, from the GGUF) and prepares sampling. Errors are
// client errors: an unusable template input, a bad grammar, a prompt that does not fit.
Expected<PreparedChat, api::ApiError> prepare_chat(const Model& model,
                                                   const api::ChatCompletionRequest& request,
                                                   int slot_context);

// A raw text (or token) prompt for /v1/completions.
Expected<std::unique_ptr<GenerationJob>, api::ApiError> prepare_completion(
    const Model& model, const std::string& prompt, const std::vector<int32_t>& prompt_tokens,
    const api::GenerationOptions& options, const api::ResponseFormat& response_format,
    int slot_context);

// Tokenised inputs for embeddings or rerank; rejects inputs longer than `max_tokens`.
Expected<std::vector<std::vector<int32_t>>, api::ApiError> prepare_embedding_inputs(
    const Model& model, const api::EmbeddingRequest& request, int max_tokens);
Expected<std::vector<std::vector<int32_t>>, api::ApiError> prepare_rerank_inputs(
    const Model& model, const api::RerankRequest& request, int max_tokens);

// Parses the text generated so far into an assistant message and reports what changed since
// the previous call, for streaming deltas.
class ChatOutputParser {
 public:
  virtual ~ChatOutputParser() = default;
  virtual std::vector<api::ChatDelta> update(const std::string& generated_text, bool is_final) = 0;
  // The whole message once generation ended; finish_reason becomes "tool_calls" when any.
  virtual api::ChatChoice final_choice(const std::string& generated_text,
                                       const std::string& finish_reason) = 0;
};

api::ApiError context_length_exceeded(int prompt_tokens, int limit);

}  // namespace hearth::engine
