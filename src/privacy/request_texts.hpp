// The texts an OpenAI-shaped request body carries, for the scanner, and the same body rebuilt
// with some of them replaced (redaction). Every string value counts, at any depth — message
// contents and content parts, system prompts, tool definitions and tool-call arguments,
// completion prompts, embedding and rerank inputs, metadata — except the structural ones that
// carry no user text and that a provider must receive unchanged (see is_structural_key).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/types.hpp"
#include "common/expected.hpp"

namespace hearth::privacy {

// Keys whose string values are not scanned: "model", "role", "type", "id", "tool_call_id",
// "object", "encoding_format", "detail", "format", "finish_reason", "tool_choice" (as a string),
// the "url" of an image_url part (and an "image_url" given as a plain string), the "data" of an
// input_audio part and the "file_data" of a file part (base64 payloads).
bool is_structural_key(std::string_view parent_key, std::string_view key);

class RequestTexts {
 public:
  // 400 invalid_request_error for a body that is not a JSON object.
  static Expected<RequestTexts, api::ApiError> parse(std::string_view body);

  RequestTexts(RequestTexts&&) noexcept;
  RequestTexts& operator=(RequestTexts&&) noexcept;
  ~RequestTexts();

  // The scannable strings, in document order (decoded: no JSON escapes).
  const std::vector<std::string>& texts() const;
  // Builds the document that replace() rewrites (parse() only reads the texts). False when the
  // body cannot be rebuilt with the same texts, which no valid body should ever do: then nothing
  // may be replaced, and a caller that must replace has to refuse the body.
  bool prepare_replacements();
  // Replaces text `index` in the document; prepare_replacements() must have returned true.
  void replace(std::size_t index, std::string text);
  // The document as compact JSON, replacements applied.
  std::string serialize() const;

 private:
  struct Impl;
  explicit RequestTexts(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::privacy
