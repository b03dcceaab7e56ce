#include "sim/workload.hpp"

#include "sim/common.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
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
};

// Writes the fields common to opened and bid data, without braces.
void append_common(const auction_facts& a, std::int64_t current_cents,
                   std::int64_t end_ms, std::string& out) {
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
  append_iso8601_s(end_ms, out);
  out += '"';
}

} // namespace

std::vector<auction_script> generate_workload(const workload_options& opts) {
  std::vector<auction_script> scripts(opts.auctions);
  if (opts.auctions == 0)
    return scripts;
  std::mt19937_64 master(mix64(opts.seed));

  // Distinct bids: what is left of the event budget after opened (+ closed)
  // per auction and the resends, spread with a heavy-tailed (log-normal)
  // weight so a few auctions are hot and many are quiet.
  const double close_fraction = std::clamp(opts.close_fraction, 0.0, 1.0);
  const double overhead = (1.0 + close_fraction) * static_cast<double>(opts.auctions);
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

  const std::int64_t bid_window = std::max<std::int64_t>(1, opts.bid_window_ms);
  const bool snipe = opts.snipe_window_ms > 0 && opts.snipe_extend_ms > 0;
  const std::int64_t pool = std::max<std::int64_t>(2, opts.bidders);

  for (std::size_t i = 0; i < opts.auctions; ++i) {
    std::mt19937_64 rng(mix64(opts.seed * 0x100000001b3ULL + i + 1));
    auto& script = scripts[i];
    auction_facts a;
    a.id = opts.first_auction_id + static_cast<std::int64_t>(i);
    script.auction_id = a.id;
    const std::size_t n = bid_counts[i];
    script.bids = n;
    script.implicit_open = n > 0 && uniform01(rng) < opts.implicit_open;
    script.closed = uniform01(rng) < close_fraction;
    a.product_name =
        std::string(adjectives[static_cast<std::size_t>(
            uniform_int(rng, 0, adjectives.size() - 1))]) +
        " " + nouns[static_cast<std::size_t>(uniform_int(rng, 0, nouns.size() - 1))];
    a.sku = "SKU-" + std::to_string(a.id) + "-";
    for (int c = 0; c < 4; ++c)
      a.sku.push_back(static_cast<char>('A' + uniform_int(rng, 0, 25)));
    a.starting_cents = uniform_int(rng, 5, 1000) * 100;
    const std::int64_t end0 =
        opts.start_ms + bid_window +
        uniform_int(rng, 0, std::max<std::int64_t>(0, opts.close_window_ms) / 1000) *
            1000;
    script.end_ms = end0;
    a.start_ms = end0 - uniform_int(rng, 1, 7) * day_ms;

    // Rounds of a sniping war: bids reserved to land in the final seconds of
    // an already extended end, each extending it again.
    std::size_t war = 0;
    if (snipe && n >= 4 && uniform01(rng) < 0.5) {
      war = 1;
      while (war < std::min<std::size_t>(8, n / 4) && uniform01(rng) < 0.5)
        ++war;
    }
    const std::size_t base = n - war;

    // Bid times bunch toward the end: the time left is bid_window·u³, so
    // the rate climbs steeply and spikes in the final seconds.
    std::vector<std::int64_t> times(n);
    for (std::size_t k = 0; k < base; ++k) {
      double u = uniform01(rng);
      times[k] =
          end0 - static_cast<std::int64_t>(u * u * u * static_cast<double>(bid_window));
    }
    std::sort(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(base));

    // Proxy bursts: a bid that meets a proxy bidder's ceiling draws
    // automatic counter-bids within milliseconds, alternating between the
    // two bidders. auto_of[k]: the triggering bid of an automatic bid.
    std::vector<std::int64_t> auto_of(n, -1);
    for (std::size_t k = 0; k < base;) {
      if (k + 1 < base && uniform01(rng) < opts.proxy && opts.proxy_burst_max > 0) {
        auto burst = static_cast<std::size_t>(
            uniform_int(rng, 1, static_cast<std::int64_t>(opts.proxy_burst_max)));
        burst = std::min(burst, base - 1 - k);
        std::int64_t t = times[k];
        for (std::size_t j = 1; j <= burst; ++j) {
          t += uniform_int(rng, 1, 3);
          times[k + j] = t;
          auto_of[k + j] = static_cast<std::int64_t>(k);
        }
        script.proxy_bids += burst;
        k += burst + 1;
      } else {
        ++k;
      }
    }
    for (std::size_t k = 1; k < base; ++k)
      times[k] = std::max(times[k], times[k - 1]);

    // Anti-sniping: a bid in the final snipe window moves the end.
    std::vector<std::int64_t> ends(n, end0);
    std::int64_t end = end0;
    for (std::size_t k = 0; k < base; ++k) {
      if (snipe && times[k] >= end - opts.snipe_window_ms && times[k] <= end) {
        end += opts.snipe_extend_ms;
        ++script.extensions;
      }
      ends[k] = end;
    }
    for (std::size_t k = base; k < n; ++k) {
      const std::int64_t last = k > 0 ? times[k - 1] : opts.start_ms;
      double u = uniform01(rng);
      std::int64_t t = end - static_cast<std::int64_t>(
                                 u * u * static_cast<double>(opts.snipe_window_ms));
      times[k] = std::clamp(t, last, std::max(last, end));
      end += opts.snipe_extend_ms;
      ++script.extensions;
      ends[k] = end;
    }
    script.final_end_ms = end;

    // Participants: a handful per auction out of a large bidder population.
    const auto participants = static_cast<std::int64_t>(
        std::min<std::size_t>(std::max<std::size_t>(2, 3 + n / 4), 200));
    std::vector<std::int64_t> bidders(static_cast<std::size_t>(participants));
    for (auto& b : bidders)
      b = uniform_int(rng, 1, pool);

    struct keyed {
      std::uint64_t key;
      script_event ev;
    };
    std::vector<keyed> order;
    order.reserve(n + 2 + n / 10);
    {
      script_event opened;
      opened.kind = event_kind::opened;
      opened.event_id = "auction.opened-" + std::to_string(a.id);
      opened.body = "{\"event_type\":\"auction.opened\",\"data\":{";
      append_common(a, -1, end0, opened.body);
      opened.body += "}}";
      const std::int64_t t_open = opts.start_ms + uniform_int(rng, 0, 1000);
      // Implicit open: the real opened comes right after the first bid.
      opened.t_ms = script.implicit_open ? times[0]
                    : n > 0              ? std::min(t_open, times[0])
                                         : t_open;
      order.push_back({script.implicit_open ? 3u : 0u, std::move(opened)});
    }
    std::int64_t price = a.starting_cents;
    std::int64_t last_bidder = -1;
    std::vector<std::int64_t> bidder_at(n), holder_at(n, -1);
    std::vector<std::pair<std::size_t, std::size_t>>
        resends; // (bid index, after bid index)
    for (std::size_t k = 0; k < n; ++k) {
      // Increments of 1..5 % of the price, in whole 10 cents, at least 1.00;
      // above 1,000,000.00 a flat 1.00 (a hot auction with thousands of bids
      // must not overflow 64-bit cents). Automatic bids step by one increment.
      const bool automatic = auto_of[k] >= 0;
      auto pct = automatic ? 0.01 : 0.01 + 0.04 * uniform01(rng);
      auto step =
          price < 100'000'000
              ? std::max<std::int64_t>(
                    100,
                    static_cast<std::int64_t>(static_cast<double>(price) * pct) / 10 * 10)
              : std::int64_t{100};
      price += step;
      std::int64_t bidder;
      if (automatic) {
        // Alternate: the proxy holder answers, then the trigger's bidder (its
        // own proxy) answers back, and so on.
        const auto trig = static_cast<std::size_t>(auto_of[k]);
        bidder = (k - trig) % 2 == 1 ? holder_at[trig] : bidder_at[trig];
      } else {
        do {
          bidder =
              bidders[static_cast<std::size_t>(uniform_int(rng, 0, participants - 1))];
        } while (bidder == last_bidder && participants > 1 &&
                 std::count(bidders.begin(), bidders.end(), bidder) <
                     static_cast<std::ptrdiff_t>(bidders.size()));
        std::int64_t holder = bidder;
        for (int tries = 0; tries < 8 && holder == bidder; ++tries)
          holder =
              bidders[static_cast<std::size_t>(uniform_int(rng, 0, participants - 1))];
        if (holder == bidder)
          holder = bidder % pool + 1;
        holder_at[k] = holder;
      }
      bidder_at[k] = bidder;
      last_bidder = bidder;
      const bool proxy = automatic || uniform01(rng) < 0.2;
      const std::int64_t bid_id = a.id * 1'000'000 + static_cast<std::int64_t>(k) + 1;

      script_event ev;
      ev.kind = event_kind::bid;
      ev.event_id = "bid.placed-" + std::to_string(bid_id);
      ev.t_ms = times[k];
      auto& b = ev.body;
      b.reserve(640);
      b = "{\"event_type\":\"bid.placed\",\"data\":{";
      append_common(a, price, ends[k], b);
      b += ",\"bid_id\":";
      append_int(bid_id, b);
      b += ",\"bid_amount\":\"";
      append_cents(price, b);
      b += "\",\"bid_timestamp\":\"";
      append_iso8601_ms(times[k], b);
      b += "\",\"winning_status\":\"";
      b += automatic || uniform01(rng) < 0.85 ? "winning" : "outbid";
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
      // Keys: bid k at 4k+2 (so the implicit opened, key 3, follows bid 0),
      // a resend at 4m+4 right after bid m (m >= k), closed last.
      order.push_back({4 * k + 2, std::move(ev)});
      if (uniform01(rng) < opts.duplicates)
        resends.emplace_back(
            k, static_cast<std::size_t>(uniform_int(rng, static_cast<std::int64_t>(k),
                                                    static_cast<std::int64_t>(n) - 1)));
    }
    if (script.closed) {
      script_event closed;
      closed.kind = event_kind::closed;
      closed.event_id = "auction.closed-" + std::to_string(a.id);
      closed.t_ms =
          end + uniform_int(rng, 0, std::max<std::int64_t>(0, opts.close_delay_ms));
      auto& b = closed.body;
      b = "{\"event_type\":\"auction.closed\",\"data\":{\"auction_id\":";
      append_int(a.id, b);
      b += ",\"end_date\":\"";
      append_iso8601_s(end, b);
      b += "\",\"current_price\":\"";
      append_cents(price, b);
      b += "\"}}";
      order.push_back({4 * n + 8, std::move(closed)});
    }
    // Resends (marked with the bid number they repeat, resolved to a script
    // index after sorting); sent right after bid `after`.
    for (auto [k, after] : resends) {
      script_event ev;
      ev.kind = event_kind::bid;
      ev.event_id = order[1 + k].ev.event_id;
      ev.body = order[1 + k].ev.body;
      ev.resend_of = static_cast<std::int32_t>(k);
      ev.t_ms = times[after];
      order.push_back({4 * after + 4, std::move(ev)});
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const keyed& x, const keyed& y) { return x.key < y.key; });
    script.events.reserve(order.size());
    std::vector<std::int32_t> index_of_bid(n, -1);
    std::int64_t t_prev = std::numeric_limits<std::int64_t>::min();
    for (auto& kv : order) {
      auto idx = static_cast<std::int32_t>(script.events.size());
      if (kv.ev.kind == event_kind::bid && kv.ev.resend_of < 0)
        index_of_bid[(kv.key - 2) / 4] = idx;
      else if (kv.ev.resend_of >= 0)
        kv.ev.resend_of = index_of_bid[static_cast<std::size_t>(kv.ev.resend_of)];
      // Send times never go backwards along a script (the sender keeps its order).
      kv.ev.t_ms = t_prev = std::max(t_prev, kv.ev.t_ms);
      script.events.push_back(std::move(kv.ev));
    }
  }
  return scripts;
}

bool write_bid_log(const std::vector<auction_script>& scripts, const std::string& path) {
  struct ref {
    std::int64_t t;
    std::uint32_t script;
    std::uint32_t event;
  };
  std::vector<ref> refs;
  for (std::size_t s = 0; s < scripts.size(); ++s)
    for (std::size_t e = 0; e < scripts[s].events.size(); ++e)
      refs.push_back({scripts[s].events[e].t_ms, static_cast<std::uint32_t>(s),
                      static_cast<std::uint32_t>(e)});
  std::stable_sort(refs.begin(), refs.end(),
                   [](const ref& x, const ref& y) { return x.t < y.t; });
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f)
    return false;
  std::string line;
  for (const auto& r : refs) {
    const auto& ev = scripts[r.script].events[r.event];
    line = "{\"t_ms\":";
    append_int(ev.t_ms, line);
    line += ",\"event\":";
    line += ev.body;
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), f);
  }
  return std::fclose(f) == 0;
}

} // namespace gavel::sim
