#include "api/parse.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/json_fields.hpp"
#include "api/json_reading.hpp"
#include "api/json_text.hpp"

namespace hearth::api {

ApiError invalid_request(std::string message, std::optional<std::string> param,
                         std::optional<std::string> code) {
  ApiError error;
  error.status = 400;
  error.message = std::move(message);
  error.type = "invalid_request_error";
  error.param = std::move(param);
  error.code = std::move(code);
  return error;
}

ApiError api_error(int status, std::string message, std::string code) {
  ApiError error;
  error.status = status;
  error.type = status >= 500 ? "server_error" : "invalid_request_error";
  error.message = std::move(message);
  error.code = std::move(code);
  return error;
}

ApiError not_found(const std::string& path) {
  return api_error(404, "No route for " + path, "not_found");
}

ApiError method_not_allowed(const std::string& method, const std::string& path) {
  return api_error(405, "Method " + method + " is not allowed on " + path, "method_not_allowed");
}

std::string route_of(const std::string& path) {
  if (path.rfind("/v1/", 0) == 0) {
    return path.substr(3);
  }
  return path;
}

namespace {

// Ordered: a JSON schema's property order reaches the prompt and the grammar, as in llama-server.
using json = nlohmann::ordered_json;

constexpr size_t kMaxStopSequences = 16;  // OpenAI allows 4; llama.cpp has no limit
constexpr int kMaxTopLogprobs = 20;

using namespace json_fields;  // NOLINT: this file is the reader these helpers exist for
using RequestRejected = json_fields::Rejected;

// ---- checks on the raw body, before the JSON parser sees it ----

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
// Returns the offset of the first bad byte, or npos.
size_t find_invalid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;  // overlong
      if (lead == 0xED) second_max = 0x9F;  // UTF-16 surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;  // overlong
      if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + length > size) return i;
    if (bytes[i + 1] < second_min || bytes[i + 1] > second_max) return i;
    for (size_t k = 2; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

json parse_body(std::string_view body) {
  if (const size_t bad = find_invalid_utf8(body); bad != std::string_view::npos) {
    throw RequestRejected{
        invalid_request("Request body is not valid UTF-8 (first invalid byte at offset " +
                            std::to_string(bad) + ")",
                        std::nullopt, "invalid_utf8")};
  }
  if (json_nesting_depth(body) > kMaxJsonNestingDepth) {
    throw RequestRejected{invalid_request("Invalid JSON body: nesting deeper than " +
                                              std::to_string(kMaxJsonNestingDepth) + " levels",
                                          std::nullopt, "invalid_json")};
  }
  json document;
  try {
    document = json::parse(body);
  } catch (const json::exception& e) {
    throw RequestRejected{invalid_request("Invalid JSON body: " + without_exception_id(e.what()),
                                          std::nullopt, "invalid_json")};
  }
  if (!document.is_object()) {
    throw RequestRejected{invalid_request(
        "Request body must be a JSON object, not " + std::string(document.type_name()),
        std::nullopt, "invalid_type")};
  }
  return document;
}

// ---- typed field access (the rest is in api/json_fields.hpp) ----

const json& as_non_empty_array(const json& value, const std::string& path) {
  as_array(value, path);
  if (value.empty()) reject(path + " must not be empty", path, "empty_array");
  return value;
}

// Token ids as they appear in prompts and embedding inputs.
int32_t as_token(const json& value, const std::string& path) {
  return as_int_in_range(value, 0, std::numeric_limits<int32_t>::max(), path);
}

std::vector<int32_t> as_token_array(const json& value, const std::string& path) {
  as_non_empty_array(value, path);
  std::vector<int32_t> tokens;
  tokens.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    tokens.push_back(as_token(value[i], index_path(path, i)));
  }
  return tokens;
}

// Optional fields: leave `target` alone when the field is absent or null.
void read_optional(const json& object, std::string_view key, std::string& target) {
  if (const json* value = find_optional(object, key)) target = as_string(*value, std::string(key));
}

void read_optional(const json& object, std::string_view key, bool& target) {
  if (const json* value = find_optional(object, key)) target = as_bool(*value, std::string(key));
}

void read_model(const json& body, std::string& model) { read_optional(body, "model", model); }

// n and best_of ask for several choices, which a single sequence per request cannot give.
void require_single_choice(const json& body, std::string_view key) {
  const json* value = find_optional(body, key);
  if (value == nullptr) return;
  const std::string path(key);
  const int64_t count = as_int64(*value, path);
  if (count < 1) reject(path + " must be at least 1", path, "invalid_value");
  if (count > 1) reject(path + " > 1 is not supported", path, "unsupported_parameter");
}

// ---- shared generation options ----

void read_sampling(const json& body, SamplingOptions& sampling) {
  if (const json* value = find_optional(body, "temperature")) {
    sampling.temperature = static_cast<float>(as_number_in_range(*value, 0.0, 2.0, "temperature"));
  }
  if (const json* value = find_optional(body, "top_p")) {
    sampling.top_p = static_cast<float>(as_number_in_range(*value, 0.0, 1.0, "top_p"));
  }
  if (const json* value = find_optional(body, "top_k")) {
    sampling.top_k = as_int_in_range(*value, 0, std::numeric_limits<int32_t>::max(), "top_k");
  }
  if (const json* value = find_optional(body, "min_p")) {
    sampling.min_p = static_cast<float>(as_number_in_range(*value, 0.0, 1.0, "min_p"));
  }
  if (const json* value = find_optional(body, "presence_penalty")) {
    sampling.presence_penalty =
        static_cast<float>(as_number_in_range(*value, -2.0, 2.0, "presence_penalty"));
  }
  if (const json* value = find_optional(body, "frequency_penalty")) {
    sampling.frequency_penalty =
        static_cast<float>(as_number_in_range(*value, -2.0, 2.0, "frequency_penalty"));
  }
  if (const json* value = find_optional(body, "repeat_penalty")) {
    const double penalty =
        as_number_in_range(*value, 0.0, std::numeric_limits<float>::max(), "repeat_penalty");
    if (penalty == 0.0) {
      reject("repeat_penalty must be greater than 0", "repeat_penalty", "invalid_value");
    }
    sampling.repeat_penalty = static_cast<float>(penalty);
  }
  if (const json* value = find_optional(body, "seed")) {
    // OpenAI takes any int64; the sampler takes 32 bits, so the seed is reduced modulo 2^32
    // (conversion to an unsigned type is exactly that). This keeps llama.cpp's convention that
    // -1 (0xFFFFFFFF, LLAMA_DEFAULT_SEED) means "pick a random seed".
    if (!value->is_number_integer()) reject_type(*value, "an integer", "seed");
    sampling.seed = value->is_number_unsigned() ? static_cast<uint32_t>(value->get<uint64_t>())
                                                : static_cast<uint32_t>(value->get<int64_t>());
  }
  if (const json* value = find_optional(body, "logit_bias")) {
    as_object(*value, "logit_bias");
    for (const auto& [key, bias] : value->items()) {
      const std::string path = "logit_bias." + key;
      int64_t token = -1;
      const bool all_digits = !key.empty() && key.size() <= 10 &&
                              key.find_first_not_of("0123456789") == std::string::npos;
      if (all_digits) token = std::stoll(key);
      if (token < 0 || token > std::numeric_limits<int32_t>::max()) {
        reject("Invalid 'logit_bias': key '" + key + "' is not a token id", path, "invalid_value");
      }
      sampling.logit_bias[static_cast<int32_t>(token)] =
          static_cast<float>(as_number_in_range(bias, -100.0, 100.0, path));
    }
  }
}

void read_stop(const json& body, std::vector<std::string>& stop) {
  const json* value = find_optional(body, "stop");
  if (value == nullptr) return;
  const auto read_sequence = [&stop](const json& sequence, const std::string& path) {
    std::string text = as_string(sequence, path);
    if (text.empty()) reject(path + " must not be an empty string", path, "invalid_value");
    stop.push_back(std::move(text));
  };
  if (value->is_string()) {
    read_sequence(*value, "stop");
    return;
  }
  if (!value->is_array()) reject_type(*value, "a string or an array of strings", "stop");
  if (value->size() > kMaxStopSequences) {
    reject("stop may hold at most " + std::to_string(kMaxStopSequences) + " sequences", "stop",
           "invalid_value");
  }
  for (size_t i = 0; i < value->size(); ++i) read_sequence((*value)[i], index_path("stop", i));
}

void read_max_tokens(const json& body, std::optional<int>& max_tokens) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  // Either name works; max_completion_tokens is the current one and wins when both are set.
  if (const json* value = find_optional(body, "max_tokens")) {
    max_tokens = as_int_in_range(*value, 1, kMax, "max_tokens");
  }
  if (const json* value = find_optional(body, "max_completion_tokens")) {
    max_tokens = as_int_in_range(*value, 1, kMax, "max_completion_tokens");
  }
  // llama.cpp's native name, where -1 means "until the context is full".
  if (const json* value = find_optional(body, "n_predict"); value != nullptr && !max_tokens) {
    const int n_predict = as_int_in_range(*value, -1, kMax, "n_predict");
    if (n_predict == 0) reject("n_predict must be -1 or at least 1", "n_predict", "invalid_value");
    if (n_predict > 0) max_tokens = n_predict;
  }
}

