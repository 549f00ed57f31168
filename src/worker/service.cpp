#include "worker/service.hpp"

#include <fmt/format.h>

#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <ctime>
#include <random>

#include "api/parse.hpp"
#include "api/serialize.hpp"
#include "api/sse.hpp"
#include "engine/generation.hpp"
#include "http/async_channel.hpp"

namespace hearth::worker {

namespace net = boost::asio;
using engine::GenerationEvent;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kEventStream = "text/event-stream";

std::string random_id(std::string_view prefix) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) {
    id += alphabet[generator() % (sizeof(alphabet) - 1)];
  }
  return id;
}

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

// The request's share of the engine's compute time (engine::GenerationEvent::busy_ms), for the
// gateway's cost and energy accounting. The OpenAI shapes stay exact: a response header on whole
// answers, and on streams an SSE comment just before [DONE] (clients ignore comments; the
// gateway's StreamUsageFilter reads and removes it).
constexpr std::string_view kBusyHeader = "x-hearth-busy-ms";

std::string busy_ms_text(double busy_ms) { return fmt::format("{:.3f}", busy_ms); }

http::Headers busy_headers(double busy_ms) {
  http::Headers headers;
  headers.emplace_back(std::string(kBusyHeader), busy_ms_text(busy_ms));
  return headers;
}

std::string busy_comment(double busy_ms) {
  return ": hearth-busy-ms " + busy_ms_text(busy_ms) + "\n\n";
}

// `: hearth-sent-ns T`, T the steady clock (CLOCK_MONOTONIC) in nanoseconds: with
// --stamp-stream-writes before every write of a stream's events, so that a client on this machine
// can time each chunk's delivery from here (bench/loadgen.cpp --chunk-delays-file), through a
// gateway or not. Comments pass through the gateway and clients ignore them.
std::string sent_clock_comment() {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  return ": hearth-sent-ns " +
         std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()) + "\n\n";
}

api::Usage usage_of(const GenerationEvent& event) {
  api::Usage usage;
  usage.prompt_tokens = event.prompt_tokens;
  usage.completion_tokens = event.completion_tokens;
  usage.cached_prompt_tokens = event.cached_prompt_tokens;
  return usage;
}

}  // namespace

WorkerService::WorkerService(std::string model_name, std::vector<std::string> aliases)
    : model_name_(std::move(model_name)), aliases_(std::move(aliases)) {
  metrics_.bind_engine([this]() -> const engine::Engine* {
    std::lock_guard lock(mutex_);
    return engine_.get();
  });
}

http::net::awaitable<bool> WorkerService::write_stream(Writer& writer, std::string payload) {
  if (stamp_stream_writes_) {
    payload.insert(0, sent_clock_comment());
  }
  co_return co_await writer.write_chunk(payload);
}

void WorkerService::set_engine(std::unique_ptr<engine::Engine> engine) {
  std::lock_guard lock(mutex_);
  engine_ = std::move(engine);
  state_ = ModelState::ready;
}

void WorkerService::set_failed(std::string message) {
  std::lock_guard lock(mutex_);
  state_ = ModelState::failed;
  failure_ = std::move(message);
}

void WorkerService::shutdown() {
  std::shared_ptr<engine::Engine> engine;
  {
    std::lock_guard lock(mutex_);
    engine = std::move(engine_);
    if (state_ == ModelState::ready) {
      state_ = ModelState::failed;
      failure_ = "the worker is shutting down";
    }
  }
  if (engine) {
    engine->stop();  // the last holder joins the inference thread
  }
}

Expected<std::shared_ptr<engine::Engine>, api::ApiError> WorkerService::ready_engine() {
  std::lock_guard lock(mutex_);
  if (state_ == ModelState::ready) {
    return engine_;
  }
  api::ApiError error;
  error.type = "server_error";
  if (state_ == ModelState::loading) {
    error.status = 503;
    error.code = "model_loading";
    error.message = "Model '" + model_name_ + "' is still loading";
    error.retry_after_seconds = 1;
  } else {
    error.status = 500;
    error.code = "model_load_failed";
    error.message = "Model '" + model_name_ + "' failed to load: " + failure_;
  }
  return unexpected(std::move(error));
}

