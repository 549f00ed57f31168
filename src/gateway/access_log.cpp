#include "gateway/access_log.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "api/json_text.hpp"
#include "common/number_text.hpp"

namespace hearth::gateway {

void JsonLine::key(std::string_view name) {
  if (!first_) text_ += ',';
  first_ = false;
  api::append_json_string(text_, name);
  text_ += ':';
}

void JsonLine::string_member(std::string_view name, std::string_view value) {
  key(name);
  api::append_json_string(text_, value);
}

void JsonLine::number_member(std::string_view name, double value) {
  key(name);
  if (std::isfinite(value)) {
    fmt::format_to(std::back_inserter(text_), "{}", value);
  } else {
    text_ += "null";  // JSON has no NaN or infinity
  }
}

void JsonLine::fixed3_member(std::string_view name, double value) {
  key(name);
  if (std::isfinite(value)) {
    append_fixed3(text_, value);
  } else {
    text_ += "null";
  }
}

void JsonLine::integer_member(std::string_view name, std::int64_t value) {
  key(name);
  fmt::format_to(std::back_inserter(text_), "{}", value);
}

void JsonLine::bool_member(std::string_view name, bool value) {
  key(name);
  text_ += value ? "true" : "false";
}

void JsonLine::strings_member(std::string_view name, const std::vector<std::string>& values) {
  key(name);
  text_ += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text_ += ',';
    api::append_json_string(text_, values[i]);
  }
  text_ += ']';
}

void JsonLine::counts_member(std::string_view name,
                             const std::map<std::string, int, std::less<>>& counts) {
  begin_object(name);
  for (const auto& [entity, count] : counts) integer_member(entity, count);
  end_object();
}

void JsonLine::begin_object(std::string_view name) {
  key(name);
  text_ += '{';
  first_ = true;
}

void JsonLine::end_object() {
  text_ += '}';
  first_ = false;
}

std::string JsonLine::finish() && {
  text_ += "}\n";
  return std::move(text_);
}

AccessLog::~AccessLog() {
  if (file_ != nullptr) {
    std::fclose(file_);
  }
}

std::string AccessLog::configure(const std::string& path, std::uint64_t max_bytes, int files_kept) {
  std::lock_guard lock(mutex_);
  max_bytes_ = max_bytes;
  files_kept_ = files_kept;
  if (path == path_ && (file_ != nullptr || path.empty())) {
    return "";
  }
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
  path_.clear();
  if (path.empty()) {
    return "";
  }
  file_ = std::fopen(path.c_str(), "a");
  if (file_ == nullptr) {
    return "cannot open the access log " + path + ": " + std::strerror(errno) +
           " (writing it to standard output)";
  }
  path_ = path;
  std::error_code ignored;
  const auto size = std::filesystem::file_size(path, ignored);
  size_ = ignored ? 0 : size;
  return "";
}

void AccessLog::write(std::string_view line) {
  std::lock_guard lock(mutex_);
  if (file_ == nullptr) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    return;
  }
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
  size_ += line.size();
  if (size_ >= max_bytes_) {
    rotate();
  }
}

void AccessLog::rotate() {
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ignored;
  // FILE.N-1 -> FILE.N ... FILE -> FILE.1; the oldest beyond files_kept_ is replaced.
  for (int index = files_kept_ - 1; index >= 1; --index) {
    const auto from = path_ + "." + std::to_string(index);
    if (std::filesystem::exists(from, ignored)) {
      std::filesystem::rename(from, path_ + "." + std::to_string(index + 1), ignored);
    }
  }
  std::filesystem::rename(path_, path_ + ".1", ignored);
  file_ = std::fopen(path_.c_str(), "a");
  size_ = 0;
  if (file_ == nullptr) {
    spdlog::warn("cannot reopen the access log {} after rotating it: {}; writing to stdout", path_,
                 std::strerror(errno));
    path_.clear();
  }
}

}  // namespace hearth::gateway
