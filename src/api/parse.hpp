// Parses untrusted OpenAI-style JSON request bodies into the plain types of api/types.hpp.
// Nothing here throws: every malformed or out-of-range input comes back as an ApiError whose
// `param` names the offending field (e.g. "messages[2].content"), as OpenAI's errors do.
#pragma once

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

}  // namespace hearth::api
