#include "cloud/anthropic_translation.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "api/json_fields.hpp"
#include "api/json_text.hpp"
#include "api/serialize.hpp"

// OpenAI request fields that are dropped, because Anthropic has no equivalent or the gateway
// handles them elsewhere: model (replaced by the upstream model), frequency_penalty,
// presence_penalty, seed, logit_bias, top_logprobs (without logprobs), response_format,
// stream_options (used by AnthropicStreamTranslator), service_tier, store, modalities, audio,
// prediction, reasoning_effort, web_search_options, functions and function_call (deprecated),
// metadata other than user_id, tools[].function.strict, messages[].name,
// messages[].reasoning_content, image_url.detail, and every field OpenAI does not define.

namespace hearth::cloud {
namespace {

// Ordered: key order of tool schemas and arguments reaches the model's prompt, so it is kept.
using json = nlohmann::ordered_json;

// Anthropic accepts temperatures up to 1; OpenAI's up to 2. Like Anthropic's own OpenAI
// compatibility layer, higher values are capped rather than rejected.
constexpr double kMaxAnthropicTemperature = 1.0;
constexpr size_t kMaxQuotedBodyBytes = 200;

// Validation runs several levels deep; the first failure unwinds to the public entry point,
// which returns it as a value. It never leaves this file.
using namespace api::json_fields;  // NOLINT: this file is one of the readers they exist for
using Failure = api::json_fields::Rejected;

[[noreturn]] void bad_upstream(const std::string& why) {
  throw Failure{api::api_error(502, "The provider sent an answer that could not be read: " + why,
                               "bad_provider_response")};
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Parses JSON text; the error (without the exception id) is returned through `why`.
std::optional<json> try_parse(std::string_view text, std::string& why) {
  if (api::json_nesting_depth(text) > api::kMaxJsonNestingDepth) {
    why = "nesting deeper than " + std::to_string(api::kMaxJsonNestingDepth) + " levels";
    return std::nullopt;
  }
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    why = api::without_exception_id(e.what());
    return std::nullopt;
  }
}

// ---- typed access to the client's body (the rest is in api/json_fields.hpp) ----

int64_t as_int_at_least(const json& value, int64_t min, const std::string& path) {
  return as_int_in_range(value, min, std::numeric_limits<int32_t>::max(), path);
}

json parse_client_body(std::string_view body) {
  std::string why;
  std::optional<json> document = try_parse(body, why);
  if (!document) {
    throw Failure{api::invalid_request("Invalid JSON body: " + why, std::nullopt, "invalid_json")};
  }
  if (!document->is_object()) {
    throw Failure{api::invalid_request(
        "Request body must be a JSON object, not " + std::string(document->type_name()),
        std::nullopt, "invalid_type")};
  }
  return std::move(*document);
}

// ---- messages ----

json text_block(std::string text) { return json{{"type", "text"}, {"text", std::move(text)}}; }

[[noreturn]] void reject_part_type(const std::string& type, const std::string& type_path,
                                   std::string_view allowed) {
  if (type == "image_url" || type == "input_audio" || type == "file" || type == "refusal" ||
      type == "text") {
    reject("Content parts of type '" + type + "' are not accepted here ('" + type_path +
               "'); allowed: " + std::string(allowed),
           type_path, "unsupported_content_type");
  }
  reject("Invalid '" + type_path + "': unknown content part type '" + type + "'", type_path,
         "invalid_value");
}

// The text of a message whose content may only be text: a string, or text parts concatenated.
std::string text_content(const json& content, const std::string& path) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) reject_type(content, "a string or an array of content parts", path);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string part_path = index_path(path, j);
    const json& part = as_object(content[j], part_path);
    const std::string type_path = part_path + ".type";
    const std::string& type = as_string(require(part, "type", type_path), type_path);
    if (type != "text") reject_part_type(type, type_path, "text");
    text += as_string(require(part, "text", part_path + ".text"), part_path + ".text");
  }
  return text;
}

