#include "actors/cmd/backfill_file.hpp"

#include "protocols/crypto.hpp"

#include <algorithm>

namespace gavel::actors {

namespace {

constexpr std::size_t chunk = 1 << 20;

} // namespace

protocols::expected<backfill_file> backfill_file::open(const std::string& path) {
  backfill_file f;
  f.path_ = path;
  f.in_ = std::make_shared<std::ifstream>(path, std::ios::binary);
  if (!*f.in_)
    return protocols::error{"file", "--file", "cannot read " + path};
  f.in_->seekg(0, std::ios::end);
  f.size_ = static_cast<std::int64_t>(f.in_->tellg());
  f.in_->seekg(0);
  std::string head(std::min<std::size_t>(chunk, static_cast<std::size_t>(f.size_)), '\0');
  f.in_->read(head.data(), static_cast<std::streamsize>(head.size()));
  if (static_cast<std::size_t>(f.in_->gcount()) != head.size())
    return protocols::error{"file", "--file", "cannot read " + path};
  f.print_ = protocols::hex_lower(protocols::sha256(head));
  f.format_ = protocols::backfill_format_of(path);
  f.seek(0);
  if (f.format_ == protocols::backfill_format::csv) {
    while (true) {
      auto r =
          protocols::read_csv_record(std::string_view{f.buf_}.substr(f.cursor_), f.eof_);
      if (!r)
        return protocols::error{"csv", "--file", path + ": header: " + r.err().message};
      if (!*r) {
        if (!f.fill())
          return protocols::error{"csv", "--file", path + ": no header row"};
        continue;
      }
      auto header = protocols::read_csv_header((*r)->fields);
      if (!header)
        return protocols::error{"csv", "--file", path + ": " + header.err().message};
      f.header_ = std::move(*header);
      f.cursor_ += (*r)->consumed;
      break;
    }
  }
  f.first_ = f.buf_at_ + static_cast<std::int64_t>(f.cursor_);
  return f;
}

void backfill_file::seek(std::int64_t offset) {
  in_->clear();
  in_->seekg(offset);
  buf_.clear();
  cursor_ = 0;
  buf_at_ = offset;
  eof_ = offset >= size_;
}

bool backfill_file::fill() {
  if (eof_)
    return false;
  // Keep what is unread, then append a chunk.
  buf_.erase(0, cursor_);
  buf_at_ += static_cast<std::int64_t>(cursor_);
  cursor_ = 0;
  auto old = buf_.size();
  buf_.resize(old + chunk);
  in_->read(buf_.data() + old, chunk);
  auto got = static_cast<std::size_t>(in_->gcount());
  buf_.resize(old + got);
  if (got < chunk)
    eof_ = true;
  return true;
}

std::optional<backfill_file::record> backfill_file::next() {
  while (true) {
    std::string_view rest = std::string_view{buf_}.substr(cursor_);
    if (format_ == protocols::backfill_format::json_lines) {
      auto nl = rest.find('\n');
      if (nl == std::string_view::npos && !eof_) {
        fill();
        continue;
      }
      if (rest.empty())
        return std::nullopt;
      auto line = rest.substr(0, nl == std::string_view::npos ? rest.size() : nl);
      auto at = buf_at_ + static_cast<std::int64_t>(cursor_);
      cursor_ += line.size() + (nl == std::string_view::npos ? 0 : 1);
      auto end = buf_at_ + static_cast<std::int64_t>(cursor_);
      auto ev = protocols::json_line_event(line);
      if (!ev)
        return record{
            protocols::error{"json", "",
                             "byte " + std::to_string(at) + ": " + ev.err().message},
            end};
      if (!*ev)
        continue; // blank
      return record{std::move(**ev), end};
    }
    if (rest.empty()) {
      if (!fill())
        return std::nullopt;
      continue;
    }
    auto r = protocols::read_csv_record(rest, eof_);
    if (!r) {
      // Nothing after a broken quote can be trusted to line up: the rest of
      // the file is one rejected record.
      auto at = buf_at_ + static_cast<std::int64_t>(cursor_);
      cursor_ = buf_.size();
      while (fill())
        cursor_ = buf_.size();
      return record{protocols::error{
                        "csv", "", "byte " + std::to_string(at) + ": " + r.err().message},
                    size_};
    }
    if (!*r) {
      if (!fill())
        return std::nullopt;
      continue;
    }
    auto at = buf_at_ + static_cast<std::int64_t>(cursor_);
    cursor_ += (*r)->consumed;
    auto end = buf_at_ + static_cast<std::int64_t>(cursor_);
    const auto& fields = (*r)->fields;
    if (fields.size() == 1 && fields[0].empty())
      continue; // blank line
    auto ev = protocols::csv_row_event(header_, fields);
    if (!ev)
      return record{
          protocols::error{"csv", "",
                           "byte " + std::to_string(at) + ": " + ev.err().message},
          end};
    return record{std::move(*ev), end};
  }
}

} // namespace gavel::actors
