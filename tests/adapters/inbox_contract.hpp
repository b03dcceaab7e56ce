#pragma once

// The inbox reader's contract (adapters/inbox.hpp, DESIGN §1.7), proved the
// same way against each kind of platform database. A platform `P` offers:
//   P::session             exec(sql), scalar(sql): a platform connection
//   P::open()              a new session (each is its own transaction scope)
//   P::reader()            an inbox_reader on the test database, schema applied
//   P::restart_ids_at(n)   the next inbox id is n
//   P::insert_aged(event, seconds)   SQL inserting a row created `seconds` ago
//   P::kill_reader_sessions()        the server ends every other session
//                                     on the test database (and they are gone)

#include "adapters/inbox.hpp"

#include <caf/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace gavel::test::inbox_contract {

inline std::string insert(const std::string& event) {
  return "insert into gavel_inbox (event) values ('" + event + "')";
}

inline std::string event(int bid) {
  return R"({"event_type":"bid.placed","data":{"auction_id":7,"bid_id":)" +
         std::to_string(bid) + R"(,"bid_amount":"875.00"}})";
}

inline std::vector<std::int64_t> ids(adapters::inbox_reader& r) {
  auto rows = r.read(1000);
  CAF_REQUIRE(rows);
  std::vector<std::int64_t> out;
  for (const auto& row : *rows)
    out.push_back(row.id);
  return out;
}

using id_list = std::vector<std::int64_t>;

/// T1 takes id 100 and stays open; T2 takes 101 and commits. 101 is read at
/// once, and removed as the outbox commit would; when T1 commits, 100 is
/// read: a reader that remembered "everything up to 101 is done" (a
/// high-water mark) would skip it for good.
template <class P> void a_late_commit_is_read_and_never_skipped(P& p) {
  auto reader = p.reader();
  p.restart_ids_at(100);
  auto t1 = p.open();
  auto t2 = p.open();
  t1->exec("begin");
  t1->exec(insert(event(100)));
  t2->exec("begin");
  t2->exec(insert(event(101)));
  t2->exec("commit");
  // The open T1 holds back nothing but its own row (and the read waits for
  // no lock of it).
  auto first = reader->read(1000);
  CAF_REQUIRE(first);
  CAF_REQUIRE_EQUAL(first->size(), 1u);
  CAF_CHECK_EQUAL(first->front().id, 101);
  CAF_CHECK_EQUAL(first->front().event, event(101));
  CAF_REQUIRE(reader->remove({101}));
  CAF_CHECK_EQUAL(ids(*reader), id_list{});
  t1->exec("commit");
  auto second = reader->read(1000);
  CAF_REQUIRE(second);
  CAF_REQUIRE_EQUAL(second->size(), 1u);
  CAF_CHECK_EQUAL(second->front().id, 100);
  CAF_CHECK_EQUAL(second->front().event, event(100));
}

/// Without a removal both are there, in id order, whatever the commit order.
template <class P> void rows_come_in_id_order_whatever_the_commit_order(P& p) {
  auto reader = p.reader();
  p.restart_ids_at(100);
  auto t1 = p.open();
  auto t2 = p.open();
  t1->exec("begin");
  t1->exec(insert(event(100)));
  t2->exec("begin");
  t2->exec(insert(event(101)));
  t2->exec("commit");
  CAF_CHECK_EQUAL(ids(*reader), id_list{101});
  // Neither does counting, nor rejecting another row.
  auto open_depth = reader->depth();
  CAF_REQUIRE(open_depth);
  CAF_CHECK_EQUAL(open_depth->rows, 1);
  auto none = reader->reject(99, "absent");
  CAF_REQUIRE(none);
  CAF_CHECK(!*none);
  t1->exec("commit");
  CAF_CHECK_EQUAL(ids(*reader), (id_list{100, 101}));
  // The limit takes the lowest ids.
  auto one = reader->read(1);
  CAF_REQUIRE(one);
  CAF_REQUIRE_EQUAL(one->size(), 1u);
  CAF_CHECK_EQUAL(one->front().id, 100);
}

template <class P> void removed_rows_are_gone(P& p) {
  auto reader = p.reader();
  p.restart_ids_at(1);
  auto s = p.open();
  for (int i = 1; i <= 3; ++i)
    s->exec(insert(event(i)));
  CAF_CHECK_EQUAL(ids(*reader), (id_list{1, 2, 3}));
  CAF_REQUIRE(reader->remove({1, 3}));
  CAF_CHECK_EQUAL(ids(*reader), id_list{2});
  // Removing again (a crash between the outbox commit and the removal) or
  // removing nothing is harmless.
  CAF_REQUIRE(reader->remove({1, 3}));
  CAF_REQUIRE(reader->remove({}));
  CAF_CHECK_EQUAL(ids(*reader), id_list{2});
  CAF_CHECK_EQUAL(s->scalar("select count(*) from gavel_inbox"), "1");
}

