#include "api/serialize.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>

namespace hearth::api {
namespace {

using nlohmann::json;

// Model output can end mid-character or hold stray bytes; replacing them with U+FFFD keeps one
// bad token from turning a reply into a serialisation failure.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// nlohmann stores numbers as double, and a float widened to double prints with double's
// precision (0.1F becomes 0.10000000149011612). Going through the float's shortest decimal form
// prints "0.1", which still reads back as the same float and keeps embeddings compact.
json float_number(float value) {
  char text[32];
  const auto [text_end, write_error] = std::to_chars(text, text + sizeof(text), value);
  double widened = value;
  if (write_error == std::errc()) std::from_chars(text, text_end, widened);
  return widened;
}

// A logprob of -inf (a token of probability 0) would print as null; clients expect a number,
// so it becomes the lowest float, as llama-server does.
json logprob_number(float value) {
  if (!std::isfinite(value)) return float_number(std::numeric_limits<float>::lowest());
  return float_number(value);
}

json usage_json(const Usage& usage) {
  return json{{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.total()},
              {"prompt_tokens_details", json{{"cached_tokens", usage.cached_prompt_tokens}}}};
}

json bytes_json(const std::vector<uint8_t>& bytes) {
  json array = json::array();
  for (const uint8_t byte : bytes) array.push_back(byte);
  return array;
}

// null, or {"content":[{token, logprob, bytes, top_logprobs:[{token, logprob, bytes}]}]}.
json logprobs_json(const std::optional<std::vector<TokenLogprob>>& logprobs) {
  if (!logprobs) return nullptr;
  json content = json::array();
  for (const TokenLogprob& token : *logprobs) {
    json alternatives = json::array();
    for (const TopLogprob& alternative : token.top_logprobs) {
      alternatives.push_back(json{{"token", alternative.token},
                                  {"logprob", logprob_number(alternative.logprob)},
                                  {"bytes", bytes_json(alternative.bytes)}});
    }
    content.push_back(json{{"token", token.token},
                           {"logprob", logprob_number(token.logprob)},
                           {"bytes", bytes_json(token.bytes)},
                           {"top_logprobs", std::move(alternatives)}});
  }
  return json{{"content", std::move(content)}};
}

json optional_string(const std::optional<std::string>& value) {
  if (!value) return nullptr;
  return *value;
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json array = json::array();
  for (const ToolCall& call : calls) {
    array.push_back(json{{"id", call.id},
                         {"type", "function"},
                         {"function", json{{"name", call.name}, {"arguments", call.arguments}}}});
  }
  return array;
}

json chat_message_json(const ChatChoice& choice) {
  json message{{"role", choice.role}, {"content", optional_string(choice.content)}};
  if (!choice.reasoning_content.empty()) message["reasoning_content"] = choice.reasoning_content;
  if (!choice.tool_calls.empty()) message["tool_calls"] = tool_calls_json(choice.tool_calls);
  return message;
}

json delta_json(const ChatDelta& delta) {
  json object = json::object();
  if (delta.role) object["role"] = *delta.role;
  if (delta.content) object["content"] = *delta.content;
  if (delta.reasoning_content) object["reasoning_content"] = *delta.reasoning_content;
  if (!delta.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCallDelta& call : delta.tool_calls) {
      json entry{{"index", call.index}};
      // The id and type open a call; later deltas of the same call carry only argument text.
      if (call.id) {
        entry["id"] = *call.id;
        entry["type"] = "function";
      }
      json function{{"arguments", call.arguments}};
      if (call.name) function["name"] = *call.name;
      entry["function"] = std::move(function);
      calls.push_back(std::move(entry));
    }
    object["tool_calls"] = std::move(calls);
  }
  return object;
}

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t group =
        (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    text += kBase64Alphabet[(group >> 18) & 0x3F];
    text += kBase64Alphabet[(group >> 12) & 0x3F];
    text += kBase64Alphabet[(group >> 6) & 0x3F];
    text += kBase64Alphabet[group & 0x3F];
  }
  const size_t remaining = bytes.size() - i;
  if (remaining > 0) {
    uint32_t group = uint32_t{bytes[i]} << 16;
    if (remaining == 2) group |= uint32_t{bytes[i + 1]} << 8;
    text += kBase64Alphabet[(group >> 18) & 0x3F];
    text += kBase64Alphabet[(group >> 12) & 0x3F];
    text += remaining == 2 ? kBase64Alphabet[(group >> 6) & 0x3F] : '=';
    text += '=';
  }
  return text;
}

// OpenAI's base64 embeddings are the raw little-endian float32 array (numpy's "<f4").
std::string float32_le_base64(const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(values[i]);
    for (size_t k = 0; k < sizeof(float); ++k) {
      bytes[i * sizeof(float) + k] = static_cast<uint8_t>(bits & 0xFF);
      bits >>= 8;
    }
  }
  return base64_encode(bytes);
}

}  // namespace