void read_stream(const json& body, GenerationOptions& generation) {
  read_optional(body, "stream", generation.stream);
  if (const json* value = find_optional(body, "stream_options")) {
    if (!generation.stream) {
      reject("stream_options is only allowed when stream is true", "stream_options",
             "invalid_value");
    }
    as_object(*value, "stream_options");
    if (const json* include_usage = find_optional(*value, "include_usage")) {
      generation.stream_options.include_usage =
          as_bool(*include_usage, "stream_options.include_usage");
    }
  }
}

// Chat: logprobs is a boolean and top_logprobs a count.
void read_chat_logprobs(const json& body, GenerationOptions& generation) {
  read_optional(body, "logprobs", generation.logprobs);
  if (const json* value = find_optional(body, "top_logprobs")) {
    generation.top_logprobs = as_int_in_range(*value, 0, kMaxTopLogprobs, "top_logprobs");
    if (!generation.logprobs) {
      reject("top_logprobs requires logprobs to be true", "top_logprobs", "invalid_value");
    }
  }
}

// Legacy completions: logprobs is a count of alternatives per token (OpenAI allows up to 5);
// a boolean is accepted as well, as in chat.
void read_completion_logprobs(const json& body, GenerationOptions& generation) {
  if (const json* value = find_optional(body, "logprobs")) {
    if (value->is_boolean()) {
      generation.logprobs = value->get<bool>();
    } else if (value->is_number_integer()) {
      generation.logprobs = true;
      generation.top_logprobs = as_int_in_range(*value, 0, kMaxTopLogprobs, "logprobs");
    } else {
      reject_type(*value, "an integer or a boolean", "logprobs");
    }
  }
  if (const json* value = find_optional(body, "top_logprobs")) {
    generation.top_logprobs = as_int_in_range(*value, 0, kMaxTopLogprobs, "top_logprobs");
    if (!generation.logprobs) {
      reject("top_logprobs requires logprobs to be set", "top_logprobs", "invalid_value");
    }
  }
}

void read_generation(const json& body, GenerationOptions& generation) {
  read_max_tokens(body, generation.max_tokens);
  read_stop(body, generation.stop);
  read_stream(body, generation);
  read_sampling(body, generation.sampling);
  read_optional(body, "ignore_eos", generation.ignore_eos);
  require_single_choice(body, "n");
}

