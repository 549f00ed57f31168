// A small stand-in for C++23 std::expected (GCC 12 in C++20 mode lacks it). Untrusted input and
// upstream failures travel as values of this type; see docs/ARCHITECTURE.md, "Error policy".
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace hearth {

template <class E>
struct Unexpected {
  E error;
};

template <class E>
Unexpected<std::decay_t<E>> unexpected(E&& error) {
  return {std::forward<E>(error)};
}

template <class T, class E>
class Expected {
 public:
  Expected(T value)
      : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  template <class G>
  Expected(Unexpected<G> error)  // NOLINT: implicit by design
      : storage_(std::in_place_index<1>, E(std::move(error.error))) {}

  bool has_value() const { return storage_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value() && "Expected::value() called on an error");
    return std::get<0>(storage_);
  }
  const T& value() const& {
    assert(has_value() && "Expected::value() called on an error");
    return std::get<0>(storage_);
  }
  T&& value() && {
    assert(has_value() && "Expected::value() called on an error");
    return std::get<0>(std::move(storage_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& {
    assert(!has_value() && "Expected::error() called on a value");
    return std::get<1>(storage_);
  }
  E& error() & {
    assert(!has_value() && "Expected::error() called on a value");
    return std::get<1>(storage_);
  }

 private:
  std::variant<T, E> storage_;
};

}  // namespace hearth
