#include "protocols/reconcile.hpp"

#include "protocols/csv.hpp"
#include "protocols/json.hpp"

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <unordered_set>

namespace gavel::protocols {

namespace {

error export_error(std::size_t line, const std::string& message) {
  return error{"export", "", "line " + std::to_string(line) + ": " + message};
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size())
    return std::nullopt;
  return x;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  return s;
}

/// One CSV record from `text` at `pos` (protocols/csv.hpp). Advances `pos`
/// and `line`.
expected<std::vector<std::string>> csv_record(std::string_view text, std::size_t& pos,
                                              std::size_t& line) {
  auto rec = read_csv_record(text.substr(pos), true);
  if (!rec)
    return export_error(line, rec.err().message);
  if (!*rec) { // nothing left
    pos = text.size();
    return std::vector<std::string>(1);
  }
  pos += (*rec)->consumed;
  line += (*rec)->lines;
  return std::move((*rec)->fields);
}

expected<std::vector<export_row>> parse_csv(std::string_view text) {
  std::size_t pos = 0, line = 1;
  auto header = csv_record(text, pos, line);
  if (!header)
    return header.err();
  int idx[3] = {-1, -1, -1};
  const std::string_view names[3] = {"event_id", "auction_id", "bid_sequence"};
  for (std::size_t i = 0; i < header->size(); ++i)
    for (int k = 0; k < 3; ++k)
      if (trim((*header)[i]) == names[k])
        idx[k] = static_cast<int>(i);
  for (int k = 0; k < 3; ++k)
    if (idx[k] < 0)
      return export_error(1, "the CSV header has no column " + std::string{names[k]});
  std::vector<export_row> out;
  while (pos < text.size()) {
    std::size_t at = line;
    auto rec = csv_record(text, pos, line);
    if (!rec)
      return rec.err();
    if (rec->size() == 1 && trim(rec->front()).empty())
      continue;
    if (rec->size() != header->size())
      return export_error(at, "expected " + std::to_string(header->size()) +
                                  " fields, found " + std::to_string(rec->size()));
    export_row r;
    r.line = at;
    r.event_id = std::string{trim((*rec)[idx[0]])};
    auto a = to_int(trim((*rec)[idx[1]]));
    auto s = to_int(trim((*rec)[idx[2]]));
    if (r.event_id.empty())
      return export_error(at, "event_id is empty");
    if (!a || *a <= 0)
      return export_error(at, "auction_id is not a positive integer");
    if (!s || *s < 0)
      return export_error(at, "bid_sequence is not a non-negative integer");
    r.auction_id = *a;
    r.bid_sequence = *s;
    out.push_back(std::move(r));
  }
  return out;
}

expected<std::vector<export_row>> parse_json_lines(std::string_view text) {
  std::vector<export_row> out;
  std::size_t line = 0, pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    auto raw = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    ++line;
    auto s = trim(raw);
    if (s.empty())
      continue;
    auto doc = json::parse(s);
    if (!doc || !doc->is_object())
      return export_error(line, "not a JSON object");
    auto integer = [&](const char* name) -> std::optional<std::int64_t> {
      const auto* v = doc->find(name);
      if (v == nullptr || !(v->is_number() || v->is_string()))
        return std::nullopt;
      return to_int(v->text);
    };
    const auto* id = doc->find("event_id");
    if (id == nullptr || !id->is_string() || id->text.empty())
      return export_error(line, "event_id missing or not a string");
    auto a = integer("auction_id");
    auto q = integer("bid_sequence");
    if (!a || *a <= 0)
      return export_error(line, "auction_id missing or not a positive integer");
    if (!q || *q < 0)
      return export_error(line, "bid_sequence missing or not a non-negative integer");
    out.push_back({id->text, *a, *q, line});
  }
  return out;
}

bool is_closed_id(std::string_view id) noexcept {
  return id.starts_with("auction.closed-");
}

} // namespace

bool is_heartbeat_id(std::string_view event_id) noexcept {
  return event_id.starts_with("producer.heartbeat-");
}

expected<std::vector<export_row>> parse_export(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return error{"export", "", "the export is empty"};
  if (text[first] == '{')
    return parse_json_lines(text);
  return parse_csv(text);
}

auction_difference compare_auction(std::int64_t auction_id,
                                   const std::vector<digest_event>& outbox,
                                   const std::vector<export_row>& exported) {
  auction_difference d;
  d.auction_id = auction_id;
  d.outbox_digest = digest_of(outbox);
  std::unordered_map<std::string_view, const digest_event*> stored;
  for (const auto& e : outbox)
    if (e.type != event_type::producer_heartbeat)
      stored.emplace(e.event_id, &e);
  std::unordered_set<std::string_view> seen;
  std::vector<digest_event> as_exported;
  for (const auto& r : exported) {
    if (is_heartbeat_id(r.event_id))
      continue;
    if (!seen.insert(r.event_id).second) {
      d.duplicate.push_back(r);
      continue;
    }
    // The export's own view, for its digest: the type only decides the
    // close's place (last), which the id tells.
    as_exported.push_back(
        {is_closed_id(r.event_id) ? event_type::auction_closed : event_type::bid_placed,
         r.bid_sequence, r.event_id});
    auto it = stored.find(r.event_id);
    if (it == stored.end())
      d.extra.push_back(r);
    else if (it->second->bid_sequence != r.bid_sequence)
      d.out_of_order.emplace_back(r, it->second->bid_sequence);
  }
  for (const auto& e : outbox)
    if (e.type != event_type::producer_heartbeat && !seen.contains(e.event_id))
      d.missing.push_back(e);
  std::sort(d.missing.begin(), d.missing.end(),
            [](const auto& a, const auto& b) { return a.bid_sequence < b.bid_sequence; });
  d.export_digest = digest_of(std::move(as_exported));
  return d;
}

std::vector<std::string> describe(const auction_difference& d) {
  std::vector<std::string> out;
  auto head = "auction " + std::to_string(d.auction_id) + ": ";
  for (const auto& e : d.missing)
    out.push_back(head + "missing " + e.event_id + " (bid_sequence " +
                  std::to_string(e.bid_sequence) + ")");
  for (const auto& r : d.extra)
    out.push_back(head + "extra " + r.event_id + " (bid_sequence " +
                  std::to_string(r.bid_sequence) + ", line " + std::to_string(r.line) +
                  ")");
  for (const auto& r : d.duplicate)
    out.push_back(head + "duplicate " + r.event_id + " (line " + std::to_string(r.line) +
                  ")");
  for (const auto& [r, seq] : d.out_of_order)
    out.push_back(head + "out of order " + r.event_id + ": bid_sequence " +
                  std::to_string(r.bid_sequence) + " in the export (line " +
                  std::to_string(r.line) + "), " + std::to_string(seq) +
                  " in the outbox");
  if (d.outbox_digest.sha256 != d.export_digest.sha256)
    out.push_back(head + "digest mismatch: outbox " + d.outbox_digest.sha256 + " (" +
                  std::to_string(d.outbox_digest.events) + " events), export " +
                  d.export_digest.sha256 + " (" + std::to_string(d.export_digest.events) +
                  " events)");
  return out;
}

} // namespace gavel::protocols
