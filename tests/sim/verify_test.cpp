#define CAF_SUITE sim.verify
#include "sim/verify.hpp"
#include "sim/workload.hpp"

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace gavel::sim;

namespace {

ack_record ack(std::string id, std::int64_t auction, std::string status,
               std::optional<std::int64_t> seq, double t_sent = 1000,
               double t_ack = 1010) {
  ack_record a;
  a.event_type = id.substr(0, id.find('-'));
  a.event_id = std::move(id);
  a.auction_id = auction;
  a.status = std::move(status);
  a.http = 202;
  a.bid_sequence = seq;
  a.t_sent_ms = t_sent;
  a.t_ack_ms = t_ack;
  return a;
}

arrival_record arrival(std::string id, std::int64_t auction, std::int64_t seq,
                       double t = 1020,
                       std::optional<std::int64_t> total = std::nullopt) {
  arrival_record r;
  r.t_ms = t;
  r.event_type = id.substr(0, id.find('-'));
  r.event_id = id;
  r.webhook_id = id;
  r.auction_id = auction;
  r.bid_sequence = seq;
  r.total_bid_count = total;
  r.sha256 = "hash-of-" + id;
  return r;
}

/// A clean auction 7: opened, three bids, closed; acks and arrivals agree.
struct clean_fixture {
  std::vector<ack_record> acks{
      ack("auction.opened-7", 7, "accepted", 1),
      ack("bid.placed-7000001", 7, "accepted", 2),
      ack("bid.placed-7000002", 7, "accepted", 3),
      ack("bid.placed-7000003", 7, "accepted", 4),
      ack("auction.closed-7", 7, "accepted", 4),
  };
  std::vector<arrival_record> arrivals{
      arrival("auction.opened-7", 7, 1),   arrival("bid.placed-7000001", 7, 2),
      arrival("bid.placed-7000002", 7, 3), arrival("producer.heartbeat-7-1", 7, 3),
      arrival("bid.placed-7000003", 7, 4), arrival("auction.closed-7", 7, 4, 1020, 3),
  };
};

} // namespace

CAF_TEST(a clean run passes) {
  clean_fixture f;
  auto r = verify(f.acks, f.arrivals, {true});
  CAF_CHECK(r.ok());
  CAF_CHECK_EQUAL(r.acked, 5u);
  CAF_CHECK_EQUAL(r.delivered_unique, 6u);
  CAF_CHECK_EQUAL(r.heartbeats, 1u);
  CAF_CHECK_EQUAL(r.unacked_delivered, 1u);
  CAF_CHECK_EQUAL(r.lost, 0u);
  CAF_CHECK_EQUAL(r.auctions, 1u);
  CAF_CHECK_EQUAL(r.auctions_closed, 1u);
  CAF_CHECK_EQUAL(r.latency_ack_ms.p50, 10.0);
  CAF_CHECK_EQUAL(r.latency_delivery_ms.max, 10.0);
  CAF_CHECK_EQUAL(r.latency_delivery_ms.count, 5u);
}

CAF_TEST(an acked event that never arrives is lost) {
  clean_fixture f;
  f.arrivals.erase(f.arrivals.begin() + 2); // bid 2
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK(!r.ok());
  CAF_CHECK_EQUAL(r.lost, 1u);
  // The heartbeat then reports 3 after 2, and bid 3 (seq 4) follows it: one gap.
  CAF_CHECK_EQUAL(r.gaps, 1u);
  // The close counts 3 bids but only 2 arrived.
  CAF_CHECK_EQUAL(r.close_mismatch, 1u);
}

CAF_TEST(an event overtaking its predecessor is out of order) {
  clean_fixture f;
  std::swap(f.arrivals[1], f.arrivals[2]);
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.gaps, 1u);         // seq 3 after 1
  CAF_CHECK_EQUAL(r.out_of_order, 1u); // then seq 2 after 3
  CAF_CHECK_EQUAL(r.lost, 0u);
  CAF_CHECK(!r.ok());
}

CAF_TEST(identical redeliveries are allowed) {
  clean_fixture f;
  f.arrivals.push_back(f.arrivals[1]);
  f.arrivals.insert(f.arrivals.begin() + 3, f.arrivals[2]);
  auto r = verify(f.acks, f.arrivals, {true});
  CAF_CHECK(r.ok());
  CAF_CHECK_EQUAL(r.redeliveries, 2u);
  CAF_CHECK_EQUAL(r.delivered_unique, 6u);
}

CAF_TEST(a redelivery with other bytes is a dup mismatch) {
  clean_fixture f;
  auto again = f.arrivals[1];
  again.sha256 = "different";
  f.arrivals.push_back(again);
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.dup_mismatch, 1u);
  CAF_CHECK(!r.ok());
}