void read_response_format(const json& body, ResponseFormat& format) {
  const json* value = find_optional(body, "response_format");
  if (value == nullptr) return;
  as_object(*value, "response_format");
  const std::string type =
      as_string(require(*value, "type", "response_format.type"), "response_format.type");
  if (type == "text") {
    format.kind = ResponseFormatKind::text;
  } else if (type == "json_object") {
    format.kind = ResponseFormatKind::json_object;
    format.json_schema = R"({"type":"object"})";
    // llama.cpp extension: {"type":"json_object","schema":{...}} constrains to that schema.
    if (const json* schema = find_optional(*value, "schema")) {
      format.json_schema = as_object(*schema, "response_format.schema").dump();
    }
  } else if (type == "json_schema") {
    format.kind = ResponseFormatKind::json_schema;
    const json& spec = as_object(require(*value, "json_schema", "response_format.json_schema"),
                                 "response_format.json_schema");
    if (const json* name = find_optional(spec, "name")) {
      format.schema_name = as_string(*name, "response_format.json_schema.name");
    }
    if (const json* strict = find_optional(spec, "strict")) {
      format.strict = as_bool(*strict, "response_format.json_schema.strict");
    }
    const std::string schema_path = "response_format.json_schema.schema";
    format.json_schema = as_object(require(spec, "schema", schema_path), schema_path).dump();
  } else {
    reject("Invalid 'response_format.type': '" + type +
               "' is not one of 'text', 'json_object', 'json_schema'",
           "response_format.type", "invalid_value");
  }
}

// ---- chat messages ----

bool is_valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!allowed) return false;
  }
  return true;
}

// The modality a non-text content part carries, for the error message; empty when unknown.
std::string_view unsupported_part_modality(std::string_view type) {
  if (type == "image_url" || type == "image" || type == "input_image") return "images";
  if (type == "input_audio" || type == "audio") return "audio";
  if (type == "file" || type == "input_file") return "files";
  return {};
}

void read_content_parts(const json& parts, const std::string& path, ChatMessage& message) {
  as_non_empty_array(parts, path);
  message.content_was_parts = true;
  for (size_t j = 0; j < parts.size(); ++j) {
    const std::string part_path = index_path(path, j);
    const json& part = as_object(parts[j], part_path);
    const std::string type_path = part_path + ".type";
    const std::string type = as_string(require(part, "type", type_path), type_path);
    if (type == "text") {
      const std::string text_path = part_path + ".text";
      std::string text = as_string(require(part, "text", text_path), text_path);
      message.content += text;
      message.content_parts.push_back(std::move(text));
      continue;
    }
    if (const std::string_view modality = unsupported_part_modality(type); !modality.empty()) {
      reject("This model does not accept " + std::string(modality) + " (content part of type '" +
                 type + "')",
             type_path, "unsupported_content_type");
    }
    reject("Invalid '" + type_path + "': unknown content part type '" + type + "'", type_path,
           "invalid_value");
  }
}

ToolCall read_tool_call(const json& value, const std::string& path) {
  as_object(value, path);
  ToolCall call;
  call.id = as_string(require(value, "id", path + ".id"), path + ".id");
  if (const json* type = find_optional(value, "type")) {
    if (as_string(*type, path + ".type") != "function") {
      reject("Invalid '" + path + ".type': only 'function' tool calls are supported",
             path + ".type", "invalid_value");
    }
  }
  const std::string function_path = path + ".function";
  const json& function = as_object(require(value, "function", function_path), function_path);
  call.name =
      as_string(require(function, "name", function_path + ".name"), function_path + ".name");
  call.arguments = as_string(require(function, "arguments", function_path + ".arguments"),
                             function_path + ".arguments");
  return call;
}

ChatMessage read_message(const json& value, const std::string& path) {
  as_object(value, path);
  ChatMessage message;
  const std::string role_path = path + ".role";
  message.role = as_string(require(value, "role", role_path), role_path);
  static const std::set<std::string, std::less<>> kRoles = {"system", "developer", "user",
                                                            "assistant", "tool"};
  if (!kRoles.contains(message.role)) {
    reject("Invalid '" + role_path + "': '" + message.role +
               "' is not one of system, developer, user, assistant, tool",
           role_path, "invalid_value");
  }

  if (const json* name = find_optional(value, "name")) {
    message.name = as_string(*name, path + ".name");
  }

  if (message.role == "assistant") {
    if (const json* calls = find_optional(value, "tool_calls")) {
      const std::string calls_path = path + ".tool_calls";
      as_array(*calls, calls_path);
      for (size_t k = 0; k < calls->size(); ++k) {
        message.tool_calls.push_back(read_tool_call((*calls)[k], index_path(calls_path, k)));
      }
    }
  }
  if (message.role == "tool") {
    const std::string id_path = path + ".tool_call_id";
    message.tool_call_id = as_string(require(value, "tool_call_id", id_path), id_path);
  }

  const std::string content_path = path + ".content";
  const json* content = find_optional(value, "content");
  if (content == nullptr) {
    // An assistant turn that only calls tools has no text.
    if (message.role != "assistant" || message.tool_calls.empty()) {
      reject("Missing required parameter: '" + content_path + "'", content_path,
             "missing_required_parameter");
    }
  } else if (content->is_string()) {
    message.content = content->get<std::string>();
  } else if (content->is_array()) {
    read_content_parts(*content, content_path, message);
  } else {
    reject_type(*content, "a string or an array of content parts", content_path);
  }
  return message;
}

// ---- tools ----

