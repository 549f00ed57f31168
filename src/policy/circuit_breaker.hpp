// A circuit breaker per backend: after `failure_threshold` consecutive failures the circuit opens
// and the backend is skipped at no cost for `open_for`; then one request at a time is let through
// as a probe (half-open) — a success closes the circuit, a failure opens it again.
//
// Not thread-safe: the gateway uses it from its single event-loop thread.
#pragma once

#include <chrono>
#include <string_view>

namespace hearth::policy {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { closed, open, half_open };

  CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_for)
      : failure_threshold_(failure_threshold), open_for_(open_for) {}

  void configure(int failure_threshold, std::chrono::milliseconds open_for) {
    failure_threshold_ = failure_threshold;
    open_for_ = open_for;
  }

  // Whether a request may go to the backend now. In half-open state only one probe is in flight
  // at a time; the caller must report its outcome.
  bool allow(Clock::time_point now = Clock::now()) {
    if (state_ == State::open && now >= open_until_) {
      state_ = State::half_open;
      probe_in_flight_ = false;
    }
    if (state_ == State::closed) {
      return true;
    }
    if (state_ == State::half_open && !probe_in_flight_) {
      probe_in_flight_ = true;
      return true;
    }
    return false;
  }

  void record_success() {
    state_ = State::closed;
    consecutive_failures_ = 0;
    probe_in_flight_ = false;
  }

  // Returns true when this failure opened the circuit.
  bool record_failure(Clock::time_point now = Clock::now()) {
    ++consecutive_failures_;
    probe_in_flight_ = false;
    if (state_ == State::half_open ||
        (state_ == State::closed && consecutive_failures_ >= failure_threshold_)) {
      state_ = State::open;
      open_until_ = now + open_for_;
      return true;
    }
    return false;
  }

  // A request let through (a probe) ended without saying anything about the backend (the
  // client went away): the next request may probe.
  void release_probe() { probe_in_flight_ = false; }

  State state(Clock::time_point now = Clock::now()) const {
    if (state_ == State::open && now >= open_until_) {
      return State::half_open;
    }
    return state_;
  }
  int consecutive_failures() const { return consecutive_failures_; }
  Clock::time_point open_until() const { return open_until_; }

 private:
  int failure_threshold_;
  std::chrono::milliseconds open_for_;
  State state_ = State::closed;
  int consecutive_failures_ = 0;
  bool probe_in_flight_ = false;
  Clock::time_point open_until_{};
};

inline std::string_view to_string(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::closed:
      return "closed";
    case CircuitBreaker::State::open:
      return "open";
    case CircuitBreaker::State::half_open:
      return "half_open";
  }
  return "unknown";
}

}  // namespace hearth::policy
