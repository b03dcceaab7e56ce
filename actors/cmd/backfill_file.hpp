#pragma once

#include "protocols/backfill_input.hpp"

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace gavel::actors {

/// A backfill input file read record by record with the byte offset after
/// each, so that a run can start at a checkpoint (DESIGN §1.10). JSON lines
/// or a CSV bid log (protocols/backfill_input.hpp); a CSV's header row is
/// read first whatever the start.
class backfill_file {
public:
  /// Opens `path`; error code "file" when it cannot be read, "csv" for a bad
  /// header.
  static protocols::expected<backfill_file> open(const std::string& path);

  std::int64_t size() const noexcept { return size_; }
  /// Hex SHA-256 of the first MiB: with the size, the file's identity.
  const std::string& print() const noexcept { return print_; }
  /// Where the first record starts (after a CSV's header).
  std::int64_t first_offset() const noexcept { return first_; }

  /// Continues from byte `offset` (a record boundary: a checkpoint).
  void seek(std::int64_t offset);

  struct record {
    /// The ingest event's JSON, or why the record is not one (code "csv" or
    /// "json", message naming the line).
    protocols::expected<std::string> event;
    std::int64_t end = 0; ///< byte offset just after it
  };
  /// The next record; nothing at the end of the file. Blank lines are
  /// skipped (their bytes belong to the next record or the end).
  std::optional<record> next();

private:
  bool fill(); ///< reads more; false at the end of the file

  std::string path_;
  std::shared_ptr<std::ifstream> in_;
  protocols::backfill_format format_ = protocols::backfill_format::json_lines;
  protocols::csv_header header_;
  std::int64_t size_ = 0, first_ = 0;
  std::string print_;
  std::string buf_;         ///< file bytes from buf_at_
  std::size_t cursor_ = 0;  ///< next unread byte of buf_
  std::int64_t buf_at_ = 0; ///< file offset of buf_[0]
  bool eof_ = false;
};

} // namespace gavel::actors