std::vector<ToolFunction> read_tools(const json& body) {
  std::vector<ToolFunction> tools;
  const json* value = find_optional(body, "tools");
  if (value == nullptr) return tools;
  as_array(*value, "tools");
  std::set<std::string, std::less<>> names;
  for (size_t i = 0; i < value->size(); ++i) {
    const std::string path = index_path("tools", i);
    const json& tool = as_object((*value)[i], path);
    if (const json* type = find_optional(tool, "type")) {
      if (as_string(*type, path + ".type") != "function") {
        reject("Invalid '" + path + ".type': only 'function' tools are supported", path + ".type",
               "invalid_value");
      }
    }
    const std::string function_path = path + ".function";
    const json& function = as_object(require(tool, "function", function_path), function_path);
    ToolFunction parsed;
    const std::string name_path = function_path + ".name";
    parsed.name = as_string(require(function, "name", name_path), name_path);
    if (!is_valid_tool_name(parsed.name)) {
      reject("Invalid '" + name_path + "': '" + parsed.name +
                 "' is not 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'",
             name_path, "invalid_value");
    }
    if (!names.insert(parsed.name).second) {
      reject("Invalid '" + name_path + "': tool '" + parsed.name + "' is declared twice", name_path,
             "invalid_value");
    }
    if (const json* description = find_optional(function, "description")) {
      parsed.description = as_string(*description, function_path + ".description");
    }
    parsed.parameters_json = "{}";
    if (const json* parameters = find_optional(function, "parameters")) {
      parsed.parameters_json = as_object(*parameters, function_path + ".parameters").dump();
    }
    tools.push_back(std::move(parsed));
  }
  return tools;
}

ToolChoice read_tool_choice(const json& body, const std::vector<ToolFunction>& tools) {
  ToolChoice choice;
  const json* value = find_optional(body, "tool_choice");
  if (value == nullptr) return choice;
  if (value->is_string()) {
    const std::string mode = value->get<std::string>();
    if (mode == "auto") {
      choice.kind = ToolChoiceKind::auto_choice;
    } else if (mode == "none") {
      choice.kind = ToolChoiceKind::none;
    } else if (mode == "required") {
      choice.kind = ToolChoiceKind::required;
      if (tools.empty()) {
        reject("tool_choice 'required' needs at least one tool in 'tools'", "tool_choice",
               "invalid_value");
      }
    } else {
      reject("Invalid 'tool_choice': '" + mode +
                 "' is not one of 'none', 'auto', 'required' or an object naming a function",
             "tool_choice", "invalid_value");
    }
    return choice;
  }
  if (!value->is_object()) reject_type(*value, "a string or an object", "tool_choice");
  const std::string type =
      as_string(require(*value, "type", "tool_choice.type"), "tool_choice.type");
  if (type != "function") {
    reject("Invalid 'tool_choice.type': only 'function' is supported", "tool_choice.type",
           "invalid_value");
  }
  const json& function =
      as_object(require(*value, "function", "tool_choice.function"), "tool_choice.function");
  choice.kind = ToolChoiceKind::named;
  choice.function_name = as_string(require(function, "name", "tool_choice.function.name"),
                                   "tool_choice.function.name");
  bool declared = false;
  for (const ToolFunction& tool : tools) declared = declared || tool.name == choice.function_name;
  if (!declared) {
    reject("tool_choice names function '" + choice.function_name +
               "', which is not declared in 'tools'",
           "tool_choice.function.name", "invalid_value");
  }
  return choice;
}

// ---- per-endpoint bodies ----
// Unknown top-level keys are ignored rather than rejected: OpenAI keeps adding fields, and
// clients (SDKs, agents) send them before any local server knows them. That covers the fields
// that mean nothing to a local server as well: metadata, store, service_tier, cache_prompt.

ChatCompletionRequest read_chat_completion(const json& body) {
  ChatCompletionRequest request;
  read_model(body, request.model);

  const json& messages = as_non_empty_array(require(body, "messages", "messages"), "messages");
  request.messages.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    request.messages.push_back(read_message(messages[i], index_path("messages", i)));
  }

  read_generation(body, request.generation);
  read_chat_logprobs(body, request.generation);
  read_response_format(body, request.response_format);
  request.tools = read_tools(body);
  request.tool_choice = read_tool_choice(body, request.tools);
  read_optional(body, "parallel_tool_calls", request.parallel_tool_calls);
  if (const json* user = find_optional(body, "user")) request.user = as_string(*user, "user");
  return request;
}

void read_prompt(const json& body, CompletionRequest& request) {
  const json& prompt = require(body, "prompt", "prompt");
  if (prompt.is_string()) {
    request.prompts.push_back(prompt.get<std::string>());
    return;
  }
  if (!prompt.is_array()) {
    reject_type(prompt, "a string, an array of strings or an array of token arrays", "prompt");
  }
  if (prompt.empty()) reject("prompt must not be empty", "prompt", "empty_array");
  // The first element decides the form; all elements must share it.
  const json& first = prompt.front();
  if (first.is_number_integer()) {
    request.token_prompts.push_back(as_token_array(prompt, "prompt"));
  } else if (first.is_string()) {
    for (size_t i = 0; i < prompt.size(); ++i) {
      request.prompts.push_back(as_string(prompt[i], index_path("prompt", i)));
    }
  } else if (first.is_array()) {
    for (size_t i = 0; i < prompt.size(); ++i) {
      request.token_prompts.push_back(as_token_array(prompt[i], index_path("prompt", i)));
    }
  } else {
    reject_type(first, "a string, a token id or an array of token ids", "prompt[0]");
  }
}

CompletionRequest read_completion(const json& body) {
  CompletionRequest request;
  read_model(body, request.model);
  read_prompt(body, request);
  read_generation(body, request.generation);
  read_completion_logprobs(body, request.generation);
  read_response_format(body, request.response_format);
  read_optional(body, "echo", request.echo);
  read_optional(body, "suffix", request.suffix);
  require_single_choice(body, "best_of");
  return request;
}

