// The access log: one JSON line per request (no prompt or answer text), on standard output or in
// a file rotated by size (retention.access_log_max_bytes, access_log_files kept: FILE.1 is the
// newest rotated one).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::gateway {

// One JSON object written member by member: the access log's line, with no document built for
// it (nlohmann's, with its map of members, cost more than the rest of a request's bookkeeping).
// Strings are escaped, and bytes that are not UTF-8 replaced, so a line is always valid JSON.
class JsonLine {
 public:
  JsonLine() : text_("{") {}

  void string_member(std::string_view key, std::string_view value);
  void number_member(std::string_view key, double value);  // the shortest exact decimal
  // Three decimals (durations in milliseconds, to the microsecond); null when not finite.
  void fixed3_member(std::string_view key, double value);
  void integer_member(std::string_view key, std::int64_t value);
  void bool_member(std::string_view key, bool value);
  void strings_member(std::string_view key, const std::vector<std::string>& values);
  // {"NAME": COUNT, ...}
  void counts_member(std::string_view key, const std::map<std::string, int, std::less<>>& counts);
  void begin_object(std::string_view key);
  void end_object();

  // The object closed, and a newline: the line to write.
  std::string finish() &&;

 private:
  void key(std::string_view name);

  std::string text_;
  bool first_ = true;
};

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