// data:<media type>[;params][;base64],<data> -> a base64 image source; http(s) -> a URL source.
json image_block(const std::string& url, const std::string& path) {
  if (url.starts_with("data:")) {
    const size_t comma = url.find(',');
    if (comma == std::string::npos) {
      reject("Invalid '" + path + "': a data URL needs ',' before its data", path, "invalid_value");
    }
    const std::string_view header = std::string_view(url).substr(5, comma - 5);
    const std::string_view media_type = header.substr(0, header.find(';'));
    // RFC 2397: ";base64" is the last thing before the comma.
    const bool is_base64 = header.ends_with(";base64");
    if (media_type.empty() || !is_base64) {
      reject("Invalid '" + path +
                 "': an image data URL must name its media type and be base64 "
                 "(data:image/png;base64,...)",
             path, "invalid_value");
    }
    return json{{"type", "image"},
                {"source", json{{"type", "base64"},
                                {"media_type", std::string(media_type)},
                                {"data", url.substr(comma + 1)}}}};
  }
  if (url.starts_with("https://") || url.starts_with("http://")) {
    return json{{"type", "image"}, {"source", json{{"type", "url"}, {"url", url}}}};
  }
  reject("Invalid '" + path + "': expected a data: URL or an http(s) URL", path, "invalid_value");
}

json user_blocks(const json& content, const std::string& path) {
  json blocks = json::array();
  if (content.is_string()) {
    // Anthropic rejects empty text blocks.
    if (!content.get_ref<const std::string&>().empty()) {
      blocks.push_back(text_block(content.get<std::string>()));
    }
    return blocks;
  }
  if (!content.is_array()) reject_type(content, "a string or an array of content parts", path);
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string part_path = index_path(path, j);
    const json& part = as_object(content[j], part_path);
    const std::string type_path = part_path + ".type";
    const std::string& type = as_string(require(part, "type", type_path), type_path);
    if (type == "text") {
      const std::string& text =
          as_string(require(part, "text", part_path + ".text"), part_path + ".text");
      if (!text.empty()) blocks.push_back(text_block(text));
    } else if (type == "image_url") {
      const std::string image_path = part_path + ".image_url";
      const json& image = require(part, "image_url", image_path);
      if (image.is_string()) {
        blocks.push_back(image_block(image.get<std::string>(), image_path));
      } else {
        as_object(image, image_path);
        const std::string url_path = image_path + ".url";
        blocks.push_back(
            image_block(as_string(require(image, "url", url_path), url_path), url_path));
      }
    } else {
      reject_part_type(type, type_path, "text, image_url");
    }
  }
  return blocks;
}

// Text-only content as text blocks: a string is one block, each text part (and, for replies the
// model gave earlier, each refusal part) another. Empty texts are left out.
json text_blocks(const json& content, const std::string& path, bool allow_refusal) {
  json blocks = json::array();
  if (content.is_string()) {
    if (!content.get_ref<const std::string&>().empty()) {
      blocks.push_back(text_block(content.get<std::string>()));
    }
    return blocks;
  }
  if (!content.is_array()) reject_type(content, "a string or an array of content parts", path);
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string part_path = index_path(path, j);
    const json& part = as_object(content[j], part_path);
    const std::string type_path = part_path + ".type";
    const std::string& type = as_string(require(part, "type", type_path), type_path);
    if (type != "text" && !(allow_refusal && type == "refusal")) {
      reject_part_type(type, type_path, allow_refusal ? "text, refusal" : "text");
    }
    const std::string text_path = part_path + "." + type;
    const std::string& text = as_string(require(part, type, text_path), text_path);
    if (!text.empty()) blocks.push_back(text_block(text));
  }
  return blocks;
}

