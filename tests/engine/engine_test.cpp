// The scheduler on a real model (stories260K): continuous batching, the bounded queue,
// cancellation, prefix reuse and stop conditions.
#include "engine/engine.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "engine/generation.hpp"

namespace hearth::engine {
namespace {

using namespace std::chrono_literals;

std::string stories_model_path() {
  const char* path = std::getenv("HEARTH_STORIES_MODEL");
  return path != nullptr ? path : "";
}

// Collects one job's events and signals its end.
struct Collector {
  std::mutex mutex;
  std::condition_variable finished;
  std::string text;
  GenerationEvent last;
  bool done = false;
  int events = 0;

  std::function<void(GenerationEvent&&)> sink() {
    return [this](GenerationEvent&& event) {
      std::lock_guard lock(mutex);
      ++events;
      text += event.text;
      if (event.done) {
        last = std::move(event);
        done = true;
        finished.notify_all();
      }
    };
  }

  bool wait(std::chrono::seconds timeout = 60s) {
    std::unique_lock lock(mutex);
    return finished.wait_for(lock, timeout, [this]() { return done; });
  }
};

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    configure_llama_logging(false);
    const auto path = stories_model_path();
    ASSERT_FALSE(path.empty()) << "HEARTH_STORIES_MODEL is not set";
    auto loaded = Model::load(path);
    ASSERT_TRUE(loaded.has_value()) << loaded.error();
    model_ = loaded.value();
  }
  static void TearDownTestSuite() { model_.reset(); }

  std::unique_ptr<Engine> make_engine(int parallel, std::size_t max_queue = 64,
                                      EngineOptions options = {}) {
    options.parallel = parallel;
    options.context = 512 * parallel;
    options.threads = 2;
    options.max_queue = max_queue;
    auto engine = Engine::create(model_, options);
    EXPECT_TRUE(engine.has_value()) << (engine ? "" : engine.error());
    return engine ? std::move(engine.value()) : nullptr;
  }

  std::unique_ptr<GenerationJob> greedy_job(const std::string& prompt, int max_tokens,
                                            Collector& collector) {
    api::GenerationOptions options;
    options.sampling.temperature = 0.0F;
    options.max_tokens = max_tokens;
    auto job = prepare_completion(*model_, prompt, {}, options, {}, 512);
    EXPECT_TRUE(job.has_value());
    job.value()->on_event = collector.sink();
    return std::move(job.value());
  }

  static std::shared_ptr<Model> model_;
};

std::shared_ptr<Model> EngineTest::model_;

TEST_F(EngineTest, ConcurrentJobsMatchTheirSequentialOutputs) {
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily saw a",
                                            "One day, Tom"};
  std::vector<std::string> sequential;
  {
    auto engine = make_engine(1);
    for (const auto& prompt : prompts) {
      Collector collector;
      ASSERT_TRUE(engine->submit(greedy_job(prompt, 24, collector)).has_value());
      ASSERT_TRUE(collector.wait());
      sequential.push_back(collector.text);
    }
  }
  auto engine = make_engine(2);  // four jobs on two slots: two decode together, two queue
  std::vector<std::unique_ptr<Collector>> collectors;
  for (const auto& prompt : prompts) {
    collectors.push_back(std::make_unique<Collector>());
    ASSERT_TRUE(engine->submit(greedy_job(prompt, 24, *collectors.back())).has_value());
  }
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(collectors[i]->wait());
    EXPECT_EQ(collectors[i]->text, sequential[i]) << prompts[i];
    EXPECT_EQ(collectors[i]->last.finish_reason, "length");
    EXPECT_EQ(collectors[i]->last.completion_tokens, 24);
  }
}

