// The JSON Schema validator: golden cases from json_schema_cases.json (laid out like the official
// JSON-Schema-Test-Suite, plus an optional "path" and "message" substring for invalid data), then
// the limits that keep hostile schemas and instances from crashing or stalling the gateway.
#include "api/json_schema.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace hearth::api {
namespace {

using json = nlohmann::json;

// ---- golden cases ----

struct SchemaCase {
  std::string name;   // "<group description>_<test index>" as letters, digits and '_'
  std::string label;  // "<group description> #<test index>", for messages
  json schema;
  json data;
  bool valid = false;
  std::optional<std::string> path;
  std::optional<std::string> message;
};

std::ostream& operator<<(std::ostream& out, const SchemaCase& c) { return out << c.label; }

struct LoadedCases {
  std::vector<SchemaCase> cases;
  std::size_t groups = 0;
  std::string error;  // why the file could not be read; empty when it was
};

std::string test_name(const std::string& description, std::size_t index) {
  std::string name;
  for (const char c : description) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      name += c;
    } else if (!name.empty() && name.back() != '_') {
      name += '_';
    }
  }
  if (!name.empty() && name.back() != '_') name += '_';
  return name + std::to_string(index);
}

LoadedCases read_cases() {
  LoadedCases loaded;
  std::ifstream in(HEARTH_JSON_SCHEMA_CASES);
  if (!in) {
    loaded.error = "cannot open " HEARTH_JSON_SCHEMA_CASES;
    return loaded;
  }
  const json groups = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!groups.is_array()) {
    loaded.error = "the cases file must be a JSON array";
    return loaded;
  }
  for (const json& group : groups) {
    if (!group.is_object() || !group.contains("description") || !group["description"].is_string() ||
        !group.contains("schema") || !group.contains("tests") || !group["tests"].is_array()) {
      loaded.error = "each group needs a description, a schema and tests: " + group.dump();
      return loaded;
    }
    const std::string description = group["description"];
    for (std::size_t i = 0; i < group["tests"].size(); ++i) {
      const json& test = group["tests"][i];
      if (!test.is_object() || !test.contains("data") || !test.contains("valid") ||
          !test["valid"].is_boolean() || (test.contains("path") && !test["path"].is_string()) ||
          (test.contains("message") && !test["message"].is_string())) {
        loaded.error = description +
                       ": each test needs data and a boolean valid, and path and "
                       "message are strings";
        return loaded;
      }
      SchemaCase c;
      c.name = test_name(description, i);
      c.label = description + " #" + std::to_string(i);
      c.schema = group["schema"];
      c.data = test["data"];
      c.valid = test["valid"];
      if (test.contains("path")) c.path = test["path"];
      if (test.contains("message")) c.message = test["message"];
      loaded.cases.push_back(std::move(c));
    }
    ++loaded.groups;
  }
  return loaded;
}

const LoadedCases& loaded_cases() {
  static const LoadedCases loaded = read_cases();
  return loaded;
}

TEST(JsonSchemaCases, FileLoadsWithDistinctDescriptions) {
  const LoadedCases& loaded = loaded_cases();
  ASSERT_EQ(loaded.error, "");
  EXPECT_GE(loaded.groups, 80u);
  std::set<std::string> names;
  for (const SchemaCase& c : loaded.cases) {
    EXPECT_TRUE(names.insert(c.name).second) << "two groups share the description of " << c.label;
  }
}

class JsonSchemaCase : public testing::TestWithParam<SchemaCase> {};

TEST_P(JsonSchemaCase, ValidatesAsExpected) {
  const SchemaCase& c = GetParam();
  const auto violation = validate_json_schema(c.schema, c.data);
  if (c.valid) {
    EXPECT_FALSE(violation) << c.label << ": unexpected violation at \"" << violation->path
                            << "\": " << violation->message;
  } else {
    ASSERT_TRUE(violation) << c.label << ": should be invalid";
    if (c.path) {
      EXPECT_EQ(violation->path, *c.path) << c.label << ": " << violation->message;
    }
    if (c.message) {
      EXPECT_NE(violation->message.find(*c.message), std::string::npos)
          << c.label << ": message \"" << violation->message << "\" lacks \"" << *c.message << "\"";
    }
  }
  // The gateway's entry point agrees once the data has been through text.
  const auto from_text = validate_json_text(c.schema, c.data.dump());
  ASSERT_EQ(from_text.has_value(), violation.has_value()) << c.label;
  if (violation) {
    EXPECT_EQ(from_text->path, violation->path) << c.label;
  }
}

