#include "common/cancellation.hpp"

namespace hearth {

CancellationToken::CancellationToken() : state_(std::make_shared<State>()) {}

bool CancellationToken::cancelled() const {
  return state_->cancelled.load(std::memory_order_acquire);
}

void CancellationToken::cancel() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->cancelled.exchange(true)) {
      return;
    }
    callbacks.swap(state_->callbacks);
  }
  for (auto& callback : callbacks) {
    callback();
  }
}

void CancellationToken::on_cancel(std::function<void()> callback) {
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->cancelled.load()) {
      state_->callbacks.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

}  // namespace hearth
