#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/model.hpp"

namespace hearth::cli {

namespace {

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
  return buffer;
}

}  // namespace

int inspect_command(const std::string& path, bool as_json) {
  engine::configure_llama_logging(false);
  auto info = engine::inspect_gguf(path);
  if (!info) {
    std::fprintf(stderr, "hearth: %s\n", info.error().c_str());
    return 1;
  }
  const auto& model = info.value();
  if (as_json) {
    nlohmann::json out = {{"path", model.path},
                          {"name", model.name},
                          {"architecture", model.architecture},
                          {"parameters", model.parameters},
                          {"context_length", model.context_length},
                          {"embedding_length", model.embedding_length},
                          {"layers", model.layers},
                          {"vocabulary_size", model.vocabulary_size},
                          {"chat_template", model.has_chat_template},
                          {"pooling", model.pooling},
                          {"task", engine::to_string(model.task)},
                          {"file_bytes", model.file_bytes},
                          {"quantisation", model.quantisation}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("file:            %s\n", model.path.c_str());
  std::printf("architecture:    %s\n", model.architecture.c_str());
  std::printf("parameters:      %llu\n", static_cast<unsigned long long>(model.parameters));
  std::printf("context length:  %lld\n", static_cast<long long>(model.context_length));
  std::printf("embedding size:  %lld\n", static_cast<long long>(model.embedding_length));
  std::printf("layers:          %lld\n", static_cast<long long>(model.layers));
  std::printf("vocabulary:      %lld tokens\n", static_cast<long long>(model.vocabulary_size));
  std::printf("chat template:   %s\n", model.has_chat_template ? "yes" : "no");
  std::printf("pooling:         %s\n", model.pooling.c_str());
  std::printf("task:            %s\n", engine::to_string(model.task));
  std::printf("file size:       %s (%llu bytes)\n", human_bytes(model.file_bytes).c_str(),
              static_cast<unsigned long long>(model.file_bytes));
  std::printf("quantisation:    %s\n", model.quantisation.c_str());
  return 0;
}

}  // namespace hearth::cli