EmbeddingRequest read_embedding(const json& body) {
  EmbeddingRequest request;
  read_model(body, request.model);

  const json& input = require(body, "input", "input");
  const auto read_text = [&request](const json& value, const std::string& path) {
    std::string text = as_string(value, path);
    if (text.empty()) reject(path + " must not be an empty string", path, "invalid_value");
    request.inputs.push_back(std::move(text));
  };
  if (input.is_string()) {
    read_text(input, "input");
  } else if (input.is_array()) {
    if (input.empty()) reject("input must not be empty", "input", "empty_array");
    const json& first = input.front();
    if (first.is_number_integer()) {
      request.token_inputs.push_back(as_token_array(input, "input"));
    } else if (first.is_string()) {
      for (size_t i = 0; i < input.size(); ++i) read_text(input[i], index_path("input", i));
    } else if (first.is_array()) {
      for (size_t i = 0; i < input.size(); ++i) {
        request.token_inputs.push_back(as_token_array(input[i], index_path("input", i)));
      }
    } else {
      reject_type(first, "a string, a token id or an array of token ids", "input[0]");
    }
  } else {
    reject_type(input, "a string, an array of strings or an array of token arrays", "input");
  }

  if (const json* format = find_optional(body, "encoding_format")) {
    const std::string name = as_string(*format, "encoding_format");
    if (name == "float") {
      request.encoding_format = EncodingFormat::float_array;
    } else if (name == "base64") {
      request.encoding_format = EncodingFormat::base64;
    } else {
      reject("Invalid 'encoding_format': expected 'float' or 'base64', but got '" + name + "'",
             "encoding_format", "invalid_value");
    }
  }
  if (const json* dimensions = find_optional(body, "dimensions")) {
    request.dimensions =
        as_int_in_range(*dimensions, 1, std::numeric_limits<int32_t>::max(), "dimensions");
  }
  if (const json* user = find_optional(body, "user")) as_string(*user, "user");
  return request;
}

RerankRequest read_rerank(const json& body) {
  RerankRequest request;
  read_model(body, request.model);
  request.query = as_string(require(body, "query", "query"), "query");
  if (request.query.empty()) reject("query must not be empty", "query", "invalid_value");

  const json& documents = as_non_empty_array(require(body, "documents", "documents"), "documents");
  request.documents.reserve(documents.size());
  for (size_t i = 0; i < documents.size(); ++i) {
    const std::string path = index_path("documents", i);
    const json& document = documents[i];
    if (document.is_string()) {
      request.documents.push_back(document.get<std::string>());
    } else if (document.is_object()) {
      // Cohere-style {"text": ...} documents.
      request.documents.push_back(
          as_string(require(document, "text", path + ".text"), path + ".text"));
    } else {
      reject_type(document, "a string or an object with 'text'", path);
    }
  }

  if (const json* top_n = find_optional(body, "top_n")) {
    request.top_n = as_int_in_range(*top_n, 1, std::numeric_limits<int32_t>::max(), "top_n");
  }
  read_optional(body, "return_documents", request.return_documents);
  return request;
}

// Runs one endpoint's reader on a body, turning every failure into an ApiError value.
template <class Request, class Reader>
Expected<Request, ApiError> parse_with(std::string_view body, Reader read) {
  try {
    return read(parse_body(body));
  } catch (const RequestRejected& rejected) {
    return unexpected(rejected.error);
  } catch (const json::exception& e) {
    // The readers check each type before converting, so this is a missed case, still the
    // client's input rather than a server fault.
    return unexpected(invalid_request("Invalid request: " + without_exception_id(e.what())));
  }
}

}  // namespace

Expected<ChatCompletionRequest, ApiError> parse_chat_completion_request(std::string_view body) {
  return parse_with<ChatCompletionRequest>(body, read_chat_completion);
}

Expected<CompletionRequest, ApiError> parse_completion_request(std::string_view body) {
  return parse_with<CompletionRequest>(body, read_completion);
}

Expected<EmbeddingRequest, ApiError> parse_embedding_request(std::string_view body) {
  return parse_with<EmbeddingRequest>(body, read_embedding);
}

Expected<RerankRequest, ApiError> parse_rerank_request(std::string_view body) {
  return parse_with<RerankRequest>(body, read_rerank);
}

namespace {

std::chrono::milliseconds read_keep_alive(const json& value) {
  const std::string path = "keep_alive";
  if (value.is_number()) {
    const double seconds = value.get<double>();
    if (!std::isfinite(seconds)) {
      reject("'keep_alive' must be a finite number of seconds", path, "invalid_value");
    }
    return seconds < 0 ? std::chrono::milliseconds::max()
                       : std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }
  if (!value.is_string()) {
    reject("'keep_alive' must be a number of seconds or a duration such as \"5m\"", path,
           "invalid_type");
  }
  const std::string text = value.get<std::string>();
  std::size_t consumed = 0;
  double amount = 0;
  try {
    amount = std::stod(text, &consumed);
  } catch (const std::exception&) {
    consumed = 0;
  }
  const std::string unit = text.substr(consumed);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  }
  if (consumed == 0 || scale == 0 || !std::isfinite(amount)) {
    reject(
        "'keep_alive' is not a duration: \"" + text + "\" (examples: \"30s\", \"5m\", \"1h\", -1)",
        path, "invalid_value");
  }
  if (amount < 0) {
    return std::chrono::milliseconds::max();
  }
  return std::chrono::milliseconds(static_cast<int64_t>(amount * scale));
}

// Characters of text a request carries to the model, for the token estimate.
std::size_t text_characters(const json& value) {
  if (value.is_string()) {
    return value.get_ref<const std::string&>().size();
  }
  std::size_t total = 0;
  if (value.is_array()) {
    for (const auto& item : value) {
      total += text_characters(item);
    }
  } else if (value.is_object()) {
    for (const char* key :
         {"content", "text", "prompt", "input", "query", "documents", "arguments", "name"}) {
      if (auto found = value.find(key); found != value.end()) {
        total += text_characters(*found);
      }
    }
    if (auto calls = value.find("tool_calls"); calls != value.end()) {
      for (const auto& call : *calls) {
        if (auto function = call.find("function"); call.is_object() && function != call.end()) {
          total += text_characters(*function);
        }
      }
    }
  }
  return total;
}

