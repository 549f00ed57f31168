#include "engine/generation.hpp"

#include <chat.h>
#include <common.h>
#include <json-schema-to-grammar.h>
#include <json.h>
#include <llama.h>
#include <sampling.h>

#include <random>

namespace hearth::engine {

api::ApiError context_length_exceeded(int prompt_tokens, int limit) {
  api::ApiError error;
  error.status = 400;
  error.code = "context_length_exceeded";
  error.message = "This model's context holds " + std::to_string(limit) +
                  " tokens per request, but the input has " + std::to_string(prompt_tokens) +
                  " tokens. Shorten the input or start the model with a larger --context.";
  error.param = "messages";
  return error;
}

namespace {

std::string random_tool_call_id() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) {
    id += alphabet[generator() % (sizeof(alphabet) - 1)];
  }
  return id;
}

std::uint32_t random_sampler_seed() {
  static thread_local std::mt19937 generator{std::random_device{}()};
  std::uint32_t seed = LLAMA_DEFAULT_SEED;
  while (seed == LLAMA_DEFAULT_SEED) {  // that value would ask llama.cpp to pick again
    seed = static_cast<std::uint32_t>(generator());
  }
  return seed;
}

std::string schema_grammar(const std::string& schema, std::string& error) {
  try {
    return json_schema_to_grammar(common_json::parse(schema));
  } catch (const std::exception& exception) {
    error = exception.what();
    return {};
  }
}

// The sampling chain and its grammar. OpenAI leaves unset knobs to the server: llama.cpp's
// defaults apply (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05).
Expected<SamplerPtr, api::ApiError> make_sampler(const Model& model,
                                                 const api::GenerationOptions& options,
                                                 common_params_sampling& params) {
  const auto& sampling = options.sampling;
  if (sampling.temperature) {
    params.temp = *sampling.temperature;
    if (params.temp <= 0.0F) {
      // Greedy: the chain's filters cannot change the argmax, so skip their sorting.
      params.top_k = 1;
    }
  }
  if (sampling.top_p) {
    params.top_p = *sampling.top_p;
  }
  if (sampling.top_k) {
    params.top_k = *sampling.top_k;
  }
  if (sampling.min_p) {
    params.min_p = *sampling.min_p;
  }
  params.seed = sampling.seed.value_or(LLAMA_DEFAULT_SEED);
  if (params.seed == LLAMA_DEFAULT_SEED) {
    // "Any seed": llama.cpp would construct a std::random_device for each sampler, which
    // profiled at 9% of a worker's CPU on short requests; one per thread seeds the rest.
    params.seed = random_sampler_seed();
  }
  params.penalty_present = sampling.presence_penalty;
  params.penalty_freq = sampling.frequency_penalty;
  params.penalty_repeat = sampling.repeat_penalty;
  params.ignore_eos = options.ignore_eos;
  if (options.logprobs) {
    params.n_probs = options.top_logprobs;
  }
  const int vocabulary = model.vocabulary_size();
  for (const auto& [token, bias] : sampling.logit_bias) {
    if (token < 0 || token >= vocabulary) {
      return unexpected(api::invalid_request("logit_bias names token " + std::to_string(token) +
                                                 ", outside this model's vocabulary of " +
                                                 std::to_string(vocabulary),
                                             "logit_bias"));
    }
    params.logit_bias.push_back({token, bias});
  }
  common_sampler* sampler = nullptr;
  try {
    sampler = common_sampler_init(model.llama(), params);
  } catch (const std::exception& exception) {
    return unexpected(api::invalid_request(
        std::string("The output constraint could not be compiled: ") + exception.what(),
        "response_format"));
  }
  if (sampler == nullptr) {
    return unexpected(api::invalid_request("The output constraint (grammar) could not be compiled",
                                           "response_format"));
  }
  return SamplerPtr(sampler);
}

