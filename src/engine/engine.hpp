// The inference loop: one thread owns the llama context and serves every request through
// `parallel` slots (llama.cpp sequences) decoded together in each llama_decode step (continuous
// batching). Requests wait in a bounded queue for a free slot; a new request joins between steps.
// Each slot keeps the tokens in its KV cache, so a prompt that shares a prefix skips that part.
#pragma once

#include <llama.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/types.hpp"
#include "common/cancellation.hpp"
#include "common/expected.hpp"
#include "engine/model.hpp"

struct common_sampler;

namespace hearth::engine {

struct EngineOptions {
  int context = 4096;  // total KV cache tokens, shared out equally between slots
  int parallel = 4;
  int threads = 0;  // 0: all cores
  int batch = 2048;
  // 256 rather than llama.cpp's 512: prompt speed on CPU is the same (llama-bench pp512 on the
  // 0.5B bench model: 271 tok/s at 256, 261 at 512), and the compute buffer's working set is half.
  int micro_batch = 256;
  // KV cache element types ("f16", "q8_0", ...): a quantised cache halves or quarters its memory.
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  // When a job wakes an idle engine, further jobs arriving within this window (measured from
  // the latest arrival, at most 4 windows in all) join the same first step: N clients starting
  // together then share one prompt pass instead of one running a step ahead of the rest. Once
  // steps have been timed the window is at most a quarter of a typical step: waiting longer
  // than that costs the first job more than a step of its own would cost the late one.
  std::chrono::microseconds admission_wait{1000};
  std::size_t max_queue = 64;
  bool warm_up = true;
};

struct SamplerDeleter {
  void operator()(common_sampler* sampler) const;
};
using SamplerPtr = std::unique_ptr<common_sampler, SamplerDeleter>;

// What the loop reports for a generation, on the loop's thread. `text` is safe to forward (whole
// UTF-8 characters, stop strings withheld). Exactly one final event (`done`) ends each job.
struct GenerationEvent {
  std::string text;
  std::vector<api::TokenLogprob> logprobs;
  bool done = false;
  std::string finish_reason;  // stop, length, cancelled, error
  std::optional<api::ApiError> error;
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;
  int completion_tokens = 0;
  double prompt_ms = 0.0;
  double generation_ms = 0.0;
  // The job's share of the engine's compute time (final event only): each llama_decode (or
  // llama_encode) step is timed, and its duration divided among the jobs in that batch in
  // proportion to the tokens each put in it. Shares of one step add up to the step, so the
  // shares of all jobs add up to EngineStats::busy_nanoseconds. Time spent waiting in the
  // queue, sampling and text handling are not compute time of the model and are not counted.
  double busy_ms = 0.0;
};

struct GenerationJob {
  std::vector<int32_t> prompt;
  SamplerPtr sampler;
  int max_tokens = -1;  // -1: until the slot's context is full
  std::vector<std::string> stop;
  int top_logprobs = -1;  // -1: no logprobs; 0..20: logprob of the chosen token plus N best
  bool ignore_eos = false;
  // False: the text arrives whole with the final event (a non-streamed request).
  bool stream_tokens = true;
  std::vector<int32_t> special_tokens_to_render;  // e.g. <tool_call> for tool-call parsing
  CancellationToken cancellation;
  std::function<void(GenerationEvent&&)> on_event;
};

// Embeddings (pooled vectors) or rerank scores (a single value per input).
struct PoolingResult {
  std::vector<std::vector<float>> vectors;
  int prompt_tokens = 0;
  double busy_ms = 0.0;  // the job's share of the steps that evaluated its inputs (as above)
};

struct PoolingJob {
  std::vector<std::vector<int32_t>> inputs;
  bool normalise = true;  // Euclidean, as OpenAI's embeddings are
  CancellationToken cancellation;
  std::function<void(Expected<PoolingResult, api::ApiError>&&)> on_done;
};

struct EngineStats {
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<uint64_t> cached_prompt_tokens{0};
  std::atomic<uint64_t> generated_tokens{0};
  std::atomic<uint64_t> prompt_microseconds{0};
  std::atomic<uint64_t> generation_microseconds{0};
  std::atomic<uint64_t> decode_calls{0};
  // Time spent in llama_decode/llama_encode steps (the warm-up excluded): the worker's busy
  // time, which the jobs' busy_ms shares divide up.
  std::atomic<uint64_t> busy_nanoseconds{0};
  std::atomic<uint64_t> gathered_jobs{0};    // jobs that joined an idle engine's first step late
  std::atomic<uint64_t> admission_waits{0};  // times an idle engine paused to gather arrivals
  std::atomic<uint64_t> jobs_completed{0};
  std::atomic<uint64_t> jobs_cancelled{0};
  std::atomic<uint64_t> jobs_rejected_queue_full{0};
  std::atomic<int64_t> queue_depth{0};
  std::atomic<int64_t> busy_slots{0};
};

class Engine {
 public:
  static Expected<std::unique_ptr<Engine>, std::string> create(std::shared_ptr<Model> model,
                                                               EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a job. Fails with 503 (and Retry-After) when the queue is full or the engine stops.
  Expected<std::monostate, api::ApiError> submit(std::unique_ptr<GenerationJob> job);
  Expected<std::monostate, api::ApiError> submit(std::unique_ptr<PoolingJob> job);

  void stop();

  const Model& model() const { return *model_; }
  std::shared_ptr<Model> shared_model() const { return model_; }
  int slot_context() const { return slot_context_; }  // the longest prompt + output one slot holds
  int parallel() const { return options_.parallel; }
  int micro_batch() const { return options_.micro_batch; }
  // The longest embedding or rerank input: it must fit one micro-batch, one slot, and the
  // trained context (an encoder's learned positions end there).
  int max_pooling_input() const;
  const EngineStats& stats() const { return stats_; }

 private:
  struct Slot;
  struct PoolingWork;

  Engine(std::shared_ptr<Model> model, EngineOptions options);
  void run();
  // Why a new job cannot be queued now (stopping, queue full); call with mutex_ held.
  std::optional<api::ApiError> admission_refusal();
  // Waits (bounded by admission_window()) for jobs arriving together; mutex_ held. Only for an
  // engine that had nothing to do: one that has jobs queued when its step ends is saturated, and
  // pausing it would leave its core idle while requests wait.
  void gather_arrivals(std::unique_lock<std::mutex>& lock);
  // options_.admission_wait, capped at a quarter of the typical step once steps were timed.
  std::chrono::nanoseconds admission_window() const;
  void admit_waiting_jobs();
  void drop_cancelled();
  bool step();
  void finish_generation(Slot& slot, std::string finish_reason,
                         std::optional<api::ApiError> error = std::nullopt);
  void sample_slot(Slot& slot, int batch_index);
  // Divides one step's duration among the slots in its batch by the tokens each put in it.
  void charge_step(std::chrono::nanoseconds elapsed, int batch_tokens);
  void emit(Slot& slot, GenerationEvent&& event);
  void fail_all(const api::ApiError& error);

  std::shared_ptr<Model> model_;
  EngineOptions options_;
  llama_context* context_ = nullptr;
  llama_batch batch_{};  // reused every step: allocating one costs a malloc per token position
  bool batch_allocated_ = false;
  int slot_context_ = 0;
  bool causal_ = true;
  std::vector<std::unique_ptr<Slot>> slots_;
  // Moving average of llama_decode/llama_encode wall time per step (engine thread only); zero
  // until the first step.
  std::chrono::nanoseconds typical_step_{0};

  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<std::unique_ptr<GenerationJob>> waiting_generations_;
  std::deque<std::shared_ptr<PoolingWork>> waiting_pooling_;
  bool stopping_ = false;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace hearth::engine