bool has_image_part(const json& messages) {
  if (!messages.is_array()) {
    return false;
  }
  for (const auto& message : messages) {
    if (!message.is_object()) {
      continue;
    }
    auto content = message.find("content");
    if (content == message.end() || !content->is_array()) {
      continue;
    }
    for (const auto& part : *content) {
      if (!part.is_object()) {
        continue;
      }
      auto type = part.find("type");
      if (type != part.end() && type->is_string() &&
          (*type == "image_url" || *type == "input_image" || *type == "image")) {
        return true;
      }
    }
  }
  return false;
}

void read_placement_facts(const json& body, RoutingFields& fields) {
  if (const json* metadata = find_optional(body, "metadata"); metadata && metadata->is_object()) {
    if (auto workload = metadata->find("workload");
        workload != metadata->end() && workload->is_string()) {
      fields.workload = workload->get<std::string>();
    }
  }
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (const json* value = find_optional(body, key); value && value->is_number_integer()) {
      fields.max_tokens = value->get<std::int64_t>();
      break;
    }
  }
  if (const json* tools = find_optional(body, "tools")) {
    fields.has_tools = tools->is_array() && !tools->empty();
  }
  std::size_t characters = 0;
  if (const json* messages = find_optional(body, "messages")) {
    fields.has_images = has_image_part(*messages);
    characters += text_characters(*messages);
  }
  for (const char* key : {"prompt", "input", "query", "documents"}) {
    if (const json* value = find_optional(body, key)) {
      characters += text_characters(*value);
    }
  }
  if (fields.has_tools) {
    characters += body.at("tools").dump().size();
  }
  fields.estimated_prompt_tokens = static_cast<std::int64_t>((characters + 3) / 4);
  if (const json* logprobs = find_optional(body, "logprobs")) {
    fields.logprobs = (logprobs->is_boolean() && logprobs->get<bool>()) ||
                      (logprobs->is_number_integer() && logprobs->get<std::int64_t>() > 0);
  }
  fields.has_stream_options = body.contains("stream_options");
  if (const json* options = find_optional(body, "stream_options");
      options && options->is_object()) {
    auto usage = options->find("include_usage");
    fields.include_usage = usage != options->end() && usage->is_boolean() && usage->get<bool>();
  }
  if (const json* format = find_optional(body, "response_format"); format && format->is_object()) {
    auto type = format->find("type");
    if (type != format->end() && type->is_string()) {
      const auto& name = type->get_ref<const std::string&>();
      if (name == "json_object") {
        fields.response_format = name;
      } else if (name == "json_schema") {
        fields.response_format = name;
        auto wrapper = format->find("json_schema");
        if (wrapper != format->end() && wrapper->is_object()) {
          if (auto schema = wrapper->find("schema"); schema != wrapper->end()) {
            fields.json_schema = schema->dump();
          }
        }
      }
    }
  }
}

RoutingFields read_routing_fields(const json& body) {
  RoutingFields fields;
  read_placement_facts(body, fields);
  if (const json* model = find_optional(body, "model")) {
    fields.model = as_string(*model, "model");
  }
  if (const json* stream = find_optional(body, "stream")) {
    fields.stream = as_bool(*stream, "stream");
  }
  if (const json* keep_alive = find_optional(body, "keep_alive")) {
    fields.keep_alive = read_keep_alive(*keep_alive);
  }
  return fields;
}

std::string read_and_replace_model(json body, const std::string& model) {
  body["model"] = model;
  return body.dump();
}

std::string read_and_rewrite(json body, const BodyRewrite& rewrite, bool is_chat) {
  if (rewrite.model) {
    body["model"] = *rewrite.model;
  }
  if (rewrite.request_logprobs) {
    if (is_chat) {
      body["logprobs"] = true;
    } else if (!body.contains("logprobs") || !body["logprobs"].is_number_integer()) {
      body["logprobs"] = 1;
    }
  }
  if (rewrite.request_usage) {
    auto& options = body["stream_options"];
    if (!options.is_object()) {
      options = json::object();
    }
    options["include_usage"] = true;
  }
  return body.dump();
}

AnswerSummary read_answer(const json& body) {
  AnswerSummary summary;
  if (!body.is_object()) {
    throw std::runtime_error("the answer is not a JSON object");
  }
  if (auto usage = body.find("usage"); usage != body.end() && usage->is_object()) {
    auto number = [&](const json& object, const char* key) -> std::int64_t {
      auto found = object.find(key);
      return found != object.end() && found->is_number_integer() ? found->get<std::int64_t>() : 0;
    };
    summary.prompt_tokens = number(*usage, "prompt_tokens");
    summary.completion_tokens = number(*usage, "completion_tokens");
    if (auto details = usage->find("prompt_tokens_details");
        details != usage->end() && details->is_object()) {
      summary.cached_tokens = number(*details, "cached_tokens");
    }
  }
  auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array() || choices->empty()) {
    return summary;
  }
  summary.has_choices = true;
  const json& choice = choices->at(0);
  if (auto reason = choice.find("finish_reason"); reason != choice.end() && reason->is_string()) {
    summary.finish_reason = reason->get<std::string>();
  }
  if (auto message = choice.find("message"); message != choice.end() && message->is_object()) {
    if (auto content = message->find("content");
        content != message->end() && content->is_string()) {
      summary.content = content->get<std::string>();
    }
    if (auto calls = message->find("tool_calls"); calls != message->end() && calls->is_array()) {
      summary.tool_calls = static_cast<int>(calls->size());
    }
  } else if (auto text = choice.find("text"); text != choice.end() && text->is_string()) {
    summary.content = text->get<std::string>();
  }
  double sum = 0;
  if (auto logprobs = choice.find("logprobs"); logprobs != choice.end() && logprobs->is_object()) {
    if (auto content = logprobs->find("content");
        content != logprobs->end() && content->is_array()) {
      for (const auto& token : *content) {
        if (auto value = token.find("logprob"); value != token.end() && value->is_number()) {
          sum += value->get<double>();
          ++summary.logprob_tokens;
        }
      }
    } else if (auto values = logprobs->find("token_logprobs");
               values != logprobs->end() && values->is_array()) {
      for (const auto& value : *values) {
        if (value.is_number()) {
          sum += value.get<double>();
          ++summary.logprob_tokens;
        }
      }
    }
  }
  if (summary.logprob_tokens > 0) {
    summary.mean_logprob = sum / summary.logprob_tokens;
  }
  return summary;
}

}  // namespace

