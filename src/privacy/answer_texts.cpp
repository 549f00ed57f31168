#include "privacy/answer_texts.hpp"

#include <cassert>
#include <climits>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "api/json_reading.hpp"
#include "api/json_text.hpp"

namespace hearth::privacy {

namespace {

// Ordered: the answer goes on to the client with its members where the provider put them.
using json = nlohmann::ordered_json;
using Key = std::tuple<int, int, int>;

// The texts of a streamed choice, the middle element of a restorer's key.
enum Field : int {
  kContent = 0,
  kReasoning = 1,
  kToolArguments = 2,
  kText = 3,
  kRefusal = 4,
  kFunctionCallArguments = 5,
};

// Tool-call arguments are JSON text inside the JSON string: a value put back into them must be
// escaped once more.
bool is_json_text(int field) { return field == kToolArguments || field == kFunctionCallArguments; }

std::optional<json> parse_untrusted(std::string_view text) {
  if (api::json_nesting_depth(text) > api::kMaxJsonNestingDepth) return std::nullopt;
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return std::nullopt;
  return document;
}

std::string dump(const json& document) {
  // The strings were valid UTF-8 when parsed and are only cut at '['; `replace` keeps dump()
  // from throwing all the same.
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A non-negative integer member, or `fallback`.
int int_member(const json& object, const char* key, int fallback) {
  const auto found = object.find(key);
  if (found == object.end() || !found->is_number_integer()) return fallback;
  if (found->is_number_unsigned()) {
    const auto value = found->get<std::uint64_t>();
    return value <= INT_MAX ? static_cast<int>(value) : fallback;
  }
  const auto value = found->get<std::int64_t>();
  return value >= 0 && value <= INT_MAX ? static_cast<int>(value) : fallback;
}

bool is_answer(const json& document) {
  if (!document.is_object() || document.contains("error")) return false;
  const auto choices = document.find("choices");
  return choices != document.end() && choices->is_array();
}

// Calls visit(string node, is JSON text) for every text of an answer's choices.
template <class Json, class Visit>
void for_each_answer_text(Json& answer, Visit visit) {
  const auto string_member = [&](Json& object, const char* key, bool json_text) {
    if (!object.is_object()) return;
    const auto found = object.find(key);
    if (found != object.end() && found->is_string()) visit(*found, json_text);
  };
  const auto object_member = [](Json& object, const char* key) -> Json* {
    const auto found = object.find(key);
    return found != object.end() && found->is_object() ? &*found : nullptr;
  };
  for (Json& choice : answer["choices"]) {
    if (!choice.is_object()) continue;
    string_member(choice, "text", false);
    Json* message = object_member(choice, "message");
    if (message == nullptr) continue;
    string_member(*message, "content", false);
    if (const auto content = message->find("content");
        content != message->end() && content->is_array()) {
      for (Json& part : *content) {
        string_member(part, "text", false);
        string_member(part, "refusal", false);
      }
    }
    string_member(*message, "reasoning_content", false);
    string_member(*message, "refusal", false);
    if (const auto calls = message->find("tool_calls");
        calls != message->end() && calls->is_array()) {
      for (Json& call : *calls) {
        if (!call.is_object()) continue;
        if (Json* function = object_member(call, "function")) {
          string_member(*function, "arguments", true);
        }
      }
    }
    if (Json* function_call = object_member(*message, "function_call")) {
      string_member(*function_call, "arguments", true);
    }
  }
}

void collect_all_strings(const json& value, std::vector<std::string>& texts) {
  if (value.is_string()) {
    texts.push_back(value.get<std::string>());
  } else if (value.is_structured()) {
    for (const json& element : value) collect_all_strings(element, texts);
  }
}

void append_to(json& slot, const std::string& text) {
  if (slot.is_string()) {
    slot.get_ref<std::string&>() += text;
  } else {
    slot = text;
  }
}

json& object_slot(json& parent, const char* key) {
  json& slot = parent[key];
  if (!slot.is_object()) slot = json::object();
  return slot;
}

// Puts held-back text of `field` into a streamed choice, adding the fields it lacks.
void put_held(json& choice, int field, int tool_index, const std::string& held) {
  if (field == kText) {
    append_to(choice["text"], held);
    return;
  }
  json& delta = object_slot(choice, "delta");
  switch (field) {
    case kContent:
      append_to(delta["content"], held);
      return;
    case kReasoning:
      append_to(delta["reasoning_content"], held);
      return;
    case kRefusal:
      append_to(delta["refusal"], held);
      return;
    case kFunctionCallArguments:
      append_to(object_slot(delta, "function_call")["arguments"], held);
      return;
    case kToolArguments:
      break;
    default:
      assert(false && "put_held: unknown field");
      return;
  }
  json& calls = delta["tool_calls"];
  if (!calls.is_array()) calls = json::array();
  int position = 0;
  for (json& call : calls) {
    if (call.is_object() && int_member(call, "index", position) == tool_index) {
      append_to(object_slot(call, "function")["arguments"], held);
      return;
    }
    ++position;
  }
  json call = json::object();
  call["index"] = tool_index;
  call["function"]["arguments"] = held;
  calls.push_back(std::move(call));
}

// Flushes the restorers of one choice into its chunk (the one carrying its finish_reason).
void flush_choice(std::map<Key, StreamRestorer>& restorers, json& choice, int choice_index) {
  auto it = restorers.lower_bound(Key{choice_index, INT_MIN, INT_MIN});
  while (it != restorers.end() && std::get<0>(it->first) == choice_index) {
    const std::string held = it->second.finish();
    if (!held.empty()) put_held(choice, std::get<1>(it->first), std::get<2>(it->first), held);
    it = restorers.erase(it);
  }
}

// The same readings on simdjson's document (api/json_reading.hpp), for the answers and events
// that are only scanned, not rewritten. A scan must see every text a client could read, so a
// repeated key is visited each time it appears, where nlohmann's document keeps only the last.
using api::JsonElement;

// int_member() on simdjson's document.
int int_member_of(JsonElement object, std::string_view key, int fallback) {
  const auto found = api::last_member(object, key);
  const auto value = found ? api::integer_value(*found) : std::nullopt;
  return value && *value >= 0 && *value <= INT_MAX ? static_cast<int>(*value) : fallback;
}

bool is_answer(JsonElement document) {
  if (!document.is_object() || api::last_member(document, "error")) return false;
  const auto choices = api::last_member(document, "choices");
  return choices && choices->is_array();
}

template <class Visit>
void for_each_string_member(JsonElement object, std::string_view key, Visit visit) {
  api::for_each_member(object, key, [&](JsonElement value) {
    if (const auto text = api::string_value(value)) visit(*text);
  });
}

template <class Visit>
void for_each_array_element(JsonElement object, std::string_view key, Visit visit) {
  api::for_each_member(object, key, [&](JsonElement value) {
    simdjson::dom::array elements;
    if (value.get(elements) != simdjson::SUCCESS) return;
    for (const JsonElement element : elements) visit(element);
  });
}

template <class Visit>
void for_each_object_member(JsonElement object, std::string_view key, Visit visit) {
  api::for_each_member(object, key, [&](JsonElement value) {
    if (value.is_object()) visit(value);
  });
}

void collect_answer_texts(JsonElement answer, std::vector<std::string>& texts) {
  const auto keep = [&](std::string_view text) { texts.emplace_back(text); };
  for_each_array_element(answer, "choices", [&](JsonElement choice) {
    for_each_string_member(choice, "text", keep);
    for_each_object_member(choice, "message", [&](JsonElement message) {
      for_each_string_member(message, "content", keep);
      for_each_array_element(message, "content", [&](JsonElement part) {
        for_each_string_member(part, "text", keep);
        for_each_string_member(part, "refusal", keep);
      });
      for_each_string_member(message, "reasoning_content", keep);
      for_each_string_member(message, "refusal", keep);
      for_each_array_element(message, "tool_calls", [&](JsonElement call) {
        for_each_object_member(call, "function", [&](JsonElement function) {
          for_each_string_member(function, "arguments", keep);
        });
      });
      for_each_object_member(message, "function_call", [&](JsonElement function_call) {
        for_each_string_member(function_call, "arguments", keep);
      });
    });
  });
}

void collect_all_strings(JsonElement value, std::vector<std::string>& texts) {
  if (const auto text = api::string_value(value)) {
    texts.emplace_back(*text);
  } else if (simdjson::dom::array elements; value.get(elements) == simdjson::SUCCESS) {
    for (const JsonElement element : elements) collect_all_strings(element, texts);
  } else if (simdjson::dom::object object; value.get(object) == simdjson::SUCCESS) {
    for (const simdjson::dom::key_value_pair field : object) {
      collect_all_strings(field.value, texts);
    }
  }
}

}  // namespace

std::string restore_answer(std::string_view body, const Redaction& redaction) {
  if (redaction.empty()) return std::string(body);
  std::optional<json> document = parse_untrusted(body);
  if (!document) return redaction.restore(body);
  // JSON that is no answer (an error) keeps its bytes; a value put in must not end its string.
  if (!is_answer(*document)) return redaction.restore_json_escaped(body);
  for_each_answer_text(*document, [&](json& text, bool json_text) {
    const std::string& value = text.get_ref<const std::string&>();
    text = json_text ? redaction.restore_json_escaped(value) : redaction.restore(value);
  });
  return dump(*document);
}

std::vector<std::string> answer_texts(std::string_view body) {
  std::vector<std::string> texts;
  if (const std::optional<JsonElement> document = api::parse_for_reading(body)) {
    // An error may echo anything the request carried.
    if (is_answer(*document)) {
      collect_answer_texts(*document, texts);
    } else {
      collect_all_strings(*document, texts);
    }
    return texts;
  }
  const std::optional<json> document = parse_untrusted(body);
  if (!document) {
    if (!body.empty()) texts.emplace_back(body);
    return texts;
  }
  // An error may echo anything the request carried.
  if (!is_answer(*document)) {
    collect_all_strings(*document, texts);
    return texts;
  }
  for_each_answer_text(*document, [&](const json& text, bool /*json_text*/) {
    texts.push_back(text.get<std::string>());
  });
  return texts;
}

std::string StreamAnswerRestorer::feed(std::string_view bytes) {
  if (redaction_->empty()) {
    for (const api::SseEvent& event : parser_.feed(bytes)) {
      if (!event.is_done() && !collect_texts(event.data)) {
        restore_data(event.data, /*rewrite=*/false);
      }
    }
    return std::string(bytes);
  }
  std::string out;
  for (const api::SseEvent& event : parser_.feed(bytes)) on_event(event, out);
  return out;
}

std::string StreamAnswerRestorer::finish() { return flush_all(); }

std::vector<std::string> StreamAnswerRestorer::upstream_texts() const {
  std::vector<std::string> texts;
  texts.reserve(upstream_.size());
  for (const auto& [key, text] : upstream_) texts.push_back(text);
  return texts;
}

void StreamAnswerRestorer::on_event(const api::SseEvent& event, std::string& out) {
  std::string data;
  if (event.is_done()) {
    out += flush_all();
    data = event.data;
  } else {
    data = restore_data(event.data);
  }
  if (!event.event.empty()) {
    out += "event: ";
    out += event.event;
    out += '\n';
  }
  out += api::sse_data(data);
}

bool StreamAnswerRestorer::collect_texts(std::string_view data) {
  const std::optional<JsonElement> document = api::parse_for_reading(data);
  if (!document) return false;
  if (!is_answer(*document)) return true;  // an error or a stranger: no answer text
  api::for_each_member(*document, "choices", [&](JsonElement choice_list) {
    simdjson::dom::array choices;
    if (choice_list.get(choices) != simdjson::SUCCESS) return;
    int choice_position = 0;
    for (const JsonElement choice : choices) {
      if (!choice.is_object()) {
        ++choice_position;
        continue;
      }
      const int choice_index = int_member_of(choice, "index", choice_position++);
      const auto keep = [&](int field, int tool_index) {
        return [this, key = Key{choice_index, field, tool_index}](std::string_view piece) {
          upstream_[key] += piece;
        };
      };
      for_each_object_member(choice, "delta", [&](JsonElement delta) {
        for_each_string_member(delta, "content", keep(kContent, 0));
        for_each_string_member(delta, "reasoning_content", keep(kReasoning, 0));
        for_each_string_member(delta, "refusal", keep(kRefusal, 0));
        api::for_each_member(delta, "tool_calls", [&](JsonElement call_list) {
          simdjson::dom::array calls;
          if (call_list.get(calls) != simdjson::SUCCESS) return;
          int call_position = 0;
          for (const JsonElement call : calls) {
            const int call_index =
                call.is_object() ? int_member_of(call, "index", call_position) : -1;
            ++call_position;
            if (call_index < 0) continue;
            for_each_object_member(call, "function", [&](JsonElement function) {
              for_each_string_member(function, "arguments", keep(kToolArguments, call_index));
            });
          }
        });
        for_each_object_member(delta, "function_call", [&](JsonElement function_call) {
          for_each_string_member(function_call, "arguments", keep(kFunctionCallArguments, 0));
        });
      });
      for_each_string_member(choice, "text", keep(kText, 0));
    }
  });
  return true;
}

StreamRestorer& StreamAnswerRestorer::restorer(const Key& key) {
  return restorers_.try_emplace(key, *redaction_, is_json_text(std::get<1>(key))).first->second;
}

std::string StreamAnswerRestorer::restore_data(std::string_view data, bool rewrite) {
  std::optional<json> document = parse_untrusted(data);
  if (!rewrite && (!document || !is_answer(*document))) return {};
  if (!document) return redaction_->restore(data);
  if (!is_answer(*document)) return redaction_->restore_json_escaped(data);
  json& choices = (*document)["choices"];
  if (choices.empty()) return rewrite ? std::string(data) : std::string();  // the usage chunk

  if (rewrite) {
    json chunk_template = json::object();
    for (const char* key : {"id", "object", "created", "model", "system_fingerprint"}) {
      if (const auto found = document->find(key); found != document->end()) {
        chunk_template[key] = *found;
      }
    }
    last_chunk_template_ = dump(chunk_template);
  }

  int choice_position = 0;
  for (json& choice : choices) {
    if (!choice.is_object()) {
      ++choice_position;
      continue;
    }
    const int choice_index = int_member(choice, "index", choice_position++);
    const auto feed_member = [&](json& holder, const char* name, int field, int tool_index) {
      const auto found = holder.find(name);
      if (found == holder.end() || !found->is_string()) return;
      const Key key{choice_index, field, tool_index};
      const std::string& piece = found->get_ref<const std::string&>();
      upstream_[key] += piece;
      if (rewrite) *found = restorer(key).feed(piece);
    };
    if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
      feed_member(*delta, "content", kContent, 0);
      feed_member(*delta, "reasoning_content", kReasoning, 0);
      feed_member(*delta, "refusal", kRefusal, 0);
      if (const auto calls = delta->find("tool_calls");
          calls != delta->end() && calls->is_array()) {
        int call_position = 0;
        for (json& call : *calls) {
          const int call_index = call.is_object() ? int_member(call, "index", call_position) : -1;
          ++call_position;
          if (call_index < 0) continue;
          if (const auto function = call.find("function");
              function != call.end() && function->is_object()) {
            feed_member(*function, "arguments", kToolArguments, call_index);
          }
        }
      }
      if (const auto function_call = delta->find("function_call");
          function_call != delta->end() && function_call->is_object()) {
        feed_member(*function_call, "arguments", kFunctionCallArguments, 0);
      }
    }
    feed_member(choice, "text", kText, 0);
    if (const auto finish_reason = choice.find("finish_reason");
        rewrite && finish_reason != choice.end() && !finish_reason->is_null()) {
      flush_choice(restorers_, choice, choice_index);
    }
  }
  return rewrite ? dump(*document) : std::string();
}

std::string StreamAnswerRestorer::flush_all() {
  std::map<int, json> choices;
  for (auto& [key, restorer] : restorers_) {
    const std::string held = restorer.finish();
    if (held.empty()) continue;
    json& choice = choices[std::get<0>(key)];
    if (choice.is_null()) choice["index"] = std::get<0>(key);
    put_held(choice, std::get<1>(key), std::get<2>(key), held);
  }
  restorers_.clear();
  if (choices.empty()) return {};

  json chunk = json::parse(last_chunk_template_, nullptr, /*allow_exceptions=*/false);
  if (!chunk.is_object()) chunk = json::object();
  json& chunk_choices = chunk["choices"];
  chunk_choices = json::array();
  for (auto& [index, choice] : choices) {
    choice["finish_reason"] = nullptr;
    chunk_choices.push_back(std::move(choice));
  }
  return api::sse_data(dump(chunk));
}

}  // namespace hearth::privacy
