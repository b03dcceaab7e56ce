#define CAF_SUITE protocols.crypto
#include "protocols/crypto.hpp"

#include <caf/test/unit_test.hpp>
#include <string>

using namespace gavel::protocols;

namespace {

// The reference vector of the Standard Webhooks specification (its test
// suites and Svix's docs), re-derived with Python's hmac/base64 modules.
constexpr std::string_view spec_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view spec_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t spec_timestamp = 1614265330;
constexpr std::string_view spec_body = R"({"test": 2432232314})";
constexpr std::string_view spec_signature =
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    out += digits[u >> 4];
    out += digits[u & 0xf];
  }
  return out;
}

std::string decoded(std::string_view text) {
  auto r = base64_decode(text);
  return r ? *r : "error:" + r.err().code;
}

} // namespace

CAF_TEST(base64 encodes the rfc 4648 vectors) {
  CAF_CHECK_EQUAL(base64_encode(""), "");
  CAF_CHECK_EQUAL(base64_encode("f"), "Zg==");
  CAF_CHECK_EQUAL(base64_encode("fo"), "Zm8=");
  CAF_CHECK_EQUAL(base64_encode("foo"), "Zm9v");
  CAF_CHECK_EQUAL(base64_encode("foob"), "Zm9vYg==");
  CAF_CHECK_EQUAL(base64_encode("fooba"), "Zm9vYmE=");
  CAF_CHECK_EQUAL(base64_encode("foobar"), "Zm9vYmFy");
  CAF_CHECK_EQUAL(base64_encode(std::string_view{"\x00\xff\xfe hello", 9}),
                  "AP/+IGhlbGxv");
}

CAF_TEST(base64 decoding drops the padding bytes) {
  CAF_CHECK_EQUAL(decoded(""), "");
  CAF_CHECK_EQUAL(decoded("Zg=="), "f");
  CAF_CHECK_EQUAL(decoded("Zm8="), "fo");
  CAF_CHECK_EQUAL(decoded("Zm9v"), "foo");
  CAF_CHECK_EQUAL(decoded("Zm9vYg=="), "foob");
  CAF_CHECK_EQUAL(decoded("Zm9vYmE="), "fooba");
  CAF_CHECK_EQUAL(decoded("Zm9vYmFy"), "foobar");
  CAF_CHECK_EQUAL(decoded("AP/+IGhlbGxv"), (std::string{"\x00\xff\xfe hello", 9}));
}

CAF_TEST(base64 round trips every byte value and length) {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 1) {
    auto part = all.substr(0, n);
    CAF_CHECK_EQUAL(decoded(base64_encode(part)), part);
  }
  // Larger than one encoder chunk.
  std::string big(7 * 1024 * 1024 + 1, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4099)
    big[i] = static_cast<char>(i);
  CAF_CHECK(decoded(base64_encode(big)) == big);
}

CAF_TEST(base64 rejects malformed input) {
  for (auto bad : {"Zg", "Zg=", "Z===", "====", "Zm9v=", "Zg==Zg==", "Zm9-", "Zm9_",
                   "Zm 9v", "Zm9v\n", "=Zm9", "Z=g="})
    CAF_CHECK_EQUAL(decoded(bad), "error:base64");
}

