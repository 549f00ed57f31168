// The dashboard's static files (src/dashboard/ui), compiled into the binary by
// cmake/EmbedFiles.cmake, and how the gateway serves them at /ui.
#pragma once

#include <string_view>
#include <vector>

namespace hearth::dashboard {

struct EmbeddedFile {
  std::string_view name;  // relative to src/dashboard/ui, e.g. "index.html"
  std::string_view body;
  std::string_view etag;  // 16 hex digits of the body's SHA-256
};

// Every file of src/dashboard/ui (generated source).
const std::vector<EmbeddedFile>& embedded_files();

// The file a GET of `path` asks for: "/ui" and "/ui/" are index.html, "/ui/NAME" is NAME.
// Null for anything else: only names in the embedded table exist, nothing is read from disk.
const EmbeddedFile* find_file(std::string_view path);

// By extension; application/octet-stream for an unknown one.
std::string_view content_type_of(std::string_view name);

}  // namespace hearth::dashboard
