// libFuzzer target: the signature code of the destinations (protocols/
// crypto.*): base64, whsec_ secret decoding, Standard Webhooks signing and
// verification, Azure SAS tokens, on fuzzer-chosen secrets, ids, bodies and
// header values, with the properties the callers rely on.
#include "protocols/crypto.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fuzzer/FuzzedDataProvider.h>
#include <string>

using namespace gavel::protocols;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  auto secret = in.ConsumeRandomLengthString(128);
  auto id = in.ConsumeRandomLengthString(64);
  auto header = in.ConsumeRandomLengthString(256);
  auto timestamp = in.ConsumeIntegral<std::int64_t>();
  auto body = in.ConsumeRemainingBytesAsString();

  // base64: decoding what was encoded gives the bytes back; arbitrary text
  // decodes to exactly 3 bytes per group less the padding, or is refused.
  auto round = base64_decode(base64_encode(body));
  if (!round || *round != body)
    std::abort();
  if (auto decoded = base64_decode(secret)) {
    auto pad = secret.ends_with("==") ? 2 : secret.ends_with('=') ? 1 : 0;
    if (decoded->size() != secret.size() / 4 * 3 - pad)
      std::abort();
  }

  // Signing: whatever we sign, verification with the same secret accepts,
  // also among other entries of a rotating sender's header.
  auto sig = webhook_signature(secret, id, timestamp, body);
  bool matches = webhook_signature_matches(secret, id, timestamp, body, header);
  if (sig) {
    if (!webhook_signature_matches(secret, id, timestamp, body, header + " " + *sig))
      std::abort();
    if (matches && header.find(*sig) == std::string::npos)
      std::abort(); // accepted a header that does not carry the signature
  } else if (matches) {
    std::abort(); // a malformed secret never verifies anything
  }

  // SAS: every byte of the resource and key name is percent-encoded safely.
  auto token = sas_token(id, header, secret, timestamp);
  for (char c : token)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      std::abort();
  return 0;
}