Expected<std::monostate, api::ApiError> set_output_format_grammar(const api::ResponseFormat& format,
                                                                  common_params_sampling& params) {
  if (format.kind == api::ResponseFormatKind::text) {
    return std::monostate{};
  }
  std::string error;
  std::string grammar = schema_grammar(format.json_schema, error);
  if (grammar.empty()) {
    return unexpected(
        api::invalid_request("response_format.json_schema.schema is not a usable "
                             "JSON schema: " +
                                 error,
                             "response_format"));
  }
  params.grammar = {COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT, std::move(grammar)};
  return std::monostate{};
}

common_chat_msg to_common_message(const api::ChatMessage& message) {
  common_chat_msg converted;
  // "developer" is OpenAI's newer name for the system role; templates know only "system".
  converted.role = message.role == "developer" ? "system" : message.role;
  if (message.content_was_parts) {
    for (const auto& part : message.content_parts) {
      converted.content_parts.push_back({"text", part});
    }
  } else {
    converted.content = message.content;
  }
  for (const auto& call : message.tool_calls) {
    converted.tool_calls.push_back({call.name, call.arguments, call.id});
  }
  converted.tool_call_id = message.tool_call_id;
  if (message.role == "tool") {
    converted.tool_name = message.name;
  }
  return converted;
}

class CommonChatOutputParser final : public ChatOutputParser {
 public:
  explicit CommonChatOutputParser(common_chat_parser_params params) : params_(std::move(params)) {}

  std::vector<api::ChatDelta> update(const std::string& generated_text, bool is_final) override {
    common_chat_msg parsed;
    try {
      parsed = common_chat_parse(generated_text, !is_final, params_);
    } catch (const std::exception&) {
      return {};  // a partial output the parser cannot read yet: wait for more text
    }
    if (parsed.empty()) {
      return {};
    }
    parsed.set_tool_call_ids(tool_call_ids_, random_tool_call_id);
    std::vector<api::ChatDelta> deltas;
    for (const auto& diff : common_chat_msg_diff::compute_diffs(previous_, parsed)) {
      api::ChatDelta delta;
      if (!diff.content_delta.empty()) {
        delta.content = diff.content_delta;
      }
      if (!diff.reasoning_content_delta.empty()) {
        delta.reasoning_content = diff.reasoning_content_delta;
      }
      if (diff.tool_call_index != std::string::npos) {
        api::ToolCallDelta call;
        call.index = static_cast<int>(diff.tool_call_index);
        if (!diff.tool_call_delta.name.empty()) {
          call.name = diff.tool_call_delta.name;
        }
        if (!diff.tool_call_delta.id.empty()) {
          call.id = diff.tool_call_delta.id;
        }
        call.arguments = diff.tool_call_delta.arguments;
        delta.tool_calls.push_back(std::move(call));
      }
      deltas.push_back(std::move(delta));
    }
    previous_ = std::move(parsed);
    return deltas;
  }

  api::ChatChoice final_choice(const std::string& generated_text,
                               const std::string& finish_reason) override {
    api::ChatChoice choice;
    choice.finish_reason = finish_reason;
    common_chat_msg parsed;
    try {
      parsed = common_chat_parse(generated_text, false, params_);
      parsed.set_tool_call_ids(tool_call_ids_, random_tool_call_id);
    } catch (const std::exception&) {
      // Output that does not follow the template's tool-call syntax is plain content.
      parsed = common_chat_msg();
      parsed.content = generated_text;
    }
    if (parsed.empty()) {
      parsed.content = generated_text;  // as llama-server: nothing parsed means plain text
    }
    choice.content = parsed.content;
    choice.reasoning_content = parsed.reasoning_content;
    for (const auto& call : parsed.tool_calls) {
      choice.tool_calls.push_back({call.id, call.name, call.arguments});
    }
    if (!choice.tool_calls.empty()) {
      if (parsed.content.empty()) {
        choice.content.reset();
      }
      if (finish_reason == "stop") {
        choice.finish_reason = "tool_calls";
      }
    }
    return choice;
  }

