#include "protocols/pull.hpp"

#include "protocols/crypto.hpp"

#include <algorithm>
#include <charconv>
#include <set>

namespace gavel::protocols {

namespace {

error bad(std::string_view field, std::string message) {
  return error{"bad_parameter", std::string{field}, std::move(message)};
}

template <class T> std::optional<T> to_number(std::string_view s) {
  T x{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size())
    return std::nullopt;
  return x;
}

/// Cursors are base64url without padding of a short dotted text: opaque to
/// clients (they pass it back), readable in a log.
std::string to_base64url(std::string_view text) {
  auto b = base64_encode(text);
  while (!b.empty() && b.back() == '=')
    b.pop_back();
  std::replace(b.begin(), b.end(), '+', '-');
  std::replace(b.begin(), b.end(), '/', '_');
  return b;
}

std::optional<std::string> from_base64url(std::string_view text) {
  std::string b{text};
  if (b.empty() || b.size() > 200)
    return std::nullopt;
  for (char& c : b) {
    if (c == '+' || c == '/' || c == '=')
      return std::nullopt;
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
  }
  while (b.size() % 4 != 0)
    b += '=';
  auto d = base64_decode(b);
  if (!d)
    return std::nullopt;
  return *d;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto i = s.find(sep, start);
    out.push_back(s.substr(start, i == std::string_view::npos ? i : i - start));
    if (i == std::string_view::npos)
      return out;
    start = i + 1;
  }
}

expected<std::string> form_decode(std::string_view s, std::string_view field) {
  auto out = percent_decode(s, plus_is::space);
  if (!out)
    return bad(field, "malformed percent-escape");
  return std::move(*out);
}

/// Walks the parameters once: each known name at most once, every name known.
class param_reader {
public:
  param_reader(const std::vector<std::pair<std::string, std::string>>& params,
               std::initializer_list<std::string_view> known)
      : params_(params), known_(known) {}

  expected<done> check() const {
    std::set<std::string_view> seen;
    for (const auto& [name, value] : params_) {
      if (std::find(known_.begin(), known_.end(), name) == known_.end())
        return error{"unknown_parameter", name,
                     "unknown parameter (this route takes: " + joined() + ")"};
      if (!seen.insert(name).second)
        return bad(name, "given more than once");
    }
    return done{};
  }

  const std::string* get(std::string_view name) const {
    for (const auto& [n, v] : params_)
      if (n == name)
        return &v;
    return nullptr;
  }

  expected<std::optional<unix_ms>> time(std::string_view name) const {
    const auto* v = get(name);
    if (v == nullptr)
      return std::optional<unix_ms>{};
    auto t = parse_timestamp(*v);
    if (!t)
      return bad(name, "expected an RFC 3339 timestamp such as 2026-06-09T14:23:11Z (" +
                           t.err().message + ")");
    return std::optional<unix_ms>{*t};
  }

  expected<std::size_t> limit() const {
    const auto* v = get("limit");
    if (v == nullptr)
      return pull_default_limit;
    auto n = to_number<std::int64_t>(*v);
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(pull_max_limit))
      return bad("limit", "expected an integer from 1 to 1000");
    return static_cast<std::size_t>(*n);
  }

private:
  std::string joined() const {
    std::string out;
    for (auto k : known_) {
      if (!out.empty())
        out += ", ";
      out += k;
    }
    return out;
  }

  const std::vector<std::pair<std::string, std::string>>& params_;
  std::vector<std::string_view> known_;
};

expected<done> check_window(std::optional<unix_ms> from, std::optional<unix_ms> to,
                            std::string_view to_name, std::string_view from_name) {
  if (from && to && *to <= *from)
    return bad(to_name, std::string{to_name} + " must be after " +
                            std::string{from_name} + " (the window is [from, to))");
  return done{};
}

} // namespace

// -- digest ----------------------------------------------------------------------

std::string sha256_hex(std::string_view bytes) {
  return hex_lower(sha256(bytes));
}

std::string digest_of_ids(const std::vector<std::string>& ids) {
  std::string text;
  std::size_t bytes = 0;
  for (const auto& id : ids)
    bytes += id.size() + 1;
  text.reserve(bytes);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i)
      text += '\n';
    text += ids[i];
  }
  return sha256_hex(text);
}

auction_digest digest_of(std::vector<digest_event> events) {
  std::erase_if(events,
                [](const auto& e) { return e.type == event_type::producer_heartbeat; });
  // The close carries the last sequence number again (it takes none): it
  // goes after the bid that took that number. Stable: equal keys cannot
  // happen in a sound outbox, and must not reorder if they did.
  std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
    bool ac = a.type == event_type::auction_closed;
    bool bc = b.type == event_type::auction_closed;
    if (ac != bc)
      return bc;
    return a.bid_sequence < b.bid_sequence;
  });
  std::vector<std::string> ids;
  ids.reserve(events.size());
  for (auto& e : events)
    ids.push_back(std::move(e.event_id));
  return {static_cast<std::int64_t>(ids.size()), digest_of_ids(ids)};
}

// -- query strings ---------------------------------------------------------------

