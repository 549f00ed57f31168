// The worker's routes: HTTP requests in, engine jobs out, OpenAI responses back.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "http/server.hpp"
#include "worker/worker_metrics.hpp"

namespace hearth::worker {

enum class ModelState { loading, ready, failed };

class WorkerService {
 public:
  WorkerService(std::string model_name, std::vector<std::string> aliases);

  // Called once loading has ended, from the loading thread.
  void set_engine(std::unique_ptr<engine::Engine> engine);
  void set_failed(std::string message);
  void shutdown();
  // Each write of a stream then starts with a comment carrying the time it was written.
  void set_stamp_stream_writes(bool on) { stamp_stream_writes_ = on; }

  http::net::awaitable<void> handle(const http::Request& request, http::ResponseWriter& writer);

  WorkerMetrics& metrics() { return metrics_; }

 private:
  using Writer = http::ResponseWriter;
  http::net::awaitable<void> chat_completions(const http::Request& request, Writer& writer);
  http::net::awaitable<void> completions(const http::Request& request, Writer& writer);
  http::net::awaitable<void> embeddings(const http::Request& request, Writer& writer);
  http::net::awaitable<void> rerank(const http::Request& request, Writer& writer);
  http::net::awaitable<void> models(Writer& writer);
  http::net::awaitable<void> health(Writer& writer);
  http::net::awaitable<void> send_error(Writer& writer, const api::ApiError& error);
  http::net::awaitable<bool> write_stream(Writer& writer, std::string payload);
  // Runs an embedding or rerank job; answers any error itself and then returns nothing.
  http::net::awaitable<std::optional<engine::PoolingResult>> run_pooling(
      Writer& writer, engine::Engine& engine, std::vector<std::vector<int32_t>> inputs,
      bool normalise);

  // The engine when ready, or the error to answer with.
  Expected<std::shared_ptr<engine::Engine>, api::ApiError> ready_engine();
  bool accepts_model_name(const std::string& requested) const;
  api::ApiError model_not_found(const std::string& requested) const;

  std::string model_name_;
  std::vector<std::string> aliases_;
  std::mutex mutex_;
  ModelState state_ = ModelState::loading;
  std::string failure_;
  std::shared_ptr<engine::Engine> engine_;
  WorkerMetrics metrics_;
  bool stamp_stream_writes_ = false;
};

}  // namespace hearth::worker