api::ApiError WorkerService::model_not_found(const std::string& requested) const {
  api::ApiError error;
  error.status = 404;
  error.message =
      "The model '" + requested + "' does not exist here; this worker serves '" + model_name_ + "'";
  error.param = "model";
  error.code = "model_not_found";
  return error;
}

bool WorkerService::accepts_model_name(const std::string& requested) const {
  if (requested.empty() || requested == model_name_) {
    return true;
  }
  return std::find(aliases_.begin(), aliases_.end(), requested) != aliases_.end();
}

net::awaitable<void> WorkerService::send_error(Writer& writer, const api::ApiError& error) {
  http::Headers headers;
  if (error.retry_after_seconds) {
    headers.emplace_back("Retry-After", std::to_string(*error.retry_after_seconds));
  }
  metrics_.request_errors.add({{"code", error.code.value_or(error.type)}}, 1);
  co_await writer.send(error.status, kJson, api::to_json(error), headers);
}

net::awaitable<void> WorkerService::handle(const http::Request& request, Writer& writer) {
  const std::string route = api::route_of(request.path);
  const bool is_post = request.method == "POST";
  const bool is_get = request.method == "GET";
  if (route == "/chat/completions" && is_post) {
    co_await chat_completions(request, writer);
  } else if (route == "/completions" && is_post) {
    co_await completions(request, writer);
  } else if ((route == "/embeddings" || route == "/embedding") && is_post) {
    co_await embeddings(request, writer);
  } else if ((route == "/rerank" || route == "/reranking") && is_post) {
    co_await rerank(request, writer);
  } else if (route == "/models" && is_get) {
    co_await models(writer);
  } else if (request.path == "/health" && is_get) {
    co_await health(writer);
  } else if (request.path == "/metrics" && is_get) {
    co_await writer.send(200, "text/plain; version=0.0.4", metrics_.registry.render());
  } else if (route == "/chat/completions" || route == "/completions" || route == "/embeddings" ||
             route == "/rerank" || route == "/models" || request.path == "/health" ||
             request.path == "/metrics") {
    co_await send_error(writer, api::method_not_allowed(request.method, request.path));
  } else {
    co_await send_error(writer, api::not_found(request.path));
    // A fixed label: a scanner's random paths must not each become a metric series.
    metrics_.requests.add({{"endpoint", "other"}}, 1);
    co_return;
  }
  metrics_.requests.add({{"endpoint", route}}, 1);
}

namespace {

struct HealthResponse {
  int status;
  std::string body;
  http::Headers headers;
};

// Kept out of the coroutine: GCC 12 miscompiles string literals held across co_await.
HealthResponse health_response(ModelState state, const std::string& failure) {
  switch (state) {
    case ModelState::ready:
      return {200, R"({"status":"ready"})", {}};
    case ModelState::loading:
      return {503, R"({"status":"loading"})", {{"Retry-After", "1"}}};
    case ModelState::failed:
      break;
  }
  api::ApiError error;
  error.status = 500;
  error.type = "server_error";
  error.code = "model_load_failed";
  error.message = failure;
  // Both shapes in one body: a health prober reads "status", an OpenAI client "error".
  std::string body = api::to_json(error);
  body.insert(1, R"("status":"error",)");
  return {500, std::move(body), {}};
}

}  // namespace

net::awaitable<void> WorkerService::health(Writer& writer) {
  ModelState state;
  std::string failure;
  {
    std::lock_guard lock(mutex_);
    state = state_;
    failure = failure_;
  }
  auto response = health_response(state, failure);
  co_await writer.send(response.status, kJson, std::move(response.body), response.headers);
}

net::awaitable<void> WorkerService::models(Writer& writer) {
  api::ModelCard card;
  card.id = model_name_;
  card.created = unix_now();
  std::shared_ptr<engine::Engine> engine;
  {
    std::lock_guard lock(mutex_);
    engine = engine_;
  }
  if (engine) {
    card.task = engine::to_string(engine->model().task());
    card.context_length = engine->slot_context();
  }
  std::vector<api::ModelCard> cards{card};
  co_await writer.send(200, kJson, api::models_to_json(cards));
}

