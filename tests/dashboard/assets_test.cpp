#include "dashboard/assets.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace hearth::dashboard {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(DashboardAssets, EveryFileOfTheUiFolderIsEmbeddedByteForByte) {
  std::size_t on_disk = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HEARTH_DASHBOARD_UI_DIR)) {
    ++on_disk;
    const std::string name = entry.path().filename().string();
    const auto* file = find_file("/ui/" + name);
    ASSERT_NE(file, nullptr) << name;
    EXPECT_EQ(file->name, name);
    EXPECT_EQ(file->body, read_file(entry.path())) << name;
    EXPECT_EQ(file->etag.size(), 16u);
  }
  EXPECT_EQ(embedded_files().size(), on_disk);
  EXPECT_GE(on_disk, 3u);
}

TEST(DashboardAssets, TheFolderAndItsIndexAreThePage) {
  const auto* index = find_file("/ui/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(find_file("/ui"), index);
  EXPECT_EQ(find_file("/ui/"), index);
  EXPECT_NE(index->body.find("<title>Hearth dashboard</title>"), std::string_view::npos);
}

TEST(DashboardAssets, NothingElseIsFound) {
  for (const char* path :
       {"/uix", "/ui/missing.js", "/ui/../ui/index.html", "/ui//index.html", "/ui/./index.html",
        "/index.html", "/ui/index.html/", "ui/index.html", "/ui/%2e%2e/etc/passwd"}) {
    EXPECT_EQ(find_file(path), nullptr) << path;
  }
}

TEST(DashboardAssets, ContentTypesFollowTheExtension) {
  EXPECT_EQ(content_type_of("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_of("dashboard.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_of("dashboard.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_of("logo.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_of("README"), "application/octet-stream");
}

}  // namespace
}  // namespace hearth::dashboard
