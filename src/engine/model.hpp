// A loaded GGUF model: weights, vocabulary, chat templates and what kind of work it can do.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/expected.hpp"

struct llama_model;
struct llama_vocab;
struct common_chat_templates;

namespace hearth::engine {

enum class ModelTask { chat, embedding, rerank };
const char* to_string(ModelTask task);

struct ModelInfo {
  std::string path;
  std::string name;          // file name without .gguf
  std::string architecture;  // general.architecture
  std::string description;   // llama_model_desc: "qwen2 1B Q8_0"
  std::string quantisation;  // from general.file_type
  uint64_t parameters = 0;
  uint64_t file_bytes = 0;
  uint64_t tensor_bytes = 0;
  int64_t context_length = 0;  // trained context
  int64_t embedding_length = 0;
  int64_t layers = 0;
  int64_t vocabulary_size = 0;
  bool has_chat_template = false;
  std::string pooling;  // none, mean, cls, last, rank
  ModelTask task = ModelTask::chat;
};

// Reads a GGUF file's metadata without loading its weights.
Expected<ModelInfo, std::string> inspect_gguf(const std::string& path);

struct LlamaModelDeleter {
  void operator()(llama_model* model) const;
};
struct ChatTemplatesDeleter {
  void operator()(common_chat_templates* templates) const;
};

class Model {
 public:
  // Loads the weights (memory-mapped). Thread-safe to use for tokenisation afterwards.
  static Expected<std::shared_ptr<Model>, std::string> load(const std::string& path);

  const ModelInfo& info() const { return info_; }
  llama_model* llama() const { return model_.get(); }
  const llama_vocab* vocab() const { return vocab_; }
  const common_chat_templates* chat_templates() const { return templates_.get(); }
  ModelTask task() const { return info_.task; }

  std::vector<int32_t> tokenize(const std::string& text, bool add_special,
                                bool parse_special) const;
  std::string token_piece(int32_t token, bool special) const;
  bool is_end_of_generation(int32_t token) const;
  int32_t vocabulary_size() const;

 private:
  Model() = default;
  ModelInfo info_;
  std::unique_ptr<llama_model, LlamaModelDeleter> model_;
  const llama_vocab* vocab_ = nullptr;
  std::unique_ptr<common_chat_templates, ChatTemplatesDeleter> templates_;
};

// Quiet llama.cpp's own logging unless `verbose` (warnings and errors always go to stderr).
void configure_llama_logging(bool verbose);
void initialise_backend();

}  // namespace hearth::engine
