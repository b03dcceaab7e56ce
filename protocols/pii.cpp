#include "protocols/pii.hpp"

#include "protocols/crypto.hpp"
#include "protocols/json.hpp"

#include <algorithm>

namespace gavel::protocols {

namespace {

constexpr std::string_view stars = "***";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/// The first UTF-8 code point of `s` (its lead byte and continuation bytes).
std::string_view first_char(std::string_view s) {
  if (s.empty())
    return s;
  std::size_t n = 1;
  while (n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    ++n;
  return s.substr(0, n);
}

} // namespace

std::string mask_text(std::string_view text) {
  auto at = text.rfind('@');
  bool email =
      at != std::string_view::npos && std::none_of(text.begin(), text.end(), is_space);
  std::string out;
  if (email) {
    out += first_char(text.substr(0, at));
    out += stars;
    out += text.substr(at);
    return out;
  }
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i]))
      ++i;
    if (i == text.size())
      break;
    std::size_t end = i;
    while (end < text.size() && !is_space(text[end]))
      ++end;
    if (!out.empty())
      out += ' ';
    out += first_char(text.substr(i, end - i));
    out += stars;
    i = end;
  }
  return out;
}

namespace {

/// `envelope` with each member of `data` named in `fields` (and not null)
/// replaced by the string `replace(value)`; byte for byte when none is.
template <class Replace>
expected<std::string> rewrite_fields(std::string_view envelope,
                                     const std::vector<std::string>& fields,
                                     Replace replace) {
  auto doc = json::parse(envelope);
  if (!doc || !doc->is_object())
    return error{"malformed", {}, "the envelope is not a JSON object"};
  auto* data = doc->find("data");
  if (!data || !data->is_object())
    return std::string{envelope};
  bool changed = false;
  for (auto& [name, v] : data->members) {
    if (std::find(fields.begin(), fields.end(), name) == fields.end() ||
        v.k == json::kind::null)
      continue;
    v = json::value::string(replace(v));
    changed = true;
  }
  if (!changed)
    return std::string{envelope};
  return json::dump(*doc);
}

} // namespace

expected<std::string> mask_envelope(std::string_view envelope,
                                    const std::vector<std::string>& fields) {
  return rewrite_fields(envelope, fields, [](const json::value& v) {
    return v.is_string() ? mask_text(v.text) : std::string{stars};
  });
}

std::string pseudonym(std::string_view key, std::string_view text) {
  return hex_lower(hmac_sha256(key, text));
}

expected<std::string> pseudonymize_envelope(std::string_view envelope,
                                            const std::vector<std::string>& fields,
                                            std::string_view key) {
  return rewrite_fields(envelope, fields, [key](const json::value& v) {
    return pseudonym(key, v.is_string() ? std::string_view{v.text} : json::dump(v));
  });
}

std::string mask_mentions(std::string_view text, std::string_view envelope,
                          const std::vector<std::string>& fields) {
  auto doc = json::parse(envelope);
  const json::value* data = doc ? doc->find("data") : nullptr;
  std::string out{text};
  if (!data || !data->is_object())
    return out;
  auto replace_all = [&out](std::string_view what, const std::string& with) {
    if (what.empty())
      return;
    for (auto at = out.find(what); at != std::string::npos;
         at = out.find(what, at + with.size()))
      out.replace(at, what.size(), with);
  };
  for (const auto& [name, v] : data->members) {
    if (!v.is_string() || v.text.empty() ||
        std::find(fields.begin(), fields.end(), name) == fields.end())
      continue;
    auto masked = mask_text(v.text);
    std::string escaped;
    json::dump_string(v.text, escaped);
    // The escaped form without its quotes: how a JSON error body quotes it.
    replace_all(std::string_view{escaped}.substr(1, escaped.size() - 2), masked);
    replace_all(v.text, masked);
  }
  return out;
}

} // namespace gavel::protocols