namespace {

// read_routing_fields() on simdjson's reading, for the requests it can answer exactly as the
// nlohmann reading does (the last of a repeated key counts, null counts as absent); nullopt
// sends the body to that reading: whatever simdjson refuses, a field of the wrong type (for the
// error naming it), keep_alive, tools (their size is counted from their JSON text) and a JSON
// schema (kept as text).
using simdjson::dom::array;
using simdjson::dom::object;

std::size_t text_characters_of(JsonElement value) {
  if (const auto text = string_value(value)) return text->size();
  std::size_t total = 0;
  if (array items; value.get(items) == simdjson::SUCCESS) {
    for (const JsonElement item : items) total += text_characters_of(item);
  } else if (value.is_object()) {
    for (const char* key :
         {"content", "text", "prompt", "input", "query", "documents", "arguments", "name"}) {
      if (const auto found = last_member(value, key)) total += text_characters_of(*found);
    }
    if (const auto calls = last_member(value, "tool_calls")) {
      const auto add_call = [&](JsonElement call) {
        if (const auto function = last_member(call, "function")) {
          total += text_characters_of(*function);
        }
      };
      if (array list; calls->get(list) == simdjson::SUCCESS) {
        for (const JsonElement call : list) add_call(call);
      } else if (object members; calls->get(members) == simdjson::SUCCESS) {
        for (const simdjson::dom::key_value_pair member : members) add_call(member.value);
      }
    }
  }
  return total;
}

bool has_image_part_of(JsonElement messages) {
  array list;
  if (messages.get(list) != simdjson::SUCCESS) return false;
  for (const JsonElement message : list) {
    const auto content = last_member(message, "content");
    array parts;
    if (!content || content->get(parts) != simdjson::SUCCESS) continue;
    for (const JsonElement part : parts) {
      const auto type = last_member(part, "type");
      const auto name = type ? string_value(*type) : std::nullopt;
      if (name && (*name == "image_url" || *name == "input_image" || *name == "image")) {
        return true;
      }
    }
  }
  return false;
}

std::optional<RoutingFields> read_routing_fields_fast(std::string_view body) {
  const std::optional<JsonElement> root = parse_for_reading(body);
  if (!root || !root->is_object()) return std::nullopt;
  enum Member : std::size_t {
    kKeepAlive,
    kTools,
    kModel,
    kStream,
    kMetadata,
    kMaxCompletionTokens,
    kMaxTokens,
    kMessages,
    kPrompt,
    kInput,
    kQuery,
    kDocuments,
    kLogprobs,
    kStreamOptions,
    kResponseFormat,
    kMembers
  };
  static constexpr std::array<std::string_view, kMembers> kNames = {
      "keep_alive", "tools",          "model",
      "stream",     "metadata",       "max_completion_tokens",
      "max_tokens", "messages",       "prompt",
      "input",      "query",          "documents",
      "logprobs",   "stream_options", "response_format"};
  const auto members = last_members(*root, kNames);
  // A member whose value is null counts as absent, as in the nlohmann reading.
  const auto present = [&members](Member member) -> std::optional<JsonElement> {
    const auto& found = members[member];
    return found && !found->is_null() ? found : std::nullopt;
  };
  RoutingFields fields;
  if (present(kKeepAlive)) return std::nullopt;
  if (const auto tools = present(kTools)) {
    array list;
    if (tools->get(list) == simdjson::SUCCESS && list.size() > 0) return std::nullopt;
  }
  if (const auto model = present(kModel)) {
    const auto name = string_value(*model);
    if (!name) return std::nullopt;
    fields.model = *name;
  }
  if (const auto stream = present(kStream)) {
    if (stream->get(fields.stream) != simdjson::SUCCESS) return std::nullopt;
  }
  if (const auto metadata = present(kMetadata)) {
    if (const auto workload = last_member(*metadata, "workload")) {
      if (const auto name = string_value(*workload)) fields.workload = *name;
    }
  }
  for (const Member member : {kMaxCompletionTokens, kMaxTokens}) {
    if (const auto value = present(member)) {
      if (const auto number = integer_value(*value)) {
        fields.max_tokens = number;
        break;
      }
    }
  }
  std::size_t characters = 0;
  if (const auto messages = present(kMessages)) {
    fields.has_images = has_image_part_of(*messages);
    characters += text_characters_of(*messages);
  }
  for (const Member member : {kPrompt, kInput, kQuery, kDocuments}) {
    if (const auto value = present(member)) characters += text_characters_of(*value);
  }
  fields.estimated_prompt_tokens = static_cast<std::int64_t>((characters + 3) / 4);
  if (const auto logprobs = present(kLogprobs)) {
    bool wanted = false;
    const auto number = integer_value(*logprobs);
    fields.logprobs =
        (logprobs->get(wanted) == simdjson::SUCCESS && wanted) || (number && *number > 0);
  }
  if (const auto& options = members[kStreamOptions]) {
    fields.has_stream_options = true;
    bool include = false;
    const auto usage = last_member(*options, "include_usage");
    fields.include_usage = usage && usage->get(include) == simdjson::SUCCESS && include;
  }
  if (const auto format = present(kResponseFormat)) {
    const auto type = last_member(*format, "type");
    const auto name = type ? string_value(*type) : std::nullopt;
    if (name == "json_schema") return std::nullopt;
    if (name == "json_object") fields.response_format = *name;
  }
  return fields;
}

// `"stream_options":{"include_usage":true}` put first in a JSON object that has no such member.
std::optional<std::string> with_usage_member(std::string_view body) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t open = body.find_first_not_of(kSpace);
  if (open == std::string_view::npos || body[open] != '{') return std::nullopt;
  const std::size_t next = body.find_first_not_of(kSpace, open + 1);
  std::string out;
  out.reserve(body.size() + 48);
  out.append(body.substr(0, open + 1));
  out += R"("stream_options":{"include_usage":true})";
  if (next != std::string_view::npos && body[next] != '}') out += ',';
  out.append(body.substr(open + 1));
  return out;
}

}  // namespace

