#include "sim/verify.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

namespace gavel::sim {

namespace {

using nlohmann::json;

std::optional<std::int64_t> opt_int(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null())
    return std::nullopt;
  if (it->is_number_integer())
    return it->get<std::int64_t>();
  if (it->is_number_float())
    return static_cast<std::int64_t>(it->get<double>());
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::string opt_string(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string())
    return {};
  return it->get<std::string>();
}

double opt_double(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number())
    return 0;
  return it->get<double>();
}

} // namespace

std::optional<ack_record> parse_ack_line(std::string_view line) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  ack_record r;
  r.event_id = opt_string(j, "event_id");
  r.event_type = opt_string(j, "event_type");
  r.auction_id = opt_int(j, "auction_id").value_or(0);
  r.status = opt_string(j, "status");
  r.http = static_cast<int>(opt_int(j, "http").value_or(0));
  r.bid_sequence = opt_int(j, "bid_sequence");
  r.t_sent_ms = opt_double(j, "t_sent_ms");
  r.t_ack_ms = opt_double(j, "t_ack_ms");
  if (auto f = j.find("t_first_send_ms"); f != j.end() && f->is_number())
    r.t_first_send_ms = f->get<double>();
  if (r.event_id.empty() || r.status.empty())
    return std::nullopt;
  return r;
}

std::optional<arrival_record> parse_arrival_line(std::string_view line) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  arrival_record r;
  r.t_ms = opt_double(j, "t_ms");
  r.event_id = opt_string(j, "event_id");
  r.event_type = opt_string(j, "event_type");
  r.auction_id = opt_int(j, "auction_id").value_or(0);
  r.bid_sequence = opt_int(j, "bid_sequence");
  r.total_bid_count = opt_int(j, "total_bid_count");
  r.sha256 = opt_string(j, "sha256");
  auto sig = j.find("sig_ok");
  r.sig_ok = sig != j.end() && sig->is_boolean() && sig->get<bool>();
  r.webhook_id = opt_string(j, "webhook_id");
  auto bad = j.find("malformed");
  r.malformed = (bad != j.end() && bad->is_boolean() && bad->get<bool>()) ||
                r.event_id.empty() || r.event_type.empty();
  return r;
}

bool verify_report::ok() const noexcept {
  return lost == 0 && out_of_order == 0 && gaps == 0 && dup_mismatch == 0 &&
         close_mismatch == 0 && bad_signature == 0 && malformed == 0 &&
         ack_seq_mismatch == 0 && webhook_id_mismatch == 0;
}

