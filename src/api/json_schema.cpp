#include "api/json_schema.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "api/json_text.hpp"

namespace hearth::api {
namespace {

using json = nlohmann::json;

// A recursive schema ($ref to an ancestor) recurses once per level of the instance; an instance
// nesting deeper than this is reported rather than followed.
constexpr int kMaxRefDepth = 64;
// Subschemas (through $ref or written out) nest this deep at most, which bounds the stack for any
// schema; above kMaxRefDepth so that recursive schemas meet the clearer $ref limit first.
constexpr int kMaxSchemaDepth = 512;
// $refs can make a small schema exponentially expensive (each definition using the next twice).
constexpr std::size_t kMaxEvaluations = 1'000'000;
// std::regex compiles one recursion per term and matches in time proportional to the size of its
// automaton; beyond these limits a pattern is an invalid schema rather than a stack overflow or a
// stalled event loop.
constexpr std::size_t kMaxPatternLength = 1000;  // code points
constexpr std::size_t kMaxPatternCost = 2000;    // see pattern_cost()
// multipleOf on non-integers: 0.3 / 0.1 is 2.9999999999999996 in binary floating point.
constexpr double kMultipleOfTolerance = 1e-13;
// Longer strings are cut in messages.
constexpr std::size_t kQuotedMax = 60;
constexpr std::size_t kReasonMax = 200;
constexpr std::size_t kReasonsMax = 600;

static_assert(sizeof(wchar_t) == 4, "patterns are matched on UTF-32 code points");

// ---- text helpers ----

std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The first `max_bytes` bytes at most, never cutting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// UTF-8 to code points, so that "." and character classes match characters, not bytes. Strings
// from a JSON parser are valid UTF-8; anything else becomes U+FFFD.
std::wstring to_wide(std::string_view text) {
  std::wstring out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::uint32_t code_point = lead;
    std::size_t length = 1;
    if (lead >= 0x80) {
      if ((lead & 0xE0) == 0xC0) {
        code_point = lead & 0x1F;
        length = 2;
      } else if ((lead & 0xF0) == 0xE0) {
        code_point = lead & 0x0F;
        length = 3;
      } else if ((lead & 0xF8) == 0xF0) {
        code_point = lead & 0x07;
        length = 4;
      } else {
        length = 0;
      }
      for (std::size_t k = 1; length != 0 && k < length; ++k) {
        if (i + k >= text.size()) {
          length = 0;
          break;
        }
        const auto next = static_cast<unsigned char>(text[i + k]);
        if ((next & 0xC0) != 0x80) {
          length = 0;
          break;
        }
        code_point = (code_point << 6) | (next & 0x3F);
      }
    }
    if (length == 0) {
      out += static_cast<wchar_t>(0xFFFD);
      ++i;
    } else {
      out += static_cast<wchar_t>(code_point);
      i += length;
    }
  }
  return out;
}

// A JSON string literal for messages, cut after `max_bytes`; never throws on invalid UTF-8.
std::string as_literal(std::string_view text, std::size_t max_bytes = kQuotedMax) {
  const std::string_view shown = utf8_prefix(text, max_bytes);
  std::string literal =
      json(std::string(shown)).dump(-1, ' ', false, json::error_handler_t::replace);
  if (shown.size() < text.size()) literal.insert(literal.size() - 1, "...");
  return literal;
}

std::string type_of(const json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number_float()) return "number";
  return value.type_name();
}

// Scalars as JSON (strings cut); containers are never dumped, as they may nest deep.
std::optional<std::string> scalar_literal(const json& value) {
  if (value.is_string()) return as_literal(value.get_ref<const std::string&>());
  if (value.is_primitive()) return value.dump(-1, ' ', false, json::error_handler_t::replace);
  return std::nullopt;
}

// "value 3", "the object".
std::string subject(const json& value) {
  const auto literal = scalar_literal(value);
  return literal ? "value " + *literal : "the " + std::string(value.type_name());
}

void append_escaped(std::string& out, std::string_view key) {
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}

// ---- numbers ----

// long double (x87, 64-bit mantissa) holds every int64, uint64 and double exactly, so comparing
// through it is exact across the three number kinds.
long double as_long_double(const json& number) {
  if (number.is_number_unsigned()) return static_cast<long double>(number.get<std::uint64_t>());
  if (number.is_number_integer()) return static_cast<long double>(number.get<std::int64_t>());
  return static_cast<long double>(number.get<double>());
}

bool is_integral(const json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  const double number = value.get<double>();
  return std::isfinite(number) && std::trunc(number) == number;
}

std::uint64_t magnitude(const json& integer) {
  if (integer.is_number_unsigned()) return integer.get<std::uint64_t>();
  const std::int64_t value = integer.get<std::int64_t>();
  return value < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(value)
                   : static_cast<std::uint64_t>(value);
}