json tool_use_block(const json& call, const std::string& path) {
  as_object(call, path);
  if (const json* type = find_optional(call, "type")) {
    if (as_string(*type, path + ".type") != "function") {
      reject("Invalid '" + path + ".type': only 'function' tool calls are supported",
             path + ".type", "invalid_value");
    }
  }
  const std::string& id = as_string(require(call, "id", path + ".id"), path + ".id");
  const std::string function_path = path + ".function";
  const json& function = as_object(require(call, "function", function_path), function_path);
  const std::string name_path = function_path + ".name";
  const std::string& name = as_string(require(function, "name", name_path), name_path);

  const std::string arguments_path = function_path + ".arguments";
  json input = json::object();
  if (const json* arguments = find_optional(function, "arguments")) {
    const std::string& text = as_string(*arguments, arguments_path);
    // Some clients send "" for a call without arguments.
    if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
      std::string why;
      std::optional<json> parsed = try_parse(text, why);
      if (!parsed) {
        reject("Invalid '" + arguments_path + "': not valid JSON (" + why + ")", arguments_path,
               "invalid_value");
      }
      if (!parsed->is_object()) {
        reject("Invalid '" + arguments_path + "': expected a JSON object, but got " +
                   std::string(parsed->type_name()),
               arguments_path, "invalid_value");
      }
      input = std::move(*parsed);
    }
  }
  return json{{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", std::move(input)}};
}

json tool_result_block(const json& message, const std::string& path) {
  const std::string id_path = path + ".tool_call_id";
  json block{{"type", "tool_result"},
             {"tool_use_id", as_string(require(message, "tool_call_id", id_path), id_path)}};
  const json* content = find_optional(message, "content");
  if (content == nullptr) return block;
  const std::string content_path = path + ".content";
  if (content->is_array()) {
    // Parts stay separate blocks, so nothing is lost in joining them.
    json parts = text_blocks(*content, content_path, false);
    if (!parts.empty()) block["content"] = std::move(parts);
  } else {
    std::string text = text_content(*content, content_path);
    if (!text.empty()) block["content"] = std::move(text);
  }
  return block;
}

// Anthropic requires user and assistant turns to alternate: a message of the same role as the
// previous one joins it.
void append_turn(json& messages, const char* role, json blocks) {
  if (blocks.empty()) return;
  if (!messages.empty() && messages.back()["role"] == role) {
    json& content = messages.back()["content"];
    for (json& block : blocks) content.push_back(std::move(block));
    return;
  }
  messages.push_back(json{{"role", role}, {"content", std::move(blocks)}});
}

struct Conversation {
  std::string system;
  json messages = json::array();
};

Conversation read_messages(const json& body) {
  const json& messages = as_array(require(body, "messages", "messages"), "messages");
  if (messages.empty()) reject("'messages' must not be empty", "messages", "empty_array");
  Conversation conversation;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string path = index_path("messages", i);
    const json& message = as_object(messages[i], path);
    const std::string role_path = path + ".role";
    const std::string& role = as_string(require(message, "role", role_path), role_path);
    const json* content = find_optional(message, "content");
    const std::string content_path = path + ".content";

    if (role == "system" || role == "developer") {
      const std::string text = content ? text_content(*content, content_path) : std::string();
      if (text.empty()) continue;
      if (!conversation.system.empty()) conversation.system += "\n\n";
      conversation.system += text;
    } else if (role == "user") {
      append_turn(conversation.messages, "user",
                  user_blocks(require(message, "content", content_path), content_path));
    } else if (role == "assistant") {
      json blocks = content ? text_blocks(*content, content_path, true) : json::array();
      if (const json* calls = find_optional(message, "tool_calls")) {
        const std::string calls_path = path + ".tool_calls";
        as_array(*calls, calls_path);
        for (size_t j = 0; j < calls->size(); ++j) {
          blocks.push_back(tool_use_block((*calls)[j], index_path(calls_path, j)));
        }
      }
      append_turn(conversation.messages, "assistant", std::move(blocks));
    } else if (role == "tool") {
      json blocks = json::array();
      blocks.push_back(tool_result_block(message, path));
      append_turn(conversation.messages, "user", std::move(blocks));
    } else {
      reject("Invalid '" + role_path + "': role '" + role +
                 "' is not one of system, developer, user, assistant, tool",
             role_path, "invalid_value");
    }
  }
  if (conversation.messages.empty()) {
    reject("'messages' must hold at least one non-empty user, assistant or tool message",
           "messages", "invalid_value");
  }
  return conversation;
}