CAF_TEST(heartbeat and close must carry the last assigned number) {
  clean_fixture f;
  f.arrivals[3].bid_sequence = 4; // heartbeat announces a bid not yet seen
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.gaps, 1u);
  // ... and bid 3 (seq 4) then looks out of order.
  CAF_CHECK_EQUAL(r.out_of_order, 1u);

  clean_fixture g;
  g.arrivals[3].bid_sequence = 2; // heartbeat behind
  r = verify(g.acks, g.arrivals);
  CAF_CHECK_EQUAL(r.out_of_order, 1u);
  CAF_CHECK_EQUAL(r.gaps, 0u);
}

CAF_TEST(close must agree with the bids delivered) {
  clean_fixture f;
  f.arrivals.back().total_bid_count = 4;
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.close_mismatch, 1u);

  clean_fixture g;
  g.arrivals.back().total_bid_count.reset();
  r = verify(g.acks, g.arrivals);
  CAF_CHECK_EQUAL(r.close_mismatch, 1u);
}

CAF_TEST(expect closed requires every acked auction to close) {
  clean_fixture f;
  f.acks.push_back(ack("auction.opened-8", 8, "accepted", 1));
  f.arrivals.push_back(arrival("auction.opened-8", 8, 1));
  CAF_CHECK(verify(f.acks, f.arrivals).ok());
  auto r = verify(f.acks, f.arrivals, {true});
  CAF_CHECK_EQUAL(r.missing_close, 1u);
  CAF_CHECK_EQUAL(r.close_mismatch, 1u);
  CAF_CHECK(!r.ok());
}

CAF_TEST(duplicates must have arrived as their original) {
  clean_fixture f;
  // A resend of bid 1 and the late real opened of an implicitly opened auction.
  f.acks.push_back(ack("bid.placed-7000001", 7, "duplicate", 2));
  f.acks.push_back(ack("auction.opened-7", 7, "duplicate", 1));
  auto r = verify(f.acks, f.arrivals, {true});
  CAF_CHECK(r.ok());
  CAF_CHECK_EQUAL(r.acked, 5u);
  CAF_CHECK_EQUAL(r.acked_duplicate, 2u);
  // A duplicate whose original never arrived is lost.
  f.acks.push_back(ack("bid.placed-9000001", 9, "duplicate", 2));
  r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.lost, 1u);
}

CAF_TEST(acked and delivered sequence numbers must agree) {
  clean_fixture f;
  f.acks[2].bid_sequence = 9;
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.ack_seq_mismatch, 1u);
  CAF_CHECK(!r.ok());
}

CAF_TEST(bad signatures are counted and not delivered) {
  clean_fixture f;
  auto forged = f.arrivals[1];
  forged.sig_ok = false;
  f.arrivals.insert(f.arrivals.begin() + 1, forged);
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.bad_signature, 1u);
  CAF_CHECK_EQUAL(r.redeliveries, 0u);
  CAF_CHECK_EQUAL(r.gaps, 0u);
  CAF_CHECK(!r.ok());
}

CAF_TEST(rejected and failed acks are not expected to arrive) {
  clean_fixture f;
  f.acks.push_back(ack("bid.placed-7000004", 7, "failed", std::nullopt));
  f.acks.push_back(ack("bid.placed-7000005", 7, "rejected", std::nullopt));
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK(r.ok());
  CAF_CHECK_EQUAL(r.failed, 1u);
  CAF_CHECK_EQUAL(r.rejected, 1u);
}

CAF_TEST(delivery latency counts from the accepted ack and clamps at zero) {
  clean_fixture f;
  f.arrivals[1].t_ms = 1000; // before the ack at 1010 (clock skew, or ack lost)
  f.arrivals[2].t_ms = 1110;
  auto r = verify(f.acks, f.arrivals);
  CAF_CHECK_EQUAL(r.latency_delivery_ms.max, 100.0);
  CAF_CHECK_EQUAL(r.latency_delivery_ms.p50, 10.0);
}