 private:
  common_chat_parser_params params_;
  common_chat_msg previous_;
  std::vector<std::string> tool_call_ids_;
};

Expected<std::vector<int32_t>, api::ApiError> check_fits(std::vector<int32_t> tokens,
                                                         int slot_context,
                                                         const std::string& param) {
  if (tokens.empty()) {
    return unexpected(api::invalid_request("The prompt is empty after tokenisation", param));
  }
  if (static_cast<int>(tokens.size()) >= slot_context) {
    auto error = context_length_exceeded(static_cast<int>(tokens.size()), slot_context);
    error.param = param;
    return unexpected(std::move(error));
  }
  return tokens;
}

std::vector<int32_t> single_tokens(const Model& model, const std::vector<std::string>& texts) {
  std::vector<int32_t> tokens;
  for (const auto& text : texts) {
    auto ids = model.tokenize(text, false, true);
    if (ids.size() == 1) {
      tokens.push_back(ids[0]);
    }
  }
  return tokens;
}

}  // namespace

Expected<PreparedChat, api::ApiError> prepare_chat(const Model& model,
                                                   const api::ChatCompletionRequest& request,
                                                   int slot_context) {
  if (model.chat_templates() == nullptr) {
    return unexpected(
        api::invalid_request("Model '" + model.info().name + "' is a " + to_string(model.task()) +
                                 " model and cannot chat; use /v1/embeddings or /v1/rerank",
                             "model", std::string("model_not_supported")));
  }
  common_chat_templates_inputs inputs;
  for (const auto& message : request.messages) {
    inputs.messages.push_back(to_common_message(message));
  }
  for (const auto& tool : request.tools) {
    if (request.tool_choice.kind == api::ToolChoiceKind::named &&
        tool.name != request.tool_choice.function_name) {
      continue;  // a named choice narrows the offer to that one tool
    }
    inputs.tools.push_back({tool.name, tool.description, tool.parameters_json});
  }
  switch (request.tool_choice.kind) {
    case api::ToolChoiceKind::auto_choice:
      inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_AUTO;
      break;
    case api::ToolChoiceKind::none:
      inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_NONE;
      break;
    case api::ToolChoiceKind::required:
    case api::ToolChoiceKind::named:
      inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_REQUIRED;
      break;
  }
  inputs.parallel_tool_calls = request.parallel_tool_calls;
  if (request.response_format.kind != api::ResponseFormatKind::text) {
    inputs.json_schema = request.response_format.json_schema;
  }
  inputs.use_jinja = true;
  inputs.add_generation_prompt = true;
  if (!inputs.messages.empty() && inputs.messages.back().role == "assistant" &&
      inputs.messages.back().tool_calls.empty()) {
    // A trailing assistant message is a prefill to continue, as llama-server treats it.
    inputs.continue_final_message = COMMON_CHAT_CONTINUATION_AUTO;
    inputs.add_generation_prompt = false;
  }
  common_chat_params chat;
  try {
    chat = common_chat_templates_apply(model.chat_templates(), inputs);
  } catch (const std::exception& exception) {
    return unexpected(api::invalid_request(
        std::string("The chat template could not render these messages: ") + exception.what(),
        "messages", std::string("chat_template_error")));
  }

  common_params_sampling params;
  params.generation_prompt = chat.generation_prompt;
  if (!chat.grammar.empty()) {
    params.grammar = {COMMON_GRAMMAR_TYPE_TOOL_CALLS, chat.grammar};
    params.grammar_lazy = chat.grammar_lazy;
  } else if (auto formatted = set_output_format_grammar(request.response_format, params);
             !formatted) {
    return unexpected(formatted.error());
  }
  for (const auto token : single_tokens(model, chat.preserved_tokens)) {
    params.preserved_tokens.insert(token);
  }
  for (const auto& trigger : chat.grammar_triggers) {
    if (trigger.type == COMMON_GRAMMAR_TRIGGER_TYPE_WORD) {
      auto ids = model.tokenize(trigger.value, false, true);
      if (ids.size() == 1 && params.preserved_tokens.count(ids[0]) > 0) {
        common_grammar_trigger token_trigger;
        token_trigger.type = COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN;
        token_trigger.value = trigger.value;
        token_trigger.token = ids[0];
        params.grammar_triggers.push_back(std::move(token_trigger));
        continue;
      }
    }
    params.grammar_triggers.push_back(trigger);
  }
  auto sampler = make_sampler(model, request.generation, params);
  if (!sampler) {
    return unexpected(sampler.error());
  }
  auto tokens = check_fits(model.tokenize(chat.prompt, true, true), slot_context, "messages");
  if (!tokens) {
    return unexpected(tokens.error());
  }

  PreparedChat prepared;
  prepared.job = std::make_unique<GenerationJob>();
  auto& job = *prepared.job;
  job.prompt = std::move(tokens.value());
  job.sampler = std::move(sampler.value());
  job.max_tokens = request.generation.max_tokens.value_or(-1);
  job.stop = request.generation.stop;
  for (const auto& stop : chat.additional_stops) {
    job.stop.push_back(stop);
  }
  job.top_logprobs = request.generation.logprobs ? request.generation.top_logprobs : -1;
  job.ignore_eos = request.generation.ignore_eos;
  job.special_tokens_to_render.assign(params.preserved_tokens.begin(),
                                      params.preserved_tokens.end());

  common_chat_parser_params parser_params(chat);
  parser_params.parse_tool_calls =
      !inputs.tools.empty() && inputs.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE;
  parser_params.is_continuation = inputs.continue_final_message != COMMON_CHAT_CONTINUATION_NONE;
  if (!chat.parser.empty()) {
    try {
      parser_params.parser.load(chat.parser);
    } catch (const std::exception& exception) {
      api::ApiError error;
      error.status = 500;
      error.type = "server_error";
      error.message = std::string("The chat output parser could not be built: ") + exception.what();
      return unexpected(std::move(error));
    }
  }
  prepared.parser = std::make_shared<CommonChatOutputParser>(std::move(parser_params));
  return prepared;
}

