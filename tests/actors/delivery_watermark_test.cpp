#define CAF_SUITE actors.delivery_watermark
// The delivered-through position and per-auction progress as plain code
// (no actors): never past a record that is not done, progress saved for the
// auctions ahead of it, and records done before a restart skipped.
#include "actors/delivery_watermark.hpp"

#include <algorithm>
#include <caf/test/unit_test.hpp>

using gavel::actors::auction_progress;
using gavel::actors::delivery_watermark;

namespace {

auction_progress sorted(auction_progress p) {
  std::sort(p.begin(), p.end());
  return p;
}

} // namespace

CAF_TEST(the position stops at the oldest record not done) {
  delivery_watermark w;
  w.resume(10, {});
  w.load(11, 1, 1000);
  w.load(12, 2, 1001);
  w.load(13, 1, 1002);
  CAF_CHECK_EQUAL(w.delivered_through(), 10);
  CAF_CHECK_EQUAL(w.held(), 3u);
  w.done(12); // auction 2 is ahead; 11 (auction 1) still holds the prefix
  CAF_CHECK_EQUAL(w.delivered_through(), 10);
  CAF_CHECK_EQUAL(w.oldest_pending_ms().value_or(0), 1000);
  w.done(11);
  CAF_CHECK_EQUAL(w.delivered_through(), 12);
  CAF_CHECK_EQUAL(w.held(), 1u);
  w.done(13);
  CAF_CHECK_EQUAL(w.delivered_through(), 13);
  CAF_CHECK_EQUAL(w.held(), 0u);
  CAF_CHECK(!w.oldest_pending_ms());
}

CAF_TEST(the save carries the auctions done beyond the position) {
  delivery_watermark w;
  w.resume(0, {});
  for (std::int64_t p = 1; p <= 6; ++p)
    w.load(p, p % 2 == 0 ? 2 : 1, 0); // odd positions auction 1, even auction 2
  CAF_CHECK(!w.save_due());
  w.done(2);
  w.done(4);
  CAF_CHECK(w.save_due());
  auto [through, progress] = w.take_save();
  CAF_CHECK_EQUAL(through, 0);
  CAF_CHECK_EQUAL(sorted(progress), (auction_progress{{2, 4}}));
  CAF_CHECK(!w.save_due());
  // Auction 1 catches up past auction 2's progress: the position carries
  // it, and an auction at or below the position is not saved again.
  w.done(1);
  w.done(3);
  w.done(5);
  auto [through2, progress2] = w.take_save();
  CAF_CHECK_EQUAL(through2, 5);
  CAF_CHECK(progress2.empty());
}

CAF_TEST(after a restart records done before are skipped and the rest held) {
  delivery_watermark w;
  // Stored: everything through 10; auction 7 delivered through 14 beyond it.
  w.resume(10, {{7, 14}});
  CAF_CHECK(!w.load(11, 8, 0)); // another auction: to send
  CAF_CHECK(w.load(12, 7, 0));  // auction 7 at 12 ≤ 14: done already
  CAF_CHECK(!w.load(13, 9, 0));
  CAF_CHECK(w.load(14, 7, 0));
  CAF_CHECK(!w.load(15, 7, 0)); // beyond its progress: to send
  CAF_CHECK_EQUAL(w.delivered_through(), 10);
  w.done(11);
  w.done(13);
  CAF_CHECK_EQUAL(w.delivered_through(), 14);
  w.done(15);
  CAF_CHECK_EQUAL(w.delivered_through(), 15);
  // Past the highest progress the restart's memory is dropped.
  CAF_CHECK(!w.load(16, 7, 0));
}

CAF_TEST(positions never used or not for this destination let the position move) {
  delivery_watermark w;
  w.resume(3, {});
  // Catching up read nothing for us up to 9 (an aborted commit's numbers,
  // other event types): with nothing held the position follows.
  w.load(9, 1, 0);
  w.done(9);
  CAF_CHECK_EQUAL(w.delivered_through(), 9);
  w.settle();
  CAF_CHECK_EQUAL(w.delivered_through(), 9);
  w.load(10, 1, 0);
  w.settle(); // something held: settle does not move past it
  CAF_CHECK_EQUAL(w.delivered_through(), 9);
  // An unknown position (a redriven dead letter's) changes nothing.
  w.done(4);
  CAF_CHECK_EQUAL(w.delivered_through(), 9);
}

CAF_TEST(resume forgets what the previous run held) {
  delivery_watermark w;
  w.resume(0, {});
  w.load(1, 1, 0);
  w.load(2, 2, 0);
  w.done(2);
  w.resume(1, {});
  CAF_CHECK_EQUAL(w.held(), 0u);
  CAF_CHECK(!w.save_due());
  CAF_CHECK_EQUAL(w.loaded_through(), 1);
}
