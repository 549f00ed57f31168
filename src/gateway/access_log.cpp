#include "gateway/access_log.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hearth::gateway {

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