bool is_multiple_of(const json& value, const json& divisor) {
  if (value.is_number_integer() && divisor.is_number_integer()) {
    return magnitude(value) % magnitude(divisor) == 0;
  }
  const double quotient = value.get<double>() / divisor.get<double>();
  if (!std::isfinite(quotient)) return false;
  return std::fabs(quotient - std::nearbyint(quotient)) <=
         kMultipleOfTolerance * std::max(1.0, std::fabs(quotient));
}

// JSON Schema equality: numbers by value (1 equals 1.0), objects regardless of key order.
// Iterative, as instances may nest deeper than the stack allows.
bool json_equal(const json& first, const json& second) {
  std::vector<std::pair<const json*, const json*>> pending{{&first, &second}};
  while (!pending.empty()) {
    const auto [a, b] = pending.back();
    pending.pop_back();
    if (a->is_number() && b->is_number()) {
      if (as_long_double(*a) != as_long_double(*b)) return false;
      continue;
    }
    if (a->type() != b->type()) return false;
    if (a->is_array()) {
      if (a->size() != b->size()) return false;
      for (std::size_t i = 0; i < a->size(); ++i) pending.emplace_back(&(*a)[i], &(*b)[i]);
    } else if (a->is_object()) {
      if (a->size() != b->size()) return false;
      for (auto it = a->begin(); it != a->end(); ++it) {
        const auto match = b->find(it.key());
        if (match == b->end()) return false;
        pending.emplace_back(&it.value(), &*match);
      }
    } else if (*a != *b) {
      return false;
    }
  }
  return true;
}

// ---- patterns ----

// A rough size of the automaton std::regex builds for `pattern`: one per atom, a group the sum
// of its alternatives, and a counted repetition ({n}, {n,}, {n,m}) multiplies what it repeats by
// its largest count. Saturates just above kMaxPatternCost. It need not parse exactly like
// std::regex: the pattern is also compiled, and the automaton has a hard limit of its own.
constexpr std::size_t kCap = kMaxPatternCost + 1;

std::size_t pattern_cost(std::wstring_view pattern) {
  const auto add = [](std::size_t a, std::size_t b) { return std::min(kCap, a + b); };
  const auto multiply = [](std::size_t a, std::size_t b) {
    return b != 0 && a > kCap / b ? kCap : std::min(kCap, a * b);
  };
  const auto read_number = [&](std::size_t& i) -> std::optional<std::size_t> {
    std::size_t value = 0;
    const std::size_t start = i;
    while (i < pattern.size() && pattern[i] >= L'0' && pattern[i] <= L'9') {
      value = add(multiply(value, 10), static_cast<std::size_t>(pattern[i] - L'0'));
      ++i;
    }
    if (i == start) return std::nullopt;
    return value;
  };

  std::vector<std::size_t> open_groups{0};  // cost so far of each group being read
  std::size_t last_atom = 0;                // what a following repetition repeats
  for (std::size_t i = 0; i < pattern.size();) {
    const wchar_t c = pattern[i];
    std::size_t atom = 1;
    if (c == L'\\') {
      i += 2;
    } else if (c == L'[') {
      std::size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == L'^') ++j;
      while (j < pattern.size() && pattern[j] != L']') j += pattern[j] == L'\\' ? 2 : 1;
      i = j + 1;
    } else if (c == L'(') {
      open_groups.push_back(0);
      last_atom = 0;
      ++i;
      continue;
    } else if (c == L')') {
      atom = add(open_groups.back(), 1);
      if (open_groups.size() > 1) open_groups.pop_back();
      ++i;
    } else if (c == L'|') {
      open_groups.back() = add(open_groups.back(), 1);
      last_atom = 0;
      ++i;
      continue;
    } else if (c == L'{') {
      std::size_t j = i + 1;
      const auto low = read_number(j);
      std::optional<std::size_t> high = low;
      if (low && j < pattern.size() && pattern[j] == L',') {
        ++j;
        high = read_number(j);
        if (!high) high = add(*low, 1);
      }
      if (low && j < pattern.size() && pattern[j] == L'}') {
        const std::size_t count = std::max<std::size_t>(*high, 1);
        open_groups.back() = add(open_groups.back(), multiply(last_atom, count - 1));
        last_atom = multiply(last_atom, count);
        i = j + 1;
        continue;
      }
      ++i;  // a literal '{'
    } else {
      ++i;
    }
    open_groups.back() = add(open_groups.back(), atom);
    last_atom = atom;
  }
  std::size_t total = 0;
  for (const std::size_t group : open_groups) total = add(total, group);
  return total;
}

struct CompiledPattern {
  std::optional<std::wregex> regex;
  std::string error;  // why there is no regex
};