verify_report verify(const std::vector<ack_record>& acks,
                     const std::vector<arrival_record>& arrivals,
                     const verify_options& opts) {
  verify_report r;
  auto example = [&](std::string text) {
    if (r.examples.size() < opts.max_examples)
      r.examples.push_back(std::move(text));
  };

  struct auction_state {
    std::int64_t max_seq = 0;
    std::size_t bids = 0; ///< distinct bid.placed delivered
    bool closed = false;
    std::optional<std::int64_t> closed_seq;
    std::optional<std::int64_t> closed_total;
    bool acked = false;
  };
  std::map<std::int64_t, auction_state> auctions;
  // event_id -> index of its first (good-signature) arrival.
  std::unordered_map<std::string_view, std::size_t> first;
  first.reserve(arrivals.size());

  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const auto& a = arrivals[i];
    if (!a.sig_ok) {
      ++r.bad_signature;
      example("bad signature: " + (a.event_id.empty() ? a.webhook_id : a.event_id));
      continue;
    }
    ++r.arrivals;
    if (a.malformed) {
      ++r.malformed;
      example("malformed envelope (webhook-id " + a.webhook_id + ")");
      continue;
    }
    if (a.webhook_id != a.event_id) {
      ++r.webhook_id_mismatch;
      example("webhook-id " + a.webhook_id + " != event_id " + a.event_id);
    }
    auto [it, inserted] = first.emplace(a.event_id, i);
    if (!inserted) {
      if (arrivals[it->second].sha256 != a.sha256) {
        ++r.dup_mismatch;
        example("redelivery of " + a.event_id + " with different bytes");
      } else {
        ++r.redeliveries;
      }
      continue;
    }
    ++r.delivered_unique;
    auto& st = auctions[a.auction_id];
    if (!a.bid_sequence) {
      ++r.malformed;
      example(a.event_id + " has no bid_sequence");
      continue;
    }
    const auto seq = *a.bid_sequence;
    auto where = [&] {
      return "auction " + std::to_string(a.auction_id) + ": " + a.event_id + " seq " +
             std::to_string(seq) + " after " + std::to_string(st.max_seq);
    };
    if (a.event_type == "auction.opened" || a.event_type == "bid.placed") {
      if (seq <= st.max_seq) {
        ++r.out_of_order;
        example(where() + " (out of order)");
      } else if (seq > st.max_seq + 1) {
        ++r.gaps;
        example(where() + " (gap)");
        st.max_seq = seq;
      } else {
        st.max_seq = seq;
      }
      if (a.event_type == "bid.placed")
        ++st.bids;
    } else if (a.event_type == "auction.closed" || a.event_type == "producer.heartbeat") {
      if (seq < st.max_seq) {
        ++r.out_of_order;
        example(where() + " (out of order)");
      } else if (seq > st.max_seq) {
        ++r.gaps;
        example(where() + " (gap)");
        st.max_seq = seq;
      }
      if (a.event_type == "auction.closed") {
        st.closed = true;
        st.closed_seq = seq;
        st.closed_total = a.total_bid_count;
      } else {
        ++r.heartbeats;
      }
    } else {
      ++r.malformed;
      example(a.event_id + " has unknown event_type " + a.event_type);
    }
  }

  // Acks: distinct acked ids, their earliest accepted ack, sequence agreement.
  std::unordered_map<std::string_view, double> acked_at; // id -> earliest accepted t_ack
  std::unordered_map<std::string_view, double> sent_at;  // id -> its t_sent
  std::set<std::string_view> acked_ids;
  std::vector<double> ack_latency, service_latency;
  ack_latency.reserve(acks.size());
  for (const auto& k : acks) {
    auctions[k.auction_id]; // counts the auction
    if (k.status == "rejected") {
      ++r.rejected;
      continue;
    }
    if (k.status == "failed") {
      ++r.failed;
      continue;
    }
    if (k.status != "accepted" && k.status != "duplicate")
      continue;
    (k.status == "accepted" ? r.acked_accepted : r.acked_duplicate)++;
    auctions[k.auction_id].acked = true;
    acked_ids.insert(k.event_id);
    ack_latency.push_back(std::max(0.0, k.t_ack_ms - k.t_sent_ms));
    if (k.t_first_send_ms && *k.t_first_send_ms > 0)
      service_latency.push_back(std::max(0.0, k.t_ack_ms - *k.t_first_send_ms));
    if (k.status == "accepted") {
      auto [it, inserted] = acked_at.emplace(k.event_id, k.t_ack_ms);
      if (!inserted) {
        it->second = std::min(it->second, k.t_ack_ms);
      } else {
        sent_at[k.event_id] = k.t_sent_ms;
      }
    }
    auto f = first.find(k.event_id);
    if (f != first.end() && k.bid_sequence) {
      const auto& a = arrivals[f->second];
      if (a.bid_sequence && *a.bid_sequence != *k.bid_sequence) {
        ++r.ack_seq_mismatch;
        example(k.event_id + " acked with seq " + std::to_string(*k.bid_sequence) +
                " but delivered with seq " + std::to_string(*a.bid_sequence));
      }
    }
  }
  r.acked = acked_ids.size();
  for (auto id : acked_ids) {
    if (!first.count(id)) {
      ++r.lost;
      example("lost: " + std::string(id));
    }
  }
  for (const auto& [id, idx] : first)
    if (!acked_ids.count(id))
      ++r.unacked_delivered;

  for (const auto& [aid, st] : auctions) {
    if (st.closed) {
      ++r.auctions_closed;
      bool bad = !st.closed_total || !st.closed_seq ||
                 *st.closed_seq != *st.closed_total + 1 ||
                 *st.closed_total != static_cast<std::int64_t>(st.bids);
      if (bad) {
        ++r.close_mismatch;
        example("auction " + std::to_string(aid) + ": closed seq " +
                (st.closed_seq ? std::to_string(*st.closed_seq) : "null") +
                " total_bid_count " +
                (st.closed_total ? std::to_string(*st.closed_total) : "null") + ", " +
                std::to_string(st.bids) + " bids delivered");
      }
    } else if (opts.expect_closed && st.acked) {
      ++r.missing_close;
      ++r.close_mismatch;
      example("auction " + std::to_string(aid) + ": close never delivered");
    }
  }
  r.auctions = auctions.size();

  std::vector<double> delivery, end_to_end;
  delivery.reserve(acked_at.size());
  end_to_end.reserve(acked_at.size());
  // (arrival time, latency) of every acked event's first delivery, for the series.
  std::vector<std::pair<double, double>> delivered_at;
  delivered_at.reserve(acked_at.size());
  for (const auto& [id, t_ack] : acked_at) {
    auto f = first.find(id);
    if (f != first.end()) {
      const double lat = std::max(0.0, arrivals[f->second].t_ms - t_ack);
      delivery.push_back(lat);
      delivered_at.emplace_back(arrivals[f->second].t_ms, lat);
      end_to_end.push_back(std::max(0.0, arrivals[f->second].t_ms - sent_at[id]));
    }
  }

  // Throughput: first send to last first delivery (any event type).
  double first_sent = 0;
  for (const auto& k : acks)
    if (k.t_sent_ms > 0 && (first_sent == 0 || k.t_sent_ms < first_sent))
      first_sent = k.t_sent_ms;
  // Only the acked events count (not heartbeats, nor other runs' events
  // in a shared arrival log).
  double last_delivery = 0;
  for (const auto& [t, lat] : delivered_at)
    last_delivery = std::max(last_delivery, t);
  r.first_sent_ms = first_sent;
  r.last_delivery_ms = last_delivery;
  if (first_sent > 0 && last_delivery > first_sent)
    r.delivered_per_s =
        static_cast<double>(delivered_at.size()) * 1000.0 / (last_delivery - first_sent);

  if (opts.bucket_ms > 0) {
    const double t0 = opts.t0_ms > 0 ? opts.t0_ms : first_sent;
    std::vector<std::vector<double>> ack_b, del_b;
    auto bucket_of = [&](double t) -> std::size_t {
      return t <= t0 ? 0 : static_cast<std::size_t>((t - t0) / opts.bucket_ms);
    };
    constexpr std::size_t max_buckets = 100'000; // a stray timestamp must not explode it
    auto slot = [&](std::vector<std::vector<double>>& v,
                    std::size_t b) -> std::vector<double>* {
      if (b >= max_buckets)
        return nullptr;
      if (v.size() <= b)
        v.resize(b + 1);
      return &v[b];
    };
    for (const auto& k : acks)
      if (k.status == "accepted" || k.status == "duplicate")
        if (auto* v = slot(ack_b, bucket_of(k.t_ack_ms)))
          v->push_back(std::max(0.0, k.t_ack_ms - k.t_sent_ms));
    for (const auto& [t, lat] : delivered_at)
      if (auto* v = slot(del_b, bucket_of(t)))
        v->push_back(lat);
    const std::size_t n = std::max(ack_b.size(), del_b.size());
    r.series.resize(n);
    for (std::size_t b = 0; b < n; ++b) {
      auto& p = r.series[b];
      p.t_s = static_cast<double>(b) * opts.bucket_ms / 1000.0;
      if (b < ack_b.size() && !ack_b[b].empty()) {
        auto q = compute_percentiles(ack_b[b]);
        p.acked = q.count;
        p.ack_p50 = q.p50;
        p.ack_p99 = q.p99;
      }
      if (b < del_b.size() && !del_b[b].empty()) {
        auto q = compute_percentiles(del_b[b]);
        p.delivered = q.count;
        p.delivery_p50 = q.p50;
        p.delivery_p99 = q.p99;
      }
    }
  }
  r.latency_ack_ms = compute_percentiles(ack_latency);
  r.latency_delivery_ms = compute_percentiles(delivery);
  r.latency_end_to_end_ms = compute_percentiles(end_to_end);
  r.latency_service_ms = compute_percentiles(service_latency);
  return r;
}

