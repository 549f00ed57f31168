#include "engine/engine.hpp"

#include <common.h>
#include <llama.h>
#include <sampling.h>
#include <sched.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>

#include "engine/text_stream.hpp"

namespace hearth::engine {

using Clock = std::chrono::steady_clock;

void SamplerDeleter::operator()(common_sampler* sampler) const { common_sampler_free(sampler); }

namespace {

double milliseconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

api::ApiError service_unavailable(std::string message, int retry_after_seconds) {
  api::ApiError error;
  error.status = 503;
  error.type = "server_error";
  error.code = "service_unavailable";
  error.message = std::move(message);
  error.retry_after_seconds = retry_after_seconds;
  return error;
}

api::ApiError internal_error(std::string message) {
  api::ApiError error;
  error.status = 500;
  error.type = "server_error";
  error.code = "internal_error";
  error.message = std::move(message);
  return error;
}

// The KV cache types llama.cpp's server accepts (-ctk/-ctv).
Expected<ggml_type, std::string> parse_cache_type(const std::string& name) {
  static constexpr ggml_type kAllowed[] = {GGML_TYPE_F32,    GGML_TYPE_F16,  GGML_TYPE_BF16,
                                           GGML_TYPE_Q8_0,   GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
                                           GGML_TYPE_IQ4_NL, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1};
  std::string known;
  for (ggml_type type : kAllowed) {
    if (name == ggml_type_name(type)) {
      return type;
    }
    known += known.empty() ? "" : ", ";
    known += ggml_type_name(type);
  }
  return unexpected("unknown KV cache type '" + name + "' (one of: " + known + ")");
}

// The size of one attention head's K (or V) vector: the GGUF's key_length/value_length, else
// the embedding split evenly between the heads, as llama.cpp defaults it.
int head_size(const llama_model* model, const char* which) {
  char architecture[64] = {};
  char value[32] = {};
  if (llama_model_meta_val_str(model, "general.architecture", architecture, sizeof architecture) >
      0) {
    const std::string key = std::string(architecture) + ".attention." + which;
    if (llama_model_meta_val_str(model, key.c_str(), value, sizeof value) > 0) {
      return std::atoi(value);
    }
  }
  const int heads = llama_model_n_head(model);
  return heads > 0 ? llama_model_n_embd(model) / heads : 0;
}

// A quantised cache stores each head's vector in whole blocks; llama.cpp refuses the context
// otherwise, with only a log line, so say why here.
std::optional<std::string> cache_type_misfit(const llama_model* model, ggml_type type,
                                             const char* which, const char* option) {
  const int size = head_size(model, which);
  const auto block = static_cast<int>(ggml_blck_size(type));
  if (size > 0 && size % block != 0) {
    return std::string(option) + " " + ggml_type_name(type) + " stores blocks of " +
           std::to_string(block) +
           " values, which do not divide this model's attention head size (" +
           std::to_string(size) + "); use f16";
  }
  return std::nullopt;
}

std::vector<uint8_t> bytes_of(const std::string& text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

}  // namespace

struct Engine::PoolingWork {
  std::unique_ptr<PoolingJob> job;
  std::vector<std::vector<float>> vectors;
  std::size_t next_input = 0;  // the next input to hand to a slot
  std::size_t remaining = 0;   // inputs not finished yet
  int prompt_tokens = 0;
  double busy_ms = 0.0;
  bool delivered = false;

  void deliver(Expected<PoolingResult, api::ApiError>&& result) {
    if (!delivered) {
      delivered = true;
      job->on_done(std::move(result));
    }
  }
};

struct Engine::Slot {
  int id = 0;
  std::vector<int32_t> cached;  // tokens whose keys and values sit in sequence `id`
  uint64_t last_used = 0;
  int batch_index = -1;  // where this slot's logits (or output) are in the current batch
  int step_tokens = 0;   // tokens this slot put in the current batch

