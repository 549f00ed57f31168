// A cancellation flag shared between the thread that serves a request and the inference loop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace hearth {

// Set once when the request should stop: the client went away or the server is shutting down.
// Thread-safe; the engine polls `cancelled()` between decode steps, and callbacks run on set.
class CancellationToken {
 public:
  CancellationToken();
  bool cancelled() const;
  void cancel();
  // Runs `callback` on cancel (at once if already cancelled). Callbacks must be cheap and
  // thread-safe: they run on whichever thread cancels.
  void on_cancel(std::function<void()> callback);

 private:
  struct State {
    std::atomic<bool> cancelled{false};
    std::mutex mutex;
    std::vector<std::function<void()>> callbacks;
  };
  std::shared_ptr<State> state_;
};

}  // namespace hearth
