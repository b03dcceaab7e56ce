#include "protocols/backfill_input.hpp"

#include "protocols/json.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace gavel::protocols {

namespace {

error csv_error(std::string message) {
  return error{"csv", {}, std::move(message)};
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Digits with an optional fraction of digits, no leading zero before
/// another digit (a JSON number as ingest's decimals are).
bool plain_decimal(std::string_view s) {
  auto dot = s.find('.');
  auto whole = s.substr(0, dot);
  if (!all_digits(whole) || (whole.size() > 1 && whole[0] == '0'))
    return false;
  return dot == std::string_view::npos || all_digits(s.substr(dot + 1));
}

constexpr std::array<std::string_view, 3> id_fields{"auction_id", "bid_id",
                                                    "bidder_user_id"};
constexpr std::array<std::string_view, 5> decimal_fields{
    "bid_amount", "starting_price", "current_price", "proxy_bid_low_end",
    "proxy_bid_high_end"};

template <std::size_t N>
bool among(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

backfill_format backfill_format_of(std::string_view path) {
  constexpr std::string_view csv = ".csv";
  if (path.size() >= csv.size()) {
    auto ext = path.substr(path.size() - csv.size());
    std::string lower;
    for (char c : ext)
      lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower == csv)
      return backfill_format::csv;
  }
  return backfill_format::json_lines;
}

expected<csv_header> read_csv_header(const std::vector<std::string>& fields) {
  csv_header h;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::string name = fields[i];
    // A UTF-8 byte order mark (spreadsheets write one) is not part of the name.
    if (i == 0 && name.rfind("\xEF\xBB\xBF", 0) == 0)
      name.erase(0, 3);
    if (name.empty())
      return csv_error("column " + std::to_string(i + 1) + " of the header has no name");
    if (!seen.insert(name).second)
      return csv_error("the header names " + name + " twice");
    h.names.push_back(std::move(name));
  }
  if (!seen.count("auction_id"))
    return csv_error("the header names no auction_id column");
  return h;
}

expected<std::string> csv_row_event(const csv_header& header,
                                    const std::vector<std::string>& row) {
  if (row.size() != header.names.size())
    return csv_error("the row has " + std::to_string(row.size()) + " cells, the header " +
                     std::to_string(header.names.size()));
  std::string type = "bid.placed";
  std::string data = "{";
  for (std::size_t i = 0; i < row.size(); ++i) {
    const auto& name = header.names[i];
    const auto& cell = row[i];
    if (name == "event_type") {
      if (!cell.empty())
        type = cell;
      continue;
    }
    if (cell.empty())
      continue;
    if (data.size() > 1)
      data += ',';
    json::dump_string(name, data);
    data += ':';
    if ((among(id_fields, name) && all_digits(cell) &&
         (cell.size() == 1 || cell[0] != '0')) ||
        (among(decimal_fields, name) && plain_decimal(cell)))
      data += cell;
    else
      json::dump_string(cell, data);
  }
  data += '}';
  std::string out = R"({"event_type":)";
  json::dump_string(type, out);
  out += R"(,"data":)" + data + "}";
  return out;
}

expected<std::optional<std::string>> json_line_event(std::string_view line) {
  using result = std::optional<std::string>;
  auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return result{};
  auto last = line.find_last_not_of(" \t\r\n");
  auto text = line.substr(first, last - first + 1);
  auto doc = json::parse(text);
  if (!doc || !doc->is_object())
    return error{"json", {}, "a line must hold one JSON object (an ingest event)"};
  return result{std::string{text}};
}

} // namespace gavel::protocols