namespace {

json percentiles_json(const percentiles& p) {
  auto round3 = [](double v) {
    return static_cast<double>(std::llround(v * 1000)) / 1000;
  };
  return json{{"p50", round3(p.p50)},   {"p95", round3(p.p95)}, {"p99", round3(p.p99)},
              {"p999", round3(p.p999)}, {"max", round3(p.max)}, {"count", p.count}};
}

} // namespace

std::string report_json(const verify_report& r) {
  json j{{"ok", r.ok()},
         {"acked", r.acked},
         {"acked_accepted", r.acked_accepted},
         {"acked_duplicate", r.acked_duplicate},
         {"rejected", r.rejected},
         {"failed", r.failed},
         {"arrivals", r.arrivals},
         {"delivered_unique", r.delivered_unique},
         {"redeliveries", r.redeliveries},
         {"unacked_delivered", r.unacked_delivered},
         {"heartbeats", r.heartbeats},
         {"lost", r.lost},
         {"out_of_order", r.out_of_order},
         {"gaps", r.gaps},
         {"dup_mismatch", r.dup_mismatch},
         {"close_mismatch", r.close_mismatch},
         {"missing_close", r.missing_close},
         {"bad_signature", r.bad_signature},
         {"malformed", r.malformed},
         {"ack_seq_mismatch", r.ack_seq_mismatch},
         {"webhook_id_mismatch", r.webhook_id_mismatch},
         {"auctions", r.auctions},
         {"auctions_closed", r.auctions_closed},
         {"latency_ack_ms", percentiles_json(r.latency_ack_ms)},
         {"latency_delivery_ms", percentiles_json(r.latency_delivery_ms)},
         {"latency_end_to_end_ms", percentiles_json(r.latency_end_to_end_ms)},
         {"latency_service_ms", percentiles_json(r.latency_service_ms)},
         {"first_sent_ms", r.first_sent_ms},
         {"last_delivery_ms", r.last_delivery_ms},
         {"delivered_per_s", std::round(r.delivered_per_s * 10) / 10},
         {"examples", r.examples}};
  // Columns rather than one object per bucket: compact for long runs.
  json series{{"t_s", json::array()},
              {"acked", json::array()},
              {"delivered", json::array()},
              {"ack_p50_ms", json::array()},
              {"ack_p99_ms", json::array()},
              {"delivery_p50_ms", json::array()},
              {"delivery_p99_ms", json::array()}};
  auto r3 = [](double v) { return static_cast<double>(std::llround(v * 1000)) / 1000; };
  for (const auto& p : r.series) {
    series["t_s"].push_back(p.t_s);
    series["acked"].push_back(p.acked);
    series["delivered"].push_back(p.delivered);
    series["ack_p50_ms"].push_back(r3(p.ack_p50));
    series["ack_p99_ms"].push_back(r3(p.ack_p99));
    series["delivery_p50_ms"].push_back(r3(p.delivery_p50));
    series["delivery_p99_ms"].push_back(r3(p.delivery_p99));
  }
  j["series"] = std::move(series);
  return j.dump(2);
}

