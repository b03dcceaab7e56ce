#pragma once

#include "protocols/expected.hpp"

#include <string>
#include <string_view>
#include <vector>

/// Bidder PII masking on read paths (DESIGN §1.9; ADR 0019). Pure: the HTTP
/// edge masks every envelope it returns unless the caller's token has `pii`.
namespace gavel::protocols {

/// The fields masked by default (`[pii] fields`).
inline const std::vector<std::string>& default_pii_fields() {
  static const std::vector<std::string> fields{"bidder_name", "bidder_email"};
  return fields;
}

/// One PII text, masked. An e-mail address (an `@` and no white space) keeps
/// the first character of its local part and its domain
/// (`e***@example.com`); anything else keeps each word's first character
/// (`E*** H***`; words split at ASCII white space, joined by one space).
/// Characters are UTF-8 code points, never split. Empty stays empty.
std::string mask_text(std::string_view text);

/// `envelope` (a stored `{metadata, data}` text) with the members of its
/// `data` object named in `fields` masked: a string by `mask_text`, null left
/// as it is, any other value (number, boolean, array, object) replaced by
/// the string `"***"`, since no part of it can be shown safely. Everything
/// else keeps its exact text (numbers as written: money is unchanged); an
/// envelope without such a member comes back byte for byte. Error code
/// "malformed" when the text is not a JSON object: the caller must then
/// withhold it rather than show it unmasked.
expected<std::string> mask_envelope(std::string_view envelope,
                                    const std::vector<std::string>& fields);

/// The pseudonym of one PII text for a destination with `pii = "hash"`:
/// lower-case hex HMAC-SHA256 keyed by its `pii_key`, of the text's exact
/// UTF-8 bytes (DESIGN §1.9), so the same bidder joins across events,
/// retries, restarts and systems that share the key.
std::string pseudonym(std::string_view key, std::string_view text);

/// `envelope` with the members of its `data` named in `fields` replaced by
/// their pseudonym: a string's own text is hashed, null stays null, any other
/// value is hashed as its JSON text. Everything else keeps its exact text; an
/// envelope without such a member comes back byte for byte. Error code
/// "malformed" when the text is not a JSON object (then nothing is sent).
expected<std::string> pseudonymize_envelope(std::string_view envelope,
                                            const std::vector<std::string>& fields,
                                            std::string_view key);

/// `text` (free text about the record `envelope`, such as a destination's
/// error message, which may quote what it was sent) with every mention of
/// the envelope's string values of `fields` (as written, and JSON-escaped)
/// replaced by their `mask_text`.
std::string mask_mentions(std::string_view text, std::string_view envelope,
                          const std::vector<std::string>& fields);

} // namespace gavel::protocols