net::awaitable<void> WorkerService::chat_completions(const http::Request& request, Writer& writer) {
  auto parsed = api::parse_chat_completion_request(request.body);
  if (!parsed) {
    co_return co_await send_error(writer, parsed.error());
  }
  auto& chat = parsed.value();
  if (!accepts_model_name(chat.model)) {
    co_return co_await send_error(writer, model_not_found(chat.model));
  }
  auto engine = ready_engine();
  if (!engine) {
    co_return co_await send_error(writer, engine.error());
  }
  auto prepared =
      engine::prepare_chat(engine.value()->model(), chat, engine.value()->slot_context());
  if (!prepared) {
    co_return co_await send_error(writer, prepared.error());
  }
  auto executor = co_await net::this_coro::executor;
  auto channel = std::make_shared<http::AsyncChannel<GenerationEvent>>(executor);
  auto& job = *prepared->job;
  job.stream_tokens = chat.generation.stream;
  job.cancellation = writer.cancellation();
  job.on_event = [channel](GenerationEvent&& event) { channel->push(std::move(event)); };
  auto parser = prepared->parser;
  if (auto submitted = engine.value()->submit(std::move(prepared->job)); !submitted) {
    co_return co_await send_error(writer, submitted.error());
  }

  const std::string id = random_id("chatcmpl-");
  const int64_t created = unix_now();
  const bool want_logprobs = chat.generation.logprobs;
  std::string text;
  std::vector<api::TokenLogprob> logprobs;

  if (!chat.generation.stream) {
    GenerationEvent last;
    bool done = false;
    while (!done) {
      for (auto& event : co_await channel->pop_all()) {
        text += event.text;
        for (auto& logprob : event.logprobs) {
          logprobs.push_back(std::move(logprob));
        }
        if (event.done) {
          last = std::move(event);
          done = true;
        }
      }
    }
    if (last.finish_reason == "cancelled") {
      metrics_.client_disconnects.add({}, 1);
      co_return;
    }
    if (last.error) {
      co_return co_await send_error(writer, *last.error);
    }
    api::ChatCompletion completion;
    completion.id = id;
    completion.created = created;
    completion.model = model_name_;
    completion.system_fingerprint = "hearth";
    auto choice = parser->final_choice(text, last.finish_reason);
    if (want_logprobs) {
      choice.logprobs = std::move(logprobs);
    }
    completion.choices.push_back(std::move(choice));
    completion.usage = usage_of(last);
    metrics_.prompt_tokens.add({}, last.prompt_tokens - last.cached_prompt_tokens);
    metrics_.completion_tokens.add({}, last.completion_tokens);
    co_await writer.send(200, kJson, api::to_json(completion), busy_headers(last.busy_ms));
    co_return;
  }

  auto chunk_template = [&]() {
    api::ChatChunk chunk;
    chunk.id = id;
    chunk.created = created;
    chunk.model = model_name_;
    chunk.system_fingerprint = "hearth";
    return chunk;
  };
  if (!co_await writer.begin_stream(200, kEventStream)) {
    co_return;
  }
  {
    auto first = chunk_template();
    first.delta.role = "assistant";
    first.delta.content = "";
    if (!co_await write_stream(writer, api::sse_data(api::to_json(first)))) {
      co_return;
    }
  }
  bool tool_calls_seen = false;
  while (true) {
    auto events = co_await channel->pop_all();
    std::string payload;
    const GenerationEvent* final_event = nullptr;
    std::vector<api::TokenLogprob> batch_logprobs;
    for (auto& event : events) {
      text += event.text;
      for (auto& logprob : event.logprobs) {
        batch_logprobs.push_back(std::move(logprob));
      }
      if (event.done) {
        final_event = &event;
      }
    }
    if (final_event != nullptr && final_event->finish_reason == "cancelled") {
      metrics_.client_disconnects.add({}, 1);
      co_return;
    }
    if (final_event != nullptr && final_event->error) {
      // Headers are gone already: the error travels as an event, never as a clean end.
      co_await writer.write_chunk(api::sse_data(api::to_json(*final_event->error)));
      co_return;
    }
    auto deltas = parser->update(text, final_event != nullptr);
    for (std::size_t i = 0; i < deltas.size(); ++i) {
      auto chunk = chunk_template();
      tool_calls_seen = tool_calls_seen || !deltas[i].tool_calls.empty();
      chunk.delta = std::move(deltas[i]);
      if (want_logprobs && i == 0 && !batch_logprobs.empty()) {
        chunk.logprobs = std::move(batch_logprobs);
        batch_logprobs.clear();
      }
      payload += api::sse_data(api::to_json(chunk));
    }
    if (want_logprobs && !batch_logprobs.empty()) {
      // Tokens whose text is still held back (a possible stop string) keep their logprobs.
      auto chunk = chunk_template();
      chunk.logprobs = std::move(batch_logprobs);
      payload += api::sse_data(api::to_json(chunk));
    }
    if (final_event != nullptr) {
      auto last = chunk_template();
      last.finish_reason = (tool_calls_seen && final_event->finish_reason == "stop")
                               ? "tool_calls"
                               : final_event->finish_reason;
      payload += api::sse_data(api::to_json(last));
      if (chat.generation.stream_options.include_usage) {
        auto usage_chunk = chunk_template();
        usage_chunk.has_choice = false;
        usage_chunk.usage = usage_of(*final_event);
        payload += api::sse_data(api::to_json(usage_chunk));
      }
      payload += busy_comment(final_event->busy_ms);
      payload += api::sse_done();
      metrics_.prompt_tokens.add({},
                                 final_event->prompt_tokens - final_event->cached_prompt_tokens);
      metrics_.completion_tokens.add({}, final_event->completion_tokens);
      co_await write_stream(writer, std::move(payload));
      co_await writer.end_stream();
      co_return;
    }
    if (!payload.empty() && !co_await write_stream(writer, std::move(payload))) {
      co_return;  // the client left; the connection's cancellation stops the slot
    }
  }
}

