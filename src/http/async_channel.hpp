// Hands values from any thread (the inference loop) to a coroutine on an Asio executor.
#pragma once

// Asio needs <utility> before its own headers with GCC 12 coroutines.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <mutex>
#include <vector>

namespace hearth::http {

template <class T>
class AsyncChannel : public std::enable_shared_from_this<AsyncChannel<T>> {
 public:
  // `executor` must be the one the consuming coroutine runs on (its strand).
  explicit AsyncChannel(boost::asio::any_io_executor executor) : timer_(std::move(executor)) {}

  // Any thread.
  void push(T value) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      was_empty = items_.empty();
      items_.push_back(std::move(value));
    }
    if (!was_empty) {
      return;  // a wakeup is already on its way and the consumer takes everything queued
    }
    // The timer is touched only on its executor; the posted cancel wakes a pending wait, and a
    // value pushed before the wait starts is seen by the check that precedes it.
    boost::asio::post(timer_.get_executor(),
                      [self = this->shared_from_this()]() { self->timer_.cancel(); });
  }

  // Waits for at least one value and returns all that are queued.
  boost::asio::awaitable<std::vector<T>> pop_all() {
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (!items_.empty()) {
          std::vector<T> out;
          out.swap(items_);
          co_return out;
        }
      }
      boost::system::error_code ignored;
      timer_.expires_at(boost::asio::steady_timer::time_point::max());
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    }
  }

 private:
  boost::asio::steady_timer timer_;
  std::mutex mutex_;
  std::vector<T> items_;
};

}  // namespace hearth::http