std::string case_name(const testing::TestParamInfo<SchemaCase>& param) { return param.param.name; }

INSTANTIATE_TEST_SUITE_P(Golden, JsonSchemaCase, testing::ValuesIn(loaded_cases().cases),
                         case_name);
// When the file does not load there is nothing to instantiate; FileLoads... reports why.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(JsonSchemaCase);

// ---- text ----

const json kObjectWithIntegerA =
    json::parse(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})");

TEST(ValidateJsonText, ParsesBeforeValidating) {
  EXPECT_FALSE(validate_json_text(kObjectWithIntegerA, R"( {"a": 1} )"));
  const auto violation = validate_json_text(kObjectWithIntegerA, R"({"a": "1"})");
  ASSERT_TRUE(violation);
  EXPECT_EQ(violation->path, "/a");
}

TEST(ValidateJsonText, TextThatDoesNotParseIsAViolationAtTheRoot) {
  for (const std::string text : {"{not json", "", "{\"a\": 1} trailing", "{\"a\": 1,}",
                                 "\"caf\xff\"", "// comment\n{\"a\": 1}", "{\"a\": 1"}) {
    const auto violation = validate_json_text(kObjectWithIntegerA, text);
    ASSERT_TRUE(violation) << text;
    EXPECT_EQ(violation->path, "") << text;
    EXPECT_EQ(violation->message.rfind("not valid JSON: ", 0), 0u) << violation->message;
    EXPECT_EQ(violation->message.find("[json.exception"), std::string::npos) << violation->message;
  }
}

TEST(ValidateJsonText, AModelsAnswerWithAnInvalidSchemaIsReportedNotThrown) {
  const auto violation = validate_json_text(json::parse(R"({"pattern":"[z-a]"})"), R"("x")");
  ASSERT_TRUE(violation);
  EXPECT_EQ(violation->message.rfind("invalid schema", 0), 0u) << violation->message;
}

// ---- limits ----

// Built by moving, as copying (or dumping) a value this deep would itself recurse.
json nested_arrays(std::size_t depth, json leaf) {
  json value = std::move(leaf);
  for (std::size_t i = 0; i < depth; ++i) {
    json wrapper = json::array();
    wrapper.push_back(std::move(value));
    value = std::move(wrapper);
  }
  return value;
}

constexpr std::size_t kDeep = 100'000;

TEST(JsonSchemaLimits, RecursiveSchemaOnADeepInstanceStopsAtTheRefLimit) {
  const json schema = json::parse(R"({"type":"array","items":{"$ref":"#"}})");
  const auto violation = validate_json_schema(schema, nested_arrays(kDeep, 1));
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->message.find("references nest deeper than 64 levels"), std::string::npos)
      << violation->message;
  std::string expected_path;
  for (int i = 0; i < 65; ++i) expected_path += "/0";
  EXPECT_EQ(violation->path, expected_path);
}

TEST(JsonSchemaLimits, DeepTextThroughTheGatewayEntryPoint) {
  const std::string text = std::string(kDeep, '[') + std::string(kDeep, ']');
  const json schema = json::parse(R"({"type":"array","items":{"$ref":"#"}})");
  const auto violation = validate_json_text(schema, text);
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->message.find("references nest deeper"), std::string::npos);
  EXPECT_FALSE(validate_json_text(json::object(), text));
}

TEST(JsonSchemaLimits, DeeplyNestedSchemaIsReportedNotFollowed) {
  json schema = json::object();
  for (std::size_t i = 0; i < kDeep; ++i) {
    json wrapper = json::object();
    wrapper["items"] = std::move(schema);
    schema = std::move(wrapper);
  }
  const auto violation = validate_json_schema(schema, nested_arrays(kDeep, 1));
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->message.find("subschemas nest deeper than 512 levels"), std::string::npos)
      << violation->message;
}

