#include "eval/samples.hpp"

#include <openssl/evp.h>

#include <array>
#include <set>

namespace hearth::eval {

namespace {

Expected<Sample, std::string> parse_line(std::string_view line, std::size_t line_number) {
  auto document = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return unexpected(std::string("not valid JSON"));
  if (!document.is_object()) return unexpected(std::string("not a JSON object"));
  Sample sample;
  sample.line = line_number;
  sample.key = "line:" + std::to_string(line_number);

  if (auto id = document.find("id"); id != document.end()) {
    if (id->is_string() && !id->get<std::string>().empty()) {
      sample.key = id->get<std::string>();
    } else if (id->is_number_integer()) {
      sample.key = std::to_string(id->get<std::int64_t>());
    } else {
      return unexpected(std::string("\"id\" must be a non-empty string or an integer"));
    }
    document.erase("id");
  }

  const auto messages = document.find("messages");
  const auto prompt = document.find("prompt");
  if (messages != document.end() && prompt != document.end()) {
    return unexpected(
        std::string("has both \"messages\" and \"prompt\": a sample is either a chat "
                    "request or a completion request"));
  }
  if (messages != document.end()) {
    if (!messages->is_array() || messages->empty()) {
      return unexpected(std::string("\"messages\" must be a non-empty array"));
    }
    sample.task = SampleTask::chat;
  } else if (prompt != document.end()) {
    bool valid = prompt->is_string();
    if (prompt->is_array() && !prompt->empty()) {
      valid = true;
      for (const auto& piece : *prompt) valid = valid && piece.is_string();
    }
    if (!valid) {
      return unexpected(std::string("\"prompt\" must be a string or an array of strings"));
    }
    sample.task = SampleTask::completion;
  } else {
    return unexpected(std::string(
        "has neither \"messages\" (a chat request) nor \"prompt\" (a completion request)"));
  }

  const auto expected = document.find("expected");
  const auto expected_json = document.find("expected_json");
  if (expected != document.end() && expected_json != document.end()) {
    return unexpected(std::string("has both \"expected\" and \"expected_json\""));
  }
  if (expected != document.end()) {
    if (!expected->is_string()) return unexpected(std::string("\"expected\" must be a string"));
    sample.expected = expected->get<std::string>();
    document.erase("expected");
  }
  if (expected_json != document.end()) {
    if (!expected_json->is_object() || expected_json->empty()) {
      return unexpected(
          std::string("\"expected_json\" must be a non-empty object (the fields the answer's JSON "
                      "must have)"));
    }
    sample.expected_json = *expected_json;
    document.erase("expected_json");
  }
  document.erase("stream");
  document.erase("stream_options");
  sample.body = std::move(document);
  return sample;
}

}  // namespace

std::string_view to_string(SampleTask task) {
  return task == SampleTask::chat ? "chat" : "completion";
}

std::string_view route_of(SampleTask task) {
  return task == SampleTask::chat ? "/v1/chat/completions" : "/v1/completions";
}

std::string SamplesError::to_string() const {
  return line == 0 ? message : "line " + std::to_string(line) + ": " + message;
}

Expected<SampleSet, SamplesError> parse_samples(std::string_view text) {
  SampleSet set;
  set.hash = sha256_hex(text);
  std::set<std::string, std::less<>> keys;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto sample = parse_line(line, line_number);
    if (!sample) return unexpected(SamplesError{line_number, sample.error()});
    if (!keys.insert(sample->key).second) {
      return unexpected(
          SamplesError{line_number, "id \"" + sample->key + "\" is used by an earlier line"});
    }
    set.samples.push_back(std::move(*sample));
  }
  if (set.samples.empty()) return unexpected(SamplesError{0, "the samples file has no samples"});
  return set;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const int ok =
      EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  assert(ok == 1 && "SHA-256 is always available");
  (void)ok;
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0F]);
  }
  return hex;
}

}  // namespace hearth::eval