CAF_TEST(records parse from the log lines) {
  auto a = parse_ack_line(
      R"({"event_id":"bid.placed-7000001","event_type":"bid.placed","auction_id":7,)"
      R"("status":"accepted","http":202,"bid_sequence":2,"t_sent_ms":1.5,"t_ack_ms":2.25})");
  CAF_REQUIRE(a.has_value());
  CAF_CHECK_EQUAL(a->event_id, "bid.placed-7000001");
  CAF_CHECK_EQUAL(a->auction_id, 7);
  CAF_CHECK_EQUAL(a->status, "accepted");
  CAF_CHECK_EQUAL(a->http, 202);
  CAF_CHECK_EQUAL(a->bid_sequence.value_or(-1), 2);
  CAF_CHECK_EQUAL(a->t_ack_ms, 2.25);
  auto n = parse_ack_line(R"({"event_id":"x","status":"failed","bid_sequence":null})");
  CAF_REQUIRE(n.has_value());
  CAF_CHECK(!n->bid_sequence.has_value());
  CAF_CHECK(!parse_ack_line("{\"event_id\":\"trunc").has_value());

  auto r = parse_arrival_line(
      R"({"t_ms":12.5,"event_id":"auction.closed-7","event_type":"auction.closed",)"
      R"("auction_id":7,"bid_sequence":4,"total_bid_count":3,"sha256":"ab",)"
      R"("sig_ok":true,"webhook_id":"auction.closed-7"})");
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(r->sig_ok);
  CAF_CHECK(!r->malformed);
  CAF_CHECK_EQUAL(r->total_bid_count.value_or(-1), 3);
  auto bad = parse_arrival_line(R"({"t_ms":1,"event_id":"","sig_ok":false})");
  CAF_REQUIRE(bad.has_value());
  CAF_CHECK(!bad->sig_ok);
  CAF_CHECK(bad->malformed);
}

CAF_TEST(the workload is deterministic and well formed) {
  workload_options o;
  o.auctions = 20;
  o.events = 2000;
  o.seed = 42;
  o.duplicates = 0.1;
  o.implicit_open = 0.3;
  o.start_ms = 1'780'000'000'000;
  auto a = generate_workload(o);
  auto b = generate_workload(o);
  CAF_REQUIRE_EQUAL(a.size(), 20u);
  std::size_t total = 0, implicit = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto& s = a[i];
    CAF_REQUIRE_EQUAL(s.events.size(), b[i].events.size());
    for (std::size_t k = 0; k < s.events.size(); ++k)
      CAF_CHECK_EQUAL(s.events[k].body, b[i].events[k].body);
    total += s.events.size();
    implicit += s.implicit_open;
    CAF_CHECK_EQUAL(s.auction_id, static_cast<std::int64_t>(i) + 1);
    // Closed is last; opened first unless implicit (then second, after bid 1).
    CAF_CHECK(s.events.back().kind == event_kind::closed);
    CAF_CHECK(s.events[s.implicit_open ? 1 : 0].kind == event_kind::opened);
    double last_value = 0;
    for (std::size_t k = 0; k < s.events.size(); ++k) {
      const auto& ev = s.events[k];
      auto j = nlohmann::json::parse(ev.body);
      CAF_CHECK_EQUAL(j["event_type"].get<std::string>(), event_type_name(ev.kind));
      CAF_CHECK_EQUAL(j["data"]["auction_id"].get<std::int64_t>(), s.auction_id);
      if (ev.kind != event_kind::bid)
        continue;
      if (ev.resend_of >= 0) {
        CAF_CHECK(static_cast<std::size_t>(ev.resend_of) < k);
        CAF_CHECK_EQUAL(ev.body, s.events[static_cast<std::size_t>(ev.resend_of)].body);
        continue;
      }
      auto bid_id = j["data"]["bid_id"].get<std::int64_t>();
      CAF_CHECK_EQUAL(ev.event_id, "bid.placed-" + std::to_string(bid_id));
      CAF_CHECK_EQUAL(bid_id / 1'000'000, s.auction_id);
      auto amount = j["data"]["bid_amount"].get<std::string>();
      CAF_CHECK_EQUAL(amount.size() - amount.find('.'), 3u);
      auto value = std::stod(amount);
      CAF_CHECK_GREATER(value, last_value); // strictly increasing
      last_value = value;
    }
  }
  CAF_CHECK_GREATER(implicit, 0u);
  CAF_CHECK_GREATER_OR_EQUAL(total, 1800u);
  CAF_CHECK_LESS_OR_EQUAL(total, 2100u);
  o.seed = 43;
  auto c = generate_workload(o);
  CAF_CHECK_NOT_EQUAL(c[0].events[0].body, a[0].events[0].body);
}