net::awaitable<void> WorkerService::completions(const http::Request& request, Writer& writer) {
  auto parsed = api::parse_completion_request(request.body);
  if (!parsed) {
    co_return co_await send_error(writer, parsed.error());
  }
  auto& completion_request = parsed.value();
  if (!accepts_model_name(completion_request.model)) {
    co_return co_await send_error(writer, model_not_found(completion_request.model));
  }
  if (!completion_request.suffix.empty()) {
    co_return co_await send_error(
        writer, api::invalid_request("'suffix' (fill-in-the-middle) is not supported", "suffix",
                                     std::string("unsupported_parameter")));
  }
  auto engine = ready_engine();
  if (!engine) {
    co_return co_await send_error(writer, engine.error());
  }
  // Each prompt is its own job, and they run side by side in separate slots.
  std::vector<std::unique_ptr<engine::GenerationJob>> jobs;
  std::vector<std::string> prompt_texts;
  for (const auto& prompt : completion_request.prompts) {
    auto job = engine::prepare_completion(
        engine.value()->model(), prompt, {}, completion_request.generation,
        completion_request.response_format, engine.value()->slot_context());
    if (!job) {
      co_return co_await send_error(writer, job.error());
    }
    jobs.push_back(std::move(job.value()));
    prompt_texts.push_back(prompt);
  }
  for (const auto& tokens : completion_request.token_prompts) {
    auto job = engine::prepare_completion(
        engine.value()->model(), {}, tokens, completion_request.generation,
        completion_request.response_format, engine.value()->slot_context());
    if (!job) {
      co_return co_await send_error(writer, job.error());
    }
    std::string echo;
    for (const auto token : tokens) {
      echo += engine.value()->model().token_piece(token, true);
    }
    jobs.push_back(std::move(job.value()));
    prompt_texts.push_back(std::move(echo));
  }
  auto executor = co_await net::this_coro::executor;
  using Indexed = std::pair<int, GenerationEvent>;
  auto channel = std::make_shared<http::AsyncChannel<Indexed>>(executor);
  const std::size_t count = jobs.size();
  // One token for all the prompts: if the client leaves, every job stops.
  for (std::size_t i = 0; i < count; ++i) {
    jobs[i]->cancellation = writer.cancellation();
    jobs[i]->stream_tokens = completion_request.generation.stream;
    jobs[i]->on_event = [channel, index = static_cast<int>(i)](GenerationEvent&& event) {
      channel->push({index, std::move(event)});
    };
  }
  std::size_t submitted = 0;
  for (auto& job : jobs) {
    if (auto result = engine.value()->submit(std::move(job)); !result) {
      if (submitted > 0) {
        writer.cancellation().cancel();
      }
      co_return co_await send_error(writer, result.error());
    }
    ++submitted;
  }

  const bool stream = completion_request.generation.stream;
  const bool want_logprobs = completion_request.generation.logprobs;
  api::Completion completion;
  completion.id = random_id("cmpl-");
  completion.created = unix_now();
  completion.model = model_name_;
  completion.system_fingerprint = "hearth";
  completion.choices.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    completion.choices[i].index = static_cast<int>(i);
    if (completion_request.echo) {
      completion.choices[i].text = prompt_texts[i];
    }
    if (want_logprobs) {
      completion.choices[i].logprobs.emplace();
    }
  }
  api::Usage usage;
  double busy_ms = 0.0;  // the prompts' jobs together
  std::size_t finished = 0;
  if (stream && !co_await writer.begin_stream(200, kEventStream)) {
    co_return;
  }
  if (stream && completion_request.echo) {
    std::string payload;
    for (std::size_t i = 0; i < count; ++i) {
      api::Completion chunk = completion;
      chunk.choices = {api::CompletionChoice{static_cast<int>(i), prompt_texts[i], {}, {}}};
      payload += api::sse_data(api::to_json(chunk));
    }
    co_await write_stream(writer, std::move(payload));
  }
  while (finished < count) {
    std::string payload;
    for (auto& [index, event] : co_await channel->pop_all()) {
      if (event.done && event.finish_reason == "cancelled") {
        metrics_.client_disconnects.add({}, 1);
        co_return;
      }
      if (event.error) {
        writer.cancellation().cancel();
        if (stream) {
          co_await writer.write_chunk(api::sse_data(api::to_json(*event.error)));
          co_return;
        }
        co_return co_await send_error(writer, *event.error);
      }
      auto& choice = completion.choices[static_cast<std::size_t>(index)];
      if (stream) {
        api::Completion chunk;
        chunk.id = completion.id;
        chunk.created = completion.created;
        chunk.model = completion.model;
        chunk.system_fingerprint = completion.system_fingerprint;
        api::CompletionChoice delta;
        delta.index = index;
        delta.text = event.text;
        if (want_logprobs && !event.logprobs.empty()) {
          delta.logprobs = event.logprobs;
        }
        if (event.done) {
          delta.finish_reason = event.finish_reason;
        }
        if (!delta.text.empty() || delta.finish_reason || delta.logprobs) {
          chunk.choices.push_back(std::move(delta));
          payload += api::sse_data(api::to_json(chunk));
        }
      } else {
        choice.text += event.text;
        if (want_logprobs) {
          for (auto& logprob : event.logprobs) {
            choice.logprobs->push_back(std::move(logprob));
          }
        }
      }
      if (event.done) {
        choice.finish_reason = event.finish_reason;
        usage.prompt_tokens += event.prompt_tokens;
        usage.completion_tokens += event.completion_tokens;
        usage.cached_prompt_tokens += event.cached_prompt_tokens;
        busy_ms += event.busy_ms;
        metrics_.prompt_tokens.add({}, event.prompt_tokens - event.cached_prompt_tokens);
        metrics_.completion_tokens.add({}, event.completion_tokens);
        ++finished;
      }
    }
    if (stream && !payload.empty() && !co_await write_stream(writer, std::move(payload))) {
      co_return;
    }
  }
  if (stream) {
    std::string payload;
    if (completion_request.generation.stream_options.include_usage) {
      api::Completion usage_chunk;
      usage_chunk.id = completion.id;
      usage_chunk.created = completion.created;
      usage_chunk.model = completion.model;
      usage_chunk.system_fingerprint = completion.system_fingerprint;
      usage_chunk.usage = usage;
      payload += api::sse_data(api::to_json(usage_chunk));
    }
    payload += busy_comment(busy_ms);
    payload += api::sse_done();
    co_await write_stream(writer, std::move(payload));
    co_await writer.end_stream();
    co_return;
  }
  completion.usage = usage;
  co_await writer.send(200, kJson, api::to_json(completion), busy_headers(busy_ms));
}

