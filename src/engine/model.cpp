#include "engine/model.hpp"

#include <chat.h>
#include <common.h>
#include <gguf.h>
#include <llama.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>

namespace hearth::engine {

const char* to_string(ModelTask task) {
  switch (task) {
    case ModelTask::chat:
      return "chat";
    case ModelTask::embedding:
      return "embedding";
    case ModelTask::rerank:
      return "rerank";
  }
  return "chat";
}

void LlamaModelDeleter::operator()(llama_model* model) const { llama_model_free(model); }
void ChatTemplatesDeleter::operator()(common_chat_templates* templates) const {
  common_chat_templates_free(templates);
}

namespace {

bool g_verbose_llama = false;

void llama_log_callback(ggml_log_level level, const char* text, void* /*user_data*/) {
  if (g_verbose_llama || level == GGML_LOG_LEVEL_ERROR) {
    std::fputs(text, stderr);
  }
}

const char* pooling_name(int64_t pooling) {
  switch (pooling) {
    case LLAMA_POOLING_TYPE_NONE:
      return "none";
    case LLAMA_POOLING_TYPE_MEAN:
      return "mean";
    case LLAMA_POOLING_TYPE_CLS:
      return "cls";
    case LLAMA_POOLING_TYPE_LAST:
      return "last";
    case LLAMA_POOLING_TYPE_RANK:
      return "rank";
    default:
      return "unspecified";
  }
}

int64_t gguf_integer(const gguf_context* context, const std::string& key, int64_t fallback) {
  const int64_t id = gguf_find_key(context, key.c_str());
  if (id < 0) {
    return fallback;
  }
  switch (gguf_get_kv_type(context, id)) {
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(context, id);
    case GGUF_TYPE_INT32:
      return gguf_get_val_i32(context, id);
    case GGUF_TYPE_UINT64:
      return static_cast<int64_t>(gguf_get_val_u64(context, id));
    default:
      return fallback;
  }
}

std::string gguf_string(const gguf_context* context, const std::string& key) {
  const int64_t id = gguf_find_key(context, key.c_str());
  if (id < 0 || gguf_get_kv_type(context, id) != GGUF_TYPE_STRING) {
    return {};
  }
  return gguf_get_val_str(context, id);
}

std::string stem_of(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

void configure_llama_logging(bool verbose) {
  g_verbose_llama = verbose;
  llama_log_set(llama_log_callback, nullptr);
}

void initialise_backend() {
  static std::once_flag once;
  std::call_once(once, []() {
    llama_backend_init();
    ggml_backend_load_all();
  });
}

Expected<ModelInfo, std::string> inspect_gguf(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return unexpected("model file not found: " + path);
  }
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* context = gguf_init_from_file(path.c_str(), params);
  if (context == nullptr) {
    return unexpected("not a valid GGUF file: " + path);
  }
  ModelInfo info;
  info.path = path;
  info.name = stem_of(path);
  info.file_bytes = std::filesystem::file_size(path, error);
  info.architecture = gguf_string(context, "general.architecture");
  const std::string& arch = info.architecture;
  info.context_length = gguf_integer(context, arch + ".context_length", 0);
  info.embedding_length = gguf_integer(context, arch + ".embedding_length", 0);
  info.layers = gguf_integer(context, arch + ".block_count", 0);
  info.has_chat_template = gguf_find_key(context, "tokenizer.chat_template") >= 0;
  const int64_t tokens_key = gguf_find_key(context, "tokenizer.ggml.tokens");
  info.vocabulary_size =
      tokens_key >= 0 ? static_cast<int64_t>(gguf_get_arr_n(context, tokens_key)) : 0;
  const int64_t pooling = gguf_integer(context, arch + ".pooling_type", -1);
  info.pooling = pooling < 0 ? "none" : pooling_name(pooling);
  if (pooling == LLAMA_POOLING_TYPE_RANK) {
    info.task = ModelTask::rerank;
  } else if (pooling > 0 && pooling != LLAMA_POOLING_TYPE_UNSPECIFIED) {
    info.task = ModelTask::embedding;
  }
  const int64_t file_type = gguf_integer(context, "general.file_type", -1);
  std::map<std::string, uint64_t> bytes_by_type;
  for (int64_t i = 0; i < gguf_get_n_tensors(context); ++i) {
    const auto type = gguf_get_tensor_type(context, i);
    const auto bytes = gguf_get_tensor_size(context, i);
    info.tensor_bytes += bytes;
    info.parameters += bytes / ggml_type_size(type) * static_cast<uint64_t>(ggml_blck_size(type));
    bytes_by_type[ggml_type_name(type)] += bytes;
  }
  if (file_type >= 0) {
    info.quantisation = llama_ftype_name(static_cast<llama_ftype>(file_type));
  } else if (!bytes_by_type.empty()) {
    // Older files lack general.file_type: name the type that holds most of the weights.
    auto most = std::max_element(bytes_by_type.begin(), bytes_by_type.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    info.quantisation = most->first + " (most weights)";
  } else {
    info.quantisation = "unknown";
  }
  gguf_free(context);
  return info;
}

Expected<std::shared_ptr<Model>, std::string> Model::load(const std::string& path) {
  auto inspected = inspect_gguf(path);
  if (!inspected) {
    return unexpected(inspected.error());
  }
  initialise_backend();
  std::shared_ptr<Model> model(new Model());
  model->info_ = std::move(inspected.value());
  llama_model_params params = llama_model_default_params();
  model->model_.reset(llama_model_load_from_file(path.c_str(), params));
  if (!model->model_) {
    return unexpected(
        "llama.cpp could not load the model in " + path +
        " (unsupported architecture or corrupt file; run with --verbose for details)");
  }
  model->vocab_ = llama_model_get_vocab(model->model_.get());
  char description[256] = {0};
  llama_model_desc(model->model_.get(), description, sizeof(description));
  model->info_.description = description;
  model->info_.parameters = llama_model_n_params(model->model_.get());
  if (model->info_.task == ModelTask::chat) {
    try {
      model->templates_.reset(common_chat_templates_init(model->model_.get(), "").release());
    } catch (const std::exception& error) {
      return unexpected(std::string("the model's chat template cannot be parsed: ") + error.what());
    }
  }
  return model;
}

std::vector<int32_t> Model::tokenize(const std::string& text, bool add_special,
                                     bool parse_special) const {
  return common_tokenize(vocab_, text, add_special, parse_special);
}

std::string Model::token_piece(int32_t token, bool special) const {
  return common_token_to_piece(vocab_, token, special);
}

bool Model::is_end_of_generation(int32_t token) const { return llama_vocab_is_eog(vocab_, token); }

int32_t Model::vocabulary_size() const { return llama_vocab_n_tokens(vocab_); }

}  // namespace hearth::engine
