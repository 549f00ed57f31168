// The access log: one JSON line per request (no prompt or answer text), on standard output or in
// a file rotated by size (retention.access_log_max_bytes, access_log_files kept: FILE.1 is the
// newest rotated one).
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace hearth::gateway {

class AccessLog {
 public:
  AccessLog() = default;
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // "" : standard output. Reopening with the same settings keeps the file open. An error leaves
  // the log on standard output and says why.
  std::string configure(const std::string& path, std::uint64_t max_bytes, int files_kept);
  void write(std::string_view line);  // `line` ends with '\n'

 private:
  void rotate();

  std::mutex mutex_;
  std::string path_;
  std::uint64_t max_bytes_ = 0;
  int files_kept_ = 0;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace hearth::gateway
