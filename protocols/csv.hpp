#pragma once

#include "protocols/expected.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// CSV records as RFC 4180 writes them: the one reader of `gavel
/// reconcile`'s exports and `gavel backfill`'s bid logs.
namespace gavel::protocols {

/// One CSV record (RFC 4180: fields separated by commas, a field in double
/// quotes may hold commas, line breaks and `""` for a quote; lines end in
/// LF or CRLF) at the start of `text`.
struct csv_record {
  std::vector<std::string> fields;
  std::size_t consumed = 0; ///< bytes of `text` it took, its line end included
  std::size_t lines = 0;    ///< line breaks it took (a quoted field may hold some)
};

/// Reads the first record of `text` (a blank line is a record of one empty
/// field: the caller skips it). Nothing when `text` ends before the
/// record does and `at_end` is false (hand over more text); at the end of
/// the input an unterminated last line is a record. Error code "csv" for a
/// quote in the middle of an unquoted field, text after a closing quote, or
/// a quoted field still open at the end.
expected<std::optional<csv_record>> read_csv_record(std::string_view text, bool at_end);

} // namespace gavel::protocols