net::awaitable<std::optional<engine::PoolingResult>> WorkerService::run_pooling(
    Writer& writer, engine::Engine& engine, std::vector<std::vector<int32_t>> inputs,
    bool normalise) {
  auto executor = co_await net::this_coro::executor;
  using Result = Expected<engine::PoolingResult, api::ApiError>;
  auto channel = std::make_shared<http::AsyncChannel<Result>>(executor);
  auto job = std::make_unique<engine::PoolingJob>();
  job->inputs = std::move(inputs);
  job->normalise = normalise;
  job->cancellation = writer.cancellation();
  job->on_done = [channel](Result&& result) { channel->push(std::move(result)); };
  if (auto submitted = engine.submit(std::move(job)); !submitted) {
    co_await send_error(writer, submitted.error());
    co_return std::nullopt;
  }
  auto results = co_await channel->pop_all();
  auto& result = results.front();
  if (writer.cancellation().cancelled()) {
    metrics_.client_disconnects.add({}, 1);
    co_return std::nullopt;
  }
  if (!result) {
    co_await send_error(writer, result.error());
    co_return std::nullopt;
  }
  co_return std::move(result.value());
}

net::awaitable<void> WorkerService::embeddings(const http::Request& request, Writer& writer) {
  auto parsed = api::parse_embedding_request(request.body);
  if (!parsed) {
    co_return co_await send_error(writer, parsed.error());
  }
  if (!accepts_model_name(parsed->model)) {
    co_return co_await send_error(writer, model_not_found(parsed->model));
  }
  auto engine = ready_engine();
  if (!engine) {
    co_return co_await send_error(writer, engine.error());
  }
  auto inputs = engine::prepare_embedding_inputs(engine.value()->model(), parsed.value(),
                                                 engine.value()->max_pooling_input());
  if (!inputs) {
    co_return co_await send_error(writer, inputs.error());
  }
  auto result = co_await run_pooling(writer, *engine.value(), std::move(inputs.value()), true);
  if (!result) {
    co_return;
  }
  api::EmbeddingList list;
  list.model = model_name_;
  list.encoding_format = parsed->encoding_format;
  list.embeddings = std::move(result->vectors);
  list.usage.prompt_tokens = result->prompt_tokens;
  metrics_.prompt_tokens.add({}, result->prompt_tokens);
  co_await writer.send(200, kJson, api::to_json(list), busy_headers(result->busy_ms));
}

