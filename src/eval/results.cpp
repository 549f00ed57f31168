#include "eval/results.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace hearth::eval {

namespace {

std::int64_t integer_or_zero(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return 0;
  const auto found = object.find(key);
  return found != object.end() && found->is_number_integer() ? found->get<std::int64_t>() : 0;
}

}  // namespace

std::string to_json_line(const SampleResult& result) {
  nlohmann::json line = {
      {"samples_hash", result.samples_hash},
      {"sample", result.sample},
      {"line", result.line},
      {"target", result.target},
      {"status", result.status},
      {"error", result.error},
      {"answer", result.answer},
      {"latency_ms", result.latency_ms},
      {"prompt_tokens", result.prompt_tokens},
      {"completion_tokens", result.completion_tokens},
      {"cached_tokens", result.cached_tokens},
      {"busy_ms", result.busy_ms ? nlohmann::json(*result.busy_ms) : nlohmann::json()},
      {"placement", result.placement},
      {"backend", result.backend},
      {"served_by", result.served_by},
      {"time_us", result.time_us},
  };
  // Answers are model output: invalid UTF-8 is replaced rather than failing the whole run.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Expected<SampleResult, std::string> parse_result_line(std::string_view line) {
  const auto document = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return unexpected(std::string("not a JSON object"));
  try {
    SampleResult result;
    result.samples_hash = document.at("samples_hash").get<std::string>();
    result.sample = document.at("sample").get<std::string>();
    result.line = document.at("line").get<std::size_t>();
    result.target = document.at("target").get<std::string>();
    result.status = document.at("status").get<int>();
    result.error = document.at("error").get<std::string>();
    result.answer = document.at("answer").get<std::string>();
    result.latency_ms = document.at("latency_ms").get<double>();
    result.prompt_tokens = document.at("prompt_tokens").get<std::int64_t>();
    result.completion_tokens = document.at("completion_tokens").get<std::int64_t>();
    result.cached_tokens = document.at("cached_tokens").get<std::int64_t>();
    if (const auto& busy = document.at("busy_ms"); !busy.is_null()) {
      result.busy_ms = busy.get<double>();
    }
    result.placement = document.at("placement").get<std::string>();
    result.backend = document.at("backend").get<std::string>();
    result.served_by = document.at("served_by").get<std::string>();
    result.time_us = document.at("time_us").get<std::int64_t>();
    return result;
  } catch (const nlohmann::json::exception& error) {
    // The boundary of a file written by an older or other version: a value, not a crash.
    return unexpected(std::string(error.what()));
  }
}

Expected<ResultsFile, std::string> read_results_file(const std::string& path) {
  ResultsFile file;
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) return file;
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected("cannot read " + path + ": " + std::strerror(errno));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto result = parse_result_line(line);
    if (result) {
      file.results.push_back(std::move(*result));
    } else {
      ++file.unreadable_lines;
    }
  }
  return file;
}

Expected<bool, std::string> read_answer(std::string_view body, SampleTask task,
                                        SampleResult& result) {
  const auto document = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return unexpected(std::string("the answer is not a JSON object"));
  const auto choices = document.find("choices");
  if (choices == document.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object()) {
    return unexpected(std::string("the answer has no choices"));
  }
  const auto& choice = (*choices)[0];
  if (task == SampleTask::completion) {
    const auto text = choice.find("text");
    if (text == choice.end() || !text->is_string()) {
      return unexpected(std::string("the answer has no choices[0].text"));
    }
    result.answer = text->get<std::string>();
  } else {
    const auto message = choice.find("message");
    if (message == choice.end() || !message->is_object()) {
      return unexpected(std::string("the answer has no choices[0].message"));
    }
    const auto content = message->find("content");
    result.answer = content != message->end() && content->is_string() ? content->get<std::string>()
                                                                      : std::string();
    const auto tool_calls = message->find("tool_calls");
    if (result.answer.empty() && tool_calls != message->end() && tool_calls->is_array() &&
        !tool_calls->empty()) {
      const auto& call = (*tool_calls)[0];
      if (call.is_object() && call.contains("function") && call["function"].is_object()) {
        const auto& arguments = call["function"].value("arguments", nlohmann::json());
        result.answer = arguments.is_string() ? arguments.get<std::string>() : arguments.dump();
      }
    }
  }
  const auto usage = document.find("usage");
  if (usage != document.end() && usage->is_object()) {
    result.prompt_tokens = integer_or_zero(*usage, "prompt_tokens");
    result.completion_tokens = integer_or_zero(*usage, "completion_tokens");
    if (const auto details = usage->find("prompt_tokens_details"); details != usage->end()) {
      result.cached_tokens = integer_or_zero(*details, "cached_tokens");
    }
  }
  return true;
}

std::string error_message(std::string_view body) {
  const auto document = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_object()) {
    const auto error = document.find("error");
    if (error != document.end() && error->is_object()) {
      const auto message = error->find("message");
      if (message != error->end() && message->is_string()) return message->get<std::string>();
    }
  }
  constexpr std::size_t kMaxShown = 200;
  return std::string(body.substr(0, kMaxShown));
}

}  // namespace hearth::eval