  // A generation in progress.
  std::unique_ptr<GenerationJob> job;
  std::size_t prompt_done = 0;
  bool generating = false;
  int32_t last_token = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;
  std::optional<TextStream> text;
  GenerationEvent held;  // text and logprobs not yet sent (jobs that do not stream tokens)
  Clock::time_point started;
  Clock::time_point first_token_at;
  double busy_ms = 0.0;  // the job's share of the steps so far

  // One input of a pooling job.
  std::shared_ptr<PoolingWork> pooling;
  std::size_t pooling_input = 0;

  bool busy() const { return job != nullptr || pooling != nullptr; }
};

Engine::Engine(std::shared_ptr<Model> model, EngineOptions options)
    : model_(std::move(model)), options_(options) {}

Expected<std::unique_ptr<Engine>, std::string> Engine::create(std::shared_ptr<Model> model,
                                                              EngineOptions options) {
  if (options.parallel < 1 || options.parallel > 256) {
    return unexpected(std::string("--parallel must be between 1 and 256"));
  }
  if (options.context < 16) {
    return unexpected(std::string("--context must be at least 16 tokens"));
  }
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  }
  auto cache_type_k = parse_cache_type(options.cache_type_k);
  auto cache_type_v = parse_cache_type(options.cache_type_v);
  if (!cache_type_k || !cache_type_v) {
    return unexpected(!cache_type_k ? cache_type_k.error() : cache_type_v.error());
  }
  if (auto misfit =
          cache_type_misfit(model->llama(), cache_type_k.value(), "key_length", "--cache-type-k")) {
    return unexpected(std::move(*misfit));
  }
  if (auto misfit = cache_type_misfit(model->llama(), cache_type_v.value(), "value_length",
                                      "--cache-type-v")) {
    return unexpected(std::move(*misfit));
  }
  const bool pooling = model->task() != ModelTask::chat;
  std::unique_ptr<Engine> engine(new Engine(std::move(model), options));
  llama_context_params params = llama_context_default_params();
  params.n_ctx = static_cast<uint32_t>(options.context);
  params.n_batch = static_cast<uint32_t>(options.batch);
  params.n_ubatch = static_cast<uint32_t>(std::min(options.micro_batch, options.batch));
  params.n_seq_max = static_cast<uint32_t>(options.parallel);
  params.n_threads = options.threads;
  params.n_threads_batch = options.threads;
  params.type_k = cache_type_k.value();
  params.type_v = cache_type_v.value();
  params.kv_unified = false;  // each slot owns context/parallel tokens, as llama-server does
  params.no_perf = true;
  if (pooling) {
    // A non-causal encoder needs a whole input in one micro-batch.
    params.embeddings = true;
    params.n_ubatch = params.n_batch;
  }
  engine->context_ = llama_init_from_model(engine->model_->llama(), params);
  if (engine->context_ == nullptr) {
    return unexpected(std::string("llama.cpp could not create a context (") +
                      std::to_string(options.context) + " tokens, " +
                      std::to_string(options.parallel) + " slots): not enough memory?");
  }
  engine->options_.micro_batch = static_cast<int>(llama_n_ubatch(engine->context_));
  engine->options_.batch = static_cast<int>(llama_n_batch(engine->context_));
  engine->slot_context_ = static_cast<int>(llama_n_ctx_seq(engine->context_));
  engine->batch_ = llama_batch_init(engine->options_.batch, 0, 1);
  engine->batch_allocated_ = true;
  engine->causal_ = !(llama_model_has_encoder(engine->model_->llama()) &&
                      !llama_model_has_decoder(engine->model_->llama()));
  for (int i = 0; i < options.parallel; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->id = i;
    engine->slots_.push_back(std::move(slot));
  }
  if (options.warm_up) {
    // One throw-away decode so the first request does not pay for lazy allocations.
    llama_token token = llama_vocab_bos(engine->model_->vocab());
    if (token == LLAMA_TOKEN_NULL) {
      token = 0;
    }
    llama_batch batch = llama_batch_get_one(&token, 1);
    if (engine->causal_) {
      llama_decode(engine->context_, batch);
    } else {
      llama_encode(engine->context_, batch);
    }
    if (auto* memory = llama_get_memory(engine->context_)) {
      llama_memory_clear(memory, true);
    }
    llama_synchronize(engine->context_);
  }
  engine->thread_ = std::thread([raw = engine.get()]() { raw->run(); });
  return engine;
}

Engine::~Engine() {
  stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  if (batch_allocated_) {
    llama_batch_free(batch_);
  }
  if (context_ != nullptr) {
    llama_free(context_);
  }
}

int Engine::max_pooling_input() const {
  int limit = std::min(slot_context_, options_.micro_batch);
  if (model_->info().context_length > 0) {
    limit = std::min<int>(limit, static_cast<int>(model_->info().context_length));
  }
  return limit;
}

void Engine::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wakeup_.notify_all();
}