// ---- tools ----

json read_tools(const json& tools) {
  json result = json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string path = index_path("tools", i);
    const json& tool = as_object(tools[i], path);
    if (const json* type = find_optional(tool, "type")) {
      if (as_string(*type, path + ".type") != "function") {
        reject("Invalid '" + path + ".type': only 'function' tools are supported", path + ".type",
               "invalid_value");
      }
    }
    const std::string function_path = path + ".function";
    const json& function = as_object(require(tool, "function", function_path), function_path);
    const std::string name_path = function_path + ".name";
    json entry{{"name", as_string(require(function, "name", name_path), name_path)}};
    if (const json* description = find_optional(function, "description")) {
      entry["description"] = as_string(*description, function_path + ".description");
    }
    json schema = json{{"type", "object"}};
    if (const json* parameters = find_optional(function, "parameters")) {
      schema = as_object(*parameters, function_path + ".parameters");
      // OpenAI accepts {} for a tool without arguments; Anthropic wants an object schema.
      if (!schema.contains("type")) schema["type"] = "object";
    }
    entry["input_schema"] = std::move(schema);
    result.push_back(std::move(entry));
  }
  return result;
}

json read_tool_choice(const json& choice) {
  if (choice.is_string()) {
    const std::string& mode = choice.get_ref<const std::string&>();
    if (mode == "auto") return json{{"type", "auto"}};
    if (mode == "required") return json{{"type", "any"}};
    if (mode == "none") return json{{"type", "none"}};
    reject("Invalid 'tool_choice': '" + mode +
               "' is not one of 'none', 'auto', 'required' or an object naming a function",
           "tool_choice", "invalid_value");
  }
  if (!choice.is_object()) reject_type(choice, "a string or an object", "tool_choice");
  const std::string& type =
      as_string(require(choice, "type", "tool_choice.type"), "tool_choice.type");
  if (type != "function") {
    reject("Invalid 'tool_choice.type': only 'function' is supported", "tool_choice.type",
           "invalid_value");
  }
  const json& function =
      as_object(require(choice, "function", "tool_choice.function"), "tool_choice.function");
  return json{{"type", "tool"},
              {"name", as_string(require(function, "name", "tool_choice.function.name"),
                                 "tool_choice.function.name")}};
}

// ---- the request ----

void reject_unsupported_options(const json& body) {
  if (const json* n = find_optional(body, "n")) {
    const int64_t count = as_int_at_least(*n, 1, "n");
    if (count > 1) {
      reject("n > 1 is not supported by this model's provider", "n", "unsupported_parameter");
    }
  }
  if (const json* logprobs = find_optional(body, "logprobs")) {
    const bool wanted = logprobs->is_number_integer() ? logprobs->get<int64_t>() != 0
                                                      : as_bool(*logprobs, "logprobs");
    if (wanted) {
      reject("logprobs are not supported by this model's provider", "logprobs",
             "unsupported_parameter");
    }
  }
}

json stop_sequences(const json& stop) {
  json sequences = json::array();
  if (stop.is_string()) {
    if (!stop.get_ref<const std::string&>().empty()) sequences.push_back(stop);
    return sequences;
  }
  if (!stop.is_array()) reject_type(stop, "a string or an array of strings", "stop");
  for (size_t i = 0; i < stop.size(); ++i) {
    if (!as_string(stop[i], index_path("stop", i)).empty()) sequences.push_back(stop[i]);
  }
  return sequences;
}

