#include "dashboard/assets.hpp"

#include <array>
#include <utility>

namespace hearth::dashboard {

const EmbeddedFile* find_file(std::string_view path) {
  constexpr std::string_view kPrefix = "/ui";
  if (!path.starts_with(kPrefix)) {
    return nullptr;
  }
  std::string_view name = path.substr(kPrefix.size());
  if (name.empty() || name == "/") {
    name = "index.html";
  } else if (name.front() == '/') {
    name.remove_prefix(1);
  } else {
    return nullptr;  // "/uifoo"
  }
  // Only names that the embedded table holds are served: no path is ever resolved on disk.
  for (const auto& file : embedded_files()) {
    if (file.name == name) {
      return &file;
    }
  }
  return nullptr;
}

std::string_view content_type_of(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  for (const auto& [extension, type] : kTypes) {
    if (name.ends_with(extension)) {
      return type;
    }
  }
  return "application/octet-stream";
}

}  // namespace hearth::dashboard
