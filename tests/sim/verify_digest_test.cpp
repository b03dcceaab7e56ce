#define CAF_SUITE sim.verify_digest
#include "sim/verify_digest.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::sim;

namespace {

arrival_record arrival(std::string id, std::int64_t auction, std::int64_t seq) {
  arrival_record r;
  r.event_type = id.substr(0, id.find('-'));
  r.event_id = id;
  r.auction_id = auction;
  r.bid_sequence = seq;
  return r;
}

} // namespace

CAF_TEST(closed auctions digest what arrived : redeliveries once and heartbeats out) {
  std::vector<arrival_record> a{arrival("auction.opened-7", 7, 1),
                                arrival("bid.placed-1", 7, 2),
                                arrival("producer.heartbeat-7-1", 7, 2),
                                arrival("bid.placed-2", 7, 3),
                                arrival("bid.placed-1", 7, 2), // redelivered
                                arrival("auction.closed-7", 7, 3),
                                arrival("auction.opened-8", 8, 1)}; // still open
  auto d = closed_auction_digests(a);
  CAF_REQUIRE_EQUAL(d.size(), 1u);
  CAF_CHECK_EQUAL(d[7].events, 4);
  // printf 'auction.opened-7\nbid.placed-1\nbid.placed-2\nauction.closed-7' | sha256sum
  CAF_CHECK_EQUAL(d[7].sha256,
                  "d03e9258ba0f48efe1dfa336339e6f6c459146344cc65f2fef95cf01db401745");
}

CAF_TEST(a missing arrival or a bad signature changes the received digest) {
  std::vector<arrival_record> a{
      arrival("auction.opened-7", 7, 1), arrival("bid.placed-1", 7, 2),
      arrival("bid.placed-2", 7, 3), arrival("auction.closed-7", 7, 3)};
  auto good = closed_auction_digests(a)[7].sha256;
  auto forged = a;
  forged[1].sig_ok = false;
  auto with_forged = closed_auction_digests(forged)[7].sha256;
  CAF_CHECK_NOT_EQUAL(with_forged, good);
  a.erase(a.begin() + 2);
  auto with_missing = closed_auction_digests(a)[7].sha256;
  CAF_CHECK_NOT_EQUAL(with_missing, good);
}