std::string translate_request(std::string_view openai_body, const std::string& upstream_model) {
  const json body = parse_client_body(openai_body);
  reject_unsupported_options(body);
  Conversation conversation = read_messages(body);

  json request{{"model", upstream_model}};
  int64_t max_tokens = kDefaultAnthropicMaxTokens;
  // max_completion_tokens replaced max_tokens in OpenAI's API; it wins when both are sent.
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (const json* value = find_optional(body, key)) max_tokens = as_int_at_least(*value, 1, key);
  }
  request["max_tokens"] = max_tokens;
  if (!conversation.system.empty()) request["system"] = std::move(conversation.system);
  request["messages"] = std::move(conversation.messages);

  json tools = json::array();
  if (const json* value = find_optional(body, "tools"))
    tools = read_tools(as_array(*value, "tools"));
  std::optional<json> tool_choice;
  if (const json* value = find_optional(body, "tool_choice"))
    tool_choice = read_tool_choice(*value);
  bool parallel_tool_calls = true;
  if (const json* value = find_optional(body, "parallel_tool_calls")) {
    parallel_tool_calls = as_bool(*value, "parallel_tool_calls");
  }
  // Anthropic rejects tool_choice without tools; OpenAI clients send it anyway.
  if (!tools.empty()) {
    request["tools"] = std::move(tools);
    if (!parallel_tool_calls && (!tool_choice || (*tool_choice)["type"] != "none")) {
      if (!tool_choice) tool_choice = json{{"type", "auto"}};
      (*tool_choice)["disable_parallel_tool_use"] = true;
    }
    if (tool_choice) request["tool_choice"] = std::move(*tool_choice);
  }

  if (const json* value = find_optional(body, "temperature")) {
    request["temperature"] =
        std::min(as_number_in_range(*value, 0.0, 2.0, "temperature"), kMaxAnthropicTemperature);
  }
  if (const json* value = find_optional(body, "top_p")) {
    as_number_in_range(*value, 0.0, 1.0, "top_p");
    request["top_p"] = *value;
  }
  if (const json* value = find_optional(body, "stop")) {
    json sequences = stop_sequences(*value);
    if (!sequences.empty()) request["stop_sequences"] = std::move(sequences);
  }
  if (const json* value = find_optional(body, "stream")) {
    request["stream"] = as_bool(*value, "stream");
  }
  std::optional<std::string> user_id;
  if (const json* value = find_optional(body, "user")) user_id = as_string(*value, "user");
  if (const json* metadata = find_optional(body, "metadata")) {
    as_object(*metadata, "metadata");
    if (const json* value = find_optional(*metadata, "user_id")) {
      user_id = as_string(*value, "metadata.user_id");
    }
  }
  if (user_id) request["metadata"] = json{{"user_id", *user_id}};
  return dump(request);
}

// ---- responses ----

std::string finish_reason(const json* stop_reason) {
  if (stop_reason == nullptr || !stop_reason->is_string()) return "stop";
  const std::string& reason = stop_reason->get_ref<const std::string&>();
  if (reason == "max_tokens") return "length";
  if (reason == "tool_use") return "tool_calls";
  if (reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn
}

// Counts present in `usage` replace those in `counts` (a stream's message_delta carries the
// final ones).
void update_counts(const json& usage, AnthropicTokenCounts& counts) {
  if (!usage.is_object()) return;
  const auto read = [&usage](std::string_view key, int64_t& count) {
    const json* value = find_optional(usage, key);
    if (value != nullptr && value->is_number_integer()) count = value->get<int64_t>();
  };
  read("input_tokens", counts.input);
  read("cache_creation_input_tokens", counts.cache_creation);
  read("cache_read_input_tokens", counts.cache_read);
  read("output_tokens", counts.output);
}

int clamp_to_int(int64_t value) {
  return static_cast<int>(
      std::clamp<int64_t>(value, 0, std::numeric_limits<int>::max() / 2));  // total() adds two
}

api::Usage openai_usage(const AnthropicTokenCounts& counts) {
  api::Usage usage;
  usage.prompt_tokens = clamp_to_int(counts.input + counts.cache_creation + counts.cache_read);
  usage.completion_tokens = clamp_to_int(counts.output);
  usage.cached_prompt_tokens = clamp_to_int(counts.cache_read);
  return usage;
}

json parse_upstream(std::string_view body, std::string_view what) {
  std::string why;
  std::optional<json> document = try_parse(body, why);
  if (!document) bad_upstream(std::string(what) + " is not JSON: " + why);
  if (!document->is_object()) bad_upstream(std::string(what) + " is not a JSON object");
  return std::move(*document);
}

const std::string& upstream_string(const json& object, std::string_view key,
                                   const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) bad_upstream("'" + path + "' is not a string");
  return it->get_ref<const std::string&>();
}