CompiledPattern compile_pattern(const std::string& pattern) {
  const std::wstring wide = to_wide(pattern);
  if (wide.size() > kMaxPatternLength) {
    return {std::nullopt, "pattern " + as_literal(pattern) + " is longer than " +
                              std::to_string(kMaxPatternLength) + " characters"};
  }
  if (pattern_cost(wide) > kMaxPatternCost) {
    return {std::nullopt, "pattern " + as_literal(pattern) +
                              " is too complex (its repetitions expand to more than " +
                              std::to_string(kMaxPatternCost) + " states)"};
  }
  // __polynomial (a libstdc++ extension) selects the breadth-first executor: its stack does not
  // grow with the length of the string, and its time is linear in it. The price is that back-
  // references are refused. A search restarts the automaton at every position, which is
  // quadratic for patterns like "a.*c"; one pass of "^[\s\S]*(?:pattern)" finds the same matches.
  constexpr auto kFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
  try {
    // Compiled alone first: the wrapper would accept a stray ")(" in the pattern.
    const std::wregex alone(wide, kFlags);
    return {std::wregex(L"^[\\s\\S]*(?:" + wide + L")", kFlags), ""};
  } catch (const std::regex_error& e) {
    return {std::nullopt, "pattern " + as_literal(pattern) +
                              " is not a supported ECMAScript regular expression: " + e.what()};
  }
}

// ---- the walk ----

// One step of a JSON pointer. Keys point into the schema or the instance, both of which outlive
// the walk; a $ref step replaces the schema location before it with the reference.
struct Segment {
  std::string_view key;
  std::size_t index = 0;
  enum class Kind { key, index, ref } kind = Kind::key;

  static Segment name(std::string_view key) { return {key, 0, Kind::key}; }
  static Segment position(std::size_t index) { return {{}, index, Kind::index}; }
  static Segment reference(std::string_view ref) { return {ref, 0, Kind::ref}; }
};

class Step {
 public:
  Step(std::vector<Segment>& path, Segment segment) : path_(path) { path_.push_back(segment); }
  ~Step() { path_.pop_back(); }
  Step(const Step&) = delete;
  Step& operator=(const Step&) = delete;

 private:
  std::vector<Segment>& path_;
};

class Counter {
 public:
  explicit Counter(int& count) : count_(count) { ++count_; }
  ~Counter() { --count_; }
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

 private:
  int& count_;
};

class Validator {
 public:
  explicit Validator(const json& root) : root_(root) {}

  // False after recording the failure (failure_); a fatal one (an invalid schema) is not undone
  // by anyOf, oneOf or not.
  bool validate(const json& schema, const json& instance);

  SchemaViolation violation() const { return failure_; }

 private:
  bool check_ref(const json& schema, const json& instance);
  bool check_type(const json& schema, const json& instance);
  bool check_enum_and_const(const json& schema, const json& instance);
  bool check_string(const json& schema, const std::string& text);
  bool check_number(const json& schema, const json& number);
  bool check_object(const json& schema, const json& object);
  bool check_array(const json& schema, const json& array);
  bool check_all_of(const json& schema, const json& instance);
  bool check_any_of(const json& schema, const json& instance);
  bool check_one_of(const json& schema, const json& instance);
  bool check_not(const json& schema, const json& instance);

  // Runs each subschema of an anyOf/oneOf array; returns the indices that match, stopping once
  // `enough` match, or nullopt after a fatal failure. `reasons` collects why the others failed.
  std::optional<std::vector<std::size_t>> matching_branches(const json& branches,
                                                            const json& instance,
                                                            std::size_t enough,
                                                            std::string& reasons);

  const json* resolve(const std::string& ref, std::string& error) const;
  std::optional<bool> search(const std::string& pattern, std::string_view text);
  bool read_count(const json& schema, std::string_view keyword, std::optional<std::uint64_t>& out);
  const json* find_number(const json& schema, std::string_view keyword, bool& ok);

  bool fail(std::string message);
  bool schema_error(std::string_view keyword, const std::string& message);
  std::string instance_pointer() const;
  std::string schema_location() const;

  const json& root_;
  std::vector<Segment> instance_path_;
  std::vector<Segment> schema_path_;
  int depth_ = 0;
  int ref_depth_ = 0;
  std::size_t evaluations_ = 0;
  SchemaViolation failure_;
  bool fatal_ = false;
  std::map<std::string, CompiledPattern, std::less<>> patterns_;
};

