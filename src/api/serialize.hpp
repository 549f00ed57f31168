// Serialises the plain response types of api/types.hpp into OpenAI-shaped JSON text.
// Text produced by a model may hold invalid UTF-8 (a token boundary can split a character);
// such bytes are replaced with U+FFFD rather than making serialisation fail.
#pragma once

#include <string>
#include <vector>

#include "api/types.hpp"

namespace hearth::api {

// {"error":{"message","type","param","code"}}; the HTTP status travels separately.
std::string to_json(const ApiError& error);
// The body of an error the HTTP layer answers itself (http::ErrorBodyFormatter).
std::string error_body(int status, std::string_view message, std::string_view code);

// A non-streamed chat reply: object "chat.completion".
std::string to_json(const ChatCompletion& completion);

// One streamed chat event: object "chat.completion.chunk". A chunk with has_choice == false is
// the final usage chunk: "choices": [] and "usage": {...}.
std::string to_json(const ChatChunk& chunk);

// A text completion, whole or streamed: object "text_completion"; "usage" only when set.
std::string to_json(const Completion& completion);

// Object "list" of {"object":"embedding","index","embedding"}; with base64 encoding each
// embedding is the base64 text of its little-endian float32 bytes, as OpenAI sends it.
std::string to_json(const EmbeddingList& embeddings);

// The shape of llama-server's /v1/rerank (Jina/Cohere style).
std::string to_json(const RerankResponse& rerank);

// GET /v1/models: {"object":"list","data":[{"id","object":"model","created","owned_by","meta"}]}.
std::string models_to_json(const std::vector<ModelCard>& models);

}  // namespace hearth::api