CAF_TEST(bids climb toward the end and anti - sniping moves the end date) {
  workload_options o;
  o.auctions = 50;
  o.events = 10000;
  o.seed = 7;
  o.start_ms = 1'780'000'000'000;
  o.bid_window_ms = 120'000;
  o.close_window_ms = 60'000;
  auto scripts = generate_workload(o);
  std::size_t bids = 0, last_10s = 0, first_half = 0, extended = 0, proxies = 0;
  for (const auto& s : scripts) {
    CAF_CHECK(s.closed);
    CAF_CHECK_GREATER_OR_EQUAL(s.end_ms, o.start_ms + o.bid_window_ms);
    CAF_CHECK_LESS_OR_EQUAL(s.end_ms, o.start_ms + o.bid_window_ms + o.close_window_ms);
    CAF_CHECK_EQUAL(s.final_end_ms, s.end_ms + static_cast<std::int64_t>(s.extensions) *
                                                   o.snipe_extend_ms);
    extended += s.extensions > 0;
    proxies += s.proxy_bids;
    std::int64_t prev = 0;
    std::string last_end;
    for (const auto& ev : s.events) {
      CAF_CHECK_GREATER_OR_EQUAL(ev.t_ms, prev); // send times never go backwards
      prev = ev.t_ms;
      auto j = nlohmann::json::parse(ev.body);
      if (ev.kind == event_kind::bid && ev.resend_of < 0) {
        ++bids;
        if (ev.t_ms <= s.end_ms && ev.t_ms > s.end_ms - 10'000)
          ++last_10s;
        if (ev.t_ms < s.end_ms - o.bid_window_ms / 2)
          ++first_half;
        auto end = j["data"]["end_date"].get<std::string>();
        CAF_CHECK_GREATER_OR_EQUAL(end, last_end); // the end only moves later
        last_end = end;
      }
      if (ev.kind == event_kind::closed) {
        CAF_CHECK_EQUAL(j["data"]["end_date"].get<std::string>(),
                        iso8601_ms(s.final_end_ms).substr(0, 19) + "Z");
        CAF_CHECK_GREATER_OR_EQUAL(ev.t_ms, s.final_end_ms);
      }
    }
  }
  // u³ profile: about a third of the bids in the last 10 s of a 2-minute
  // window, only ~20 % in its first half.
  CAF_CHECK_GREATER(last_10s * 4, bids);
  CAF_CHECK_LESS(first_half * 4, bids);
  CAF_CHECK_GREATER(extended, 10u);
  CAF_CHECK_GREATER(proxies, 0u);
}

CAF_TEST(auctions can be left open) {
  workload_options o;
  o.auctions = 100;
  o.events = 200;
  o.close_fraction = 0;
  o.start_ms = 1'780'000'000'000;
  auto scripts = generate_workload(o);
  std::size_t total = 0;
  for (const auto& s : scripts) {
    CAF_CHECK(!s.closed);
    for (const auto& ev : s.events)
      CAF_CHECK(ev.kind != event_kind::closed);
    total += s.events.size();
  }
  CAF_CHECK_GREATER_OR_EQUAL(total, 195u);
  CAF_CHECK_LESS_OR_EQUAL(total, 205u);
}

CAF_TEST(the report has a time series and p999) {
  clean_fixture f;
  f.acks[4].t_ack_ms = 3100; // the close answered in the fourth bucket
  verify_options o;
  o.expect_closed = true;
  o.bucket_ms = 1000;
  auto r = verify(f.acks, f.arrivals, o);
  CAF_REQUIRE_EQUAL(r.series.size(),
                    3u); // buckets 0..2 (t_ack 3100: (3100 - 1000) / 1000)
  CAF_CHECK_EQUAL(r.series[0].acked, 4u);
  CAF_CHECK_EQUAL(r.series[2].acked, 1u);
  CAF_CHECK_EQUAL(r.series[0].delivered, 5u); // all five arrive at 1020
  CAF_CHECK_EQUAL(r.series[0].ack_p99, 10.0);
  auto j = nlohmann::json::parse(report_json(r));
  CAF_CHECK_EQUAL(j["series"]["t_s"].size(), 3u);
  CAF_CHECK(j["latency_delivery_ms"].contains("p999"));
  CAF_CHECK_GREATER(j["delivered_per_s"].get<double>(), 0.0);
}

CAF_TEST(service latency counts from the actual send) {
  auto a = parse_ack_line(
      R"({"event_id":"bid.placed-7000001","event_type":"bid.placed","auction_id":7,"status":"accepted","http":202,"bid_sequence":2,"t_sent_ms":1000,"t_ack_ms":1500,"t_first_send_ms":1490})");
  CAF_REQUIRE(a.has_value());
  CAF_REQUIRE(a->t_first_send_ms.has_value());
  auto r = verify({*a}, {arrival("bid.placed-7000001", 7, 2, 1600)}, {});
  CAF_CHECK_EQUAL(r.latency_ack_ms.p99, 500.0);    // from the schedule
  CAF_CHECK_EQUAL(r.latency_service_ms.p99, 10.0); // Gavel alone
  CAF_CHECK_EQUAL(r.latency_end_to_end_ms.p99, 600.0);
}