bool Validator::validate(const json& schema, const json& instance) {
  if (++evaluations_ > kMaxEvaluations) {
    return schema_error({}, "validation takes more than " + std::to_string(kMaxEvaluations) +
                                " steps (the schema's references expand too much)");
  }
  if (depth_ >= kMaxSchemaDepth) {
    return schema_error(
        {}, "subschemas nest deeper than " + std::to_string(kMaxSchemaDepth) + " levels");
  }
  const Counter depth(depth_);
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return true;
    return fail("no value is allowed here (the schema is false)");
  }
  if (!schema.is_object()) {
    return schema_error({}, "a schema must be an object or a boolean, not " + type_of(schema));
  }
  if (!check_ref(schema, instance) || !check_type(schema, instance) ||
      !check_enum_and_const(schema, instance)) {
    return false;
  }
  if (instance.is_string() && !check_string(schema, instance.get_ref<const std::string&>())) {
    return false;
  }
  if (instance.is_number() && !check_number(schema, instance)) return false;
  if (instance.is_object() && !check_object(schema, instance)) return false;
  if (instance.is_array() && !check_array(schema, instance)) return false;
  return check_all_of(schema, instance) && check_any_of(schema, instance) &&
         check_one_of(schema, instance) && check_not(schema, instance);
}

bool Validator::check_ref(const json& schema, const json& instance) {
  const auto ref = schema.find("$ref");
  if (ref == schema.end()) return true;
  if (!ref->is_string()) return schema_error("$ref", "must be a string");
  const std::string& reference = ref->get_ref<const std::string&>();
  std::string error;
  const json* target = resolve(reference, error);
  if (target == nullptr) return schema_error("$ref", error);
  if (ref_depth_ >= kMaxRefDepth) {
    return schema_error("$ref",
                        "references nest deeper than " + std::to_string(kMaxRefDepth) + " levels");
  }
  const Counter ref_depth(ref_depth_);
  const Step step(schema_path_, Segment::reference(reference));
  return validate(*target, instance);
}

// Local references only: "#" and "#/json/pointer", percent-decoded as a URI fragment, with the
// pointer's "~0" and "~1" escapes.
const json* Validator::resolve(const std::string& ref, std::string& error) const {
  if (ref.empty() || ref[0] != '#') {
    error = "only local references (\"#...\") are supported, not " + as_literal(ref);
    return nullptr;
  }
  std::string pointer;
  for (std::size_t i = 1; i < ref.size(); ++i) {
    if (ref[i] != '%') {
      pointer += ref[i];
      continue;
    }
    const auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= ref.size()) {
      error = "bad percent-encoding in " + as_literal(ref);
      return nullptr;
    }
    const int high = hex(ref[i + 1]);
    const int low = hex(ref[i + 2]);
    if (high < 0 || low < 0) {
      error = "bad percent-encoding in " + as_literal(ref);
      return nullptr;
    }
    pointer += static_cast<char>(high * 16 + low);
    i += 2;
  }
  const json* node = &root_;
  if (pointer.empty()) return node;
  if (pointer[0] != '/') {
    error = "anchors are not supported, only JSON pointers: " + as_literal(ref);
    return nullptr;
  }
  std::size_t start = 1;
  while (true) {
    const std::size_t end = std::min(pointer.find('/', start), pointer.size());
    std::string token;
    for (std::size_t i = start; i < end; ++i) {
      if (pointer[i] != '~') {
        token += pointer[i];
      } else if (i + 1 < end && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token += pointer[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        error = "bad '~' escape in " + as_literal(ref);
        return nullptr;
      }
    }
    const json* next = nullptr;
    if (node->is_object()) {
      const auto found = node->find(token);
      if (found != node->end()) next = &*found;
    } else if (node->is_array() && !token.empty() && token.size() <= 9 &&
               std::all_of(token.begin(), token.end(),
                           [](char c) { return c >= '0' && c <= '9'; }) &&
               (token == "0" || token[0] != '0')) {
      const std::size_t index = std::stoul(token);
      if (index < node->size()) next = &(*node)[index];
    }
    if (next == nullptr) {
      error = "reference " + as_literal(ref) + " does not resolve";
      return nullptr;
    }
    node = next;
    if (end == pointer.size()) return node;
    start = end + 1;
  }
}

bool Validator::check_type(const json& schema, const json& instance) {
  const auto type = schema.find("type");
  if (type == schema.end()) return true;
  // nullopt: not a type name.
  const auto has_type = [&](const json& name) -> std::optional<bool> {
    if (!name.is_string()) return std::nullopt;
    const std::string& text = name.get_ref<const std::string&>();
    if (text == "integer") return is_integral(instance);
    if (text == "number") return instance.is_number();
    if (text == "string") return instance.is_string();
    if (text == "object") return instance.is_object();
    if (text == "array") return instance.is_array();
    if (text == "boolean") return instance.is_boolean();
    if (text == "null") return instance.is_null();
    return std::nullopt;
  };
  const auto bad_type = [&] {
    return schema_error("type", "must be a type name or a non-empty array of type names");
  };
  if (type->is_string()) {
    const auto matches = has_type(*type);
    if (!matches) return bad_type();
    if (*matches) return true;
    return fail("expected " + type->get_ref<const std::string&>() + ", got " + type_of(instance));
  }
  if (!type->is_array() || type->empty()) return bad_type();
  bool matched = false;
  std::string expected;
  for (const json& name : *type) {
    const auto matches = has_type(name);
    if (!matches) return bad_type();
    matched = matched || *matches;
    expected += (expected.empty() ? "" : ", ") + name.get_ref<const std::string&>();
  }
  if (matched) return true;
  return fail("expected one of " + expected + ", got " + type_of(instance));
}

