// Reading untrusted JSON on the hot paths that only read it (answers, stream events, the texts of
// requests) without building an nlohmann document: simdjson's DOM, which validates the whole text
// (structure, UTF-8, escapes, nesting) and reads a chat answer about ten times faster. It refuses
// a few texts nlohmann takes (integers beyond 64 bits, doubles beyond range): every caller falls
// back to its nlohmann reading for those, so that what is accepted never narrows.
#pragma once

#include <simdjson.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth::api {

using JsonElement = simdjson::dom::element;

// `text` parsed by this thread's parser, nesting limited to kMaxJsonNestingDepth; nullopt when
// simdjson refuses it. The element lives in that parser: it is valid until the next call on the
// same thread, so it must never be held across a co_await.
std::optional<JsonElement> parse_for_reading(std::string_view text);

// The value of the last member called `key` (JSON lets a key repeat; nlohmann, like most readers,
// keeps the last), or nullopt, also when `value` is not an object.
std::optional<JsonElement> last_member(JsonElement value, std::string_view key);

// last_member() for each of `keys` at once, in one pass over the members: element i is the last
// member called keys[i]. For readers of many fields, where a pass per field would walk the
// object once for each.
template <std::size_t N>
std::array<std::optional<JsonElement>, N> last_members(
    JsonElement value, const std::array<std::string_view, N>& keys) {
  std::array<std::optional<JsonElement>, N> found;
  simdjson::dom::object object;
  if (value.get(object) != simdjson::SUCCESS) return found;
  for (const simdjson::dom::key_value_pair field : object) {
    for (std::size_t i = 0; i < N; ++i) {
      if (field.key == keys[i]) {
        found[i] = field.value;
        break;
      }
    }
  }
  return found;
}

// Calls visit(member value) for every member called `key`, in order (a scan that must see every
// text, repeated keys included). Nothing when `value` is not an object.
template <class Visit>
void for_each_member(JsonElement value, std::string_view key, Visit visit) {
  simdjson::dom::object object;
  if (value.get(object) != simdjson::SUCCESS) return;
  for (const simdjson::dom::key_value_pair field : object) {
    if (field.key == key) visit(field.value);
  }
}

// The string value, or nullopt when it is not a string.
std::optional<std::string_view> string_value(JsonElement value);

// The integer value as nlohmann's get<int64_t> gives it (an unsigned one beyond int64 wraps), or
// nullopt when it is no integer.
std::optional<std::int64_t> integer_value(JsonElement value);

}  // namespace hearth::api
