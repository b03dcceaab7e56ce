#pragma once

#include "protocols/expected.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// A small JSON document model that keeps every number as the exact text it
/// arrived with (money must not pass through binary floating point) and
/// members in their original order. Parsing is nlohmann_json's SAX parser, so
/// the grammar is that library's strict RFC 8259 one.
namespace gavel::protocols::json {

enum class kind : std::uint8_t { null, boolean, number, string, array, object };

struct value;
using member = std::pair<std::string, value>;

struct value {
  kind k = kind::null;
  bool b = false;
  /// number: the literal as written (`875.10`, `-3`, `1e3`); string: decoded UTF-8.
  std::string text;
  std::vector<value> items;    // array
  std::vector<member> members; // object, in input order

  static value null();
  static value boolean(bool x);
  static value number(std::string literal);
  static value integer(std::int64_t x);
  static value string(std::string s);
  static value object();
  static value array();

  bool is_object() const noexcept { return k == kind::object; }
  bool is_array() const noexcept { return k == kind::array; }
  bool is_string() const noexcept { return k == kind::string; }
  bool is_number() const noexcept { return k == kind::number; }

  /// Member lookup (objects only; nullptr when absent or not an object).
  const value* find(std::string_view key) const;
  value* find(std::string_view key);
  /// Replaces the member `key` or appends it.
  void set(std::string key, value v);
  /// Removes member `key` if present.
  void erase(std::string_view key);

  friend bool operator==(const value&, const value&) = default;
};

struct parse_options {
  std::size_t max_depth = 64; ///< nesting deeper than this fails with code "too_deep"
};

/// Parses one JSON text. Errors: code "malformed" (with a message naming the
/// byte offset), "too_deep", or "duplicate_key" when an object names a member
/// twice (field: the dotted path of the repeated key, `data.auction_id`,
/// `[3].data.x`): readers disagree on which value counts, so such a body has
/// no one meaning and is refused. Never throws.
expected<value> parse(std::string_view text, parse_options opts = {});

/// Appends the compact serialisation of `v` to `out`; numbers are written
/// exactly as stored, strings escaped per RFC 8259.
void dump(const value& v, std::string& out);
std::string dump(const value& v);

/// Appends `s` as a quoted, escaped JSON string.
void dump_string(std::string_view s, std::string& out);

} // namespace gavel::protocols::json