bool Validator::check_enum_and_const(const json& schema, const json& instance) {
  const auto allowed = schema.find("enum");
  if (allowed != schema.end()) {
    if (!allowed->is_array()) return schema_error("enum", "must be an array");
    const bool found = std::any_of(allowed->begin(), allowed->end(),
                                   [&](const json& value) { return json_equal(value, instance); });
    if (!found) {
      return fail(subject(instance) + " is not one of the " + std::to_string(allowed->size()) +
                  " values allowed by enum");
    }
  }
  const auto constant = schema.find("const");
  if (constant != schema.end() && !json_equal(*constant, instance)) {
    const auto expected = scalar_literal(*constant);
    return fail(subject(instance) + " is not the const value" + (expected ? " " + *expected : ""));
  }
  return true;
}

bool Validator::check_string(const json& schema, const std::string& text) {
  std::optional<std::uint64_t> min_length;
  std::optional<std::uint64_t> max_length;
  if (!read_count(schema, "minLength", min_length) ||
      !read_count(schema, "maxLength", max_length)) {
    return false;
  }
  if (min_length || max_length) {
    const std::size_t length = code_points(text);
    if (min_length && length < *min_length) {
      return fail("string of " + std::to_string(length) + " characters is shorter than minLength " +
                  std::to_string(*min_length));
    }
    if (max_length && length > *max_length) {
      return fail("string of " + std::to_string(length) + " characters is longer than maxLength " +
                  std::to_string(*max_length));
    }
  }
  const auto pattern = schema.find("pattern");
  if (pattern == schema.end()) return true;
  if (!pattern->is_string()) return schema_error("pattern", "must be a string");
  const Step step(schema_path_, Segment::name("pattern"));
  const std::string& expression = pattern->get_ref<const std::string&>();
  const auto found = search(expression, text);
  if (!found) return false;
  if (*found) return true;
  return fail("string " + as_literal(text) + " does not match pattern " + as_literal(expression));
}

bool Validator::check_number(const json& schema, const json& number) {
  bool ok = true;
  const json* minimum = find_number(schema, "minimum", ok);
  const json* maximum = find_number(schema, "maximum", ok);
  const json* multiple_of = find_number(schema, "multipleOf", ok);
  if (!ok) return false;
  // exclusiveMinimum/Maximum: a number bound, or in draft-04 a boolean that makes the plain bound
  // exclusive.
  const json* exclusive_minimum = nullptr;
  const json* exclusive_maximum = nullptr;
  bool minimum_exclusive = false;
  bool maximum_exclusive = false;
  for (auto [keyword, bound, plain_exclusive] :
       {std::tuple{"exclusiveMinimum", &exclusive_minimum, &minimum_exclusive},
        std::tuple{"exclusiveMaximum", &exclusive_maximum, &maximum_exclusive}}) {
    const auto found = schema.find(keyword);
    if (found == schema.end()) continue;
    if (found->is_boolean()) {
      *plain_exclusive = found->get<bool>();
    } else if (found->is_number()) {
      *bound = &*found;
    } else {
      return schema_error(keyword, "must be a number");
    }
  }
  const long double value = as_long_double(number);
  const std::string shown = number.dump();
  if (minimum != nullptr) {
    const long double bound = as_long_double(*minimum);
    if (minimum_exclusive ? !(value > bound) : !(value >= bound)) {
      return fail(shown + " is less than " + (minimum_exclusive ? "or equal to " : "") +
                  "minimum " + minimum->dump());
    }
  }
  if (exclusive_minimum != nullptr && !(value > as_long_double(*exclusive_minimum))) {
    return fail(shown + " is less than or equal to exclusiveMinimum " + exclusive_minimum->dump());
  }
  if (maximum != nullptr) {
    const long double bound = as_long_double(*maximum);
    if (maximum_exclusive ? !(value < bound) : !(value <= bound)) {
      return fail(shown + " is greater than " + (maximum_exclusive ? "or equal to " : "") +
                  "maximum " + maximum->dump());
    }
  }
  if (exclusive_maximum != nullptr && !(value < as_long_double(*exclusive_maximum))) {
    return fail(shown + " is greater than or equal to exclusiveMaximum " +
                exclusive_maximum->dump());
  }
  if (multiple_of != nullptr) {
    if (!(as_long_double(*multiple_of) > 0)) {
      return schema_error("multipleOf", "must be greater than 0");
    }
    if (!is_multiple_of(number, *multiple_of)) {
      return fail(shown + " is not a multiple of " + multiple_of->dump());
    }
  }
  return true;
}