net::awaitable<void> WorkerService::rerank(const http::Request& request, Writer& writer) {
  auto parsed = api::parse_rerank_request(request.body);
  if (!parsed) {
    co_return co_await send_error(writer, parsed.error());
  }
  if (!accepts_model_name(parsed->model)) {
    co_return co_await send_error(writer, model_not_found(parsed->model));
  }
  auto engine = ready_engine();
  if (!engine) {
    co_return co_await send_error(writer, engine.error());
  }
  auto inputs = engine::prepare_rerank_inputs(engine.value()->model(), parsed.value(),
                                              engine.value()->max_pooling_input());
  if (!inputs) {
    co_return co_await send_error(writer, inputs.error());
  }
  auto result = co_await run_pooling(writer, *engine.value(), std::move(inputs.value()), false);
  if (!result) {
    co_return;
  }
  api::RerankResponse response;
  response.id = random_id("rerank-");
  response.model = model_name_;
  for (std::size_t i = 0; i < result->vectors.size(); ++i) {
    api::RerankResult item;
    item.index = static_cast<int>(i);
    item.relevance_score = result->vectors[i].empty() ? 0.0 : result->vectors[i][0];
    if (parsed->return_documents) {
      item.document = parsed->documents[i];
    }
    response.results.push_back(std::move(item));
  }
  std::stable_sort(
      response.results.begin(), response.results.end(),
      [](const auto& a, const auto& b) { return a.relevance_score > b.relevance_score; });
  if (parsed->top_n && static_cast<std::size_t>(*parsed->top_n) < response.results.size()) {
    response.results.resize(static_cast<std::size_t>(*parsed->top_n));
  }
  response.usage.prompt_tokens = result->prompt_tokens;
  metrics_.prompt_tokens.add({}, result->prompt_tokens);
  co_await writer.send(200, kJson, api::to_json(response), busy_headers(result->busy_ms));
}

}  // namespace hearth::worker