std::optional<api::ApiError> Engine::admission_refusal() {
  if (stopping_) {
    return service_unavailable("The model is shutting down", 1);
  }
  if (waiting_generations_.size() + waiting_pooling_.size() >= options_.max_queue) {
    stats_.jobs_rejected_queue_full.fetch_add(1, std::memory_order_relaxed);
    return service_unavailable(
        "All " + std::to_string(options_.parallel) + " slots are busy and the queue of " +
            std::to_string(options_.max_queue) + " requests is full; retry shortly",
        1);
  }
  return std::nullopt;
}

Expected<std::monostate, api::ApiError> Engine::submit(std::unique_ptr<GenerationJob> job) {
  assert(job && job->sampler && job->on_event && "a generation job needs a sampler and a sink");
  {
    std::lock_guard lock(mutex_);
    if (auto refusal = admission_refusal()) {
      return unexpected(std::move(*refusal));
    }
    waiting_generations_.push_back(std::move(job));
    stats_.queue_depth.store(
        static_cast<int64_t>(waiting_generations_.size() + waiting_pooling_.size()));
  }
  wakeup_.notify_one();
  return std::monostate{};
}

Expected<std::monostate, api::ApiError> Engine::submit(std::unique_ptr<PoolingJob> job) {
  assert(job && job->on_done && "a pooling job needs a sink");
  auto work = std::make_shared<PoolingWork>();
  work->remaining = job->inputs.size();
  work->vectors.resize(job->inputs.size());
  work->job = std::move(job);
  {
    std::lock_guard lock(mutex_);
    if (auto refusal = admission_refusal()) {
      return unexpected(std::move(*refusal));
    }
    waiting_pooling_.push_back(std::move(work));
    stats_.queue_depth.store(
        static_cast<int64_t>(waiting_generations_.size() + waiting_pooling_.size()));
  }
  wakeup_.notify_one();
  return std::monostate{};
}

void Engine::run() {
  uint64_t use_counter = 0;
  bool stepped = false;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      const auto any_busy = [&]() {
        return std::any_of(slots_.begin(), slots_.end(),
                           [](const auto& slot) { return slot->busy(); });
      };
      const auto any_waiting = [&]() {
        return !waiting_generations_.empty() || !waiting_pooling_.empty();
      };
      // Jobs that queued up while the last step ran mean the engine is saturated.
      const bool had_no_work = !any_busy() && !(stepped && any_waiting());
      wakeup_.wait(lock, [&]() { return stopping_ || any_waiting() || any_busy(); });
      if (stopping_) {
        break;
      }
      if (had_no_work) {
        gather_arrivals(lock);
      }
    }
    drop_cancelled();
    admit_waiting_jobs();
    for (auto& slot : slots_) {
      if (slot->busy()) {
        slot->last_used = ++use_counter;
      }
    }
    if (step()) {
      // The step's answers and tokens were handed to the HTTP thread; when it shares this core
      // it would otherwise wait for the scheduler to preempt the next step (milliseconds under
      // EEVDF's run-to-parity), holding answers back and starving the queue of the next
      // requests. Yielding lets it send them, and read what arrived, before the next step.
      sched_yield();
    }
    stepped = true;
  }
  fail_all(service_unavailable("The model was unloaded while the request was in progress", 1));
}

