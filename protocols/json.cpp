#include "protocols/json.hpp"

#include <array>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <unordered_set>

namespace gavel::protocols::json {

value value::null() {
  return value{};
}

value value::boolean(bool x) {
  value v;
  v.k = kind::boolean;
  v.b = x;
  return v;
}

value value::number(std::string literal) {
  value v;
  v.k = kind::number;
  v.text = std::move(literal);
  return v;
}

value value::integer(std::int64_t x) {
  return number(std::to_string(x));
}

value value::string(std::string s) {
  value v;
  v.k = kind::string;
  v.text = std::move(s);
  return v;
}

value value::object() {
  value v;
  v.k = kind::object;
  return v;
}

value value::array() {
  value v;
  v.k = kind::array;
  return v;
}

const value* value::find(std::string_view key) const {
  if (k != kind::object)
    return nullptr;
  for (const auto& [name, v] : members)
    if (name == key)
      return &v;
  return nullptr;
}

value* value::find(std::string_view key) {
  return const_cast<value*>(static_cast<const value&>(*this).find(key));
}

void value::set(std::string key, value v) {
  if (auto* existing = find(key)) {
    *existing = std::move(v);
    return;
  }
  members.emplace_back(std::move(key), std::move(v));
}

void value::erase(std::string_view key) {
  std::erase_if(members, [&](const member& m) { return m.first == key; });
}

namespace {

using nl = nlohmann::json;

/// Builds a json::value from nlohmann's SAX events. The containers under
/// construction live on an explicit stack (not the call stack), so input depth
/// never turns into recursion; max_depth is enforced here, before a level is
/// allocated, so a hostile 10,000-deep body stops at the limit.
class dom_builder {
public:
  explicit dom_builder(std::size_t max_depth) : max_depth_(max_depth) {}

  bool null() { return add(value::null()); }
  bool boolean(bool x) { return add(value::boolean(x)); }

  // nlohmann hands integers over as values only: for a valid JSON integer
  // literal the decimal rendering is the literal itself (JSON forbids leading
  // zeros and `+`), except `-0`, which becomes `0`.
  bool number_integer(nl::number_integer_t x) { return add(value::integer(x)); }
  bool number_unsigned(nl::number_unsigned_t x) {
    return add(value::number(std::to_string(x)));
  }

  bool number_float(nl::number_float_t, const nl::string_t& literal) {
    // The lexer writes the C locale's decimal point into the literal; put the
    // JSON `.` back so the stored text never depends on the process locale.
    std::string text = literal;
    for (auto& c : text)
      if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E'))
        c = '.';
    return add(value::number(std::move(text)));
  }

  bool string(nl::string_t& s) { return add(value::string(std::move(s))); }
  bool binary(nl::binary_t&) { return false; } // never produced by the JSON lexer

  bool start_object(std::size_t) { return open(value::object()); }
  bool key(nl::string_t& k) {
    stack_.back().members.emplace_back(std::move(k), value{});
    return true;
  }
  bool end_object() {
    if (auto repeated = repeated_key(stack_.back())) {
      duplicate_path_ = path_to(*repeated);
      return false;
    }
    value v = std::move(stack_.back());
    stack_.pop_back();
    return add(std::move(v));
  }

  bool start_array(std::size_t) { return open(value::array()); }
  bool end_array() {
    value v = std::move(stack_.back());
    stack_.pop_back();
    return add(std::move(v));
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) {
    position_ = position;
    // The library's text quotes the bytes it read; keep it printable ASCII so
    // the message can go back to the client inside a JSON response.
    std::string_view what = ex.what();
    if (auto pos = what.find("] ");
        what.starts_with("[json.exception") && pos != what.npos)
      what.remove_prefix(pos + 2);
    message_.clear();
    for (char c : what)
      message_ += (c >= 0x20 && c < 0x7f) ? c : '?';
    return false;
  }