bool Validator::check_object(const json& schema, const json& object) {
  const auto required = schema.find("required");
  if (required != schema.end()) {
    if (!required->is_array()) return schema_error("required", "must be an array of strings");
    for (const json& name : *required) {
      if (!name.is_string()) return schema_error("required", "must be an array of strings");
      if (!object.contains(name.get_ref<const std::string&>())) {
        return fail("missing required property " + as_literal(name.get_ref<const std::string&>()));
      }
    }
  }
  std::optional<std::uint64_t> min_properties;
  std::optional<std::uint64_t> max_properties;
  if (!read_count(schema, "minProperties", min_properties) ||
      !read_count(schema, "maxProperties", max_properties)) {
    return false;
  }
  if (min_properties && object.size() < *min_properties) {
    return fail("object has " + std::to_string(object.size()) +
                " properties, fewer than minProperties " + std::to_string(*min_properties));
  }
  if (max_properties && object.size() > *max_properties) {
    return fail("object has " + std::to_string(object.size()) +
                " properties, more than maxProperties " + std::to_string(*max_properties));
  }

  const auto properties = schema.find("properties");
  const auto pattern_properties = schema.find("patternProperties");
  const auto additional = schema.find("additionalProperties");
  const bool has_properties = properties != schema.end();
  const bool has_patterns = pattern_properties != schema.end();
  const bool has_additional = additional != schema.end();
  if (has_properties && !properties->is_object()) {
    return schema_error("properties", "must be an object");
  }
  if (has_patterns && !pattern_properties->is_object()) {
    return schema_error("patternProperties", "must be an object");
  }
  if (!has_properties && !has_patterns && !has_additional) return true;

  for (auto member = object.begin(); member != object.end(); ++member) {
    const std::string& key = member.key();
    const Step at(instance_path_, Segment::name(key));
    bool declared = false;
    if (has_properties) {
      const auto property = properties->find(key);
      if (property != properties->end()) {
        declared = true;
        const Step keyword(schema_path_, Segment::name("properties"));
        const Step name(schema_path_, Segment::name(key));
        if (!validate(*property, member.value())) return false;
      }
    }
    if (has_patterns) {
      const Step keyword(schema_path_, Segment::name("patternProperties"));
      for (auto pattern = pattern_properties->begin(); pattern != pattern_properties->end();
           ++pattern) {
        const Step name(schema_path_, Segment::name(pattern.key()));
        const auto found = search(pattern.key(), key);
        if (!found) return false;
        if (!*found) continue;
        declared = true;
        if (!validate(pattern.value(), member.value())) return false;
      }
    }
    if (!declared && has_additional) {
      const Step keyword(schema_path_, Segment::name("additionalProperties"));
      if (additional->is_boolean() && !additional->get<bool>()) {
        return fail("property " + as_literal(key) +
                    " is not allowed (additionalProperties is false)");
      }
      if (!validate(*additional, member.value())) return false;
    }
  }
  return true;
}

