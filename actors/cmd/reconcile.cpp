#include "actors/cmd/reconcile.hpp"

#include "adapters/postgres/store.hpp"
#include "protocols/reconcile.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace gavel::actors {

int run_reconcile(const std::string& database_url, const std::string& export_path) {
  std::ifstream in(export_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) {
    std::cerr << "gavel reconcile: cannot read " << export_path << "\n";
    return 2;
  }
  auto rows = protocols::parse_export(text.str());
  if (!rows) {
    std::cerr << "gavel reconcile: " << export_path << ": " << rows.err().message << "\n";
    return 2;
  }
  // The auctions the export holds are compared, in auction_id order.
  std::map<std::int64_t, std::vector<protocols::export_row>> by_auction;
  for (auto& r : *rows)
    by_auction[r.auction_id].push_back(std::move(r));

  adapters::pg_store store{{database_url}};
  std::size_t auctions = 0, differing = 0, missing = 0, extra = 0, out_of_order = 0,
              duplicate = 0, digests = 0;
  constexpr std::size_t chunk = 1000;
  auto it = by_auction.begin();
  while (it != by_auction.end()) {
    std::vector<std::int64_t> ids;
    for (auto j = it; j != by_auction.end() && ids.size() < chunk; ++j)
      ids.push_back(j->first);
    auto events = store.auction_events(ids);
    if (!events) {
      std::cerr << "gavel reconcile: database: " << events.err().message << "\n";
      return 2;
    }
    for (std::size_t i = 0; i < ids.size(); ++i, ++it) {
      auto d = protocols::compare_auction(ids[i], (*events)[i], it->second);
      ++auctions;
      if (d.equal())
        continue;
      ++differing;
      missing += d.missing.size();
      extra += d.extra.size();
      out_of_order += d.out_of_order.size();
      duplicate += d.duplicate.size();
      digests += d.outbox_digest.sha256 != d.export_digest.sha256 ? 1 : 0;
      for (const auto& line : protocols::describe(d))
        std::cout << line << "\n";
    }
  }
  std::cout << "reconcile: " << auctions << " auctions compared, " << differing
            << " differ; missing " << missing << ", extra " << extra << ", out of order "
            << out_of_order << ", duplicate " << duplicate << ", digest mismatches "
            << digests << "\n"
            << std::flush;
  return differing == 0 ? 0 : 1;
}

} // namespace gavel::actors