Expected<std::unique_ptr<GenerationJob>, api::ApiError> prepare_completion(
    const Model& model, const std::string& prompt, const std::vector<int32_t>& prompt_tokens,
    const api::GenerationOptions& options, const api::ResponseFormat& response_format,
    int slot_context) {
  if (model.task() != ModelTask::chat) {
    return unexpected(api::invalid_request(
        "Model '" + model.info().name + "' is a " + to_string(model.task()) +
            " model and cannot generate text; use /v1/embeddings or /v1/rerank",
        "model", std::string("model_not_supported")));
  }
  common_params_sampling params;
  if (auto formatted = set_output_format_grammar(response_format, params); !formatted) {
    return unexpected(formatted.error());
  }
  auto sampler = make_sampler(model, options, params);
  if (!sampler) {
    return unexpected(sampler.error());
  }
  std::vector<int32_t> tokens = prompt_tokens;
  if (tokens.empty()) {
    tokens = model.tokenize(prompt, true, true);
  } else {
    const int vocabulary = model.vocabulary_size();
    for (const auto token : tokens) {
      if (token < 0 || token >= vocabulary) {
        return unexpected(api::invalid_request(
            "Prompt token " + std::to_string(token) + " is outside the vocabulary", "prompt"));
      }
    }
  }
  auto fitted = check_fits(std::move(tokens), slot_context, "prompt");
  if (!fitted) {
    return unexpected(fitted.error());
  }
  auto job = std::make_unique<GenerationJob>();
  job->prompt = std::move(fitted.value());
  job->sampler = std::move(sampler.value());
  job->max_tokens = options.max_tokens.value_or(16);  // OpenAI's default for completions
  job->stop = options.stop;
  job->top_logprobs = options.logprobs ? options.top_logprobs : -1;
  job->ignore_eos = options.ignore_eos;
  return job;
}