bool Validator::check_array(const json& schema, const json& array) {
  std::optional<std::uint64_t> min_items;
  std::optional<std::uint64_t> max_items;
  if (!read_count(schema, "minItems", min_items) || !read_count(schema, "maxItems", max_items)) {
    return false;
  }
  if (min_items && array.size() < *min_items) {
    return fail("array has " + std::to_string(array.size()) + " items, fewer than minItems " +
                std::to_string(*min_items));
  }
  if (max_items && array.size() > *max_items) {
    return fail("array has " + std::to_string(array.size()) + " items, more than maxItems " +
                std::to_string(*max_items));
  }
  const auto unique = schema.find("uniqueItems");
  if (unique != schema.end()) {
    if (!unique->is_boolean()) return schema_error("uniqueItems", "must be a boolean");
    if (unique->get<bool>()) {
      for (std::size_t i = 0; i < array.size(); ++i) {
        for (std::size_t j = i + 1; j < array.size(); ++j) {
          if (json_equal(array[i], array[j])) {
            return fail("items " + std::to_string(i) + " and " + std::to_string(j) +
                        " are equal (uniqueItems)");
          }
        }
      }
    }
  }

  // The leading items checked one by one (prefixItems, or the draft-07 array form of items),
  // then the schema for the rest (items, or draft-07 additionalItems).
  const json* tuple = nullptr;
  std::string_view tuple_keyword;
  const json* rest = nullptr;
  std::string_view rest_keyword;
  const auto items = schema.find("items");
  if (items != schema.end() && items->is_array()) {
    tuple = &*items;
    tuple_keyword = "items";
    const auto additional = schema.find("additionalItems");
    if (additional != schema.end()) {
      rest = &*additional;
      rest_keyword = "additionalItems";
    }
  } else {
    const auto prefix = schema.find("prefixItems");
    if (prefix != schema.end()) {
      if (!prefix->is_array()) return schema_error("prefixItems", "must be an array");
      tuple = &*prefix;
      tuple_keyword = "prefixItems";
    }
    if (items != schema.end()) {
      rest = &*items;
      rest_keyword = "items";
    }
  }
  std::size_t first_of_rest = 0;
  if (tuple != nullptr) {
    const Step keyword(schema_path_, Segment::name(tuple_keyword));
    for (std::size_t i = 0; i < std::min(array.size(), tuple->size()); ++i) {
      const Step at(instance_path_, Segment::position(i));
      const Step position(schema_path_, Segment::position(i));
      if (!validate((*tuple)[i], array[i])) return false;
    }
    first_of_rest = tuple->size();
  }
  if (rest != nullptr) {
    const Step keyword(schema_path_, Segment::name(rest_keyword));
    for (std::size_t i = first_of_rest; i < array.size(); ++i) {
      const Step at(instance_path_, Segment::position(i));
      if (rest->is_boolean() && !rest->get<bool>()) {
        return fail("no item is allowed past the first " + std::to_string(first_of_rest) + " (" +
                    std::string(rest_keyword) + " is false)");
      }
      if (!validate(*rest, array[i])) return false;
    }
  }
  return true;
}

bool Validator::check_all_of(const json& schema, const json& instance) {
  const auto all_of = schema.find("allOf");
  if (all_of == schema.end()) return true;
  if (!all_of->is_array() || all_of->empty()) {
    return schema_error("allOf", "must be a non-empty array of schemas");
  }
  const Step keyword(schema_path_, Segment::name("allOf"));
  for (std::size_t i = 0; i < all_of->size(); ++i) {
    const Step position(schema_path_, Segment::position(i));
    if (!validate((*all_of)[i], instance)) return false;
  }
  return true;
}

std::optional<std::vector<std::size_t>> Validator::matching_branches(const json& branches,
                                                                     const json& instance,
                                                                     std::size_t enough,
                                                                     std::string& reasons) {
  std::vector<std::size_t> matches;
  for (std::size_t i = 0; i < branches.size() && matches.size() < enough; ++i) {
    const Step position(schema_path_, Segment::position(i));
    if (validate(branches[i], instance)) {
      matches.push_back(i);
      continue;
    }
    if (fatal_) return std::nullopt;
    if (reasons.size() < kReasonsMax) {
      std::string reason = std::to_string(i) + ": " +
                           (failure_.path.empty() ? "" : "at " + as_literal(failure_.path) + ", ") +
                           failure_.message;
      if (reason.size() > kReasonMax) reason = std::string(utf8_prefix(reason, kReasonMax)) + "...";
      reasons += (reasons.empty() ? "" : "; ") + reason;
    }
  }
  return matches;
}

bool Validator::check_any_of(const json& schema, const json& instance) {
  const auto any_of = schema.find("anyOf");
  if (any_of == schema.end()) return true;
  if (!any_of->is_array() || any_of->empty()) {
    return schema_error("anyOf", "must be a non-empty array of schemas");
  }
  const Step keyword(schema_path_, Segment::name("anyOf"));
  std::string reasons;
  const auto matches = matching_branches(*any_of, instance, 1, reasons);
  if (!matches) return false;
  if (!matches->empty()) return true;
  return fail("matches none of the " + std::to_string(any_of->size()) + " schemas of anyOf (" +
              reasons + ")");
}

bool Validator::check_one_of(const json& schema, const json& instance) {
  const auto one_of = schema.find("oneOf");
  if (one_of == schema.end()) return true;
  if (!one_of->is_array() || one_of->empty()) {
    return schema_error("oneOf", "must be a non-empty array of schemas");
  }
  const Step keyword(schema_path_, Segment::name("oneOf"));
  std::string reasons;
  const auto matches = matching_branches(*one_of, instance, 2, reasons);
  if (!matches) return false;
  if (matches->size() == 1) return true;
  if (matches->empty()) {
    return fail("matches none of the " + std::to_string(one_of->size()) + " schemas of oneOf (" +
                reasons + ")");
  }
  return fail("matches more than one schema of oneOf (" + std::to_string((*matches)[0]) + " and " +
              std::to_string((*matches)[1]) + ")");
}

