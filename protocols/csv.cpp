#include "protocols/csv.hpp"

namespace gavel::protocols {

namespace {

error csv_error(std::string message) {
  return error{"csv", {}, std::move(message)};
}

} // namespace

expected<std::optional<csv_record>> read_csv_record(std::string_view text, bool at_end) {
  using result = std::optional<csv_record>;
  csv_record rec;
  std::string field;
  std::size_t i = 0;
  bool quoted = false;     // inside a quoted field
  bool was_quoted = false; // the current field was quoted (and closed)
  auto end_field = [&] {
    rec.fields.push_back(std::move(field));
    field.clear();
    was_quoted = false;
  };
  while (i < text.size()) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 == text.size() && !at_end)
          return result{}; // an escaped quote or the close: need the next byte
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        was_quoted = true;
        ++i;
        continue;
      }
      if (c == '\n')
        ++rec.lines;
      field += c;
      ++i;
      continue;
    }
    if (c == ',') {
      end_field();
      ++i;
      continue;
    }
    if (c == '\n' || c == '\r') {
      if (c == '\r') {
        if (i + 1 == text.size() && !at_end)
          return result{};
        if (i + 1 < text.size() && text[i + 1] == '\n')
          ++i;
      }
      end_field();
      rec.consumed = i + 1;
      ++rec.lines;
      return result{std::move(rec)};
    }
    if (was_quoted)
      return csv_error("text after the closing quote of a field");
    if (c == '"') {
      if (!field.empty())
        return csv_error("a quote inside an unquoted field (quote the whole field and "
                         "double the quote)");
      quoted = true;
      ++i;
      continue;
    }
    field += c;
    ++i;
  }
  if (!at_end)
    return result{};
  if (quoted)
    return csv_error("a quoted field is still open at the end of the file");
  if (text.empty())
    return result{};
  end_field();
  rec.consumed = text.size();
  return result{std::move(rec)};
}

} // namespace gavel::protocols
