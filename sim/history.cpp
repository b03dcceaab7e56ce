// `sim history`: a realistic auction history for `gavel backfill` (DESIGN
// §1.10): months of auctions, the ones that ended closed, the ones still
// running with only the bids placed so far. The auctions and bids are
// burst's own workload (sim/workload.cpp), stretched over the period.
#include "protocols/backfill_input.hpp"
#include "protocols/json.hpp"
#include "sim/commands.hpp"
#include "sim/common.hpp"
#include "sim/workload.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

namespace gavel::sim {

namespace {

/// The CSV columns, in this order: the fields a bid log export carries.
const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> columns{"event_type",
                                                "auction_id",
                                                "bid_id",
                                                "bid_amount",
                                                "bid_timestamp",
                                                "bidder_user_id",
                                                "bidder_name",
                                                "bidder_email",
                                                "product_name",
                                                "sku",
                                                "auction_type",
                                                "starting_price",
                                                "current_price",
                                                "start_date",
                                                "end_date",
                                                "winning_status",
                                                "proxy_bid",
                                                "proxy_bid_low_end",
                                                "proxy_bid_high_end"};
  return columns;
}

void append_csv_cell(std::string_view cell, std::string& out) {
  if (cell.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += cell;
    return;
  }
  out += '"';
  for (char c : cell) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
}

/// One ingest body as a CSV row of csv_columns(); false when the body is
/// not what the workload writes.
bool append_csv_row(const std::string& body, std::string& out) {
  auto doc = protocols::json::parse(body);
  if (!doc || !doc->is_object())
    return false;
  const auto* type = doc->find("event_type");
  const auto* data = doc->find("data");
  if (!type || !type->is_string() || !data || !data->is_object())
    return false;
  bool first = true;
  for (const auto& column : csv_columns()) {
    if (!first)
      out += ',';
    first = false;
    if (column == "event_type") {
      out += type->text;
      continue;
    }
    const auto* v = data->find(column);
    if (!v || v->k == protocols::json::kind::null)
      continue;
    append_csv_cell(v->is_string() ? v->text : protocols::json::dump(*v), out);
  }
  out += '\n';
  return true;
}

} // namespace

void add_history_options(CLI::App& cmd, history_args& a) {
  cmd.add_option("--out", a.out, "history file: .csv for CSV, else JSON lines")
      ->required();
  cmd.add_option("--months", a.months, "length of the history")->capture_default_str();
  cmd.add_option("--events", a.events, "total events (approximate)")
      ->capture_default_str();
  cmd.add_option("--auctions", a.auctions, "auctions over the period")
      ->capture_default_str();
  cmd.add_option("--until", a.until,
                 "the end of the history (ISO-8601 Z; default now): auctions ending "
                 "later are still running, with only their bids so far");
  cmd.add_option("--first-auction-id", a.first_auction_id, "id of the first auction")
      ->capture_default_str();
  cmd.add_option("--seed", a.seed, "workload seed")->capture_default_str();
  cmd.add_option("--bidders", a.bidders, "bidder population")->capture_default_str();
}

int run_history(const history_args& a) {
  using namespace std::chrono;
  std::int64_t until =
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() / 1000 *
      1000;
  if (!a.until.empty()) {
    auto t = parse_iso8601(a.until);
    if (!t) {
      std::cerr << "sim history: --until: expected e.g. 2026-12-01T00:00:00Z\n";
      return 2;
    }
    until = *t;
  }
  if (a.months < 1 || a.auctions < 1 || a.events < 3 * a.auctions) {
    std::cerr << "sim history: need --months >= 1, --auctions >= 1 and --events >= 3 x "
                 "--auctions\n";
    return 2;
  }
  constexpr std::int64_t day = 86'400'000;
  const std::int64_t period = static_cast<std::int64_t>(a.months) * 30 * day;
  workload_options w;
  w.auctions = a.auctions;
  w.events = a.events;
  w.seed = a.seed;
  w.duplicates = 0; // a bid log holds each bid once
  w.implicit_open = 0;
  w.first_auction_id = a.first_auction_id;
  w.bidders = a.bidders;
  // Each auction runs for its last 7 days of bids; ends spread over the
  // period and a week past it, so about 1 in (months x 4) is still running.
  w.bid_window_ms = 7 * day;
  w.close_window_ms = period;
  w.start_ms = until - period;
  w.snipe_window_ms = 15'000;
  w.close_delay_ms = 60'000;
  auto scripts = generate_workload(w);

  struct ref {
    std::int64_t t;
    std::uint32_t script;
    std::uint32_t event;
  };
  std::vector<ref> refs;
  std::size_t running = 0;
  for (std::size_t s = 0; s < scripts.size(); ++s) {
    bool closed = false;
    for (std::size_t e = 0; e < scripts[s].events.size(); ++e) {
      const auto& ev = scripts[s].events[e];
      if (ev.t_ms > until)
        continue; // not happened yet: the live traffic's part
      closed |= ev.kind == event_kind::closed;
      refs.push_back(
          {ev.t_ms, static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(e)});
    }
    running += closed ? 0 : 1;
  }
  std::stable_sort(refs.begin(), refs.end(),
                   [](const ref& x, const ref& y) { return x.t < y.t; });
  const bool csv =
      protocols::backfill_format_of(a.out) == protocols::backfill_format::csv;
  std::FILE* f = std::fopen(a.out.c_str(), "wb");
  if (!f) {
    std::cerr << "sim history: cannot write " << a.out << "\n";
    return 2;
  }
  std::string line;
  if (csv) {
    for (std::size_t i = 0; i < csv_columns().size(); ++i)
      line += (i ? "," : "") + csv_columns()[i];
    line += '\n';
  }
  for (const auto& r : refs) {
    const auto& ev = scripts[r.script].events[r.event];
    if (csv) {
      if (!append_csv_row(ev.body, line)) {
        std::fclose(f);
        std::cerr << "sim history: cannot convert " << ev.event_id << "\n";
        return 2;
      }
    } else {
      line += ev.body;
      line += '\n';
    }
    if (line.size() > (1 << 20)) {
      std::fwrite(line.data(), 1, line.size(), f);
      line.clear();
    }
  }
  std::fwrite(line.data(), 1, line.size(), f);
  if (std::fclose(f) != 0) {
    std::cerr << "sim history: cannot write " << a.out << "\n";
    return 2;
  }
  std::cout << "sim history: " << refs.size() << " events of " << scripts.size()
            << " auctions (" << scripts.size() - running << " closed, " << running
            << " still running) from " << iso8601_ms(w.start_ms) << " to "
            << iso8601_ms(until) << " in " << a.out << "\n";
  return 0;
}

} // namespace gavel::sim
