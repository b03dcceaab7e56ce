#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace gavel::protocols {

/// Why a pure function failed: a machine-readable code, the offending field
/// (dotted path such as `data.bid_amount`, empty when not about one field)
/// and a message for people.
struct error {
  std::string code;
  std::string field;
  std::string message;
};

/// Marker for an expected<> without a value.
struct done {};

/// The value or the error of a pure computation (protocols/ has no CAF, so it
/// cannot use caf::expected; C++20 has no std::expected).
template <class T> class expected {
public:
  expected(T value) : v_(std::move(value)) {}
  expected(error err) : v_(std::move(err)) {}

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& operator*() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& operator*() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& operator*() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &**this; }
  const T* operator->() const { return &**this; }

  const error& err() const {
    assert(!has_value());
    return std::get<1>(v_);
  }

private:
  std::variant<T, error> v_;
};

} // namespace gavel::protocols
