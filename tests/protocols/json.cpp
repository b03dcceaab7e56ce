#define CAF_SUITE protocols.json
#include "protocols/json.hpp"

#include <caf/test/unit_test.hpp>
#include <string>

using namespace gavel::protocols;

namespace {

/// parse → dump, or the error code when parsing fails.
std::string round_trip(std::string_view text, std::size_t max_depth = 64) {
  auto v = json::parse(text, json::parse_options{max_depth});
  return v ? json::dump(*v) : "error:" + v.err().code;
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

} // namespace

CAF_TEST(numbers keep the exact text they arrived with) {
  CAF_CHECK_EQUAL(round_trip(R"({"bid_amount":875.10})"), R"({"bid_amount":875.10})");
  CAF_CHECK_EQUAL(round_trip("[1e3,1E+3,0.000,-2.50,12,-7,0]"),
                  "[1e3,1E+3,0.000,-2.50,12,-7,0]");
  CAF_CHECK_EQUAL(round_trip("18446744073709551615"), "18446744073709551615");
  // Beyond uint64: nlohmann reports it as a float, the text is still kept.
  CAF_CHECK_EQUAL(round_trip("123456789012345678901234567890"),
                  "123456789012345678901234567890");
  CAF_CHECK_EQUAL(round_trip("9223372036854775807"), "9223372036854775807");
  CAF_CHECK_EQUAL(round_trip("-9223372036854775808"), "-9223372036854775808");
  // The one integer literal nlohmann does not hand over as text.
  CAF_CHECK_EQUAL(round_trip("-0"), "0");
  CAF_CHECK_EQUAL(round_trip("-0.0"), "-0.0");
}

CAF_TEST(money given as a string stays a string) {
  auto v = json::parse(R"({"a":"875.10"})");
  CAF_REQUIRE(v);
  const auto* a = v->find("a");
  CAF_REQUIRE(a != nullptr);
  CAF_CHECK(a->is_string());
  CAF_CHECK_EQUAL(a->text, "875.10");
  CAF_CHECK_EQUAL(json::dump(*v), R"({"a":"875.10"})");
}

CAF_TEST(parse builds the document model with members in input order) {
  auto v = json::parse(R"( {"z":1, "a":[true,false,null], "m":{"k":"v"}} )");
  CAF_REQUIRE(v);
  CAF_REQUIRE(v->is_object());
  CAF_REQUIRE_EQUAL(v->members.size(), 3u);
  CAF_CHECK_EQUAL(v->members[0].first, "z");
  CAF_CHECK_EQUAL(v->members[1].first, "a");
  CAF_CHECK_EQUAL(v->members[2].first, "m");
  const auto* a = v->find("a");
  CAF_REQUIRE(a != nullptr && a->is_array());
  CAF_REQUIRE_EQUAL(a->items.size(), 3u);
  CAF_CHECK(a->items[0].k == json::kind::boolean && a->items[0].b);
  CAF_CHECK(a->items[1].k == json::kind::boolean && !a->items[1].b);
  CAF_CHECK(a->items[2].k == json::kind::null);
  CAF_CHECK(v->find("missing") == nullptr);
  CAF_CHECK_EQUAL(json::dump(*v), R"({"z":1,"a":[true,false,null],"m":{"k":"v"}})");
}

CAF_TEST(scalars and empty containers parse at top level) {
  CAF_CHECK_EQUAL(round_trip("null"), "null");
  CAF_CHECK_EQUAL(round_trip(" true "), "true");
  CAF_CHECK_EQUAL(round_trip(R"("x")"), R"("x")");
  CAF_CHECK_EQUAL(round_trip("{}"), "{}");
  CAF_CHECK_EQUAL(round_trip("[]"), "[]");
  CAF_CHECK_EQUAL(round_trip(R"([{},[],{"a":[]}])"), R"([{},[],{"a":[]}])");
}

CAF_TEST(a repeated key is an error naming its path at every depth) {
  // Readers disagree on which of two values counts (first, last, both), so
  // every layer only agrees on a body when no key repeats.
  auto check = [](std::string_view text, std::string_view path) {
    auto v = json::parse(text);
    CAF_REQUIRE(!v);
    CAF_CHECK_EQUAL(v.err().code, "duplicate_key");
    CAF_CHECK_EQUAL(v.err().field, path);
    CAF_CHECK(v.err().message.find("repeated") != std::string::npos);
  };
  check(R"({"auction_id":1,"auction_id":710016})", "auction_id");
  check(R"({"a":1,"b":2,"a":3})", "a");
  check(R"({"a":1,"a":{"x":1},"a":[2]})", "a");
  check(R"({"data":{"auction_id":1,"bid_id":2,"auction_id":710016}})", "data.auction_id");
  check(R"([{"a":1},{"b":{"c":[0,{"d":1,"d":1}]}}])", "[1].b.c[1].d");
  // Equal values repeated are still repeated.
  check(R"({"k":"v","k":"v"})", "k");
  // Large objects take the hashed path.
  std::string big = "{";
  for (int i = 0; i < 40; ++i)
    big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  check(big + R"("k7":"last"})", "k7");
  // The same key in sibling objects is no repetition.
  auto ok = json::parse(R"({"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}]})");
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(ok->members.size(), 3u);
}

