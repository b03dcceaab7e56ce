// sim — Gavel's simulator: load generator (burst), webhook destination
// emulator (receive), Event Hubs and HubSpot emulators (eventhub, hubspot) and
// delivery verifier (verify). See sim/README.md.

#include "protocols/version.hpp"
#include "sim/commands.hpp"
#include "sim/emulator.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  using namespace gavel::sim;
  CLI::App app{"sim: load generator, destination emulator and verifier for Gavel"};
  app.set_version_flag("--version", gavel::version_line("sim"));
  app.require_subcommand(1);

  receive_args recv;
  auto* receive =
      app.add_subcommand("receive", "Standard Webhooks receiver recording arrivals");
  add_receive_options(*receive, recv);

  burst_args b;
  auto* burst =
      app.add_subcommand("burst", "Send an auction-close workload to POST /v1/events");
  burst->add_option("--target", b.target, "Gavel base URL")->capture_default_str();
  burst->add_option("--token", b.token,
                    "ingest bearer token (required unless --dry-run)");
  burst->add_option("--auctions", b.auctions, "number of auctions")
      ->capture_default_str();
  burst->add_option("--events", b.events, "total events (approximate)")
      ->capture_default_str();
  burst
      ->add_option("--connections", b.connections,
                   "keep-alive connections (open loop: the pool's initial size)")
      ->capture_default_str();
  burst
      ->add_option("--max-connections", b.max_connections,
                   "open loop: grow the pool up to this many (0: 4 x --connections)")
      ->capture_default_str();
  burst->add_option("--acks", b.acks, "ack log (JSON lines)")->capture_default_str();
  burst->add_option("--seed", b.seed, "workload seed")->capture_default_str();
  burst->add_option("--batch", b.batch, "events per request (>1: JSON array bodies)")
      ->capture_default_str();
  burst->add_option("--duplicates", b.duplicates, "fraction of bids resent later")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  burst
      ->add_option("--implicit-open", b.implicit_open,
                   "fraction of auctions whose first bid precedes auction.opened")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  burst->add_option("--retry-for", b.retry_for, "give up on a request after this long")
      ->capture_default_str();
  burst->add_option("--rate", b.rate, "open loop: events/s (0: closed loop)")
      ->capture_default_str();
  burst
      ->add_option("--close-window", b.close_window,
                   "end dates fall within this from start")
      ->capture_default_str();
  burst->add_option("--first-auction-id", b.first_auction_id, "id of the first auction")
      ->capture_default_str();
  burst->add_option("--start-time", b.start_time,
                    "scenario start (ISO-8601 Z) for byte-identical reruns; default now");
  burst->add_option("--report", b.report, "write the summary as JSON here");
  burst->add_option("--request-timeout", b.request_timeout, "per request")
      ->capture_default_str();
  burst->add_option("--threads", b.threads, "I/O threads")->capture_default_str();
  burst->add_flag("--quiet", b.quiet, "no progress lines");
  burst
      ->add_option("--bid-window", b.bid_window,
                   "bids fall in the last this-long before each end")
      ->capture_default_str();
  burst->add_option("--proxy", b.proxy, "probability that a bid draws a proxy burst")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  burst
      ->add_option("--snipe-window", b.snipe_window,
                   "anti-sniping: a bid this close to the end extends it (0: off)")
      ->capture_default_str();
  burst
      ->add_option("--snipe-extend", b.snipe_extend,
                   "anti-sniping: extension per such bid")
      ->capture_default_str();
  burst
      ->add_option("--close-delay", b.close_delay,
                   "auction.closed up to this long after the end")
      ->capture_default_str();
  burst
      ->add_option("--close-fraction", b.close_fraction,
                   "fraction of auctions closed in the run")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  burst->add_option("--bidders", b.bidders, "bidder population")->capture_default_str();
  burst
      ->add_option("--time-scale", b.time_scale,
                   "open loop on the time profile, compressed by this factor (0: off)")
      ->capture_default_str();
  burst->add_option("--record", b.record,
                    "write the workload as a bid log (sim replay's input)");
  burst->add_flag("--dry-run", b.dry_run, "generate (and --record) only, send nothing");
  burst->add_option("--receiver-stats", b.receiver_stats,
                    "receiver GET /_sim/stats URL for the progress line (repeatable)");
  add_tls_options(*burst, b);

  replay_args rp;
  auto* replay = app.add_subcommand(
      "replay", "Replay a recorded JSON-lines bid log to POST /v1/events");
  replay->add_option("file", rp.file, "bid log: {\"t_ms\":..,\"event\":{...}} per line")
      ->required();
  replay->add_option("--target", rp.target, "Gavel base URL")->capture_default_str();
  replay->add_option("--token", rp.token, "ingest bearer token")->required();
  replay
      ->add_option("--speed", rp.speed,
                   "1: original pace, 10: ten times faster, 0: as fast as acknowledged")
      ->capture_default_str();
  replay
      ->add_option("--connections", rp.connections,
                   "keep-alive connections (open loop: the pool's initial size)")
      ->capture_default_str();
  replay
      ->add_option("--max-connections", rp.max_connections,
                   "open loop: grow the pool up to this many (0: 4 x --connections)")
      ->capture_default_str();
  replay->add_option("--batch", rp.batch, "events per request")->capture_default_str();
  replay->add_option("--acks", rp.acks, "ack log (JSON lines)")->capture_default_str();
  replay->add_option("--report", rp.report, "write the summary as JSON here");
  replay->add_option("--retry-for", rp.retry_for, "give up on a request after this long")
      ->capture_default_str();
  replay->add_option("--request-timeout", rp.request_timeout, "per request")
      ->capture_default_str();
  replay->add_option("--threads", rp.threads, "I/O threads")->capture_default_str();
  replay->add_flag("--quiet", rp.quiet, "no progress lines");
  replay->add_option("--receiver-stats", rp.receiver_stats,
                     "receiver GET /_sim/stats URL (repeatable)");
  add_tls_options(*replay, rp);

  verify_args v;
  auto* verify =
      app.add_subcommand("verify", "Check deliveries against acknowledgements");
  verify->add_option("--acks", v.acks, "ack log of sim burst")->required();
  verify
      ->add_option("--arrivals", v.arrivals,
                   "arrival log of a destination emulator, [NAME=]FILE (repeatable)")
      ->required();
  verify->add_option("--bucket", v.bucket, "time-series bucket width")
      ->capture_default_str();
  verify->add_option("--report", v.report, "write the report as JSON here");
  verify->add_flag("--expect-closed", v.expect_closed,
                   "every acked auction must have its close delivered");
  verify->add_option("--gavel", v.gavel,
                     "Gavel's base URL: reconcile closed auctions' digests through "
                     "GET /v1/auctions/<id>");
  verify->add_option("--token", v.token, "bearer token for --gavel");

  history_args h;
  add_history_options(
      *app.add_subcommand("history",
                          "Write a months-long auction history for gavel backfill"),
      h);

  auto emulators = add_emulator_commands(app); // eventhub, hubspot

  CLI11_PARSE(app, argc, argv);

  try {
    if (auto code = run_emulator_commands(*emulators))
      return *code;
    if (*receive)
      return run_receive(recv);
    if (*burst)
      return run_burst(b);
    if (*replay)
      return run_replay(rp);
    if (*verify)
      return run_verify(v);
    if (app.got_subcommand("history"))
      return run_history(h);
  } catch (const std::exception& e) {
    std::cerr << "sim: " << e.what() << "\n";
    return 2;
  }
  return 2;
}
