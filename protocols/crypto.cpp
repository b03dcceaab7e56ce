#include "protocols/crypto.hpp"

#include <algorithm>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace gavel::protocols {

namespace {

const unsigned char* bytes(std::string_view s) noexcept {
  // OpenSSL wants a valid pointer even for zero lengths; an empty
  // string_view may hold nullptr.
  static const unsigned char empty = 0;
  return s.empty() ? &empty : reinterpret_cast<const unsigned char*>(s.data());
}

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

constexpr std::string_view webhook_secret_prefix = "whsec_";

/// The HMAC key of a Standard Webhooks secret. The prefix is optional, as in
/// the reference libraries, which strip it when present.
expected<std::string> webhook_key(std::string_view secret) {
  if (secret.starts_with(webhook_secret_prefix))
    secret.remove_prefix(webhook_secret_prefix.size());
  auto key = base64_decode(secret);
  if (!key || key->empty())
    return error{"secret", "",
                 "a webhook secret must be whsec_ followed by base64 key bytes"};
  return key;
}

std::string signed_content(std::string_view id, std::int64_t timestamp,
                           std::string_view body) {
  std::string s;
  s.reserve(id.size() + body.size() + 24);
  s += id;
  s += '.';
  s += std::to_string(timestamp);
  s += '.';
  s += body;
  return s;
}

} // namespace

std::string base64_encode(std::string_view in) {
  // EVP_EncodeBlock takes an int length: feed it whole 3-byte groups in
  // chunks so an input of any size encodes identically to one call.
  constexpr std::size_t chunk = 3 * 1024 * 1024;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4 + 1);
  while (!in.empty()) {
    auto n = std::min(chunk, in.size());
    std::string buf((n + 2) / 3 * 4 + 1, '\0');
    auto written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                                   bytes(in), static_cast<int>(n));
    out.append(buf.data(), static_cast<std::size_t>(written));
    in.remove_prefix(n);
  }
  return out;
}

expected<std::string> base64_decode(std::string_view text) {
  // EVP_DecodeBlock is lenient (skips white space, does not check where `=`
  // sits), so the shape is checked here first.
  auto fail = [] { return error{"base64", "", "not valid padded base64"}; };
  if (text.size() % 4 != 0)
    return fail();
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=')
    pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  auto body = text.substr(0, text.size() - pad);
  if (!std::all_of(body.begin(), body.end(), is_base64_char))
    return fail();
  std::string out;
  // Decode group-aligned chunks to keep lengths within int.
  constexpr std::size_t chunk = 4 * 1024 * 1024;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto n = std::min(chunk, rest.size());
    std::string buf(n / 4 * 3, '\0');
    int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                                  bytes(rest), static_cast<int>(n));
    if (written < 0)
      return fail();
    out.append(buf.data(), static_cast<std::size_t>(written));
    rest.remove_prefix(n);
  }
  // EVP_DecodeBlock counts the zero bytes that stand for padding.
  out.resize(out.size() - pad);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), bytes(key), static_cast<int>(key.size()), bytes(message),
           message.size(), md, &len) == nullptr)
    return {}; // only on allocation failure inside OpenSSL
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string sha256(std::string_view bytes_in) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(bytes(bytes_in), bytes_in.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string hex_lower(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

bool same_digest(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
                      c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  return out;
}

namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// The one decoding loop; `strict` decides whether a malformed `%` fails the
/// whole text or is kept as a literal character.
std::optional<std::string> decode(std::string_view s, plus_is plus, bool strict) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+' && plus == plus_is::space) {
      out.push_back(' ');
    } else if (c == '%') {
      int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else if (strict) {
        return std::nullopt;
      } else {
        out.push_back(c);
      }
    } else {
      out.push_back(c);
    }
  }
  return out;
}

} // namespace

std::optional<std::string> percent_decode(std::string_view s, plus_is plus) {
  return decode(s, plus, true);
}

std::string url_decode(std::string_view s) {
  return *decode(s, plus_is::space, false);
}

expected<std::string> webhook_signature(std::string_view secret, std::string_view id,
                                        std::int64_t timestamp, std::string_view body) {
  auto key = webhook_key(secret);
  if (!key)
    return key.err();
  return "v1," + base64_encode(hmac_sha256(*key, signed_content(id, timestamp, body)));
}

bool webhook_signature_matches(std::string_view secret, std::string_view id,
                               std::int64_t timestamp, std::string_view body,
                               std::string_view header) {
  auto expected_sig = webhook_signature(secret, id, timestamp, body);
  if (!expected_sig)
    return false;
  std::string_view want = *expected_sig;
  // Senders rotating secrets list several signatures; any one may match.
  // Every entry is compared, matched or not, so timing says nothing about
  // which one (if any) was right.
  bool found = false;
  while (!header.empty()) {
    auto space = header.find(' ');
    auto entry = header.substr(0, space);
    header.remove_prefix(space == std::string_view::npos ? header.size() : space + 1);
    if (entry.size() == want.size() &&
        CRYPTO_memcmp(entry.data(), want.data(), want.size()) == 0)
      found = true;
  }
  return found;
}

std::string sas_token(std::string_view resource_uri, std::string_view key_name,
                      std::string_view key, std::int64_t expiry_unix_seconds) {
  auto uri = url_encode(resource_uri);
  auto expiry = std::to_string(expiry_unix_seconds);
  auto sig = url_encode(base64_encode(hmac_sha256(key, uri + "\n" + expiry)));
  std::string out = "SharedAccessSignature sr=";
  out += uri;
  out += "&sig=";
  out += sig;
  out += "&se=";
  out += expiry;
  out += "&skn=";
  out += url_encode(key_name);
  return out;
}

} // namespace gavel::protocols
