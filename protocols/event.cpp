#include "protocols/event.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace gavel::protocols {

namespace {

/// The fields that carry money: they must stay exact decimal text.
constexpr std::array<std::string_view, 5> money_fields = {
    "starting_price",    "current_price",      "bid_amount",
    "proxy_bid_low_end", "proxy_bid_high_end",
};

/// The auction's own fields, copied into a synthesised `auction.opened`.
constexpr std::array<std::string_view, 6> auction_fields = {
    "product_name", "sku", "auction_type", "starting_price", "start_date", "end_date",
};

error schema_error(std::string field, std::string_view why) {
  std::string message =
      field.empty() ? std::string{why} : field + ": " + std::string{why};
  return error{"schema", std::move(field), std::move(message)};
}

/// A member, treating JSON null as absent: platforms write `null` for a field
/// they have no value for, and that must not read as a wrong type.
const json::value* present(const json::value& obj, std::string_view key) {
  const auto* v = obj.find(key);
  return v != nullptr && v->k != json::kind::null ? v : nullptr;
}

/// A JSON integer literal (no fraction, no exponent) in 1..2^63-1.
std::optional<std::int64_t> positive_integer(const json::value& v) {
  if (!v.is_number())
    return std::nullopt;
  const auto& t = v.text;
  std::int64_t x = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), x);
  if (ec != std::errc{} || end != t.data() + t.size() || x < 1)
    return std::nullopt;
  return x;
}

/// The exact decimal text of a money value given as number or string.
std::optional<std::string> decimal_text(const json::value& v) {
  if ((v.is_number() || v.is_string()) && is_decimal(v.text))
    return v.text;
  return std::nullopt;
}

/// A timestamp field (`data.<key>`, present): RFC 3339 as docs/ingest.md fixes it.
expected<unix_ms> timestamp_field(const json::value& v, std::string_view key) {
  std::string field = "data." + std::string{key};
  constexpr std::string_view want =
      "must be an RFC 3339 timestamp (YYYY-MM-DDThh:mm:ss, optional fraction, "
      "zone Z or +hh:mm/-hh:mm)";
  if (!v.is_string())
    return schema_error(std::move(field), std::string{want} + ": not a string");
  auto t = parse_timestamp(v.text);
  if (!t)
    return schema_error(std::move(field), std::string{want} + ": " + t.err().message);
  return *t;
}

/// Reads a required positive integer `data.<key>`.
expected<std::int64_t> required_id(const json::value& data, std::string_view key) {
  std::string field = "data." + std::string{key};
  const auto* v = present(data, key);
  if (v == nullptr)
    return schema_error(std::move(field), "is required");
  auto id = positive_integer(*v);
  if (!id)
    return schema_error(std::move(field), "must be a positive integer (1..2^63-1)");
  return *id;
}

std::string with_suffix(std::string_view prefix, std::int64_t n) {
  std::string s{prefix};
  s += std::to_string(n);
  return s;
}

} // namespace

std::string_view to_string(event_type t) noexcept {
  return event_type_names[static_cast<std::size_t>(t)];
}

std::optional<event_type> parse_event_type(std::string_view s) noexcept {
  for (std::size_t i = 0; i < event_type_names.size(); ++i)
    if (event_type_names[i] == s)
      return static_cast<event_type>(i);
  return std::nullopt;
}

bool is_decimal(std::string_view text) noexcept {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
      ++i;
    return i > start;
  };
  if (!digits())
    return false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits())
      return false;
  }
  return i == text.size();
}

std::string bid_event_id(std::int64_t bid_id) {
  return with_suffix("bid.placed-", bid_id);
}

std::string opened_event_id(std::int64_t auction_id) {
  return with_suffix("auction.opened-", auction_id);
}

std::string closed_event_id(std::int64_t auction_id) {
  return with_suffix("auction.closed-", auction_id);
}

std::string heartbeat_event_id(std::int64_t auction_id, std::int64_t n) {
  std::string s = with_suffix("producer.heartbeat-", auction_id);
  s += '-';
  s += std::to_string(n);
  return s;
}

std::string ingest_event::event_id() const {
  switch (type) {
  case event_type::bid_placed:
    return bid_event_id(bid_id);
  case event_type::auction_opened:
    return opened_event_id(auction_id);
  case event_type::auction_closed:
    return closed_event_id(auction_id);
  case event_type::producer_heartbeat:
    break;
  }
  // Heartbeats are never ingested, and their id needs a counter this struct
  // does not hold; the caller numbers them with heartbeat_event_id.
  return heartbeat_event_id(auction_id, 0);
}

