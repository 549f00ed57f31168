// Plain C++ types for the OpenAI-compatible API. JSON is parsed into these at the HTTP edge
// (api/parse.cpp) and produced from them there (api/serialize.cpp); nothing deeper sees JSON.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hearth::api {

// An error in the OpenAI shape: {"error":{"message","type","param","code"}} plus its HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;
  std::optional<std::string> code;
  // Seconds for a Retry-After header (503 when the queue is full, say).
  std::optional<int> retry_after_seconds;
};

// An error whose type follows from its status (server_error from 500 on).
ApiError api_error(int status, std::string message, std::string code);
ApiError not_found(const std::string& path);
ApiError method_not_allowed(const std::string& method, const std::string& path);
ApiError invalid_request(std::string message, std::optional<std::string> param = std::nullopt,
                         std::optional<std::string> code = std::nullopt);

struct SamplingOptions {
  std::optional<float> temperature;  // default 1.0 as in OpenAI
  std::optional<float> top_p;
  std::optional<int> top_k;
  std::optional<float> min_p;
  std::optional<uint32_t> seed;
  float presence_penalty = 0.0F;
  float frequency_penalty = 0.0F;
  float repeat_penalty = 1.0F;  // llama.cpp extension
  std::map<int32_t, float> logit_bias;
};

enum class ResponseFormatKind { text, json_object, json_schema };

struct ResponseFormat {
  ResponseFormatKind kind = ResponseFormatKind::text;
  // Serialised schema for json_schema; an object schema ({"type":"object"}) for json_object.
  std::string json_schema;
  std::string schema_name;
  bool strict = false;
};

struct ToolFunction {
  std::string name;
  std::string description;
  std::string parameters_json;  // serialised JSON schema, "{}" when absent
};

enum class ToolChoiceKind { auto_choice, none, required, named };

struct ToolChoice {
  ToolChoiceKind kind = ToolChoiceKind::auto_choice;
  std::string function_name;  // for `named`
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text, as OpenAI sends it
};

struct ChatMessage {
  std::string role;  // system, developer, user, assistant, tool
  std::string content;
  // Content parts of type text, kept apart so templates that render parts see them.
  std::vector<std::string> content_parts;
  bool content_was_parts = false;
  std::vector<ToolCall> tool_calls;
  std::string tool_call_id;
  std::string name;
};

struct StreamOptions {
  bool include_usage = false;
};

// Generation limits and output controls shared by chat and text completions.
struct GenerationOptions {
  std::optional<int> max_tokens;  // max_tokens or max_completion_tokens
  std::vector<std::string> stop;
  bool stream = false;
  StreamOptions stream_options;
  bool logprobs = false;
  int top_logprobs = 0;
  SamplingOptions sampling;
  bool ignore_eos = false;  // llama.cpp extension, used by benchmarks
};

struct ChatCompletionRequest {
  std::string model;
  std::vector<ChatMessage> messages;
  GenerationOptions generation;
  ResponseFormat response_format;
  std::vector<ToolFunction> tools;
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;
  std::optional<std::string> user;
};

struct CompletionRequest {
  std::string model;
  std::vector<std::string> prompts;  // a string prompt becomes one entry
  // Prompts given as token arrays (OpenAI allows int arrays); tokens are passed through.
  std::vector<std::vector<int32_t>> token_prompts;
  GenerationOptions generation;
  ResponseFormat response_format;  // llama.cpp extension: grammar-constrained JSON
  bool echo = false;
  std::string suffix;
};

enum class EncodingFormat { float_array, base64 };

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> token_inputs;
  EncodingFormat encoding_format = EncodingFormat::float_array;
  std::optional<int> dimensions;
};

struct RerankRequest {
  std::string model;
  std::string query;
  std::vector<std::string> documents;
  std::optional<int> top_n;
  bool return_documents = true;
};

// ---- responses ----

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;
  int total() const { return prompt_tokens + completion_tokens; }
};

struct TopLogprob {
  std::string token;
  float logprob = 0.0F;
  std::vector<uint8_t> bytes;
};

struct TokenLogprob {
  std::string token;
  float logprob = 0.0F;
  std::vector<uint8_t> bytes;
  std::vector<TopLogprob> top_logprobs;
};

struct ChatChoice {
  int index = 0;
  std::string role = "assistant";
  std::optional<std::string> content;  // null when the reply is only tool calls
  std::string reasoning_content;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // stop, length, tool_calls
  std::optional<std::vector<TokenLogprob>> logprobs;
};

struct ChatCompletion {
  std::string id;
  int64_t created = 0;
  std::string model;
  std::vector<ChatChoice> choices;
  Usage usage;
  std::string system_fingerprint;
};

// One streamed chat delta: the fields that are set are sent.
struct ToolCallDelta {
  int index = 0;
  std::optional<std::string> id;
  std::optional<std::string> name;
  std::string arguments;
};

struct ChatDelta {
  std::optional<std::string> role;
  std::optional<std::string> content;
  std::optional<std::string> reasoning_content;
  std::vector<ToolCallDelta> tool_calls;
};

struct ChatChunk {
  std::string id;
  int64_t created = 0;
  std::string model;
  std::string system_fingerprint;
  // Empty `choices` with `usage` set is the final usage chunk (stream_options.include_usage).
  bool has_choice = true;
  ChatDelta delta;
  std::optional<std::string> finish_reason;
  std::optional<std::vector<TokenLogprob>> logprobs;
  std::optional<Usage> usage;
};

struct CompletionChoice {
  int index = 0;
  std::string text;
  std::optional<std::string> finish_reason;
  std::optional<std::vector<TokenLogprob>> logprobs;
};

struct Completion {
  std::string id;
  int64_t created = 0;
  std::string model;
  std::vector<CompletionChoice> choices;
  std::optional<Usage> usage;
  std::string system_fingerprint;
};

struct EmbeddingList {
  std::string model;
  std::vector<std::vector<float>> embeddings;
  EncodingFormat encoding_format = EncodingFormat::float_array;
  Usage usage;
};

struct RerankResult {
  int index = 0;
  double relevance_score = 0.0;
  std::optional<std::string> document;
};

struct RerankResponse {
  std::string id;
  std::string model;
  std::vector<RerankResult> results;  // sorted by relevance_score, descending
  Usage usage;
};

struct ModelCard {
  std::string id;
  std::string owned_by = "hearth";
  int64_t created = 0;
  // Extra fields Hearth adds to /v1/models entries.
  std::string task;  // chat, embedding, rerank
  int64_t context_length = 0;
  // At the gateway: whether the model is loaded, loading, unloaded... and what serves it.
  std::string state;
  std::string backend;
  std::vector<std::string> aliases;
};

}  // namespace hearth::api
