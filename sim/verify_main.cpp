// `sim verify`: reads the ack and arrival logs and checks them (sim/verify.hpp).

#include "sim/commands.hpp"
#include "sim/verify.hpp"

#include <fstream>
#include <iostream>

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
  std::vector<arrival_record> arrivals;
  if (!read_jsonl(args.acks, parse_ack_line, acks) ||
      !read_jsonl(args.arrivals, parse_arrival_line, arrivals))
    return 2;
  verify_options opts;
  opts.expect_closed = args.expect_closed;
  auto report = verify(acks, arrivals, opts);
  std::cout << report_text(report) << std::flush;
  if (!args.report.empty()) {
    std::ofstream out(args.report, std::ios::binary | std::ios::trunc);
    out << report_json(report) << '\n';
    if (!out) {
      std::cerr << "sim verify: cannot write " << args.report << "\n";
      return 2;
    }
  }
  return report.ok() ? 0 : 1;
}

} // namespace gavel::sim
