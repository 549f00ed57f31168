#include "api/json_reading.hpp"

#include <cstddef>
#include <memory>

#include "api/json_text.hpp"

namespace hearth::api {

namespace {

// A parser keeps the capacity of the largest text it has read; one that grew past this for a
// large request is dropped afterwards rather than kept for the thread's life.
constexpr std::size_t kKeptParserCapacity = std::size_t{1} << 20;

std::unique_ptr<simdjson::dom::parser> make_parser() {
  auto parser = std::make_unique<simdjson::dom::parser>();
  if (parser->allocate(4096, kMaxJsonNestingDepth) != simdjson::SUCCESS) return nullptr;
  return parser;
}

}  // namespace

std::optional<JsonElement> parse_for_reading(std::string_view text) {
  thread_local std::unique_ptr<simdjson::dom::parser> parser;
  if (parser == nullptr || parser->capacity() > kKeptParserCapacity) {
    parser = make_parser();
    if (parser == nullptr) return std::nullopt;
  }
  // realloc_if_needed: the parser copies the text into its own padded buffer (simdjson reads up
  // to 64 bytes past the end), which it reuses from one call to the next.
  JsonElement element;
  if (parser->parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(element) !=
      simdjson::SUCCESS) {
    return std::nullopt;
  }
  return element;
}

std::optional<JsonElement> last_member(JsonElement value, std::string_view key) {
  std::optional<JsonElement> found;
  for_each_member(value, key, [&](JsonElement member) { found = member; });
  return found;
}

std::optional<std::string_view> string_value(JsonElement value) {
  std::string_view text;
  if (value.get(text) != simdjson::SUCCESS) return std::nullopt;
  return text;
}

std::optional<std::int64_t> integer_value(JsonElement value) {
  std::int64_t number = 0;
  if (value.get(number) == simdjson::SUCCESS) return number;
  std::uint64_t unsigned_number = 0;
  if (value.get(unsigned_number) == simdjson::SUCCESS) {
    return static_cast<std::int64_t>(unsigned_number);
  }
  return std::nullopt;
}

}  // namespace hearth::api
