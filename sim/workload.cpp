#include "sim/workload.hpp"

#include "sim/common.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

namespace gavel::sim {

const char* event_type_name(event_kind k) {
  switch (k) {
  case event_kind::opened:
    return "auction.opened";
  case event_kind::bid:
    return "bid.placed";
  case event_kind::closed:
    return "auction.closed";
  }
  return "?";
}

namespace {

constexpr std::array adjectives{"Vintage",   "Antique", "Signed",   "Rare",
                                "Mint",      "Limited", "Handmade", "Restored",
                                "Original",  "Classic", "Sterling", "Art Deco",
                                "Victorian", "Modern",  "Boxed"};
constexpr std::array nouns{
    "Pocket Watch", "Guitar",       "Camera",        "Comic Book",
    "Vinyl Record", "Oil Painting", "Teapot",        "Fountain Pen",
    "Chess Set",    "Lamp",         "Rocking Chair", "Bicycle",
    "Typewriter",   "Poster",       "Trading Card",  "Sculpture"};
constexpr std::array first_names{"Alice", "Bram",  "Chloe", "Dmitri", "Elena", "Farid",
                                 "Grace", "Hiro",  "Ines",  "Jonas",  "Kemal", "Lena",
                                 "Mateo", "Nadia", "Oskar", "Priya",  "Quinn", "Rosa",
                                 "Sven",  "Tariq", "Uma",   "Victor", "Wen",   "Yara"};
constexpr std::array last_names{"Andersen", "Bauer",  "Costa",   "Dubois",   "Eriksen",
                                "Fischer",  "Garcia", "Hoffman", "Ivanova",  "Jensen",
                                "Kowalski", "Larsen", "Moreau",  "Nakamura", "Okafor",
                                "Petrov",   "Rossi",  "Schmidt", "Tanaka",   "Vargas"};

constexpr std::int64_t bidder_pool = 50'000;
constexpr std::int64_t day_ms = 86'400'000;

template <class Rng>
std::int64_t uniform_int(Rng& rng, std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

template <class Rng> double uniform01(Rng& rng) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

void append_lower(std::string_view s, std::string& out) {
  for (char c : s)
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
}

struct auction_facts {
  std::int64_t id = 0;
  std::string product_name;
  std::string sku;
  std::int64_t starting_cents = 0;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
};

// Writes the fields common to opened and bid data, without braces.
void append_common(const auction_facts& a, std::int64_t current_cents, std::string& out) {
  out += "\"auction_id\":";
  append_int(a.id, out);
  out += ",\"product_name\":";
  append_json_string(a.product_name, out);
  out += ",\"sku\":";
  append_json_string(a.sku, out);
  out += ",\"auction_type\":\"standard\",\"starting_price\":\"";
  append_cents(a.starting_cents, out);
  if (current_cents >= 0) {
    out += "\",\"current_price\":\"";
    append_cents(current_cents, out);
  }
  out += "\",\"start_date\":\"";
  append_iso8601_s(a.start_ms, out);
  out += "\",\"end_date\":\"";
  append_iso8601_s(a.end_ms, out);
  out += '"';
}

} // namespace

std::vector<auction_script> generate_workload(const workload_options& opts) {
  std::vector<auction_script> scripts(opts.auctions);
  if (opts.auctions == 0)
    return scripts;
  std::mt19937_64 master(mix64(opts.seed));

  // Distinct bids: what is left of the event budget after opened + closed per
  // auction and the resends, spread with a heavy-tailed (log-normal) weight
  // so a few auctions are hot and many are quiet.
  const double overhead = 2.0 * static_cast<double>(opts.auctions);
  const double budget = std::max(0.0, static_cast<double>(opts.events) - overhead);
  const auto unique_bids = static_cast<std::size_t>(
      std::llround(budget / (1.0 + std::max(0.0, opts.duplicates))));
  std::vector<double> weights(opts.auctions);
  std::lognormal_distribution<double> lognormal(0.0, 0.8);
  double total_weight = 0;
  for (auto& w : weights)
    total_weight += (w = lognormal(master));
  std::vector<std::size_t> bid_counts(opts.auctions);
  std::size_t assigned = 0;
  for (std::size_t i = 0; i < opts.auctions; ++i) {
    bid_counts[i] = static_cast<std::size_t>(static_cast<double>(unique_bids) *
                                             weights[i] / total_weight);
    assigned += bid_counts[i];
  }
  for (; assigned < unique_bids; ++assigned)
    ++bid_counts[static_cast<std::size_t>(
        uniform_int(master, 0, static_cast<std::int64_t>(opts.auctions) - 1))];

  for (std::size_t i = 0; i < opts.auctions; ++i) {
    std::mt19937_64 rng(mix64(opts.seed * 0x100000001b3ULL + i + 1));
    auto& script = scripts[i];
    auction_facts a;
    a.id = opts.first_auction_id + static_cast<std::int64_t>(i);
    script.auction_id = a.id;
    script.bids = bid_counts[i];
    script.implicit_open = script.bids > 0 && uniform01(rng) < opts.implicit_open;
    a.product_name =
        std::string(adjectives[static_cast<std::size_t>(
            uniform_int(rng, 0, adjectives.size() - 1))]) +
        " " + nouns[static_cast<std::size_t>(uniform_int(rng, 0, nouns.size() - 1))];
    a.sku = "SKU-" + std::to_string(a.id) + "-";
    for (int c = 0; c < 4; ++c)
      a.sku.push_back(static_cast<char>('A' + uniform_int(rng, 0, 25)));
    a.starting_cents = uniform_int(rng, 5, 1000) * 100;
    a.end_ms =
        opts.start_ms +
        uniform_int(rng, 0, std::max<std::int64_t>(0, opts.close_window_ms) / 1000) *
            1000;
    a.start_ms = a.end_ms - uniform_int(rng, 1, 7) * day_ms;

    // Bid times bunch toward the end: the time left before end_date is
    // u^3 of the auction's duration, so the bid rate climbs steeply.
    std::vector<std::int64_t> times(script.bids);
    const auto duration = static_cast<double>(a.end_ms - a.start_ms);
    for (auto& t : times) {
      double u = uniform01(rng);
      t = a.end_ms - static_cast<std::int64_t>(u * u * u * duration);
    }
    std::sort(times.begin(), times.end());

    // Participants: a handful per auction out of a large bidder population.
    const auto participants = static_cast<std::int64_t>(
        std::min<std::size_t>(std::max<std::size_t>(2, 3 + script.bids / 4), 200));
    std::vector<std::int64_t> bidders(static_cast<std::size_t>(participants));
    for (auto& b : bidders)
      b = uniform_int(rng, 1, bidder_pool);

    struct keyed {
      std::uint64_t key;
      script_event ev;
    };
    std::vector<keyed> order;
    order.reserve(script.bids + 2 + script.bids / 10);
    {
      script_event opened;
      opened.kind = event_kind::opened;
      opened.event_id = "auction.opened-" + std::to_string(a.id);
      opened.body = "{\"event_type\":\"auction.opened\",\"data\":{";
      append_common(a, -1, opened.body);
      opened.body += "}}";
      // Implicit open: the real opened comes right after the first bid.
      order.push_back({script.implicit_open ? 3u : 0u, std::move(opened)});
    }
    std::int64_t price = a.starting_cents;
    std::int64_t last_bidder = -1;
    std::vector<std::pair<std::size_t, std::size_t>>
        resends; // (bid index, after bid index)
    for (std::size_t n = 0; n < script.bids; ++n) {
      // Increments of 1..5 % of the price, in whole 10 cents, at least 1.00;
      // above 1,000,000.00 a flat 1.00 (a hot auction with thousands of bids
      // must not overflow 64-bit cents).
      auto pct = 0.01 + 0.04 * uniform01(rng);
      auto step =
          price < 100'000'000
              ? std::max<std::int64_t>(
                    100,
                    static_cast<std::int64_t>(static_cast<double>(price) * pct) / 10 * 10)
              : std::int64_t{100};
      price += step;
      std::int64_t bidder;
      do {
        bidder = bidders[static_cast<std::size_t>(uniform_int(rng, 0, participants - 1))];
      } while (bidder == last_bidder && participants > 1 &&
               std::count(bidders.begin(), bidders.end(), bidder) <
                   static_cast<std::ptrdiff_t>(bidders.size()));
      last_bidder = bidder;
      const bool proxy = uniform01(rng) < 0.2;
      const std::int64_t bid_id = a.id * 1'000'000 + static_cast<std::int64_t>(n) + 1;

      script_event ev;
      ev.kind = event_kind::bid;
      ev.event_id = "bid.placed-" + std::to_string(bid_id);
      auto& b = ev.body;
      b.reserve(640);
      b = "{\"event_type\":\"bid.placed\",\"data\":{";
      append_common(a, price, b);
      b += ",\"bid_id\":";
      append_int(bid_id, b);
      b += ",\"bid_amount\":\"";
      append_cents(price, b);
      b += "\",\"bid_timestamp\":\"";
      append_iso8601_ms(times[n], b);
      b += "\",\"winning_status\":\"";
      b += uniform01(rng) < 0.85 ? "winning" : "outbid";
      b += "\",\"proxy_bid\":\"";
      b += proxy ? "yes" : "no";
      b += '"';
      if (proxy) {
        b += ",\"proxy_bid_low_end\":\"";
        append_cents(price, b);
        b += "\",\"proxy_bid_high_end\":\"";
        append_cents(
            price + std::max<std::int64_t>(100, price / 100 * uniform_int(rng, 5, 30)),
            b);
        b += '"';
      }
      const auto& first =
          first_names[static_cast<std::size_t>(bidder) % first_names.size()];
      const auto& last =
          last_names[static_cast<std::size_t>(bidder / 24) % last_names.size()];
      b += ",\"bidder_user_id\":";
      append_int(bidder, b);
      b += ",\"bidder_name\":\"";
      b += first;
      b += ' ';
      b += last;
      b += "\",\"bidder_email\":\"";
      append_lower(first, b);
      b += '.';
      append_lower(last, b);
      append_int(bidder, b);
      b += "@example.com\"}}";
      // Keys: bid n at 4n+2 (so the implicit opened, key 3, follows bid 0),
      // a resend at 4m+4 right after bid m (m >= n), closed last.
      order.push_back({4 * n + 2, std::move(ev)});
      if (uniform01(rng) < opts.duplicates)
        resends.emplace_back(n, static_cast<std::size_t>(uniform_int(
                                    rng, static_cast<std::int64_t>(n),
                                    static_cast<std::int64_t>(script.bids) - 1)));
    }
    {
      script_event closed;
      closed.kind = event_kind::closed;
      closed.event_id = "auction.closed-" + std::to_string(a.id);
      auto& b = closed.body;
      b = "{\"event_type\":\"auction.closed\",\"data\":{\"auction_id\":";
      append_int(a.id, b);
      b += ",\"end_date\":\"";
      append_iso8601_s(a.end_ms, b);
      b += "\",\"current_price\":\"";
      append_cents(price, b);
      b += "\"}}";
      order.push_back({4 * script.bids + 8, std::move(closed)});
    }
    // Resends (marked with the bid number they repeat, resolved to a script
    // index after sorting).
    for (auto [n, after] : resends) {
      script_event ev;
      ev.kind = event_kind::bid;
      ev.event_id = order[1 + n].ev.event_id;
      ev.body = order[1 + n].ev.body;
      ev.resend_of = static_cast<std::int32_t>(n);
      order.push_back({4 * after + 4, std::move(ev)});
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const keyed& x, const keyed& y) { return x.key < y.key; });
    script.events.reserve(order.size());
    std::vector<std::int32_t> index_of_bid(script.bids, -1);
    for (auto& k : order) {
      auto idx = static_cast<std::int32_t>(script.events.size());
      if (k.ev.kind == event_kind::bid && k.ev.resend_of < 0)
        index_of_bid[(k.key - 2) / 4] = idx;
      else if (k.ev.resend_of >= 0)
        k.ev.resend_of = index_of_bid[static_cast<std::size_t>(k.ev.resend_of)];
      script.events.push_back(std::move(k.ev));
    }
  }
  return scripts;
}

} // namespace gavel::sim
