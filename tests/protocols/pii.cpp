#define CAF_SUITE protocols.pii
#include "protocols/pii.hpp"

#include <caf/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace gavel::protocols;

namespace {

const std::vector<std::string> fields{"bidder_name", "bidder_email"};

std::string envelope(const std::string& data) {
  return R"({"metadata":{"event_id":"bid.placed-1","event_type":"bid.placed","schema_version":"1.0","producer_timestamp":"2026-06-09T14:23:11.412Z","bid_sequence":2},"data":)" +
         data + "}";
}

/// The masked text (a value: CAF's checks must not hold a temporary).
std::string mask(const std::string& text, const std::vector<std::string>& names) {
  auto m = mask_envelope(text, names);
  CAF_REQUIRE(m);
  return *m;
}

std::string masked(const std::string& data) {
  auto m = mask_envelope(envelope(data), fields);
  CAF_REQUIRE(m);
  return *m;
}

} // namespace

CAF_TEST(an e - mail keeps its first character and its domain) {
  CAF_CHECK_EQUAL(mask_text("erika@example.com"), "e***@example.com");
  CAF_CHECK_EQUAL(mask_text("e@example.com"), "e***@example.com");
  // The domain is after the last @ (a quoted local part may hold one).
  CAF_CHECK_EQUAL(mask_text("\"a@b\"@example.com"), "\"***@example.com");
  CAF_CHECK_EQUAL(mask_text("@example.com"), "***@example.com");
}

CAF_TEST(a name keeps the first letter of each word) {
  CAF_CHECK_EQUAL(mask_text("Erika Hansen"), "E*** H***");
  CAF_CHECK_EQUAL(mask_text("Erika"), "E***");
  CAF_CHECK_EQUAL(mask_text("Anna Maria van Dijk"), "A*** M*** v*** D***");
  // White space is not kept as it was: runs become one space, ends go.
  CAF_CHECK_EQUAL(mask_text("  Erika \t Hansen\n"), "E*** H***");
  // Text with an @ and a space is not an address: masked as words.
  CAF_CHECK_EQUAL(mask_text("Erika @ home"), "E*** @*** h***");
}

CAF_TEST(empty text stays empty and blank text shows nothing) {
  CAF_CHECK_EQUAL(mask_text(""), "");
  CAF_CHECK_EQUAL(mask_text("   "), "");
}

CAF_TEST(multi byte characters are kept whole) {
  CAF_CHECK_EQUAL(mask_text("Émile Zoë"), "É*** Z***");
  CAF_CHECK_EQUAL(mask_text("Øystein"), "Ø***");
  CAF_CHECK_EQUAL(mask_text("李小龍"), "李***");
  CAF_CHECK_EQUAL(mask_text("😀 Smile"), "😀*** S***");
  CAF_CHECK_EQUAL(mask_text("élodie@exämple.fr"), "é***@exämple.fr");
}

CAF_TEST(the pii fields of the envelope are masked and everything else kept exactly) {
  auto out = masked(
      R"({"auction_id":1042,"bid_amount":875.10,"bidder_name":"Erika Hansen","bidder_email":"erika@example.com","current_price":1e3,"bidder_user_id":77})");
  CAF_CHECK_EQUAL(
      out,
      envelope(
          R"({"auction_id":1042,"bid_amount":875.10,"bidder_name":"E*** H***","bidder_email":"e***@example.com","current_price":1e3,"bidder_user_id":77})"));
}

CAF_TEST(an envelope without pii comes back byte for byte) {
  // Not re-serialised: spacing and number forms of the stored bytes stay.
  std::string text =
      R"({"metadata": {"event_id": "auction.closed-7"}, "data": {"auction_id": 7, "current_price": 10.50}})";
  CAF_CHECK_EQUAL(mask(text, fields), text);
  std::string no_data = R"({"metadata":{}})";
  CAF_CHECK_EQUAL(mask(no_data, fields), no_data);
}

CAF_TEST(non string values show nothing and null stays null) {
  CAF_CHECK_EQUAL(masked(R"({"bidder_name":12345})"),
                  envelope(R"({"bidder_name":"***"})"));
  CAF_CHECK_EQUAL(masked(R"({"bidder_name":true})"),
                  envelope(R"({"bidder_name":"***"})"));
  CAF_CHECK_EQUAL(masked(R"({"bidder_name":["Erika","Hansen"]})"),
                  envelope(R"({"bidder_name":"***"})"));
  CAF_CHECK_EQUAL(masked(R"({"bidder_email":{"address":"erika@example.com"}})"),
                  envelope(R"({"bidder_email":"***"})"));
  CAF_CHECK_EQUAL(masked(R"({"bidder_name":null})"), envelope(R"({"bidder_name":null})"));
  CAF_CHECK_EQUAL(masked(R"({"bidder_name":""})"), envelope(R"({"bidder_name":""})"));
}