  bool too_deep() const noexcept { return too_deep_; }
  /// Set when an object repeated a key: where (dotted path).
  const std::optional<std::string>& duplicate_path() const noexcept {
    return duplicate_path_;
  }
  std::size_t position() const noexcept { return position_; }
  const std::string& message() const noexcept { return message_; }
  value take_root() { return std::move(root_); }

private:
  bool open(value container) {
    if (stack_.size() >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    stack_.push_back(std::move(container));
    return true;
  }

  bool add(value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    auto& top = stack_.back();
    if (top.k == kind::array)
      top.items.push_back(std::move(v));
    else
      top.members.back().second = std::move(v); // key() appended the slot
    return true;
  }

  /// The first key of `obj` that repeats an earlier one, if any. Checked
  /// once per object, hashed when large, so a body with many keys stays
  /// linear instead of quadratic.
  static const std::string* repeated_key(const value& obj) {
    const auto& ms = obj.members;
    if (ms.size() <= 16) {
      for (std::size_t i = 1; i < ms.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
          if (ms[j].first == ms[i].first)
            return &ms[i].first;
      return nullptr;
    }
    std::unordered_set<std::string_view> seen;
    seen.reserve(ms.size());
    for (const auto& m : ms)
      if (!seen.insert(m.first).second)
        return &m.first;
    return nullptr;
  }

  /// The dotted path of `key` inside the innermost open object: each open
  /// container contributes the member or item now being built.
  std::string path_to(const std::string& key) const {
    std::string path;
    for (std::size_t i = 0; i + 1 < stack_.size(); ++i) {
      const auto& c = stack_[i];
      if (c.k == kind::array) {
        path += '[' + std::to_string(c.items.size()) + ']';
      } else {
        if (!path.empty())
          path += '.';
        path += c.members.back().first;
      }
    }
    if (!path.empty())
      path += '.';
    path += key;
    return path;
  }

  std::size_t max_depth_;
  std::vector<value> stack_;
  value root_;
  bool too_deep_ = false;
  std::optional<std::string> duplicate_path_;
  std::size_t position_ = 0;
  std::string message_;
};

/// Client text for an error message: printable ASCII, shortened.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 128))
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
  if (s.size() > 128)
    out += "...";
  return out;
}

} // namespace

expected<value> parse(std::string_view text, parse_options opts) {
  dom_builder builder{opts.max_depth};
  try {
    if (nl::sax_parse(text, &builder))
      return builder.take_root();
  } catch (const std::exception& ex) {
    // Only allocation failure can get here; report it rather than unwind
    // through callers that were promised no exceptions.
    return error{"malformed", "", ex.what()};
  }
  if (const auto& path = builder.duplicate_path())
    return error{"duplicate_key", *path,
                 "the key \"" + printable(*path) +
                     "\" is repeated (an object must not name a member twice)"};
  if (builder.too_deep())
    return error{"too_deep", "",
                 "nesting deeper than " + std::to_string(opts.max_depth) + " levels"};
  return error{"malformed", "",
               "invalid JSON at byte " + std::to_string(builder.position()) + ": " +
                   builder.message()};
}

void dump_string(std::string_view s, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  // Runs of characters that need no escape are copied at once (the common
  // case: an envelope is mostly plain text).
  static constexpr auto plain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 256; ++c)
      t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
    return t;
  }();
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && plain[static_cast<unsigned char>(s[j])])
      ++j;
    out.append(s.data() + i, j - i);
    if (j == s.size())
      break;
    auto u = static_cast<unsigned char>(s[j]);
    switch (s[j]) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
    i = j + 1;
  }
  out += '"';
}

void dump(const value& root, std::string& out) {
  // Iterative for the same reason as parsing: a value built in code is not
  // bounded by parse_options::max_depth.
  struct frame {
    const value* v;
    std::size_t next;
  };
  std::vector<frame> stack;
  auto scalar = [&out](const value& v) {
    switch (v.k) {
    case kind::null:
      out += "null";
      break;
    case kind::boolean:
      out += v.b ? "true" : "false";
      break;
    case kind::number:
      out += v.text;
      break;
    case kind::string:
      dump_string(v.text, out);
      break;
    default:
      break;
    }
  };
  auto enter = [&](const value& v) {
    if (v.k == kind::object) {
      out += '{';
      stack.push_back({&v, 0});
    } else if (v.k == kind::array) {
      out += '[';
      stack.push_back({&v, 0});
    } else {
      scalar(v);
    }
  };
  enter(root);
  while (!stack.empty()) {
    auto& f = stack.back();
    const value& v = *f.v;
    if (v.k == kind::object) {
      if (f.next == v.members.size()) {
        out += '}';
        stack.pop_back();
        continue;
      }
      if (f.next > 0)
        out += ',';
      const auto& m = v.members[f.next++];
      dump_string(m.first, out);
      out += ':';
      enter(m.second); // may invalidate f
    } else {
      if (f.next == v.items.size()) {
        out += ']';
        stack.pop_back();
        continue;
      }
      if (f.next > 0)
        out += ',';
      enter(v.items[f.next++]); // may invalidate f
    }
  }
}

std::string dump(const value& v) {
  std::string out;
  dump(v, out);
  return out;
}

} // namespace gavel::protocols::json
