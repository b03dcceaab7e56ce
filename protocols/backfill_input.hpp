#pragma once

#include "protocols/csv.hpp"
#include "protocols/expected.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The input files of `gavel backfill` (DESIGN §1.10), read into ingest
/// events (the JSON body of one event of POST /v1/events). Pure: the caller
/// reads the file and hands over its text in chunks, so a file of any size
/// streams through a bounded buffer.
namespace gavel::protocols {

enum class backfill_format { json_lines, csv };

/// The format a file name implies: `.csv` is CSV, anything else JSON lines.
backfill_format backfill_format_of(std::string_view path);

/// The header row of a bid-log CSV: the names of `data` fields, and
/// optionally `event_type` (each row's type; without it every row is a
/// `bid.placed`). Error code "csv" for an empty or repeated name, or none
/// named `auction_id`.
struct csv_header {
  std::vector<std::string> names;
};
expected<csv_header> read_csv_header(const std::vector<std::string>& fields);

/// One CSV row as an ingest event: `{"event_type": ..., "data": {...}}`.
/// An empty cell leaves its field out. `auction_id`, `bid_id` and
/// `bidder_user_id` made of digits are JSON integers, the decimal fields
/// (`bid_amount`, `starting_price`, `current_price`, `proxy_bid_low_end`,
/// `proxy_bid_high_end`) that are plain decimals are JSON numbers with their
/// text kept, and every other cell is a JSON string; what is invalid is
/// left for ingest's own validation to refuse, with its usual error. Error
/// code "csv" when the row has more or fewer cells than the header.
expected<std::string> csv_row_event(const csv_header& header,
                                    const std::vector<std::string>& row);

/// One JSON line: the event itself; blank lines (and a line of only
/// white space) are nothing. A line that is not a JSON object is error code
/// "json" (the body is checked in full by ingest).
expected<std::optional<std::string>> json_line_event(std::string_view line);

} // namespace gavel::protocols
