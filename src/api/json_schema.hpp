// A JSON Schema validator for the subset that OpenAI structured outputs (response_format
// json_schema) use. The gateway checks a local model's answer with it before returning it; an
// answer that fails is escalated to a better model.
//
// Keywords (draft 2020-12, with the draft-07 forms still in use): type, enum, const, properties,
// required, additionalProperties, patternProperties, minProperties, maxProperties, items (schema,
// or draft-07 tuple array with additionalItems), prefixItems, minItems, maxItems, uniqueItems,
// minLength, maxLength (Unicode code points), pattern (ECMAScript, unanchored), minimum, maximum,
// exclusiveMinimum, exclusiveMaximum, multipleOf, anyOf, oneOf, allOf, not, $ref to local JSON
// pointers ("#", "#/$defs/x", "#/definitions/x"; siblings of $ref apply too, as in 2020-12) and
// boolean schemas. Other keywords (format, title, if/then/else, contains, ...) are ignored.
//
// Both the schema (from the client's request) and the instance (from a model) are untrusted: a
// malformed schema, an unsupported or too complex pattern, an unresolvable $ref or recursion past
// the limits is reported as a violation whose message starts with "invalid schema", and it is
// never hidden by anyOf or not. Nothing throws out of these functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::api {

struct SchemaViolation {
  std::string path;  // JSON pointer into the instance, "" for the root, e.g. "/items/2/name"
  std::string message;
};

// Validates `instance` against `schema`. Returns the first violation found, or nullopt when the
// instance is valid.
std::optional<SchemaViolation> validate_json_schema(const nlohmann::json& schema,
                                                    const nlohmann::json& instance);

// For the gateway: parses `text` as JSON first; text that does not parse is a violation at the
// root whose message starts with "not valid JSON: ".
std::optional<SchemaViolation> validate_json_text(const nlohmann::json& schema,
                                                  std::string_view text);

// The same with the schema as JSON text too ("" : any JSON object, as response_format
// json_object asks). Code outside src/api uses this one: it keeps nlohmann::json out of the
// interface, which matters where llama.cpp's own copy of nlohmann/json (another ABI version) is
// on the include path.
std::optional<SchemaViolation> validate_json_texts(std::string_view schema_text,
                                                   std::string_view text);

}  // namespace hearth::api
