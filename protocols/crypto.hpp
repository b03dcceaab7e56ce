#pragma once

#include "protocols/expected.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

/// Small wrappers over OpenSSL's libcrypto (pure computation, no I/O).
namespace gavel::protocols {

std::string base64_encode(std::string_view in);
/// Standard alphabet with padding; error code "base64" on bad input.
expected<std::string> base64_decode(std::string_view text);
/// Raw 32-byte HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view message);
/// Raw 32-byte SHA-256.
std::string sha256(std::string_view bytes);
/// Lower-case hex of raw bytes (two digits per byte).
std::string hex_lower(std::string_view bytes);
/// Constant-time equality of two digests (of equal, public length): compare
/// secrets by their SHA-256, so neither their content nor their length leaks.
bool same_digest(std::string_view a, std::string_view b) noexcept;
/// RFC 3986 percent-encoding of everything but unreserved characters
/// (what Azure expects in SAS tokens).
std::string url_encode(std::string_view s);
/// What a `+` means to percent_decode: a space in a form's query
/// (application/x-www-form-urlencoded), itself in a URL's other parts (a
/// legal character of a password, say).
enum class plus_is { space, plus };
/// Strict RFC 3986 percent-decoding: nullopt when a `%` is not followed by
/// two hex digits.
std::optional<std::string> percent_decode(std::string_view s, plus_is plus);
/// Lenient form decoding as Azure's decoder does it: `%XX` and `+` (a
/// space); a stray or malformed `%` is kept as is.
std::string url_decode(std::string_view s);

/// Standard Webhooks (standardwebhooks.com): `v1,<base64 HMAC-SHA256 of
/// "<id>.<timestamp>.<body>">` with the key being the base64 part of
/// `whsec_<base64>`. Error code "secret" when the secret is malformed.
expected<std::string> webhook_signature(std::string_view secret, std::string_view id,
                                        std::int64_t timestamp, std::string_view body);

/// Whether a `webhook-signature` header value (space-separated list of
/// `v1,<sig>` entries) contains a valid signature for the message.
bool webhook_signature_matches(std::string_view secret, std::string_view id,
                               std::int64_t timestamp, std::string_view body,
                               std::string_view header);

/// Azure Event Hubs / Service Bus SAS token:
/// `SharedAccessSignature sr=<enc uri>&sig=<enc b64 HMAC(key, enc_uri + "\n" +
/// expiry)>&se=<expiry>&skn=<name>`. The key is used as given (its UTF-8 bytes), not
/// base64-decoded.
std::string sas_token(std::string_view resource_uri, std::string_view key_name,
                      std::string_view key, std::int64_t expiry_unix_seconds);

} // namespace gavel::protocols