std::string report_text(const verify_report& r) {
  std::string out;
  auto row = [&](const char* name, std::size_t v) {
    out += "  ";
    out += name;
    out.append(22 - std::min<std::size_t>(22, std::char_traits<char>::length(name)), ' ');
    append_int(static_cast<std::int64_t>(v), out);
    out += '\n';
  };
  auto lat = [&](const char* name, const percentiles& p) {
    out += "  ";
    out += name;
    out += " (ms, n=";
    append_int(static_cast<std::int64_t>(p.count), out);
    out += "): p50=";
    append_fixed(p.p50, 1, out);
    out += " p95=";
    append_fixed(p.p95, 1, out);
    out += " p99=";
    append_fixed(p.p99, 1, out);
    out += " p99.9=";
    append_fixed(p.p999, 1, out);
    out += " max=";
    append_fixed(p.max, 1, out);
    out += '\n';
  };
  out += r.ok() ? "verify: OK\n" : "verify: FAILED\n";
  row("auctions", r.auctions);
  row("auctions closed", r.auctions_closed);
  row("acked", r.acked);
  row("rejected", r.rejected);
  row("failed", r.failed);
  row("delivered (unique)", r.delivered_unique);
  row("redeliveries", r.redeliveries);
  row("heartbeats", r.heartbeats);
  row("unacked delivered", r.unacked_delivered);
  row("lost", r.lost);
  row("out of order", r.out_of_order);
  row("gaps", r.gaps);
  row("dup mismatch", r.dup_mismatch);
  row("close mismatch", r.close_mismatch);
  row("bad signature", r.bad_signature);
  row("malformed", r.malformed);
  row("ack seq mismatch", r.ack_seq_mismatch);
  row("webhook-id mismatch", r.webhook_id_mismatch);
  lat("ack latency     ", r.latency_ack_ms);
  lat("delivery latency", r.latency_delivery_ms);
  lat("sent -> arrival  ", r.latency_end_to_end_ms);
  if (r.latency_service_ms.count > 0)
    lat("ack service      ", r.latency_service_ms);
  if (r.delivered_per_s > 0) {
    out += "  delivered/s (first send to last delivery): ";
    append_fixed(r.delivered_per_s, 0, out);
    out += '\n';
  }
  if (!r.examples.empty()) {
    out += "problems (first ";
    append_int(static_cast<std::int64_t>(r.examples.size()), out);
    out += "):\n";
    for (const auto& e : r.examples)
      out += "  - " + e + '\n';
  }
  return out;
}

} // namespace gavel::sim
