#include "privacy/request_texts.hpp"

#include <algorithm>
#include <array>
#include <boost/container/small_vector.hpp>
#include <cassert>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "api/json_reading.hpp"
#include "api/json_text.hpp"
#include "privacy/scanner.hpp"

namespace hearth::privacy {

namespace {

// Ordered: the body goes on to a provider, and keeping its member order keeps it recognisable
// (and a JSON schema's property order meaningful).
using json = nlohmann::ordered_json;

}  // namespace

bool is_structural_key(std::string_view parent_key, std::string_view key) {
  static constexpr std::array<std::string_view, 11> kStructural = {
      "model",  "role",   "type",          "id",          "tool_call_id",   "object",
      "detail", "format", "finish_reason", "tool_choice", "encoding_format"};
  for (const std::string_view structural : kStructural) {
    if (key == structural) return true;
  }
  // Base64 payloads: an image given as a URL (object or plain-string form), audio, file data.
  if (parent_key == "image_url" && key == "url") return true;
  if (key == "image_url") return true;
  if (parent_key == "input_audio" && key == "data") return true;
  if (parent_key == "file" && key == "file_data") return true;
  return false;
}

struct RequestTexts::Impl {
  // Kept until the document is built: parse() reads the texts with simdjson, and only a
  // replacement needs nlohmann's document (most requests have nothing to replace).
  std::string body;
  std::optional<json> document;
  std::vector<std::string> texts;
  std::vector<json*> nodes;  // the string node of each text; the document is never reshaped

  // Document order; object members pass their own key down as the parent key, array elements
  // keep the key of the array.
  void collect(json& value, std::string_view parent_key, std::string_view key,
               std::vector<std::string>& found) {
    switch (value.type()) {
      case json::value_t::string:
        if (!is_structural_key(parent_key, key)) {
          found.push_back(value.get_ref<const std::string&>());
          nodes.push_back(&value);
        }
        break;
      case json::value_t::object:
        for (auto& [member_key, member] : value.items()) collect(member, key, member_key, found);
        break;
      case json::value_t::array:
        for (json& element : value) collect(element, parent_key, key, found);
        break;
      default:
        break;
    }
  }

  // collect() on simdjson's reading; false when an object repeats a key (nlohmann's document
  // keeps only the last value, and the texts would no longer line up with its nodes).
  bool collect_read(api::JsonElement value, std::string_view parent_key, std::string_view key) {
    if (const auto text = api::string_value(value)) {
      if (!is_structural_key(parent_key, key)) texts.emplace_back(*text);
    } else if (simdjson::dom::array elements; value.get(elements) == simdjson::SUCCESS) {
      for (const api::JsonElement element : elements) {
        if (!collect_read(element, parent_key, key)) return false;
      }
    } else if (simdjson::dom::object members; value.get(members) == simdjson::SUCCESS) {
      // A request's objects have a handful of members: no allocation for their keys.
      boost::container::small_vector<std::string_view, 16> keys;
      for (const simdjson::dom::key_value_pair member : members) {
        keys.push_back(member.key);
        if (!collect_read(member.value, key, member.key)) return false;
      }
      if (keys.size() > 1) {
        std::sort(keys.begin(), keys.end());
        if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return false;
      }
    }
    return true;
  }

  bool build_document() {
    if (document) return true;
    json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return false;
    document.emplace(std::move(parsed));
    std::vector<std::string> found;
    nodes.clear();
    collect(*document, "", "", found);
    if (found != texts) {
      document.reset();
      nodes.clear();  // they pointed into the document just dropped
      return false;
    }
    body.clear();
    body.shrink_to_fit();
    return true;
  }
};

Expected<RequestTexts, api::ApiError> RequestTexts::parse(std::string_view body) {
  auto impl = std::make_unique<Impl>();
  // simdjson's reading rejects text that is not UTF-8 and nesting deeper than
  // kMaxJsonNestingDepth itself (its parser is made with that depth): the checks below only run
  // for bodies it refused, to name the problem.
  if (const auto read = api::parse_for_reading(body); read && read->is_object()) {
    if (impl->collect_read(*read, "", "")) {
      impl->body = body;
      return RequestTexts(std::move(impl));
    }
    impl->texts.clear();
  }
  // The same checks and messages as api/parse.cpp, which sees the body next.
  if (const std::size_t bad = first_invalid_utf8(body); bad != std::string_view::npos) {
    return unexpected(
        api::invalid_request("Request body is not valid UTF-8 (first invalid byte at offset " +
                                 std::to_string(bad) + ")",
                             std::nullopt, "invalid_utf8"));
  }
  if (api::json_nesting_depth(body) > api::kMaxJsonNestingDepth) {
    return unexpected(api::invalid_request("Invalid JSON body: nesting deeper than " +
                                               std::to_string(api::kMaxJsonNestingDepth) +
                                               " levels",
                                           std::nullopt, "invalid_json"));
  }
  try {
    impl->document = json::parse(body);
  } catch (const json::exception& e) {
    return unexpected(api::invalid_request(
        "Invalid JSON body: " + api::without_exception_id(e.what()), std::nullopt, "invalid_json"));
  }
  if (!impl->document->is_object()) {
    return unexpected(api::invalid_request(
        "Request body must be a JSON object, not " + std::string(impl->document->type_name()),
        std::nullopt, "invalid_type"));
  }
  impl->collect(*impl->document, "", "", impl->texts);
  return RequestTexts(std::move(impl));
}

RequestTexts::RequestTexts(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RequestTexts::RequestTexts(RequestTexts&&) noexcept = default;
RequestTexts& RequestTexts::operator=(RequestTexts&&) noexcept = default;
RequestTexts::~RequestTexts() = default;

const std::vector<std::string>& RequestTexts::texts() const { return impl_->texts; }

bool RequestTexts::prepare_replacements() { return impl_->build_document(); }

void RequestTexts::replace(std::size_t index, std::string text) {
  assert(index < impl_->texts.size() && "RequestTexts::replace: no such text");
  [[maybe_unused]] const bool prepared = impl_->build_document();
  assert(prepared && "RequestTexts::replace: call prepare_replacements() first and check it");
  if (!prepared) return;
  *impl_->nodes[index] = text;
  impl_->texts[index] = std::move(text);
}

std::string RequestTexts::serialize() const {
  if (!impl_->build_document()) return impl_->body;  // then nothing was replaced either
  // Replacement text comes from valid UTF-8 with placeholders put in; `replace` makes dump()
  // unable to throw all the same.
  return impl_->document->dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace hearth::privacy
