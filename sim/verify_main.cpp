// `sim verify`: reads the ack log and one arrival log per destination and
// checks them (sim/verify.hpp).

#include "sim/commands.hpp"
#include "sim/verify.hpp"
#include "sim/verify_digest.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

namespace gavel::sim {

namespace {

template <class Record, class Parse>
bool read_jsonl(const std::string& path, Parse parse, std::vector<Record>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "sim verify: cannot open " << path << "\n";
    return false;
  }
  std::string line;
  std::size_t lineno = 0, bad = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    if (auto rec = parse(line)) {
      out.push_back(std::move(*rec));
    } else {
      // A truncated last line (writer killed mid-write) is tolerated; anything
      // else is reported but does not stop the verification.
      if (++bad <= 5)
        std::cerr << "sim verify: " << path << ":" << lineno
                  << ": skipping unparsable line\n";
    }
  }
  if (bad > 5)
    std::cerr << "sim verify: " << path << ": " << bad << " unparsable lines in total\n";
  return true;
}

} // namespace

int run_verify(const verify_args& args) {
  std::vector<ack_record> acks;
  if (!read_jsonl(args.acks, parse_ack_line, acks))
    return 2;
  verify_options opts;
  opts.expect_closed = args.expect_closed;
  auto bucket = parse_duration(args.bucket);
  if (!bucket) {
    std::cerr << "sim verify: bad --bucket\n";
    return 2;
  }
  opts.bucket_ms = static_cast<double>(bucket->count());
  // One origin for every destination's series, so they line up.
  for (const auto& k : acks)
    if (k.t_sent_ms > 0 && (opts.t0_ms == 0 || k.t_sent_ms < opts.t0_ms))
      opts.t0_ms = k.t_sent_ms;

  bool all_ok = true;
  nlohmann::json combined;
  nlohmann::json destinations = nlohmann::json::array();
  for (std::size_t i = 0; i < args.arrivals.size(); ++i) {
    std::string spec = args.arrivals[i], name, path = spec;
    if (auto eq = spec.find('='); eq != std::string::npos && eq > 0) {
      name = spec.substr(0, eq);
      path = spec.substr(eq + 1);
    } else {
      name = std::filesystem::path(spec).stem().string();
    }
    std::vector<arrival_record> arrivals;
    if (!read_jsonl(path, parse_arrival_line, arrivals))
      return 2;
    auto report = verify(acks, arrivals, opts);
    all_ok = all_ok && report.ok();
    if (args.arrivals.size() > 1)
      std::cout << "== destination " << name << " (" << path << ")\n";
    std::cout << report_text(report) << std::flush;
    auto j = nlohmann::json::parse(report_json(report));
    j["destination"] = name;
    if (!args.gavel.empty()) {
      // Gavel's view of each closed auction against what arrived here.
      auto pull =
          check_against_gavel(args.gavel, args.token, closed_auction_digests(arrivals));
      all_ok = all_ok && pull.ok();
      std::cout << "pull API digests: " << pull.auctions << " closed auctions, "
                << pull.equal << " equal, " << pull.mismatched << " differ, "
                << pull.failed << " not answered\n";
      for (const auto& e : pull.examples)
        std::cout << "  " << e << "\n";
      j["pull"] = {{"auctions", pull.auctions},
                   {"equal", pull.equal},
                   {"mismatched", pull.mismatched},
                   {"failed", pull.failed},
                   {"examples", pull.examples}};
    }
    if (i == 0)
      combined = j; // the first destination's figures at the top, as before
    destinations.push_back(std::move(j));
  }
  combined["ok"] = all_ok;
  combined["destinations"] = std::move(destinations);
  if (!args.report.empty()) {
    std::ofstream out(args.report, std::ios::binary | std::ios::trunc);
    out << combined.dump(2) << '\n';
    if (!out) {
      std::cerr << "sim verify: cannot write " << args.report << "\n";
      return 2;
    }
  }
  return all_ok ? 0 : 1;
}

} // namespace gavel::sim