CAF_TEST(only the configured fields of data are masked) {
  // Same names outside `data` are not the bidder's fields.
  std::string text =
      R"({"metadata":{"bidder_name":"meta"},"data":{"bidder_name":"Erika","note":"Erika"}})";
  CAF_CHECK_EQUAL(
      mask(text, fields),
      R"({"metadata":{"bidder_name":"meta"},"data":{"bidder_name":"E***","note":"Erika"}})");
  CAF_CHECK_EQUAL(
      mask(text, {"note"}),
      R"({"metadata":{"bidder_name":"meta"},"data":{"bidder_name":"Erika","note":"E***"}})");
  CAF_CHECK_EQUAL(mask(text, {}), text);
}

CAF_TEST(an unreadable envelope is an error and never passed through) {
  CAF_CHECK(!mask_envelope("not json", fields));
  CAF_CHECK(!mask_envelope("", fields));
  CAF_CHECK(!mask_envelope(R"(["bidder_name","Erika"])", fields));
  auto e = mask_envelope("{", fields);
  CAF_REQUIRE(!e);
  CAF_CHECK_EQUAL(e.err().code, "malformed");
}

CAF_TEST(mentions of the pii of a record in free text are masked) {
  auto env = envelope(
      R"({"bidder_name":"Erika \"Rikki\" Hansen","bidder_email":"erika@example.com"})");
  CAF_CHECK_EQUAL(
      mask_mentions(
          R"(422: {"message":"Property bidder_email='erika@example.com' invalid for Erika \"Rikki\" Hansen"})",
          env, fields),
      R"(422: {"message":"Property bidder_email='e***@example.com' invalid for E*** "*** H***"})");
  CAF_CHECK_EQUAL(mask_mentions("timeout", env, fields), "timeout");
  CAF_CHECK_EQUAL(mask_mentions("erika@example.com", "not json", fields),
                  "erika@example.com");
}

// Known answer: RFC 2104 HMAC-SHA256 of the pangram under "key" (the
// example of the HMAC Wikipedia article, checked with `openssl dgst
// -sha256 -hmac key`).
CAF_TEST(a pseudonym is the lower case hex HMAC SHA256 of the text) {
  CAF_CHECK_EQUAL(pseudonym("key", "The quick brown fox jumps over the lazy dog"),
                  "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  CAF_CHECK_EQUAL(pseudonym("k1", "erika@example.com"),
                  pseudonym("k1", "erika@example.com"));
  CAF_CHECK_NOT_EQUAL(pseudonym("k1", "erika@example.com"),
                      pseudonym("k2", "erika@example.com"));
  // The exact text: no case folding or trimming.
  CAF_CHECK_NOT_EQUAL(pseudonym("k1", "erika@example.com"),
                      pseudonym("k1", "Erika@example.com"));
}

CAF_TEST(pseudonyms replace the pii fields and everything else stays exact) {
  const std::string key = "0123456789abcdef-test-key";
  auto in = envelope(
      R"({"auction_id":1042,"bid_amount":875.10,"bidder_name":"Érika Hansen","bidder_email":"erika@example.com","bidder_user_id":77,"note":null})");
  auto out = pseudonymize_envelope(in, fields, key);
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(*out,
                  envelope(R"({"auction_id":1042,"bid_amount":875.10,"bidder_name":")" +
                           pseudonym(key, "Érika Hansen") + R"(","bidder_email":")" +
                           pseudonym(key, "erika@example.com") +
                           R"(","bidder_user_id":77,"note":null})"));
  // The same bytes every time (retries, replays).
  auto again = pseudonymize_envelope(in, fields, key);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(*again, *out);
  // A JSON-escaped string is hashed as the text it means.
  auto escaped = pseudonymize_envelope(envelope(R"({"bidder_name":"\u00c9rika Hansen"})"),
                                       fields, key);
  CAF_REQUIRE(escaped);
  CAF_CHECK_EQUAL(*escaped, envelope(R"({"bidder_name":")" +
                                     pseudonym(key, "Érika Hansen") + R"("})"));
  // Other values are hashed as their JSON text; null stays null.
  auto number = pseudonymize_envelope(envelope(R"({"bidder_name":12345})"), fields, key);
  CAF_REQUIRE(number);
  CAF_CHECK_EQUAL(*number,
                  envelope(R"({"bidder_name":")" + pseudonym(key, "12345") + R"("})"));
  auto null = pseudonymize_envelope(envelope(R"({"bidder_name":null})"), fields, key);
  CAF_REQUIRE(null);
  CAF_CHECK_EQUAL(*null, envelope(R"({"bidder_name":null})"));
  // Without pii, byte for byte; not JSON, an error.
  std::string plain = R"({"metadata": {}, "data": {"auction_id": 7}})";
  auto same = pseudonymize_envelope(plain, fields, key);
  CAF_REQUIRE(same);
  CAF_CHECK_EQUAL(*same, plain);
  auto bad = pseudonymize_envelope("{", fields, key);
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(bad.err().code, "malformed");
}