std::chrono::nanoseconds Engine::admission_window() const {
  const std::chrono::nanoseconds configured = options_.admission_wait;
  if (typical_step_.count() == 0) {
    return configured;
  }
  return std::min(configured, typical_step_ / 4);
}

void Engine::gather_arrivals(std::unique_lock<std::mutex>& lock) {
  const auto window = admission_window();
  if (window.count() <= 0 || options_.parallel < 2) {
    return;
  }
  const auto waiting = [&]() { return waiting_generations_.size() + waiting_pooling_.size(); };
  const auto deadline = std::chrono::steady_clock::now() + 4 * window;
  std::size_t seen = waiting();
  if (seen < static_cast<std::size_t>(options_.parallel)) {
    stats_.admission_waits.fetch_add(1, std::memory_order_relaxed);
  }
  while (!stopping_ && seen < static_cast<std::size_t>(options_.parallel)) {
    const auto until = std::min(deadline, std::chrono::steady_clock::now() + window);
    const bool arrived =
        wakeup_.wait_until(lock, until, [&]() { return stopping_ || waiting() > seen; });
    if (!arrived || stopping_) {
      return;
    }
    seen = waiting();
    stats_.gathered_jobs.fetch_add(1, std::memory_order_relaxed);
  }
}

void Engine::admit_waiting_jobs() {
  std::vector<Slot*> started;
  {
    std::lock_guard lock(mutex_);
    while (!waiting_generations_.empty()) {
      auto& job = waiting_generations_.front();
      // Prefer the free slot whose cache shares the longest prefix with this prompt; among
      // equals the least recently used, so hot prefixes stay cached.
      Slot* best = nullptr;
      std::size_t best_common = 0;
      for (auto& slot : slots_) {
        if (slot->busy()) {
          continue;
        }
        const auto mismatch = std::mismatch(slot->cached.begin(), slot->cached.end(),
                                            job->prompt.begin(), job->prompt.end());
        const auto common = static_cast<std::size_t>(mismatch.first - slot->cached.begin());
        if (best == nullptr || common > best_common ||
            (common == best_common && slot->last_used < best->last_used)) {
          best = slot.get();
          best_common = common;
        }
      }
      if (best == nullptr) {
        break;
      }
      best->job = std::move(job);  // reserve the slot before looking for the next one
      waiting_generations_.pop_front();
      started.push_back(best);
    }
    while (!waiting_pooling_.empty()) {
      auto free_slot = std::find_if(slots_.begin(), slots_.end(),
                                    [](const auto& slot) { return !slot->busy(); });
      if (free_slot == slots_.end()) {
        break;
      }
      auto& work = waiting_pooling_.front();
      (*free_slot)->pooling = work;
      (*free_slot)->pooling_input = work->next_input++;
      (*free_slot)->batch_index = -1;
      if (work->next_input >= work->job->inputs.size()) {
        waiting_pooling_.pop_front();
      }
    }
    stats_.queue_depth.store(
        static_cast<int64_t>(waiting_generations_.size() + waiting_pooling_.size()));
  }
  auto* memory = llama_get_memory(context_);
  for (Slot* slot : started) {
    auto& job = *slot->job;
    auto mismatch = std::mismatch(slot->cached.begin(), slot->cached.end(), job.prompt.begin(),
                                  job.prompt.end());
    std::size_t keep = static_cast<std::size_t>(mismatch.first - slot->cached.begin());
    if (keep >= job.prompt.size()) {
      keep = job.prompt.size() - 1;  // the last prompt token must be decoded for its logits
    }
    if (memory != nullptr &&
        !llama_memory_seq_rm(memory, slot->id, static_cast<llama_pos>(keep), -1)) {
      // Some memories (recurrent state) cannot drop a tail: start the sequence afresh.
      llama_memory_seq_rm(memory, slot->id, -1, -1);
      keep = 0;
    }
    slot->cached.resize(keep);
    slot->prompt_done = keep;
    slot->cached_prompt_tokens = static_cast<int>(keep);
    slot->generating = false;
    slot->completion_tokens = 0;
    slot->batch_index = -1;
    slot->busy_ms = 0.0;
    slot->text.emplace(job.stop);
    slot->started = Clock::now();
    // The penalties look back over the prompt too, as llama-server's do.
    for (const auto token : job.prompt) {
      common_sampler_accept(job.sampler.get(), token, false);
    }
  }
  stats_.busy_slots.store(
      std::count_if(slots_.begin(), slots_.end(), [](const auto& slot) { return slot->busy(); }));
}

