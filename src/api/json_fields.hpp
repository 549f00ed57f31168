// Typed access to the fields of untrusted JSON for the readers at the API edge (client requests
// in api/parse.cpp, requests and answers translated in cloud/): each failure is a `Rejected`
// carrying an OpenAI error whose `param` names the field ("messages[2].content"). The exception
// never crosses a public interface: every public entry point catches it and returns the error as
// a value.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/types.hpp"

namespace hearth::api::json_fields {

// Ordered: the key order of schemas and tool arguments reaches the model's prompt, so it is kept.
using Json = nlohmann::ordered_json;

struct Rejected {
  ApiError error;
};

// A 400 invalid_request_error naming `param`.
[[noreturn]] void reject(std::string message, std::string param, std::string code);
[[noreturn]] void reject_type(const Json& value, std::string_view expected,
                              const std::string& path);

std::string index_path(std::string_view parent, size_t index);  // "messages[2]"

// Clients commonly send null for an optional field they do not set (Python's None), and OpenAI
// accepts that, so an optional field that is null counts as absent.
const Json* find_optional(const Json& object, std::string_view key);
const Json& require(const Json& object, std::string_view key, const std::string& path);

const std::string& as_string(const Json& value, const std::string& path);
bool as_bool(const Json& value, const std::string& path);
const Json& as_object(const Json& value, const std::string& path);
const Json& as_array(const Json& value, const std::string& path);
// Any JSON integer that fits in int64_t.
int64_t as_int64(const Json& value, const std::string& path);
int as_int_in_range(const Json& value, int64_t min, int64_t max, const std::string& path);
double as_number_in_range(const Json& value, double min, double max, const std::string& path);

}  // namespace hearth::api::json_fields