std::string translate_response(std::string_view anthropic_body, const std::string& model) {
  const json body = parse_upstream(anthropic_body, "the response");
  const auto content = body.find("content");
  if (content == body.end() || !content->is_array()) bad_upstream("'content' is not an array");

  api::ChatChoice choice;
  std::string text;
  bool has_text = false;
  for (size_t i = 0; i < content->size(); ++i) {
    const std::string path = index_path("content", i);
    const json& block = (*content)[i];
    if (!block.is_object()) bad_upstream("'" + path + "' is not an object");
    const std::string& type = upstream_string(block, "type", path + ".type");
    if (type == "text") {
      text += upstream_string(block, "text", path + ".text");
      has_text = true;
    } else if (type == "tool_use") {
      api::ToolCall call;
      call.id = upstream_string(block, "id", path + ".id");
      call.name = upstream_string(block, "name", path + ".name");
      const auto input = block.find("input");
      call.arguments = input == block.end() ? "{}" : dump(*input);
      choice.tool_calls.push_back(std::move(call));
    } else if (type == "thinking") {
      choice.reasoning_content += upstream_string(block, "thinking", path + ".thinking");
    }
    // Other blocks (redacted_thinking, server tool use and results) have no OpenAI form.
  }
  // OpenAI sends null content for a reply that is only tool calls.
  if (has_text || choice.tool_calls.empty()) choice.content = std::move(text);
  choice.finish_reason = finish_reason(find_optional(body, "stop_reason"));

  AnthropicTokenCounts counts;
  if (const json* usage = find_optional(body, "usage")) update_counts(*usage, counts);

  api::ChatCompletion completion;
  completion.id = "chatcmpl-" + upstream_string(body, "id", "id");
  completion.created = now_seconds();
  completion.model = model;
  completion.choices.push_back(std::move(choice));
  completion.usage = openai_usage(counts);
  return api::to_json(completion);
}

// The statuses Anthropic documents for its error types.
std::optional<int> status_of_error_type(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "api_error") return 500;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return std::nullopt;
}

struct ProviderError {
  std::string type;
  std::string message;
};

// {"type":"error","error":{"type":...,"message":...}}; empty fields when absent.
ProviderError read_provider_error(const json& document) {
  ProviderError error;
  if (!document.is_object()) return error;
  const auto inner = document.find("error");
  if (inner == document.end() || !inner->is_object()) return error;
  if (const auto type = inner->find("type"); type != inner->end() && type->is_string()) {
    error.type = type->get<std::string>();
  }
  if (const auto message = inner->find("message");
      message != inner->end() && message->is_string()) {
    error.message = message->get<std::string>();
  }
  return error;
}

api::ApiError provider_error(int status, const ProviderError& error, std::string_view context) {
  std::string message = "The model's provider " + std::string(context);
  if (!error.type.empty()) message += " (" + error.type + ")";
  message += ": " + (error.message.empty() ? std::string("no message") : error.message);
  return api::api_error(status, std::move(message),
                        error.type.empty() ? std::string("provider_error") : error.type);
}

api::ApiError failure_from_exception(const json::exception& e) {
  return api::api_error(
      502,
      "The provider sent an answer that could not be read: " + api::without_exception_id(e.what()),
      "bad_provider_response");
}

}  // namespace

Expected<std::string, api::ApiError> anthropic_request_from_openai(
    std::string_view openai_body, const std::string& upstream_model) {
  try {
    return translate_request(openai_body, upstream_model);
  } catch (const Failure& failure) {
    return unexpected(failure.error);
  } catch (const json::exception& e) {
    // The readers check each type before converting, so this is a missed case, still the
    // client's input rather than a server fault.
    return unexpected(
        api::invalid_request("Invalid request: " + api::without_exception_id(e.what())));
  }
}