TEST_F(EngineTest, AFullQueueRefusesWith503AndRetryAfter) {
  auto engine = make_engine(1, /*max_queue=*/1);
  Collector running;
  Collector queued;
  Collector refused;
  auto long_job = greedy_job("Once upon a time", 100000, running);
  long_job->ignore_eos = true;
  ASSERT_TRUE(engine->submit(std::move(long_job)).has_value());
  // Wait until the first job holds the slot, so the second one must queue.
  for (int i = 0; i < 500 && engine->stats().busy_slots.load() == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(engine->submit(greedy_job("The dog", 4, queued)).has_value());
  auto third = engine->submit(greedy_job("The cat", 4, refused));
  ASSERT_FALSE(third.has_value());
  EXPECT_EQ(third.error().status, 503);
  EXPECT_TRUE(third.error().retry_after_seconds.has_value());
  EXPECT_EQ(engine->stats().jobs_rejected_queue_full.load(), 1U);
  engine->stop();
  ASSERT_TRUE(running.wait());
  ASSERT_TRUE(queued.wait());
  EXPECT_EQ(running.last.finish_reason, "error");  // failed explicitly, never dropped
  EXPECT_EQ(queued.last.finish_reason, "error");
}

TEST_F(EngineTest, CancellingFreesTheSlotForTheNextJob) {
  auto engine = make_engine(1);
  Collector endless;
  auto job = greedy_job("Once upon a time", 100000, endless);
  job->ignore_eos = true;
  CancellationToken cancellation = job->cancellation;
  ASSERT_TRUE(engine->submit(std::move(job)).has_value());
  std::this_thread::sleep_for(50ms);
  cancellation.cancel();
  ASSERT_TRUE(endless.wait(10s));
  EXPECT_EQ(endless.last.finish_reason, "cancelled");
  Collector next;
  ASSERT_TRUE(engine->submit(greedy_job("The dog", 8, next)).has_value());
  ASSERT_TRUE(next.wait(10s));
  EXPECT_EQ(next.last.finish_reason, "length");
  EXPECT_EQ(engine->stats().jobs_cancelled.load(), 1U);
}

TEST_F(EngineTest, ARepeatedPromptReusesTheCachedPrefix) {
  auto engine = make_engine(1);
  Collector first;
  ASSERT_TRUE(engine->submit(greedy_job("Once upon a time, there was a", 8, first)).has_value());
  ASSERT_TRUE(first.wait());
  EXPECT_EQ(first.last.cached_prompt_tokens, 0);
  Collector second;
  ASSERT_TRUE(engine->submit(greedy_job("Once upon a time, there was a", 8, second)).has_value());
  ASSERT_TRUE(second.wait());
  EXPECT_EQ(second.last.cached_prompt_tokens, second.last.prompt_tokens - 1);
  EXPECT_EQ(second.text, first.text);
}

TEST_F(EngineTest, StopStringEndsGenerationBeforeIt) {
  auto engine = make_engine(1);
  Collector collector;
  auto job = greedy_job("Once upon a time", 64, collector);
  job->stop = {" girl"};
  ASSERT_TRUE(engine->submit(std::move(job)).has_value());
  ASSERT_TRUE(collector.wait());
  EXPECT_EQ(collector.last.finish_reason, "stop");
  EXPECT_EQ(collector.text.find(" girl"), std::string::npos);
  EXPECT_FALSE(collector.text.empty());
}

TEST_F(EngineTest, APromptThatDoesNotFitIsRejectedBeforeQueueing) {
  std::string prompt;
  for (int i = 0; i < 400; ++i) {
    prompt += "Once upon a time ";
  }
  api::GenerationOptions options;
  auto job = prepare_completion(*model_, prompt, {}, options, {}, 512);
  ASSERT_FALSE(job.has_value());
  EXPECT_EQ(job.error().status, 400);
  EXPECT_EQ(job.error().code, "context_length_exceeded");
}

TEST_F(EngineTest, JobsArrivingTogetherShareAnIdleEnginesFirstStep) {
  EngineOptions options;
  options.admission_wait = 500ms;  // generous: arrivals below are 5 ms apart
  auto engine = make_engine(4, 64, options);
  std::vector<std::unique_ptr<Collector>> collectors;
  for (const char* prompt : {"Once upon a time", "The little dog", "Lily saw a", "One day"}) {
    collectors.push_back(std::make_unique<Collector>());
    ASSERT_TRUE(engine->submit(greedy_job(prompt, 6, *collectors.back())).has_value());
    std::this_thread::sleep_for(5ms);  // long enough for the engine to wake on the first
  }
  for (auto& collector : collectors) {
    ASSERT_TRUE(collector->wait());
    EXPECT_EQ(collector->last.completion_tokens, 6);
  }
  EXPECT_EQ(engine->stats().gathered_jobs.load(), 3U);
  EXPECT_EQ(engine->stats().admission_waits.load(), 1U);
  // One step evaluates all four prompts and samples each first token; five more decode the rest.
  EXPECT_EQ(engine->stats().decode_calls.load(), 6U);
}

TEST_F(EngineTest, JobsAlreadyQueuedWhenAStepEndsStartWithoutAnAdmissionWait) {
  EngineOptions options;
  options.admission_wait = 500ms;
  auto engine = make_engine(2, 64, options);
  Collector first;
  Collector second;
  Collector third;
  ASSERT_TRUE(engine->submit(greedy_job("Once upon a time", 3, first)).has_value());
  // The engine wakes on it and waits for company (up to 500 ms before its first step).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (engine->stats().admission_waits.load() == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(engine->stats().admission_waits.load(), 1U);
  ASSERT_TRUE(engine->submit(greedy_job("The little dog", 3, second)).has_value());
  ASSERT_TRUE(engine->submit(greedy_job("Lily saw a", 3, third)).has_value());
  for (auto* collector : {&first, &second, &third}) {
    ASSERT_TRUE(collector->wait());
    EXPECT_EQ(collector->last.completion_tokens, 3);
  }
  // The first two fill both slots and finish in the same step, with the third queued: an engine
  // under load like this starts the queued job at once rather than pausing for more arrivals.
  EXPECT_EQ(engine->stats().admission_waits.load(), 1U);
  EXPECT_EQ(engine->stats().decode_calls.load(), 6U);
}

TEST_F(EngineTest, SampledTextRepeatsWithASeedAndVariesWithout) {
  auto engine = make_engine(1);
  auto sampled = [&](std::optional<std::uint32_t> seed) {
    api::GenerationOptions options;
    options.sampling.temperature = 1.0F;
    options.sampling.seed = seed;
    options.max_tokens = 24;
    Collector collector;
    auto job = prepare_completion(*model_, "Once upon a time", {}, options, {}, 512);
    EXPECT_TRUE(job.has_value());
    job.value()->on_event = collector.sink();
    EXPECT_TRUE(engine->submit(std::move(job.value())).has_value());
    EXPECT_TRUE(collector.wait());
    return collector.text;
  };
  EXPECT_EQ(sampled(42U), sampled(42U));
  // No seed, and -1 (llama.cpp's "any seed"), each draw a fresh one: five 24-token samples at
  // temperature 1 are not all the same text.
  std::set<std::string> unseeded;
  for (int i = 0; i < 5; ++i) {
    unseeded.insert(sampled(i % 2 == 0 ? std::nullopt : std::optional<std::uint32_t>(0xFFFFFFFFU)));
  }
  EXPECT_GT(unseeded.size(), 1U);
}

TEST_F(EngineTest, OnceStepsAreTimedALoneJobWaitsAQuarterStepNotTheWholeAdmissionWindow) {
  EngineOptions options;
  options.admission_wait = 2000ms;  // far beyond what a step of the test model takes
  auto engine = make_engine(2, 64, options);
  Collector first;
  ASSERT_TRUE(engine->submit(greedy_job("Once upon a time", 6, first)).has_value());
  ASSERT_TRUE(first.wait());  // its steps give the engine a typical step time

  Collector second;
  const auto submitted = std::chrono::steady_clock::now();
  ASSERT_TRUE(engine->submit(greedy_job("The little dog", 6, second)).has_value());
  ASSERT_TRUE(second.wait());
  const auto took = std::chrono::steady_clock::now() - submitted;
  // Waiting out the configured window would take at least 2 s; a quarter of a step of this
  // model is well under a millisecond, so even a slow sanitizer build finishes far sooner.
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ(second.last.completion_tokens, 6);
}

TEST_F(EngineTest, WithoutAnAdmissionWaitTheFirstJobStartsAlone) {
  EngineOptions options;
  options.admission_wait = 0ms;
  auto engine = make_engine(2, 64, options);
  Collector first;
  Collector second;
  ASSERT_TRUE(engine->submit(greedy_job("Once upon a time", 6, first)).has_value());
  ASSERT_TRUE(first.wait());
  ASSERT_TRUE(engine->submit(greedy_job("The little dog", 6, second)).has_value());
  ASSERT_TRUE(second.wait());
  EXPECT_EQ(engine->stats().gathered_jobs.load(), 0U);
  EXPECT_EQ(engine->stats().admission_waits.load(), 0U);
  EXPECT_EQ(engine->stats().decode_calls.load(), 12U);
}

TEST_F(EngineTest, KvCacheTypesAreCheckedAgainstTheModel) {
  EngineOptions options;
  options.cache_type_k = "bf16";  // not a block type: any head size fits
  options.cache_type_v = "f32";
  auto engine = make_engine(1, 64, options);
  ASSERT_NE(engine, nullptr);
  Collector collector;
  ASSERT_TRUE(engine->submit(greedy_job("Once upon a time", 12, collector)).has_value());
  ASSERT_TRUE(collector.wait());
  EXPECT_EQ(collector.last.completion_tokens, 12);
  EXPECT_FALSE(collector.text.empty());

  EngineOptions unknown;
  unknown.cache_type_v = "q9_9";
  auto refused = Engine::create(model_, unknown);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().find("unknown KV cache type 'q9_9'"), std::string::npos)
      << refused.error();
  EXPECT_NE(refused.error().find("q8_0"), std::string::npos) << refused.error();

  EngineOptions misfit;  // stories260K's heads hold 8 values; a q8_0 block holds 32
  misfit.cache_type_k = "q8_0";
  auto refused_block = Engine::create(model_, misfit);
  ASSERT_FALSE(refused_block.has_value());
  EXPECT_NE(refused_block.error().find("--cache-type-k q8_0 stores blocks of 32"),
            std::string::npos)
      << refused_block.error();
  EXPECT_NE(refused_block.error().find("head size (8)"), std::string::npos)
      << refused_block.error();
}