Expected<std::vector<std::vector<int32_t>>, api::ApiError> prepare_embedding_inputs(
    const Model& model, const api::EmbeddingRequest& request, int max_tokens) {
  if (model.task() != ModelTask::embedding) {
    return unexpected(
        api::invalid_request("Model '" + model.info().name + "' has no pooling layer (it is a " +
                                 to_string(model.task()) + " model) and cannot produce embeddings",
                             "model", std::string("model_not_supported")));
  }
  const int dimensions = llama_model_n_embd_out(model.llama());
  if (request.dimensions && *request.dimensions != dimensions) {
    return unexpected(api::invalid_request(
        "This model produces " + std::to_string(dimensions) +
            "-dimensional embeddings and cannot shorten them; omit 'dimensions' or pass " +
            std::to_string(dimensions),
        "dimensions", std::string("unsupported_parameter")));
  }
  std::vector<std::vector<int32_t>> inputs;
  for (const auto& text : request.inputs) {
    inputs.push_back(model.tokenize(text, true, true));
  }
  for (const auto& tokens : request.token_inputs) {
    inputs.push_back(tokens);
  }
  const int vocabulary = model.vocabulary_size();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) {
      return unexpected(api::invalid_request("Input " + std::to_string(i) + " is empty", "input"));
    }
    if (static_cast<int>(inputs[i].size()) > max_tokens) {
      auto error = context_length_exceeded(static_cast<int>(inputs[i].size()), max_tokens);
      error.param = "input";
      return unexpected(std::move(error));
    }
    for (const auto token : inputs[i]) {
      if (token < 0 || token >= vocabulary) {
        return unexpected(api::invalid_request(
            "Input token " + std::to_string(token) + " is outside the vocabulary", "input"));
      }
    }
  }
  return inputs;
}

Expected<std::vector<std::vector<int32_t>>, api::ApiError> prepare_rerank_inputs(
    const Model& model, const api::RerankRequest& request, int max_tokens) {
  if (model.task() != ModelTask::rerank) {
    return unexpected(api::invalid_request("Model '" + model.info().name +
                                               "' is not a reranker (its pooling is '" +
                                               model.info().pooling + "', rerank needs 'rank')",
                                           "model", std::string("model_not_supported")));
  }
  const llama_vocab* vocab = model.vocab();
  std::vector<std::vector<int32_t>> inputs;
  const char* rerank_template = llama_model_chat_template(model.llama(), "rerank");
  for (const auto& document : request.documents) {
    std::vector<int32_t> tokens;
    if (rerank_template != nullptr) {
      std::string prompt = rerank_template;
      string_replace_all(prompt, "{query}", request.query);
      string_replace_all(prompt, "{document}", document);
      tokens = model.tokenize(prompt, false, true);
    } else {
      // The layout llama-server uses: [BOS] query [EOS] [SEP] document [EOS].
      llama_token end = llama_vocab_eos(vocab);
      if (end == LLAMA_TOKEN_NULL) {
        end = llama_vocab_sep(vocab);
      }
      if (llama_vocab_get_add_bos(vocab)) {
        tokens.push_back(llama_vocab_bos(vocab));
      }
      auto query = model.tokenize(request.query, false, false);
      tokens.insert(tokens.end(), query.begin(), query.end());
      if (llama_vocab_get_add_eos(vocab)) {
        tokens.push_back(end);
      }
      if (llama_vocab_get_add_sep(vocab)) {
        tokens.push_back(llama_vocab_sep(vocab));
      }
      auto text = model.tokenize(document, false, false);
      tokens.insert(tokens.end(), text.begin(), text.end());
      if (llama_vocab_get_add_eos(vocab)) {
        tokens.push_back(end);
      }
    }
    if (static_cast<int>(tokens.size()) > max_tokens) {
      auto error = context_length_exceeded(static_cast<int>(tokens.size()), max_tokens);
      error.param = "documents";
      return unexpected(std::move(error));
    }
    inputs.push_back(std::move(tokens));
  }
  return inputs;
}

}  // namespace hearth::engine