TEST(JsonSchemaLimits, EqualityOnDeepValuesDoesNotRecurse) {
  json instance = json::array();
  instance.push_back(nested_arrays(kDeep, 1));
  instance.push_back(nested_arrays(kDeep, 1));
  const json unique = json::parse(R"({"uniqueItems":true})");
  const auto violation = validate_json_schema(unique, instance);
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->message.find("items 0 and 1 are equal"), std::string::npos);

  json different = json::array();
  different.push_back(nested_arrays(kDeep, 1));
  different.push_back(nested_arrays(kDeep, 2));
  EXPECT_FALSE(validate_json_schema(unique, different));

  json constant = json::object();
  constant["const"] = nested_arrays(kDeep, 1);
  EXPECT_FALSE(validate_json_schema(constant, nested_arrays(kDeep, 1)));
  EXPECT_TRUE(validate_json_schema(constant, nested_arrays(kDeep, 2.5)));
}

TEST(JsonSchemaLimits, ReferencesThatExpandExponentiallyHitTheStepBudget) {
  // d0 uses d1 twice, d1 uses d2 twice, ...: 2^40 evaluations if followed.
  const auto definition = [](int level) {
    std::string name = "d";  // not "d" + std::to_string(): GCC 12 warns falsely (-Wrestrict)
    name += std::to_string(level);
    return name;
  };
  constexpr int kLevels = 40;
  json defs = json::object();
  for (int i = 0; i < kLevels; ++i) {
    const json ref = {{"$ref", "#/$defs/" + definition(i + 1)}};
    defs[definition(i)] = {{"allOf", json::array({ref, ref})}};
  }
  defs[definition(kLevels)] = {{"type", "integer"}};
  const json schema = {{"$defs", defs}, {"$ref", "#/$defs/d0"}};
  const auto violation = validate_json_schema(schema, 1);
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->message.find("more than 1000000 steps"), std::string::npos)
      << violation->message;
}

TEST(JsonSchemaLimits, UnanchoredPatternsStayLinearOnLongStrings) {
  // A search restarting at every position would take minutes here.
  const std::string text(100'000, 'a');
  EXPECT_TRUE(validate_json_schema(json::parse(R"({"pattern":"a.*c"})"), text));
  EXPECT_FALSE(validate_json_schema(json::parse(R"({"pattern":"a.*a$"})"), text));
}

TEST(JsonSchemaLimits, PatternsThatWouldOverflowTheRegexCompilerAreRefused) {
  for (const std::string& pattern :
       {std::string(5'000, '('), std::string(50'000, 'a'), std::string("(?:(?:)){20000}")}) {
    json schema = json::object();
    schema["pattern"] = pattern;
    const auto violation = validate_json_schema(schema, "a");
    ASSERT_TRUE(violation) << pattern.substr(0, 20);
    EXPECT_EQ(violation->message.rfind("invalid schema", 0), 0u) << violation->message;
  }
}

TEST(JsonSchemaLimits, StringsThatAreNotUtf8DoNotThrow) {
  const json not_utf8 = "caf\xff";
  for (const char* schema : {R"({"enum":["a"]})", R"({"const":"a"})", R"({"pattern":"^caf.$"})",
                             R"({"maxLength":3})", R"({"type":"integer"})"}) {
    EXPECT_NO_THROW(validate_json_schema(json::parse(schema), not_utf8)) << schema;
  }
  EXPECT_FALSE(validate_json_schema(json::parse(R"({"pattern":"^caf.$"})"), not_utf8));
  json object = json::object();
  object["\xff"] = 1;
  const auto violation =
      validate_json_schema(json::parse(R"({"additionalProperties":false})"), object);
  ASSERT_TRUE(violation);
  EXPECT_EQ(violation->path, "/\xff");
}

TEST(JsonSchemaLimits, MalformedSchemaValuesNeverThrow) {
  for (const char* schema :
       {R"(1)", R"("string")", R"(null)", R"([])", R"({"type":1})", R"({"properties":{"a":3}})",
        R"({"anyOf":{}})", R"({"not":"x"})", R"({"$ref":1})", R"({"$ref":"#/%zz"})",
        R"({"$ref":"#/a~2b"})", R"({"prefixItems":{}})", R"({"exclusiveMinimum":"0"})",
        R"({"patternProperties":[]})", R"({"required":[1]})", R"({"minLength":1.5})"}) {
    const json parsed = json::parse(schema);
    std::optional<SchemaViolation> violation;
    EXPECT_NO_THROW(violation = validate_json_schema(parsed, json::parse(R"({"a":[1,"x"]})")))
        << schema;
    if (violation) {
      EXPECT_EQ(violation->message.rfind("invalid schema", 0), 0u)
          << schema << ": " << violation->message;
    }
  }
}

}  // namespace
}  // namespace hearth::api