double busy_ms_total(const Engine& engine) {
  return static_cast<double>(engine.stats().busy_nanoseconds.load()) / 1e6;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST_F(EngineTest, AJobsBusyTimeIsPositiveWithinItsWallTimeAndTheEnginesTotal) {
  auto engine = make_engine(1);
  ASSERT_NE(engine, nullptr);
  const double before = busy_ms_total(*engine);  // the warm-up decode is not counted
  EXPECT_EQ(before, 0.0);
  Collector collector;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(engine->submit(greedy_job("Once upon a time", 16, collector)).has_value());
  ASSERT_TRUE(collector.wait());
  const double wall_ms = milliseconds_since(start);
  EXPECT_GT(collector.last.busy_ms, 0.0);
  EXPECT_LE(collector.last.busy_ms, wall_ms);
  // Alone in every step, the job is charged all of it.
  EXPECT_NEAR(collector.last.busy_ms, busy_ms_total(*engine), 1e-6);
}

TEST_F(EngineTest, ConcurrentJobsShareEachStepByTheTokensTheyPutInIt) {
  EngineOptions options;
  options.admission_wait = 500ms;  // both jobs join the first step
  auto engine = make_engine(2, 64, options);
  ASSERT_NE(engine, nullptr);
  Collector twin_a;
  Collector twin_b;
  const auto start = std::chrono::steady_clock::now();
  for (Collector* collector : {&twin_a, &twin_b}) {
    auto job = greedy_job("Once upon a time", 20, *collector);
    job->ignore_eos = true;
    ASSERT_TRUE(engine->submit(std::move(job)).has_value());
  }
  ASSERT_TRUE(twin_a.wait());
  ASSERT_TRUE(twin_b.wait());
  const double wall_ms = milliseconds_since(start);
  ASSERT_EQ(engine->stats().decode_calls.load(), 20U);  // every step held both jobs
  // Same prompt length, same number of tokens in every step: the same share of every step.
  EXPECT_GT(twin_a.last.busy_ms, 0.0);
  EXPECT_NEAR(twin_a.last.busy_ms, twin_b.last.busy_ms, 1e-9 * wall_ms);
  // The shares of a step add up to the step: nothing is counted twice, nothing lost.
  const double total = busy_ms_total(*engine);
  EXPECT_NEAR(twin_a.last.busy_ms + twin_b.last.busy_ms, total, 1e-6);
  EXPECT_LE(total, wall_ms);

  // Uneven work: the longer job is charged the steps it has alone on top of the shared ones.
  Collector short_job;
  Collector long_job;
  const double total_before = total;
  auto first = greedy_job("The little dog", 4, short_job);
  first->ignore_eos = true;
  auto second = greedy_job("The little cat", 40, long_job);
  second->ignore_eos = true;
  ASSERT_TRUE(engine->submit(std::move(first)).has_value());
  ASSERT_TRUE(engine->submit(std::move(second)).has_value());
  ASSERT_TRUE(short_job.wait());
  ASSERT_TRUE(long_job.wait());
  EXPECT_GT(short_job.last.busy_ms, 0.0);
  EXPECT_GT(long_job.last.busy_ms, short_job.last.busy_ms);
  EXPECT_NEAR(short_job.last.busy_ms + long_job.last.busy_ms, busy_ms_total(*engine) - total_before,
              1e-6);
}

TEST_F(EngineTest, ACancelledJobReportsTheBusyTimeItUsed) {
  auto engine = make_engine(1);
  ASSERT_NE(engine, nullptr);
  Collector endless;
  auto job = greedy_job("Once upon a time", 100000, endless);
  job->ignore_eos = true;
  CancellationToken cancellation = job->cancellation;
  ASSERT_TRUE(engine->submit(std::move(job)).has_value());
  for (int i = 0; i < 1000 && engine->stats().generated_tokens.load() < 4; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  cancellation.cancel();
  ASSERT_TRUE(endless.wait(10s));
  EXPECT_EQ(endless.last.finish_reason, "cancelled");
  EXPECT_GT(endless.last.busy_ms, 0.0);
  EXPECT_NEAR(endless.last.busy_ms, busy_ms_total(*engine), 1e-6);
}

}  // namespace
}  // namespace hearth::engine