Expected<std::string, api::ApiError> openai_response_from_anthropic(std::string_view anthropic_body,
                                                                    const std::string& model) {
  try {
    return translate_response(anthropic_body, model);
  } catch (const Failure& failure) {
    return unexpected(failure.error);
  } catch (const json::exception& e) {
    return unexpected(failure_from_exception(e));
  }
}

api::ApiError openai_error_from_anthropic(int status, std::string_view anthropic_body) {
  ProviderError error;
  std::string why;
  if (std::optional<json> document = try_parse(anthropic_body, why)) {
    error = read_provider_error(*document);
  }
  if (error.message.empty() && error.type.empty()) {
    // Not Anthropic's error shape (a proxy's HTML page, say): quote the start of it.
    error.message = anthropic_body.empty()
                        ? std::string("(empty body)")
                        : std::string(anthropic_body.substr(0, kMaxQuotedBodyBytes));
  }
  if (status < 400 || status > 599) status = status_of_error_type(error.type).value_or(502);
  return provider_error(status, error, "answered HTTP " + std::to_string(status));
}

// ---- streaming ----

AnthropicStreamTranslator::AnthropicStreamTranslator(std::string model, bool include_usage)
    : model_(std::move(model)),
      include_usage_(include_usage),
      id_("chatcmpl-"),
      created_(now_seconds()) {}

std::string AnthropicStreamTranslator::feed(std::string_view bytes) {
  std::string out;
  if (finished_ || error_) return out;
  for (const api::SseEvent& event : parser_.feed(bytes)) {
    out += handle_event(event);
    if (finished_ || error_) break;
  }
  return out;
}

std::string AnthropicStreamTranslator::handle_event(const api::SseEvent& event) {
  try {
    const json data = parse_upstream(event.data, "a stream event");
    // The data names its type too; it is the one read, the "event:" line is the fallback.
    std::string type = event.event;
    if (const auto it = data.find("type"); it != data.end() && it->is_string()) {
      type = it->get<std::string>();
    }
    if (type == "message_start") return handle_message_start(data);
    if (type == "content_block_start") return handle_block_start(data);
    if (type == "content_block_delta") return handle_block_delta(data);
    if (type == "content_block_stop") return handle_block_stop(data);
    if (type == "message_delta") return handle_message_delta(data);
    if (type == "message_stop") return handle_message_stop();
    if (type == "error") {
      const ProviderError error = read_provider_error(data);
      return fail(provider_error(status_of_error_type(error.type).value_or(502), error,
                                 "sent an error in the stream"));
    }
    return {};  // ping, and event types added after this was written
  } catch (const Failure& failure) {
    return fail(failure.error);
  } catch (const json::exception& e) {
    return fail(failure_from_exception(e));
  }
}

std::string AnthropicStreamTranslator::handle_message_start(const json& event) {
  const json& message = event.at("message");
  if (!message.is_object()) bad_upstream("message_start without a message");
  id_ = "chatcmpl-" + upstream_string(message, "id", "message.id");
  created_ = now_seconds();
  if (const auto usage = message.find("usage"); usage != message.end()) {
    update_counts(*usage, tokens_);
  }
  api::ChatChunk first = chunk();
  first.delta.role = "assistant";
  first.delta.content = "";
  return frame(first);
}