expected<std::vector<std::pair<std::string, std::string>>>
parse_query_string(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  if (query.empty())
    return out;
  for (auto part : split(query, '&')) {
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto raw_name = part.substr(0, eq);
    auto name = form_decode(raw_name, raw_name);
    if (!name)
      return name.err();
    auto value = form_decode(
        eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), *name);
    if (!value)
      return value.err();
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

// -- cursors ---------------------------------------------------------------------

std::string encode_cursor(const pull_cursor& c) {
  std::string text;
  if (c.auction_id != 0)
    text =
        "a1." + std::to_string(c.auction_id) + "." + std::to_string(c.bid_sequence) + ".";
  else
    text = "s1.";
  text += std::to_string(c.xid) + "." + std::to_string(c.position);
  return to_base64url(text);
}

expected<pull_cursor> decode_cursor(std::string_view text) {
  auto fail = [] {
    return bad("after", "not a cursor this API gave (pass `next` back)");
  };
  auto plain = from_base64url(text);
  if (!plain)
    return fail();
  auto parts = split(*plain, '.');
  pull_cursor c;
  std::size_t i = 1;
  if (parts.size() == 5 && parts[0] == "a1") {
    auto a = to_number<std::int64_t>(parts[1]);
    auto s = to_number<std::int64_t>(parts[2]);
    if (!a || *a <= 0 || !s || *s < 0)
      return fail();
    c.auction_id = *a;
    c.bid_sequence = *s;
    i = 3;
  } else if (parts.size() != 3 || parts[0] != "s1") {
    return fail();
  }
  auto x = to_number<std::uint64_t>(parts[i]);
  auto p = to_number<std::int64_t>(parts[i + 1]);
  if (!x || !p || *p < 0)
    return fail();
  c.xid = *x;
  c.position = *p;
  return c;
}

std::string encode_cursor(const auction_cursor& c) {
  return to_base64url("o1." + std::to_string(c.opened_at) + "." +
                      std::to_string(c.auction_id));
}

expected<auction_cursor> decode_auction_cursor(std::string_view text) {
  auto fail = [] {
    return bad("after", "not a cursor this API gave (pass `next` back)");
  };
  auto plain = from_base64url(text);
  if (!plain)
    return fail();
  auto parts = split(*plain, '.');
  if (parts.size() != 3 || parts[0] != "o1")
    return fail();
  auto t = to_number<std::int64_t>(parts[1]);
  auto a = to_number<std::int64_t>(parts[2]);
  if (!t || !a || *a <= 0)
    return fail();
  return auction_cursor{*t, *a};
}

// -- parameters ------------------------------------------------------------------

expected<pull_query>
parse_pull_query(const std::vector<std::pair<std::string, std::string>>& params) {
  param_reader r{params,
                 {"auction_id", "bidder_user_id", "event_type", "from", "to", "bid_from",
                  "bid_to", "after", "limit"}};
  if (auto ok = r.check(); !ok)
    return ok.err();
  pull_query q;
  if (const auto* v = r.get("auction_id")) {
    auto a = to_number<std::int64_t>(*v);
    if (!a || *a <= 0)
      return bad("auction_id", "expected a positive integer");
    q.auction_id = *a;
  }
  if (const auto* v = r.get("bidder_user_id")) {
    if (v->empty())
      return bad("bidder_user_id", "must not be empty");
    q.bidder_user_id = *v;
  }
  if (const auto* v = r.get("event_type")) {
    auto t = parse_event_type(*v);
    if (!t)
      return bad("event_type", "expected auction.opened, bid.placed, auction.closed or "
                               "producer.heartbeat");
    q.type = *t;
  }
  for (auto [name, slot] :
       {std::pair{"from", &q.from}, std::pair{"to", &q.to},
        std::pair{"bid_from", &q.bid_from}, std::pair{"bid_to", &q.bid_to}}) {
    auto t = r.time(name);
    if (!t)
      return t.err();
    *slot = *t;
  }
  if (auto ok = check_window(q.from, q.to, "to", "from"); !ok)
    return ok.err();
  if (auto ok = check_window(q.bid_from, q.bid_to, "bid_to", "bid_from"); !ok)
    return ok.err();
  if (const auto* v = r.get("after")) {
    auto c = decode_cursor(*v);
    if (!c)
      return c.err();
    // A cursor holds its ordering: one of another auction (or of storage
    // order) would start the page somewhere meaningless.
    if (c->auction_id != q.auction_id.value_or(0))
      return bad("after", "this cursor belongs to another query (auction_id differs)");
    q.after = *c;
  }
  auto limit = r.limit();
  if (!limit)
    return limit.err();
  q.limit = *limit;
  return q;
}

expected<auction_query>
parse_auction_query(const std::vector<std::pair<std::string, std::string>>& params) {
  param_reader r{params, {"from", "to", "state", "after", "limit"}};
  if (auto ok = r.check(); !ok)
    return ok.err();
  auction_query q;
  for (auto [name, slot] : {std::pair{"from", &q.from}, std::pair{"to", &q.to}}) {
    auto t = r.time(name);
    if (!t)
      return t.err();
    *slot = *t;
  }
  if (auto ok = check_window(q.from, q.to, "to", "from"); !ok)
    return ok.err();
  if (const auto* v = r.get("state")) {
    if (*v == "open")
      q.closed = false;
    else if (*v == "closed")
      q.closed = true;
    else
      return bad("state", "expected open or closed");
  }
  if (const auto* v = r.get("after")) {
    auto c = decode_auction_cursor(*v);
    if (!c)
      return c.err();
    q.after = *c;
  }
  auto limit = r.limit();
  if (!limit)
    return limit.err();
  q.limit = *limit;
  return q;
}

} // namespace gavel::protocols