Expected<RoutingFields, ApiError> parse_routing_fields(std::string_view body) {
  if (auto fields = read_routing_fields_fast(body)) return std::move(*fields);
  return parse_with<RoutingFields>(body, read_routing_fields);
}

Expected<std::string, ApiError> replace_model(std::string_view body, const std::string& model) {
  return parse_with<std::string>(
      body, [&model](json document) { return read_and_replace_model(std::move(document), model); });
}

Expected<std::string, ApiError> rewrite_body(std::string_view body, const BodyRewrite& rewrite,
                                             bool is_chat) {
  if (rewrite.request_usage && rewrite.without_stream_options && !rewrite.model &&
      !rewrite.request_logprobs) {
    if (auto rewritten = with_usage_member(body)) return std::move(*rewritten);
  }
  return parse_with<std::string>(
      body, [&](json document) { return read_and_rewrite(std::move(document), rewrite, is_chat); });
}

namespace {

// read_answer() on simdjson's reading of the answer: the same fields, the same rules (the last
// of a repeated key counts, as in nlohmann's document).
std::int64_t integer_or_zero(std::optional<JsonElement> value) {
  return value ? integer_value(*value).value_or(0) : 0;
}

std::optional<AnswerSummary> read_answer_fast(std::string_view body) {
  const std::optional<JsonElement> root = parse_for_reading(body);
  if (!root || !root->is_object()) return std::nullopt;
  AnswerSummary summary;
  static constexpr std::array<std::string_view, 2> kAnswerMembers = {"usage", "choices"};
  const auto [usage, choices] = last_members(*root, kAnswerMembers);
  if (usage && usage->is_object()) {
    static constexpr std::array<std::string_view, 3> kUsageMembers = {
        "prompt_tokens", "completion_tokens", "prompt_tokens_details"};
    const auto [prompt, completion, details] = last_members(*usage, kUsageMembers);
    summary.prompt_tokens = integer_or_zero(prompt);
    summary.completion_tokens = integer_or_zero(completion);
    if (details && details->is_object()) {
      summary.cached_tokens = integer_or_zero(last_member(*details, "cached_tokens"));
    }
  }
  simdjson::dom::array choice_list;
  if (!choices || choices->get(choice_list) != simdjson::SUCCESS || choice_list.size() == 0) {
    return summary;
  }
  summary.has_choices = true;
  const JsonElement choice = choice_list.at(0).value_unsafe();
  static constexpr std::array<std::string_view, 4> kChoiceMembers = {"finish_reason", "message",
                                                                     "text", "logprobs"};
  const auto [reason, message, text_member, logprobs] = last_members(choice, kChoiceMembers);
  if (reason) {
    if (const auto text = string_value(*reason)) summary.finish_reason = *text;
  }
  if (message && message->is_object()) {
    if (const auto content = last_member(*message, "content")) {
      if (const auto text = string_value(*content)) summary.content = *text;
    }
    simdjson::dom::array calls;
    if (const auto tool_calls = last_member(*message, "tool_calls");
        tool_calls && tool_calls->get(calls) == simdjson::SUCCESS) {
      summary.tool_calls = static_cast<int>(calls.size());
    }
  } else if (text_member) {
    if (const auto text = string_value(*text_member)) summary.content = *text;
  }
  double sum = 0;
  const auto add_logprob = [&](std::optional<JsonElement> value) {
    double number = 0;
    if (value && value->get(number) == simdjson::SUCCESS) {
      sum += number;
      ++summary.logprob_tokens;
    }
  };
  if (logprobs && logprobs->is_object()) {
    simdjson::dom::array values;
    if (const auto content = last_member(*logprobs, "content");
        content && content->get(values) == simdjson::SUCCESS) {
      for (const JsonElement token : values) add_logprob(last_member(token, "logprob"));
    } else if (const auto token_logprobs = last_member(*logprobs, "token_logprobs");
               token_logprobs && token_logprobs->get(values) == simdjson::SUCCESS) {
      for (const JsonElement value : values) add_logprob(value);
    }
  }
  if (summary.logprob_tokens > 0) {
    summary.mean_logprob = sum / summary.logprob_tokens;
  }
  return summary;
}

}  // namespace

Expected<AnswerSummary, std::string> summarize_answer(std::string_view body) {
  if (auto summary = read_answer_fast(body)) return std::move(*summary);
  try {
    return read_answer(json::parse(body));
  } catch (const std::exception& e) {
    return unexpected(std::string("unreadable answer: ") + e.what());
  }
}

std::string without_logprobs(std::string_view body) {
  try {
    json document = json::parse(body);
    if (auto choices = document.find("choices"); choices != document.end() && choices->is_array()) {
      for (auto& choice : *choices) {
        if (choice.is_object() && choice.contains("logprobs")) {
          choice["logprobs"] = nullptr;
        }
      }
    }
    return document.dump();
  } catch (const std::exception&) {
    return std::string(body);
  }
}

}  // namespace hearth::api
