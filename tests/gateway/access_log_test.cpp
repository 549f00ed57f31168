#include "gateway/access_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::gateway {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "hearth-access-log-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(JsonLine, WritesOneValidJsonObjectAndANewline) {
  JsonLine line;
  line.string_member("path", "/v1/chat/completions");
  line.integer_member("status", 200);
  line.number_member("duration_ms", 0.125);
  line.number_member("whole_ms", 3.0);
  line.number_member("not_a_number", std::numeric_limits<double>::quiet_NaN());
  line.fixed3_member("overhead_ms", 0.0123456);
  line.fixed3_member("infinite_ms", std::numeric_limits<double>::infinity());
  line.bool_member("stream", false);
  line.strings_member("fallback", {"a: upstream_5xx", "b"});
  line.begin_object("privacy");
  line.string_member("action", "redact");
  line.counts_member("findings", std::map<std::string, int, std::less<>>{{"email", 2}});
  line.counts_member("redacted", {});
  line.end_object();
  line.string_member("after", "x");
  const std::string text = std::move(line).finish();
  ASSERT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line";
  const auto parsed = nlohmann::json::parse(text);
  EXPECT_EQ(parsed["path"], "/v1/chat/completions");
  EXPECT_EQ(parsed["status"], 200);
  EXPECT_EQ(parsed["duration_ms"], 0.125);
  EXPECT_EQ(parsed["whole_ms"], 3.0);
  EXPECT_TRUE(parsed["not_a_number"].is_null());
  EXPECT_NE(text.find(R"("overhead_ms":0.012,)"), std::string::npos) << text;
  EXPECT_TRUE(parsed["infinite_ms"].is_null());
  EXPECT_EQ(parsed["stream"], false);
  EXPECT_EQ(parsed["fallback"], (std::vector<std::string>{"a: upstream_5xx", "b"}));
  EXPECT_EQ(parsed["privacy"]["action"], "redact");
  EXPECT_EQ(parsed["privacy"]["findings"]["email"], 2);
  EXPECT_TRUE(parsed["privacy"]["redacted"].empty());
  EXPECT_EQ(parsed["after"], "x");
}

TEST(JsonLine, EscapesStringsAndReplacesBytesThatAreNotUtf8) {
  JsonLine line;
  line.string_member("error", "quote \" backslash \\ newline \n tab \t bell \x07 é");
  line.string_member("bad", std::string("a\xff") + "b\xc3");
  line.string_member("key \"odd\"", "v");
  const auto parsed = nlohmann::json::parse(std::move(line).finish());
  EXPECT_EQ(parsed["error"], "quote \" backslash \\ newline \n tab \t bell \x07 é");
  EXPECT_EQ(parsed["bad"],
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_EQ(parsed["key \"odd\""], "v");
}

TEST(AccessLog, RotatesBySizeAndKeepsTheConfiguredNumberOfFiles) {
  TempDir dir;
  const auto path = (dir.path() / "access.log").string();
  AccessLog log;
  ASSERT_EQ(log.configure(path, 100, 2), "");
  // 41 bytes a line (a digit, 39 x, a newline): the file rotates once it reaches 100 bytes,
  // i.e. after every third line.
  const auto line_of = [](int n) {
    std::string line(1, static_cast<char>('0' + n));
    line.append(39, 'x');
    line += '\n';
    return line;
  };
  for (int n = 0; n < 10; ++n) {
    log.write(line_of(n));
  }
  EXPECT_TRUE(fs::exists(path + ".1"));
  EXPECT_TRUE(fs::exists(path + ".2"));
  EXPECT_FALSE(fs::exists(path + ".3")) << "only access_log_files rotated files are kept";
  // Lines 0-2 went to the oldest file, which was dropped; 3-5 are in .2, 6-8 in .1, 9 current.
  EXPECT_EQ(read(path + ".2").substr(0, 1), "3");
  EXPECT_EQ(read(path + ".1").substr(0, 1), "6");
  EXPECT_EQ(read(path), line_of(9));
}

TEST(AccessLog, AppendsToAnExistingFileAndCountsItsSize) {
  TempDir dir;
  const auto path = (dir.path() / "access.log").string();
  {
    std::ofstream existing(path);
    existing << std::string(90, 'a') << "\n";
  }
  AccessLog log;
  ASSERT_EQ(log.configure(path, 100, 3), "");
  log.write("0123456789\n");  // 91 + 11 bytes: over the limit, so the file rotates
  EXPECT_TRUE(fs::exists(path + ".1"));
  EXPECT_EQ(fs::file_size(path + ".1"), 102u);
  EXPECT_EQ(fs::file_size(path), 0u);
}

TEST(AccessLog, AnUnwritablePathFallsBackToStandardOutputWithAReason) {
  AccessLog log;
  const auto problem = log.configure("/nonexistent-dir/access.log", 100, 2);
  EXPECT_NE(problem.find("cannot open the access log /nonexistent-dir/access.log"),
            std::string::npos)
      << problem;
  log.write("still written, to stdout\n");
}

}  // namespace
}  // namespace hearth::gateway