CAF_TEST(hmac sha256 matches rfc 4231 test case 2) {
  CAF_CHECK_EQUAL(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CAF_CHECK_EQUAL(hmac_sha256("", "").size(), 32u);
}

CAF_TEST(url_encode escapes everything but unreserved characters) {
  CAF_CHECK_EQUAL(url_encode("https://gavel-ns.servicebus.windows.net/bids"),
                  "https%3A%2F%2Fgavel-ns.servicebus.windows.net%2Fbids");
  // Expected value from python3: urllib.parse.quote("a b/c?d=é~_.-*!", safe='').
  CAF_CHECK_EQUAL(url_encode("a b/c?d=\xc3\xa9~_.-*!"),
                  "a%20b%2Fc%3Fd%3D%C3%A9~_.-%2A%21");
  CAF_CHECK_EQUAL(url_encode("AZaz09"), "AZaz09");
  CAF_CHECK_EQUAL(url_encode("+/="), "%2B%2F%3D");
  CAF_CHECK_EQUAL(url_encode(""), "");
}

CAF_TEST(percent_decode is strict and reads plus as the caller says) {
  CAF_CHECK_EQUAL(percent_decode("a%20b%2Bc+d%C3%A9", plus_is::space).value_or("(none)"),
                  "a b+c d\xc3\xa9");
  CAF_CHECK_EQUAL(percent_decode("p+w%2bx", plus_is::plus).value_or("(none)"), "p+w+x");
  CAF_CHECK_EQUAL(percent_decode("", plus_is::plus).value_or("(none)"), "");
  CAF_CHECK_EQUAL(percent_decode("%41", plus_is::plus).value_or("(none)"), "A");
  for (auto bad : {"%", "%4", "a%4", "%zz", "%4g", "x%%41"}) {
    CAF_CHECK(!percent_decode(bad, plus_is::space));
    CAF_CHECK(!percent_decode(bad, plus_is::plus));
  }
}

CAF_TEST(url_decode keeps a malformed escape as it is) {
  CAF_CHECK_EQUAL(url_decode("a%20b+c"), "a b c");
  CAF_CHECK_EQUAL(url_decode("100%"), "100%");
  CAF_CHECK_EQUAL(url_decode("%zz%4"), "%zz%4");
  CAF_CHECK_EQUAL(url_decode(url_encode("a b+/=\xc3\xa9")), "a b+/=\xc3\xa9");
}

CAF_TEST(webhook signature matches the standard webhooks reference vector) {
  auto sig = webhook_signature(spec_secret, spec_id, spec_timestamp, spec_body);
  CAF_REQUIRE(sig);
  CAF_CHECK_EQUAL(*sig, spec_signature);
  // The reference libraries accept the secret without its prefix too.
  auto bare =
      webhook_signature(spec_secret.substr(6), spec_id, spec_timestamp, spec_body);
  CAF_REQUIRE(bare);
  CAF_CHECK_EQUAL(*bare, spec_signature);
}

CAF_TEST(webhook signature rejects malformed secrets) {
  for (auto bad : {"whsec_", "whsec_not base64!", "whsec_abc", ""}) {
    auto sig = webhook_signature(bad, spec_id, spec_timestamp, spec_body);
    CAF_REQUIRE(!sig);
    CAF_CHECK_EQUAL(sig.err().code, "secret");
  }
}

CAF_TEST(webhook verification accepts any listed v1 signature) {
  auto ok = [](std::string_view header) {
    return webhook_signature_matches(spec_secret, spec_id, spec_timestamp, spec_body,
                                     header);
  };
  CAF_CHECK(ok(spec_signature));
  CAF_CHECK(ok("v1,bm90IHRoaXMgb25l " + std::string{spec_signature}));
  CAF_CHECK(ok(std::string{spec_signature} + " v1a,c29tZXRoaW5nIGVsc2U="));
}

CAF_TEST(webhook verification rejects wrong signatures and tampering) {
  auto ok = [](std::string_view header) {
    return webhook_signature_matches(spec_secret, spec_id, spec_timestamp, spec_body,
                                     header);
  };
  CAF_CHECK(!ok(""));
  CAF_CHECK(!ok("v1,"));
  CAF_CHECK(!ok("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
  CAF_CHECK(!ok("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
  CAF_CHECK(!ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="));
  CAF_CHECK(!webhook_signature_matches(spec_secret, spec_id, spec_timestamp + 1,
                                       spec_body, spec_signature));
  CAF_CHECK(!webhook_signature_matches(spec_secret, "msg_other", spec_timestamp,
                                       spec_body, spec_signature));
  CAF_CHECK(!webhook_signature_matches(spec_secret, spec_id, spec_timestamp,
                                       R"({"test":2432232314})", spec_signature));
  CAF_CHECK(!webhook_signature_matches("whsec_???", spec_id, spec_timestamp, spec_body,
                                       spec_signature));
}

CAF_TEST(sas token matches an independently computed token) {
  // Expected values from python3 following Azure's sample: uri =
  // quote_plus(resource), sig = quote(b64encode(hmac(key.encode(),
  // (uri + "\n" + expiry).encode(), sha256).digest()), safe='').
  CAF_CHECK_EQUAL(sas_token("https://gavel-ns.servicebus.windows.net/bids", "send",
                            "my-sas-key+/=", 1781000000),
                  "SharedAccessSignature "
                  "sr=https%3A%2F%2Fgavel-ns.servicebus.windows.net%2Fbids"
                  "&sig=oBzZ%2F5Ia8anLyGLeSinN1VCbsNMdq7N%2FdyvAamlSm9k%3D"
                  "&se=1781000000&skn=send");
  // A key that looks like base64 is still used as given, not decoded.
  CAF_CHECK_EQUAL(sas_token("https://gavel-ns.servicebus.windows.net/bids", "send",
                            "0123456789abcdefABCDEF0123456789abcdefABCDEF0=", 1781000000),
                  "SharedAccessSignature "
                  "sr=https%3A%2F%2Fgavel-ns.servicebus.windows.net%2Fbids"
                  "&sig=kSLwdYA2kp11%2BxDV201an1RIBFkv49qTgekE5KRG5ow%3D"
                  "&se=1781000000&skn=send");
}
