// Parses untrusted OpenAI-style JSON request bodies into the plain types of api/types.hpp.
// Nothing here throws: every malformed or out-of-range input comes back as an ApiError whose
// `param` names the offending field (e.g. "messages[2].content"), as OpenAI's errors do.
#pragma once

#include <chrono>
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
};
Expected<RoutingFields, ApiError> parse_routing_fields(std::string_view body);

// The body with its "model" field set to `model`, for backends that know the model by another
// name; key order is kept.
Expected<std::string, ApiError> replace_model(std::string_view body, const std::string& model);

}  // namespace hearth::api