template <class P> void a_rejected_row_moves_with_its_reason(P& p) {
  auto reader = p.reader();
  p.restart_ids_at(1);
  auto s = p.open();
  s->exec(insert(R"({"event_type":"bid.placed","data":{}})"));
  s->exec(insert(event(2)));
  // Quotes and a backslash: the reason is data, never SQL.
  const std::string reason = R"(422 data.auction_id: missing; it's a "bug" \n)";
  auto moved = reader->reject(1, reason);
  CAF_REQUIRE(moved);
  CAF_CHECK(*moved);
  CAF_CHECK_EQUAL(ids(*reader), id_list{2});
  CAF_CHECK_EQUAL(s->scalar("select reason from gavel_inbox_rejected where id = 1"),
                  reason);
  CAF_CHECK_EQUAL(s->scalar("select event from gavel_inbox_rejected where id = 1"),
                  R"({"event_type":"bid.placed","data":{}})");
  CAF_CHECK_EQUAL(s->scalar("select count(*) from gavel_inbox_rejected"), "1");
  // A row that is not there is not moved, and nothing is written.
  auto again = reader->reject(1, "again");
  CAF_REQUIRE(again);
  CAF_CHECK(!*again);
  auto absent = reader->reject(99, "absent");
  CAF_REQUIRE(absent);
  CAF_CHECK(!*absent);
  CAF_CHECK_EQUAL(s->scalar("select count(*) from gavel_inbox_rejected"), "1");
  CAF_CHECK_EQUAL(s->scalar("select reason from gavel_inbox_rejected where id = 1"),
                  reason);
}

template <class P> void a_rolled_back_insert_never_appears(P& p) {
  auto reader = p.reader();
  p.restart_ids_at(1);
  auto t = p.open();
  t->exec("begin");
  t->exec(insert(event(1)));
  t->exec("rollback");
  t->exec(insert(event(2)));
  auto rows = reader->read(1000);
  CAF_REQUIRE(rows);
  CAF_REQUIRE_EQUAL(rows->size(), 1u);
  CAF_CHECK_EQUAL(rows->front().event, event(2));
  auto d = reader->depth();
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->rows, 1);
}

template <class P> void depth_counts_rows_and_ages_the_oldest(P& p) {
  using namespace std::chrono;
  auto reader = p.reader();
  auto empty = reader->depth();
  CAF_REQUIRE(empty);
  CAF_CHECK_EQUAL(empty->rows, 0);
  CAF_CHECK(!empty->oldest_age);
  auto s = p.open();
  s->exec(p.insert_aged(event(1), 90));
  s->exec(insert(event(2)));
  auto d = reader->depth();
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->rows, 2);
  CAF_REQUIRE(d->oldest_age);
  // 90 s by the server's clock; the upper bound only catches nonsense.
  CAF_CHECK_GREATER_OR_EQUAL(d->oldest_age->count(), 90'000);
  CAF_CHECK_LESS(d->oldest_age->count(), 150'000);
  // The rows carry their creation time (the server runs on this machine).
  auto rows = reader->read(10);
  CAF_REQUIRE(rows);
  CAF_REQUIRE_EQUAL(rows->size(), 2u);
  auto now_ms =
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  CAF_CHECK_LESS_OR_EQUAL(rows->at(0).created, now_ms - 90'000 + 1'000);
  CAF_CHECK_GREATER(rows->at(0).created, now_ms - 150'000);
  CAF_CHECK_LESS_OR_EQUAL(rows->at(1).created, now_ms + 1'000);
  CAF_CHECK_GREATER(rows->at(1).created, now_ms - 60'000);
}

template <class P> void applying_the_schema_again_keeps_the_rows(P& p) {
  auto reader = p.reader();
  auto s = p.open();
  s->exec(insert(event(1)));
  CAF_REQUIRE(reader->apply_schema());
  CAF_CHECK_EQUAL(ids(*reader).size(), 1u);
}

/// The server ends the reader's sessions: the next call says so, the one
/// after connects again and reads.
template <class P> void the_reader_connects_again_after_its_session_is_killed(P& p) {
  auto reader = p.reader();
  auto s = p.open();
  s->exec(insert(event(1)));
  CAF_REQUIRE_EQUAL(ids(*reader).size(), 1u);
  p.kill_reader_sessions();
  auto lost = reader->read(10);
  CAF_REQUIRE(!lost);
  CAF_CHECK_EQUAL(lost.err().code, "unavailable");
  CAF_CHECK(!lost.err().message.empty());
  CAF_CHECK_EQUAL(ids(*reader).size(), 1u);
  // Writes too.
  p.kill_reader_sessions();
  auto failed = reader->remove({1});
  CAF_REQUIRE(!failed);
  CAF_CHECK_EQUAL(failed.err().code, "unavailable");
  CAF_REQUIRE(reader->remove({1}));
  CAF_CHECK_EQUAL(ids(*reader).size(), 0u);
}

} // namespace gavel::test::inbox_contract