bool Validator::check_not(const json& schema, const json& instance) {
  const auto negated = schema.find("not");
  if (negated == schema.end()) return true;
  {
    const Step keyword(schema_path_, Segment::name("not"));
    if (!validate(*negated, instance)) return !fatal_;
  }
  return fail("value matches the schema of not");
}

std::optional<bool> Validator::search(const std::string& pattern, std::string_view text) {
  auto compiled = patterns_.find(pattern);
  if (compiled == patterns_.end()) {
    compiled = patterns_.emplace(pattern, compile_pattern(pattern)).first;
  }
  if (!compiled->second.regex) {
    schema_error({}, compiled->second.error);
    return std::nullopt;
  }
  try {
    return std::regex_search(to_wide(text), *compiled->second.regex);
  } catch (const std::regex_error& e) {
    schema_error({}, "pattern " + as_literal(pattern) + " failed: " + e.what());
    return std::nullopt;
  }
}

// minLength and the like: a non-negative integer, which may be written 2.0.
bool Validator::read_count(const json& schema, std::string_view keyword,
                           std::optional<std::uint64_t>& out) {
  const auto found = schema.find(keyword);
  if (found == schema.end()) return true;
  if (found->is_number_unsigned()) {
    out = found->get<std::uint64_t>();
    return true;
  }
  if (found->is_number_integer() && found->get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(found->get<std::int64_t>());
    return true;
  }
  if (is_integral(*found) && found->get<double>() >= 0 && found->get<double>() < 1.8e19) {
    out = static_cast<std::uint64_t>(found->get<double>());
    return true;
  }
  return schema_error(keyword, "must be a non-negative integer");
}

const json* Validator::find_number(const json& schema, std::string_view keyword, bool& ok) {
  const auto found = schema.find(keyword);
  if (!ok || found == schema.end()) return nullptr;
  if (found->is_number()) return &*found;
  ok = schema_error(keyword, "must be a number");
  return nullptr;
}

bool Validator::fail(std::string message) {
  failure_ = {instance_pointer(), std::move(message)};
  fatal_ = false;
  return false;
}

bool Validator::schema_error(std::string_view keyword, const std::string& message) {
  std::string location;
  if (keyword.empty()) {
    location = schema_location();
  } else {
    const Step step(schema_path_, Segment::name(keyword));
    location = schema_location();
  }
  failure_ = {instance_pointer(),
              "invalid schema at " + as_literal(location, 2 * kQuotedMax) + ": " + message};
  fatal_ = true;
  return false;
}

std::string Validator::instance_pointer() const {
  std::string pointer;
  for (const Segment& segment : instance_path_) {
    pointer += '/';
    if (segment.kind == Segment::Kind::index) {
      pointer += std::to_string(segment.index);
    } else {
      append_escaped(pointer, segment.key);
    }
  }
  return pointer;
}

std::string Validator::schema_location() const {
  std::string location = "#";
  std::size_t first = 0;
  for (std::size_t i = schema_path_.size(); i-- > 0;) {
    if (schema_path_[i].kind == Segment::Kind::ref) {
      location = std::string(schema_path_[i].key);
      first = i + 1;
      break;
    }
  }
  for (std::size_t i = first; i < schema_path_.size(); ++i) {
    location += '/';
    if (schema_path_[i].kind == Segment::Kind::index) {
      location += std::to_string(schema_path_[i].index);
    } else {
      append_escaped(location, schema_path_[i].key);
    }
  }
  return location;
}

}  // namespace

std::optional<SchemaViolation> validate_json_schema(const nlohmann::json& schema,
                                                    const nlohmann::json& instance) {
  try {
    Validator validator(schema);
    if (validator.validate(schema, instance)) return std::nullopt;
    return validator.violation();
  } catch (const std::exception& e) {
    return SchemaViolation{"", std::string("validation failed: ") + e.what()};
  } catch (...) {
    return SchemaViolation{"", "validation failed"};
  }
}

std::optional<SchemaViolation> validate_json_text(const nlohmann::json& schema,
                                                  std::string_view text) {
  json instance;
  try {
    instance = json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return SchemaViolation{"", "not valid JSON: " + without_exception_id(e.what())};
  }
  return validate_json_schema(schema, instance);
}

std::optional<SchemaViolation> validate_json_texts(std::string_view schema_text,
                                                   std::string_view text) {
  nlohmann::json schema = nlohmann::json::object({{"type", "object"}});
  if (!schema_text.empty()) {
    schema = nlohmann::json::parse(schema_text, nullptr, false);
    if (schema.is_discarded()) {
      return SchemaViolation{"", "invalid schema: the response_format schema is not valid JSON"};
    }
  }
  return validate_json_text(schema, text);
}

}  // namespace hearth::api