void Engine::drop_cancelled() {
  std::vector<std::unique_ptr<GenerationJob>> cancelled_generations;
  std::vector<std::shared_ptr<PoolingWork>> cancelled_pooling;
  {
    std::lock_guard lock(mutex_);
    for (auto it = waiting_generations_.begin(); it != waiting_generations_.end();) {
      if ((*it)->cancellation.cancelled()) {
        cancelled_generations.push_back(std::move(*it));
        it = waiting_generations_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = waiting_pooling_.begin(); it != waiting_pooling_.end();) {
      if ((*it)->job->cancellation.cancelled()) {
        cancelled_pooling.push_back(*it);
        it = waiting_pooling_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& job : cancelled_generations) {
    GenerationEvent event;
    event.done = true;
    event.finish_reason = "cancelled";
    stats_.jobs_cancelled.fetch_add(1, std::memory_order_relaxed);
    job->on_event(std::move(event));
  }
  for (auto& work : cancelled_pooling) {
    stats_.jobs_cancelled.fetch_add(1, std::memory_order_relaxed);
    work->deliver(unexpected(service_unavailable("cancelled", 1)));
  }
  auto* memory = llama_get_memory(context_);
  for (auto& slot : slots_) {
    if (slot->job && slot->job->cancellation.cancelled()) {
      finish_generation(*slot, "cancelled");
    } else if (slot->pooling && slot->pooling->job->cancellation.cancelled()) {
      slot->pooling->deliver(unexpected(service_unavailable("cancelled", 1)));
      slot->pooling.reset();
      if (memory != nullptr) {
        llama_memory_seq_rm(memory, slot->id, -1, -1);
      }
      slot->cached.clear();
    }
  }
}

bool Engine::step() {
  const int capacity = options_.batch;
  llama_batch& batch = batch_;
  batch.n_tokens = 0;
  auto add = [&](int32_t token, llama_pos position, int sequence, bool output) {
    const int i = batch.n_tokens++;
    batch.token[i] = token;
    batch.pos[i] = position;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = sequence;
    batch.logits[i] = output ? 1 : 0;
    return i;
  };
  // Generating slots first: one token each keeps every stream moving while prompts are read.
  for (auto& slot : slots_) {
    slot->batch_index = -1;
    slot->step_tokens = 0;
    if (slot->job && slot->generating && batch.n_tokens < capacity) {
      slot->batch_index =
          add(slot->last_token, static_cast<llama_pos>(slot->cached.size()), slot->id, true);
      slot->cached.push_back(slot->last_token);
      slot->step_tokens = 1;
    }
  }
  for (auto& slot : slots_) {
    if (!slot->job || slot->generating) {
      continue;
    }
    const auto& prompt = slot->job->prompt;
    while (slot->prompt_done < prompt.size() && batch.n_tokens < capacity) {
      const bool last = slot->prompt_done + 1 == prompt.size();
      const int index =
          add(prompt[slot->prompt_done], static_cast<llama_pos>(slot->prompt_done), slot->id, last);
      slot->cached.push_back(prompt[slot->prompt_done]);
      ++slot->prompt_done;
      ++slot->step_tokens;
      if (last) {
        slot->batch_index = index;
      }
    }
  }
  std::vector<Slot*> pooled;
  for (auto& slot : slots_) {
    if (!slot->pooling) {
      continue;
    }
    const auto& input = slot->pooling->job->inputs[slot->pooling_input];
    if (batch.n_tokens + static_cast<int>(input.size()) > capacity) {
      continue;  // whole inputs only; it goes in the next step
    }
    for (std::size_t i = 0; i < input.size(); ++i) {
      add(input[i], static_cast<llama_pos>(i), slot->id, true);
    }
    slot->step_tokens = static_cast<int>(input.size());
    pooled.push_back(slot.get());
  }
  if (batch.n_tokens == 0) {
    return false;
  }

  const auto before = Clock::now();
  const int status = causal_ ? llama_decode(context_, batch) : llama_encode(context_, batch);
  const auto step_time = Clock::now() - before;
  stats_.decode_calls.fetch_add(1, std::memory_order_relaxed);
  const auto step_nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(step_time);
  typical_step_ = typical_step_.count() == 0
                      ? step_nanoseconds
                      : typical_step_ + (step_nanoseconds - typical_step_) / 8;
  // A failed step was spent too: charged before fail_all reports the jobs' final events.
  charge_step(step_nanoseconds, batch.n_tokens);
  if (status != 0) {
    fail_all(internal_error("llama_decode failed with status " + std::to_string(status) +
                            " (the KV cache may be full)"));
    return true;
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(step_time);
  bool any_generating = false;
  for (auto& slot : slots_) {
    any_generating = any_generating || (slot->job && slot->generating);
  }
  (any_generating ? stats_.generation_microseconds : stats_.prompt_microseconds)
      .fetch_add(static_cast<uint64_t>(elapsed.count()), std::memory_order_relaxed);

  for (auto& slot : slots_) {
    if (slot->job && slot->batch_index >= 0) {
      sample_slot(*slot, slot->batch_index);
    }
  }

  auto* memory = llama_get_memory(context_);
  const bool rank = llama_pooling_type(context_) == LLAMA_POOLING_TYPE_RANK;
  const int dimensions = rank ? static_cast<int>(llama_model_n_cls_out(model_->llama()))
                              : llama_model_n_embd_out(model_->llama());
  for (Slot* slot : pooled) {
    auto work = std::move(slot->pooling);
    const auto& input = work->job->inputs[slot->pooling_input];
    const float* output = llama_get_embeddings_seq(context_, slot->id);
    if (output == nullptr) {
      work->deliver(unexpected(internal_error("the model produced no pooled output")));
    } else {
      std::vector<float> vector(output, output + std::max(1, dimensions));
      if (work->job->normalise && !rank) {
        double norm = 0.0;
        for (float value : vector) {
          norm += static_cast<double>(value) * value;
        }
        norm = std::sqrt(norm);
        if (norm > 0.0) {
          for (float& value : vector) {
            value = static_cast<float>(value / norm);
          }
        }
      }
      work->vectors[slot->pooling_input] = std::move(vector);
      work->prompt_tokens += static_cast<int>(input.size());
    }
    if (memory != nullptr) {
      llama_memory_seq_rm(memory, slot->id, -1, -1);
    }
    slot->cached.clear();
    stats_.prompt_tokens.fetch_add(input.size(), std::memory_order_relaxed);
    if (--work->remaining == 0 && !work->delivered) {
      stats_.jobs_completed.fetch_add(1, std::memory_order_relaxed);
      PoolingResult result;
      result.vectors = std::move(work->vectors);
      result.prompt_tokens = work->prompt_tokens;
      result.busy_ms = work->busy_ms;
      work->deliver(std::move(result));
    }
  }
  stats_.busy_slots.store(
      std::count_if(slots_.begin(), slots_.end(), [](const auto& slot) { return slot->busy(); }));
  return true;
}

void Engine::charge_step(std::chrono::nanoseconds elapsed, int batch_tokens) {
  stats_.busy_nanoseconds.fetch_add(static_cast<uint64_t>(elapsed.count()),
                                    std::memory_order_relaxed);
  if (batch_tokens <= 0) {
    return;
  }
  const double per_token_ms =
      std::chrono::duration<double, std::milli>(elapsed).count() / batch_tokens;
  for (auto& slot : slots_) {
    if (slot->step_tokens == 0) {
      continue;
    }
    const double share = per_token_ms * slot->step_tokens;
    if (slot->job) {
      slot->busy_ms += share;
    } else if (slot->pooling) {
      slot->pooling->busy_ms += share;
    }
  }
}

void Engine::sample_slot(Slot& slot, int batch_index) {
  auto& job = *slot.job;
  if (!slot.generating) {
    slot.generating = true;
    slot.first_token_at = Clock::now();
    const auto evaluated = job.prompt.size() - static_cast<std::size_t>(slot.cached_prompt_tokens);
    stats_.prompt_tokens.fetch_add(evaluated, std::memory_order_relaxed);
    stats_.cached_prompt_tokens.fetch_add(static_cast<uint64_t>(slot.cached_prompt_tokens),
                                          std::memory_order_relaxed);
  }
  const llama_token token = common_sampler_sample(job.sampler.get(), context_, batch_index);
  GenerationEvent event;
  if (job.top_logprobs >= 0) {
    const float* logits = llama_get_logits_ith(context_, batch_index);
    const int vocabulary = model_->vocabulary_size();
    const float max_logit = *std::max_element(logits, logits + vocabulary);
    double sum = 0.0;
    for (int i = 0; i < vocabulary; ++i) {
      sum += std::exp(static_cast<double>(logits[i] - max_logit));
    }
    const double log_sum = std::log(sum) + max_logit;
    api::TokenLogprob logprob;
    logprob.token = model_->token_piece(token, true);
    logprob.bytes = bytes_of(logprob.token);
    logprob.logprob = static_cast<float>(logits[token] - log_sum);
    if (job.top_logprobs > 0) {
      std::vector<int> order(static_cast<std::size_t>(vocabulary));
      std::iota(order.begin(), order.end(), 0);
      const int best = std::min(job.top_logprobs, vocabulary);
      std::partial_sort(order.begin(), order.begin() + best, order.end(),
                        [&](int a, int b) { return logits[a] > logits[b]; });
      for (int i = 0; i < best; ++i) {
        api::TopLogprob top;
        top.token = model_->token_piece(order[static_cast<std::size_t>(i)], true);
        top.bytes = bytes_of(top.token);
        top.logprob = static_cast<float>(logits[order[static_cast<std::size_t>(i)]] - log_sum);
        logprob.top_logprobs.push_back(std::move(top));
      }
    }
    event.logprobs.push_back(std::move(logprob));
  }
  common_sampler_accept(job.sampler.get(), token, true);
  ++slot.completion_tokens;
  stats_.generated_tokens.fetch_add(1, std::memory_order_relaxed);
  slot.last_token = token;

  if (!job.ignore_eos && model_->is_end_of_generation(token)) {
    if (!event.logprobs.empty()) {
      emit(slot, std::move(event));
    }
    finish_generation(slot, "stop");
    return;
  }
  const bool render_special =
      std::find(job.special_tokens_to_render.begin(), job.special_tokens_to_render.end(), token) !=
      job.special_tokens_to_render.end();
  auto update = slot.text->append(model_->token_piece(token, render_special));
  event.text = std::move(update.text);
  if (!event.text.empty() || !event.logprobs.empty()) {
    emit(slot, std::move(event));
  }
  if (update.stopped) {
    finish_generation(slot, "stop");
  } else if (job.max_tokens >= 0 && slot.completion_tokens >= job.max_tokens) {
    finish_generation(slot, "length");
  } else if (static_cast<int>(slot.cached.size()) + 1 >= slot_context_) {
    finish_generation(slot, "length");
  }
}

void Engine::emit(Slot& slot, GenerationEvent&& event) {
  if (slot.job->stream_tokens) {
    slot.job->on_event(std::move(event));
    return;
  }
  // Held until the end: waking the HTTP thread per token costs more than the token itself on
  // a small model, when the decode threads have every core.
  slot.held.text += event.text;
  for (auto& logprob : event.logprobs) {
    slot.held.logprobs.push_back(std::move(logprob));
  }
}

void Engine::finish_generation(Slot& slot, std::string finish_reason,
                               std::optional<api::ApiError> error) {
  auto job = std::move(slot.job);
  const auto now = Clock::now();
  GenerationEvent event;
  if (slot.text && (finish_reason == "stop" || finish_reason == "length")) {
    event.text = slot.text->finish();  // no stop string can follow now: release what was held
  }
  if (!slot.held.text.empty() || !slot.held.logprobs.empty()) {
    event.text = std::move(slot.held.text) + event.text;
    for (auto& logprob : event.logprobs) {
      slot.held.logprobs.push_back(std::move(logprob));
    }
    event.logprobs = std::move(slot.held.logprobs);
  }
  slot.held = GenerationEvent();
  event.done = true;
  event.finish_reason = std::move(finish_reason);
  event.error = std::move(error);
  event.prompt_tokens = static_cast<int>(job->prompt.size());
  event.cached_prompt_tokens = slot.cached_prompt_tokens;
  event.completion_tokens = slot.completion_tokens;
  event.busy_ms = slot.busy_ms;
  slot.busy_ms = 0.0;
  if (slot.generating) {
    event.prompt_ms = milliseconds_between(slot.started, slot.first_token_at);
    event.generation_ms = milliseconds_between(slot.first_token_at, now);
  } else {
    event.prompt_ms = milliseconds_between(slot.started, now);
  }
  if (event.finish_reason == "cancelled") {
    stats_.jobs_cancelled.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats_.jobs_completed.fetch_add(1, std::memory_order_relaxed);
  }
  slot.generating = false;
  slot.text.reset();
  slot.batch_index = -1;
  // A prompt cut short leaves part of it in the cache; `cached` already says exactly what.
  job->on_event(std::move(event));
}

void Engine::fail_all(const api::ApiError& error) {
  std::deque<std::unique_ptr<GenerationJob>> generations;
  std::deque<std::shared_ptr<PoolingWork>> pooling;
  {
    std::lock_guard lock(mutex_);
    generations.swap(waiting_generations_);
    pooling.swap(waiting_pooling_);
  }
  for (auto& slot : slots_) {
    if (slot->job) {
      finish_generation(*slot, "error", error);
    }
    if (slot->pooling) {
      slot->pooling->deliver(unexpected(error));
      slot->pooling.reset();
    }
  }
  if (auto* memory = llama_get_memory(context_)) {
    llama_memory_clear(memory, true);
  }
  for (auto& slot : slots_) {
    slot->cached.clear();
  }
  for (auto& job : generations) {
    GenerationEvent event;
    event.done = true;
    event.finish_reason = "error";
    event.error = error;
    job->on_event(std::move(event));
  }
  for (auto& work : pooling) {
    work->deliver(unexpected(error));
  }
}

}  // namespace hearth::engine
