#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>

#include "cli/commands.hpp"
#include "engine/generation.hpp"

namespace hearth::cli {

namespace {

// The reply in progress, for Ctrl-C; a second Ctrl-C with nothing running quits.
std::atomic<bool> g_interrupted{false};

void on_interrupt(int) { g_interrupted.store(true); }

struct ReplyResult {
  std::string text;
  std::string finish_reason;
  std::optional<api::ApiError> error;
};

// Runs one job, printing text as it comes, and waits for its end. Ctrl-C cancels it.
ReplyResult run_job(engine::Engine& engine, std::unique_ptr<engine::GenerationJob> job) {
  std::mutex mutex;
  std::condition_variable finished;
  ReplyResult result;
  bool done = false;
  CancellationToken cancellation;
  job->cancellation = cancellation;
  job->on_event = [&](engine::GenerationEvent&& event) {
    if (!event.text.empty()) {
      std::fwrite(event.text.data(), 1, event.text.size(), stdout);
      std::fflush(stdout);
    }
    std::lock_guard lock(mutex);
    result.text += event.text;
    if (event.done) {
      result.finish_reason = event.finish_reason;
      result.error = event.error;
      done = true;
      finished.notify_all();
    }
  };
  g_interrupted.store(false);
  if (auto submitted = engine.submit(std::move(job)); !submitted) {
    result.error = submitted.error();
    return result;
  }
  std::unique_lock lock(mutex);
  while (!done) {
    finished.wait_for(lock, std::chrono::milliseconds(50));
    if (g_interrupted.exchange(false)) {
      cancellation.cancel();
    }
  }
  return result;
}

api::GenerationOptions generation_options(const RunOptions& options) {
  api::GenerationOptions generation;
  if (options.max_tokens > 0) {
    generation.max_tokens = options.max_tokens;
  }
  generation.sampling.temperature = options.temperature;
  if (options.seed >= 0) {
    generation.sampling.seed = static_cast<uint32_t>(options.seed);
  }
  return generation;
}

}  // namespace

int run_command(const RunOptions& options) {
  engine::configure_llama_logging(options.verbose);
  auto model = engine::Model::load(options.model_path);
  if (!model) {
    std::fprintf(stderr, "hearth: %s\n", model.error().c_str());
    return 1;
  }
  auto engine_options = options.engine;
  engine_options.parallel = 1;
  auto engine = engine::Engine::create(model.value(), engine_options);
  if (!engine) {
    std::fprintf(stderr, "hearth: %s\n", engine.error().c_str());
    return 1;
  }
  if (model.value()->task() != engine::ModelTask::chat) {
    std::fprintf(stderr, "hearth: %s is a %s model; `run` needs a text generation model\n",
                 options.model_path.c_str(), engine::to_string(model.value()->task()));
    return 1;
  }
  std::signal(SIGINT, on_interrupt);
  const bool has_template = model.value()->info().has_chat_template;
  const auto generation = generation_options(options);

  auto answer = [&](const std::vector<api::ChatMessage>& history,
                    const std::string& raw_prompt) -> ReplyResult {
    if (!has_template) {
      // A base model (no chat template) continues the text as it is.
      auto job = engine::prepare_completion(*model.value(), raw_prompt, {}, generation, {},
                                            engine.value()->slot_context());
      if (!job) {
        return {{}, {}, job.error()};
      }
      if (options.max_tokens <= 0) {
        job.value()->max_tokens = -1;
      }
      return run_job(*engine.value(), std::move(job.value()));
    }
    api::ChatCompletionRequest request;
    request.messages = history;
    request.generation = generation;
    auto prepared = engine::prepare_chat(*model.value(), request, engine.value()->slot_context());
    if (!prepared) {
      return {{}, {}, prepared.error()};
    }
    return run_job(*engine.value(), std::move(prepared->job));
  };

  if (!options.prompt.empty()) {
    if (!has_template) {
      std::fwrite(options.prompt.data(), 1, options.prompt.size(), stdout);
    }
    auto result =
        answer({api::ChatMessage{"user", options.prompt, {}, false, {}, {}, {}}}, options.prompt);
    std::printf("\n");
    if (result.error) {
      std::fprintf(stderr, "hearth: %s\n", result.error->message.c_str());
      return 1;
    }
    return 0;
  }

  const bool terminal = isatty(STDIN_FILENO) != 0;
  if (terminal) {
    std::printf("Chatting with %s. Ctrl-C stops a reply; Ctrl-D or /bye quits.\n",
                model.value()->info().name.c_str());
  }
  std::vector<api::ChatMessage> history;
  std::string transcript;
  while (true) {
    if (terminal) {
      std::printf(">>> ");
      std::fflush(stdout);
    }
    std::string line;
    g_interrupted.store(false);
    if (!std::getline(std::cin, line) || line == "/bye") {
      break;
    }
    if (line.empty()) {
      continue;
    }
    history.push_back(api::ChatMessage{"user", line, {}, false, {}, {}, {}});
    transcript += line;
    auto result = answer(history, transcript);
    std::printf("\n");
    if (result.error) {
      std::fprintf(stderr, "hearth: %s\n", result.error->message.c_str());
      history.pop_back();
      continue;
    }
    history.push_back(api::ChatMessage{"assistant", result.text, {}, false, {}, {}, {}});
    transcript += result.text;
  }
  return 0;
}

}  // namespace hearth::cli
