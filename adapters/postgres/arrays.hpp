#pragma once

#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

/// PostgreSQL array literals in text form: every multi-row statement of the
/// store takes its rows as arrays and unnests them.
namespace gavel::adapters::postgres {

/// Appends an array literal of text elements to `out`, each quoted; empty
/// strings become NULL when `empty_is_null`.
void append_text_array(std::string& out, const std::vector<std::string_view>& xs,
                       bool empty_is_null = false);

/// The text array of `get(x)` for each x of `xs`.
template <class Range, class F> std::string text_array(const Range& xs, F get) {
  static_assert(!std::is_same_v<decltype(get(*std::begin(xs))), std::string>,
                "return a reference or a view: a temporary would dangle");
  std::vector<std::string_view> views;
  views.reserve(std::size(xs));
  for (const auto& x : xs)
    views.emplace_back(get(x));
  std::string out;
  append_text_array(out, views);
  return out;
}

/// An array literal with one element per x of `xs`, each written by
/// `append(out, x)`.
template <class Range, class F> std::string join_array(const Range& xs, F append) {
  std::string out = "{";
  bool first = true;
  for (const auto& x : xs) {
    if (!first)
      out += ',';
    first = false;
    append(out, x);
  }
  out += '}';
  return out;
}

/// The integer array of `get(x)` for each x of `xs`.
template <class Range, class F> std::string int_array(const Range& xs, F get) {
  return join_array(
      xs, [&](std::string& out, const auto& x) { out += std::to_string(get(x)); });
}

/// The boolean array of `get(x)` for each x of `xs`.
template <class Range, class F> std::string bool_array(const Range& xs, F get) {
  return join_array(xs,
                    [&](std::string& out, const auto& x) { out += get(x) ? 't' : 'f'; });
}

} // namespace gavel::adapters::postgres