CAF_TEST(malformed input fails with code malformed and a byte offset) {
  for (auto text : {"", "{", R"({"a":})", "[1,]", "01", "1.", "+1", "NaN", "{'a':1}",
                    "[1] x", R"({"a" 1})", "tru", R"("unterminated)"}) {
    auto v = json::parse(text);
    CAF_CHECK(!v);
    if (!v) {
      CAF_CHECK_EQUAL(v.err().code, "malformed");
      CAF_CHECK(v.err().message.find("byte") != std::string::npos);
    }
  }
}

CAF_TEST(invalid utf8 is malformed) {
  CAF_CHECK_EQUAL(round_trip("\"\xff\""), "error:malformed");
  CAF_CHECK_EQUAL(round_trip("\"\xc3\""), "error:malformed");
  CAF_CHECK_EQUAL(round_trip("\"\xed\xa0\x80\""), "error:malformed"); // surrogate
  // Raw control characters inside strings are not JSON either.
  CAF_CHECK_EQUAL(round_trip("\"a\nb\""), "error:malformed");
}

CAF_TEST(error messages stay printable ascii) {
  auto v = json::parse("[\"\xff\xfe\"]");
  CAF_REQUIRE(!v);
  for (char c : v.err().message)
    CAF_CHECK(c >= 0x20 && c < 0x7f);
}

CAF_TEST(max depth is enforced) {
  CAF_CHECK_EQUAL(round_trip(nested_arrays(4), 4), nested_arrays(4));
  CAF_CHECK_EQUAL(round_trip(nested_arrays(5), 4), "error:too_deep");
  CAF_CHECK_EQUAL(round_trip(R"({"a":{"b":{"c":1}}})", 3), R"({"a":{"b":{"c":1}}})");
  CAF_CHECK_EQUAL(round_trip(R"({"a":{"b":{"c":{}}}})", 3), "error:too_deep");
  CAF_CHECK_EQUAL(round_trip("1", 0), "1");
  CAF_CHECK_EQUAL(round_trip("[]", 0), "error:too_deep");
}

CAF_TEST(ten thousand levels of nesting fail as too_deep without a crash) {
  auto v = json::parse(nested_arrays(10'000));
  CAF_REQUIRE(!v);
  CAF_CHECK_EQUAL(v.err().code, "too_deep");
  std::string objects;
  for (int i = 0; i < 10'000; ++i)
    objects += R"({"a":)";
  objects += "1" + std::string(10'000, '}');
  auto w = json::parse(objects);
  CAF_REQUIRE(!w);
  CAF_CHECK_EQUAL(w.err().code, "too_deep");
  // Unterminated deep input too: the limit trips before the syntax error.
  auto u = json::parse(std::string(10'000, '['));
  CAF_REQUIRE(!u);
  CAF_CHECK_EQUAL(u.err().code, "too_deep");
}

CAF_TEST(deep documents within a raised limit parse and dump iteratively) {
  auto v = json::parse(nested_arrays(10'000), json::parse_options{20'000});
  CAF_REQUIRE(v);
  CAF_CHECK_EQUAL(json::dump(*v), nested_arrays(10'000));
  // Tear down iteratively: the defaulted destructor recurses once per level.
  std::vector<json::value> pending;
  pending.push_back(std::move(*v));
  while (!pending.empty()) {
    auto cur = std::move(pending.back());
    pending.pop_back();
    for (auto& item : cur.items)
      pending.push_back(std::move(item));
    cur.items.clear();
  }
}

CAF_TEST(strings are escaped per rfc 8259 and utf8 passes through) {
  std::string out;
  json::dump_string(std::string_view{"q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\0z", 16}, out);
  CAF_CHECK_EQUAL(out, R"("q\"b\\s/\b\f\n\r\t\u0001\u001f)"
                       "\x7f"
                       R"(\u0000z")");
  CAF_CHECK_EQUAL(round_trip(R"(["h\u00e9","\ud83d\ude00","caf\u00E9 \/"])"),
                  "[\"h\xc3\xa9\",\"\xf0\x9f\x98\x80\",\"caf\xc3\xa9 /\"]");
  CAF_CHECK_EQUAL(round_trip("\"Zürich €\""), "\"Zürich €\"");
  CAF_CHECK_EQUAL(round_trip(R"({"k\"ey":"a\u0000b"})"), R"({"k\"ey":"a\u0000b"})");
}

CAF_TEST(set replaces or appends and erase removes) {
  auto v = json::value::object();
  v.set("a", json::value::integer(1));
  v.set("b", json::value::string("x"));
  v.set("a", json::value::number("2.50"));
  CAF_CHECK_EQUAL(json::dump(v), R"({"a":2.50,"b":"x"})");
  v.erase("a");
  v.erase("missing");
  CAF_CHECK_EQUAL(json::dump(v), R"({"b":"x"})");
  auto arr = json::value::array();
  arr.items.push_back(json::value::boolean(true));
  arr.items.push_back(json::value::null());
  arr.items.push_back(json::value::integer(-42));
  CAF_CHECK_EQUAL(json::dump(arr), "[true,null,-42]");
  CAF_CHECK(json::value::null().find("a") == nullptr);
}

CAF_TEST(parsed values compare equal to built values) {
  auto v = json::parse(R"({"a":1,"b":["x"]})");
  CAF_REQUIRE(v);
  auto w = json::value::object();
  w.set("a", json::value::integer(1));
  auto b = json::value::array();
  b.items.push_back(json::value::string("x"));
  w.set("b", b);
  CAF_CHECK(*v == w);
}
