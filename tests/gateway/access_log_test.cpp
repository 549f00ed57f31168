#include "gateway/access_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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
