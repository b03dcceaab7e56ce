// `sim burst`: generates an auction-close workload (sim/workload.hpp) and sends
// it to Gavel's ingest API with the sender it shares with `sim replay`
// (send_workload, sim/burst_send.cpp), which logs every definitive answer.

#include "sim/commands.hpp"
#include "sim/common.hpp"
#include "sim/workload.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

namespace gavel::sim {

bool read_send_args(const send_args& args, const std::string& label, send_options& out) {
  auto retry_for = parse_duration(args.retry_for);
  auto timeout = parse_duration(args.request_timeout);
  if (!retry_for || !timeout) {
    std::cerr << label << ": bad duration (use e.g. 250ms, 60s, 2m)\n";
    return false;
  }
  out.label = label;
  out.target = args.target;
  out.token = args.token;
  out.connections = args.connections;
  out.max_connections = args.max_connections;
  out.batch = args.batch;
  out.retry_for_ms = retry_for->count();
  out.request_timeout_ms = timeout->count();
  out.threads = args.threads;
  out.quiet = args.quiet;
  out.acks = args.acks;
  out.report = args.report;
  out.receiver_stats = args.receiver_stats;
  out.ca_file = args.ca_file;
  out.client_cert = args.client_cert;
  out.client_key = args.client_key;
  if (out.client_cert.empty() != out.client_key.empty()) {
    std::cerr << label << ": --client-cert and --client-key go together\n";
    return false;
  }
  return true;
}

void add_tls_options(CLI::App& cmd, send_args& args) {
  cmd.add_option("--ca-file", args.ca_file,
                 "extra CA bundle (PEM) trusted for an https --target and "
                 "--receiver-stats, besides the system store");
  cmd.add_option("--client-cert", args.client_cert,
                 "client certificate (PEM) for a Gavel that asks for one (mTLS)");
  cmd.add_option("--client-key", args.client_key, "private key of --client-cert");
}

int run_burst(const burst_args& args) {
  send_options o;
  if (!read_send_args(args, "sim burst", o))
    return 2;
  auto close_window = parse_duration(args.close_window);
  auto bid_window = parse_duration(args.bid_window);
  auto snipe_window = parse_duration(args.snipe_window);
  auto snipe_extend = parse_duration(args.snipe_extend);
  auto close_delay = parse_duration(args.close_delay);
  if (!close_window || !bid_window || !snipe_window || !snipe_extend || !close_delay) {
    std::cerr << "sim burst: bad duration (use e.g. 250ms, 60s, 2m)\n";
    return 2;
  }
  std::int64_t start_ms;
  if (!args.start_time.empty()) {
    auto t = parse_iso8601(args.start_time);
    if (!t) {
      std::cerr << "sim burst: bad --start-time (want 2026-06-09T14:00:00Z)\n";
      return 2;
    }
    start_ms = *t;
  } else {
    start_ms = static_cast<std::int64_t>(now_unix_ms()) / 1000 * 1000;
  }

  workload_options w;
  w.auctions = args.auctions;
  w.events = args.events;
  w.seed = args.seed;
  w.duplicates = args.duplicates;
  w.implicit_open = args.implicit_open;
  w.close_window_ms = close_window->count();
  w.first_auction_id = args.first_auction_id;
  w.start_ms = start_ms;
  w.bid_window_ms = bid_window->count();
  w.proxy = args.proxy;
  w.snipe_window_ms = snipe_window->count();
  w.snipe_extend_ms = snipe_extend->count();
  w.close_delay_ms = close_delay->count();
  w.close_fraction = args.close_fraction;
  w.bidders = args.bidders;
  const auto scripts = generate_workload(w);

  std::size_t extensions = 0, proxy_bids = 0, closes = 0;
  for (const auto& s : scripts) {
    extensions += s.extensions;
    proxy_bids += s.proxy_bids;
    closes += s.closed;
  }
  std::string text = std::to_string(args.auctions) + " auctions (" +
                     std::to_string(closes) + " closing), " + std::to_string(proxy_bids) +
                     " proxy bids, " + std::to_string(extensions) +
                     " anti-sniping extensions, seed " + std::to_string(args.seed);
  if (!args.record.empty()) {
    if (!write_bid_log(scripts, args.record)) {
      std::cerr << "sim burst: cannot write " << args.record << "\n";
      return 2;
    }
    if (!args.quiet)
      std::cerr << "sim burst: bid log written to " << args.record << "\n";
  }
  if (args.dry_run) {
    std::cout << "sim burst (dry run): " << text << "\n";
    return 0;
  }
  if (args.token.empty()) {
    std::cerr << "sim burst: --token is required\n";
    return 2;
  }

  o.rate = args.rate;
  o.time_scale = args.time_scale;
  o.seed = args.seed;
  o.workload_text = text;
  return send_workload(scripts, o);
}

} // namespace gavel::sim
