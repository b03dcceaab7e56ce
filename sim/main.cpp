// sim — Gavel's simulator: load generator (burst), webhook destination
// emulator (receive) and delivery verifier (verify). See sim/README.md.

#include "sim/commands.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  using namespace gavel::sim;
  CLI::App app{"sim: load generator, destination emulator and verifier for Gavel"};
  app.require_subcommand(1);

  receive_args recv;
  auto* receive =
      app.add_subcommand("receive", "Standard Webhooks receiver recording arrivals");
  receive->add_option("--listen", recv.listen, "host:port to listen on (port 0: any)")
      ->capture_default_str();
  receive->add_option("--secret", recv.secret, "webhook secret, whsec_<base64>")
      ->required();
  receive->add_option("--out", recv.out, "arrival log (JSON lines, appended)")
      ->capture_default_str();
  receive->add_option("--fail-rate", recv.fail_rate, "fraction of requests answered 503")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  receive->add_option("--latency-ms", recv.latency_ms, "delay before every response")
      ->capture_default_str();
  receive->add_option("--seed", recv.seed, "seed of the failure injection")
      ->capture_default_str();
  receive->add_option("--threads", recv.threads, "I/O threads")->capture_default_str();

  burst_args b;
  auto* burst =
      app.add_subcommand("burst", "Send an auction-close workload to POST /v1/events");
  burst->add_option("--target", b.target, "Gavel base URL")->capture_default_str();
  burst->add_option("--token", b.token, "ingest bearer token")->required();
  burst->add_option("--auctions", b.auctions, "number of auctions")
      ->capture_default_str();
  burst->add_option("--events", b.events, "total events (approximate)")
      ->capture_default_str();
  burst->add_option("--connections", b.connections, "keep-alive connections")
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

  verify_args v;
  auto* verify =
      app.add_subcommand("verify", "Check deliveries against acknowledgements");
  verify->add_option("--acks", v.acks, "ack log of sim burst")->required();
  verify->add_option("--arrivals", v.arrivals, "arrival log of sim receive")->required();
  verify->add_option("--report", v.report, "write the report as JSON here");
  verify->add_flag("--expect-closed", v.expect_closed,
                   "every acked auction must have its close delivered");

  CLI11_PARSE(app, argc, argv);

  try {
    if (*receive)
      return run_receive(recv);
    if (*burst)
      return run_burst(b);
    if (*verify)
      return run_verify(v);
  } catch (const std::exception& e) {
    std::cerr << "sim: " << e.what() << "\n";
    return 2;
  }
  return 2;
}
