// Every metric the worker exports, declared in one place.
#pragma once

#include <functional>
#include <string>

#include "metrics/prometheus.hpp"

namespace hearth::engine {
class Engine;
}

namespace hearth::worker {

struct WorkerMetrics {
  metrics::Registry registry;
  metrics::Family& requests =
      registry.counter("hearth_worker_requests_total", "HTTP requests answered, by endpoint");
  metrics::Family& request_errors = registry.counter(
      "hearth_worker_request_errors_total", "Requests answered with an error, by error code");
  metrics::Family& prompt_tokens =
      registry.counter("hearth_worker_prompt_tokens_total", "Prompt tokens evaluated");
  metrics::Family& completion_tokens =
      registry.counter("hearth_worker_completion_tokens_total", "Tokens generated");
  metrics::Family& client_disconnects = registry.counter(
      "hearth_worker_client_disconnects_total", "Requests cancelled because the client went away");

  // Engine gauges read at render time; `engine` returns null while the model loads.
  void bind_engine(std::function<const engine::Engine*()> engine);
};

}  // namespace hearth::worker