expected<ingest_event> validate_event(const json::value& event) {
  if (!event.is_object())
    return schema_error("", "an event must be a JSON object");

  const auto* type_v = event.find("event_type");
  if (type_v == nullptr || type_v->k == json::kind::null)
    return schema_error("event_type", "is required");
  if (!type_v->is_string())
    return schema_error("event_type", "must be a string");
  auto type = parse_event_type(type_v->text);
  if (!type)
    return schema_error("event_type",
                        "must be one of auction.opened, bid.placed, auction.closed");
  if (*type == event_type::producer_heartbeat)
    return schema_error("event_type",
                        "producer.heartbeat is emitted by Gavel and cannot be ingested");

  const auto* data = event.find("data");
  if (data == nullptr || data->k == json::kind::null)
    return schema_error("data", "is required");
  if (!data->is_object())
    return schema_error("data", "must be an object");

  ingest_event out;
  out.type = *type;

  auto auction_id = required_id(*data, "auction_id");
  if (!auction_id)
    return auction_id.err();
  out.auction_id = *auction_id;

  if (out.type == event_type::bid_placed) {
    auto bid_id = required_id(*data, "bid_id");
    if (!bid_id)
      return bid_id.err();
    out.bid_id = *bid_id;
    if (present(*data, "bid_amount") == nullptr)
      return schema_error("data.bid_amount", "is required");
    const auto* ts = present(*data, "bid_timestamp");
    if (ts == nullptr)
      return schema_error("data.bid_timestamp", "is required");
    auto t = timestamp_field(*ts, "bid_timestamp");
    if (!t)
      return t.err();
    out.bid_timestamp = *t;
  }

  for (auto key : {std::string_view{"start_date"}, std::string_view{"end_date"}}) {
    const auto* v = present(*data, key);
    if (v == nullptr)
      continue;
    auto t = timestamp_field(*v, key);
    if (!t)
      return t.err();
    if (key == "end_date")
      out.end_date = *t;
  }

  for (auto key : money_fields) {
    const auto* v = present(*data, key);
    if (v != nullptr && !decimal_text(*v))
      return schema_error("data." + std::string{key},
                          "must be a decimal number (digits with an optional fraction, "
                          "no sign or exponent)");
  }

  if (const auto* v = present(*data, "current_price"))
    out.price = v->text;
  else if (const auto* v = present(*data, "bid_amount"))
    out.price = v->text;

  // Pass-through field: only number and string ids are meaningful to the
  // reconciliation filter; any other type is carried in data but not indexed.
  if (const auto* v = present(*data, "bidder_user_id");
      v && (v->is_number() || v->is_string()))
    out.bidder_user_id = v->text;

  out.data = *data;
  return out;
}

expected<ingest_body> parse_ingest_body(std::string_view body, validation_limits limits) {
  auto doc = json::parse(body, json::parse_options{limits.max_depth});
  if (!doc)
    return doc.err();
  ingest_body out;
  if (doc->is_object()) {
    out.items.push_back(validate_event(*doc));
    return out;
  }
  if (!doc->is_array())
    return error{"malformed", "", "the body must be an event object or an array of them"};
  if (doc->items.empty())
    return error{"empty_batch", "", "the batch holds no events"};
  if (doc->items.size() > limits.max_batch)
    return error{"batch_too_large", "",
                 "the batch holds " + std::to_string(doc->items.size()) +
                     " events, more than the limit of " +
                     std::to_string(limits.max_batch)};
  out.is_batch = true;
  out.items.reserve(doc->items.size());
  for (const auto& item : doc->items)
    out.items.push_back(validate_event(item));
  return out;
}

std::string make_envelope(const envelope_metadata& meta, const json::value& data) {
  std::string out;
  out.reserve(192 + meta.event_id.size());
  out += R"({"metadata":{"event_id":)";
  json::dump_string(meta.event_id, out);
  out += R"(,"event_type":")";
  out += to_string(meta.type);
  out += R"(","schema_version":")";
  out += schema_version;
  out += R"(","producer_timestamp":")";
  format_iso8601_ms(meta.producer_timestamp, out);
  out += R"(","bid_sequence":)";
  out += std::to_string(meta.bid_sequence);
  out += R"(},"data":)";
  json::dump(data, out);
  out += '}';
  return out;
}

json::value synthesized_open_data(const ingest_event& first) {
  auto out = json::value::object();
  out.set("auction_id", json::value::integer(first.auction_id));
  for (auto key : auction_fields)
    if (const auto* v = present(first.data, key))
      out.set(std::string{key}, *v);
  // Tells consumers that Gavel opened the auction on its first bid, not the
  // platform; the platform's own `auction.opened` will be a duplicate.
  out.set("implicit", json::value::boolean(true));
  return out;
}

json::value heartbeat_data(std::int64_t auction_id, std::optional<unix_ms> end_date,
                           std::int64_t total_bid_count, std::int64_t interval_seconds) {
  auto out = json::value::object();
  out.set("auction_id", json::value::integer(auction_id));
  out.set("end_date", end_date ? json::value::string(format_iso8601_ms(*end_date))
                               : json::value::null());
  out.set("total_bid_count", json::value::integer(total_bid_count));
  out.set("heartbeat_interval_seconds", json::value::integer(interval_seconds));
  return out;
}

} // namespace gavel::protocols