std::string to_json(const ApiError& error) {
  return dump(json{{"error", json{{"message", error.message},
                                  {"type", error.type},
                                  {"param", optional_string(error.param)},
                                  {"code", optional_string(error.code)}}}});
}

std::string to_json(const ChatCompletion& completion) {
  json choices = json::array();
  for (const ChatChoice& choice : completion.choices) {
    choices.push_back(json{{"index", choice.index},
                           {"message", chat_message_json(choice)},
                           {"logprobs", logprobs_json(choice.logprobs)},
                           {"finish_reason", choice.finish_reason}});
  }
  return dump(json{{"id", completion.id},
                   {"object", "chat.completion"},
                   {"created", completion.created},
                   {"model", completion.model},
                   {"system_fingerprint", completion.system_fingerprint},
                   {"choices", std::move(choices)},
                   {"usage", usage_json(completion.usage)}});
}

std::string to_json(const ChatChunk& chunk) {
  json choices = json::array();
  if (chunk.has_choice) {
    choices.push_back(json{{"index", 0},
                           {"delta", delta_json(chunk.delta)},
                           {"logprobs", logprobs_json(chunk.logprobs)},
                           {"finish_reason", optional_string(chunk.finish_reason)}});
  }
  json object{{"id", chunk.id},
              {"object", "chat.completion.chunk"},
              {"created", chunk.created},
              {"model", chunk.model},
              {"system_fingerprint", chunk.system_fingerprint},
              {"choices", std::move(choices)}};
  if (chunk.usage) object["usage"] = usage_json(*chunk.usage);
  return dump(object);
}

std::string to_json(const Completion& completion) {
  json choices = json::array();
  for (const CompletionChoice& choice : completion.choices) {
    // llama-server uses the chat logprobs shape here too, rather than the legacy
    // {tokens, token_logprobs, top_logprobs, text_offset}.
    choices.push_back(json{{"text", choice.text},
                           {"index", choice.index},
                           {"logprobs", logprobs_json(choice.logprobs)},
                           {"finish_reason", optional_string(choice.finish_reason)}});
  }
  json object{{"id", completion.id},
              {"object", "text_completion"},
              {"created", completion.created},
              {"model", completion.model},
              {"system_fingerprint", completion.system_fingerprint},
              {"choices", std::move(choices)}};
  if (completion.usage) object["usage"] = usage_json(*completion.usage);
  return dump(object);
}

std::string to_json(const EmbeddingList& embeddings) {
  json data = json::array();
  for (size_t i = 0; i < embeddings.embeddings.size(); ++i) {
    const std::vector<float>& values = embeddings.embeddings[i];
    json embedding;
    if (embeddings.encoding_format == EncodingFormat::base64) {
      embedding = float32_le_base64(values);
    } else {
      embedding = json::array();
      for (const float value : values) embedding.push_back(float_number(value));
    }
    data.push_back(
        json{{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  // Embeddings consume prompt tokens only, so usage has no completion_tokens.
  return dump(json{{"object", "list"},
                   {"data", std::move(data)},
                   {"model", embeddings.model},
                   {"usage", json{{"prompt_tokens", embeddings.usage.prompt_tokens},
                                  {"total_tokens", embeddings.usage.total()}}}});
}

std::string to_json(const RerankResponse& rerank) {
  json results = json::array();
  for (const RerankResult& result : rerank.results) {
    json entry{{"index", result.index}, {"relevance_score", result.relevance_score}};
    if (result.document) entry["document"] = json{{"text", *result.document}};
    results.push_back(std::move(entry));
  }
  json object{{"model", rerank.model},
              {"object", "list"},
              {"usage", json{{"prompt_tokens", rerank.usage.prompt_tokens},
                             {"total_tokens", rerank.usage.total()}}},
              {"results", std::move(results)}};
  if (!rerank.id.empty()) object["id"] = rerank.id;
  return dump(object);
}

std::string error_body(int status, std::string_view message, std::string_view code) {
  return to_json(api_error(status, std::string(message), std::string(code)));
}

std::string models_to_json(const std::vector<ModelCard>& models) {
  json data = json::array();
  for (const ModelCard& model : models) {
    json meta{{"task", model.task}};
    if (model.context_length > 0) {
      meta["context_length"] = model.context_length;
    }
    if (!model.state.empty()) {
      meta["state"] = model.state;
    }
    if (!model.backend.empty()) {
      meta["backend"] = model.backend;
    }
    if (!model.aliases.empty()) {
      meta["aliases"] = model.aliases;
    }
    data.push_back(json{{"id", model.id},
                        {"object", "model"},
                        {"created", model.created},
                        {"owned_by", model.owned_by},
                        {"meta", std::move(meta)}});
  }
  return dump(json{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace hearth::api