std::string AnthropicStreamTranslator::handle_block_start(const json& event) {
  const int64_t index = event.at("index").get<int64_t>();
  const json& block = event.at("content_block");
  if (!block.is_object()) bad_upstream("content_block_start without a content_block");
  const std::string& type = upstream_string(block, "type", "content_block.type");
  if (type == "tool_use") {
    const int openai_index = tool_calls_seen_++;
    tool_blocks_[index] = ToolBlock{openai_index, false};
    api::ChatChunk opening = chunk();
    api::ToolCallDelta call;
    call.index = openai_index;
    call.id = upstream_string(block, "id", "content_block.id");
    call.name = upstream_string(block, "name", "content_block.name");
    opening.delta.tool_calls.push_back(std::move(call));
    return frame(opening);
  }
  if (type == "text") {
    // The text comes in deltas; a block opening with text is allowed by the format, though.
    if (const auto text = block.find("text");
        text != block.end() && text->is_string() && !text->get_ref<const std::string&>().empty()) {
      api::ChatChunk content = chunk();
      content.delta.content = text->get<std::string>();
      return frame(content);
    }
  }
  return {};
}

std::string AnthropicStreamTranslator::handle_block_delta(const json& event) {
  const int64_t index = event.at("index").get<int64_t>();
  const json& delta = event.at("delta");
  if (!delta.is_object()) bad_upstream("content_block_delta without a delta");
  const std::string& type = upstream_string(delta, "type", "delta.type");
  api::ChatChunk out = chunk();
  if (type == "text_delta") {
    const std::string& text = upstream_string(delta, "text", "delta.text");
    if (text.empty()) return {};
    out.delta.content = text;
  } else if (type == "input_json_delta") {
    const auto block = tool_blocks_.find(index);
    if (block == tool_blocks_.end()) bad_upstream("input_json_delta outside a tool_use block");
    const std::string& partial = upstream_string(delta, "partial_json", "delta.partial_json");
    if (partial.empty()) return {};
    block->second.has_arguments = true;
    api::ToolCallDelta call;
    call.index = block->second.openai_index;
    call.arguments = partial;
    out.delta.tool_calls.push_back(std::move(call));
  } else if (type == "thinking_delta") {
    const std::string& thinking = upstream_string(delta, "thinking", "delta.thinking");
    if (thinking.empty()) return {};
    out.delta.reasoning_content = thinking;
  } else {
    return {};  // signature_delta, citations_delta: nothing to tell an OpenAI client
  }
  return frame(out);
}

std::string AnthropicStreamTranslator::handle_block_stop(const json& event) {
  const int64_t index = event.at("index").get<int64_t>();
  const auto block = tool_blocks_.find(index);
  if (block == tool_blocks_.end() || block->second.has_arguments) return {};
  // A call without arguments sends no argument text; OpenAI clients parse the arguments as JSON,
  // and "" is not JSON.
  api::ChatChunk out = chunk();
  api::ToolCallDelta call;
  call.index = block->second.openai_index;
  call.arguments = "{}";
  out.delta.tool_calls.push_back(std::move(call));
  block->second.has_arguments = true;
  return frame(out);
}

std::string AnthropicStreamTranslator::handle_message_delta(const json& event) {
  if (const auto usage = event.find("usage"); usage != event.end()) update_counts(*usage, tokens_);
  const json* stop_reason = nullptr;
  if (const auto delta = event.find("delta"); delta != event.end() && delta->is_object()) {
    stop_reason = find_optional(*delta, "stop_reason");
  }
  api::ChatChunk last = chunk();
  last.finish_reason = finish_reason(stop_reason);
  return frame(last);
}

std::string AnthropicStreamTranslator::handle_message_stop() {
  std::string out;
  if (include_usage_) {
    api::ChatChunk usage = chunk();
    usage.has_choice = false;
    usage.usage = openai_usage(tokens_);
    out += frame(usage);
  }
  out += api::sse_done();
  finished_ = true;
  return out;
}

std::string AnthropicStreamTranslator::fail(api::ApiError error) {
  std::string out = api::sse_data(api::to_json(error));
  error_ = std::move(error);
  return out;
}

api::ChatChunk AnthropicStreamTranslator::chunk() const {
  api::ChatChunk out;
  out.id = id_;
  out.created = created_;
  out.model = model_;
  return out;
}

std::string AnthropicStreamTranslator::frame(const api::ChatChunk& out) const {
  return api::sse_data(api::to_json(out));
}

}  // namespace hearth::cloud
