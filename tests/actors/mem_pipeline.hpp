#pragma once
// The in-memory pipeline of the interleaving test (tests/actors/
// interleaving_test.cpp): an outbox and a store and reader behind the real
// message interfaces, and a destination client whose requests the test
// completes in an order it draws. Allowed here only: CAF's test coordinator
// cannot wait on PostgreSQL or sockets; the same invariants against the real
// database and emulators are the end-to-end tests' job.
#include "actors/interfaces.hpp"
#include "adapters/destinations/client.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace gavel::test {

/// One request the destination received and answered with success.
struct arrival {
  int incarnation; ///< which worker sent it (a restart starts a new one)
  protocols::outbox_record rec;
};

/// The outbox, the auction rows and what the destination holds, as the
/// in-memory store keeps them.
struct mem_db {
  std::vector<protocols::outbox_record> outbox; ///< ascending positions, with holes
  std::int64_t next_position = 1;               ///< aborted commits use numbers too
  std::map<std::int64_t, protocols::auction_row> auctions;
  std::map<std::string, std::int64_t> owner; ///< event_id → auction
  std::vector<actors::feed_actor> subscribers;
  std::int64_t last_published = 0;
  /// A commit answered as failed though it landed may be published after the
  /// next one: the live feed then shows a hole first.
  std::vector<actors::record_batch> late;
  std::minstd_rand* rng = nullptr;
  int fail_percent = 0;  ///< clean failures
  int doubt_percent = 0; ///< committed, answered as failed
  // The destination side.
  std::vector<arrival> arrivals;
  std::int64_t saved_position = 0;
  std::map<std::int64_t, std::int64_t> saved_progress; ///< auction → position
  std::string problem; ///< first invariant broken inside the store

  void publish(const actors::record_batch& b) {
    last_published = std::max(last_published, b->back().position);
    for (auto& d : subscribers)
      caf::anon_send(d, atom::committed_v, b);
  }

  void publish_late() {
    for (auto& b : late)
      publish(b);
    late.clear();
  }

  bool arrived(std::int64_t position) const {
    return std::any_of(arrivals.begin(), arrivals.end(),
                       [&](const arrival& a) { return a.rec.position == position; });
  }

  /// A saved position or progress must never pass a record that has not
  /// arrived: a restart would skip it for good.
  void check_saved(std::int64_t through, const actors::auction_progress& progress) {
    for (auto& r : outbox) {
      if (!problem.empty())
        return;
      bool covered = r.position <= through;
      for (auto& [auction, at] : progress)
        covered = covered || (auction == r.auction_id && r.position <= at);
      if (covered && !arrived(r.position))
        problem = "saved progress passes position " + std::to_string(r.position) + " (" +
                  r.event_id + "), which never arrived";
    }
  }
};

/// Records every batch the store publishes, like a destination worker would.
inline actors::feed_actor::behavior_type
recorder(std::shared_ptr<std::vector<protocols::outbox_record>> sink) {
  using namespace actors;
  return {
      [sink](atom::committed, record_batch& b) {
        sink->insert(sink->end(), b->begin(), b->end());
      },
  };
}

inline actors::store_actor::behavior_type mem_store(std::shared_ptr<mem_db> db) {
  using namespace actors;
  return {
      [db](atom::persist, persist_request& req) -> caf::result<persist_reply> {
        auto roll = static_cast<int>((*db->rng)() % 100);
        if (roll < db->fail_percent) {
          db->next_position += static_cast<std::int64_t>(req.events.size());
          return make_error(errc::unavailable, "injected clean failure");
        }
        persist_reply reply;
        for (auto& e : req.events)
          if (auto it = db->owner.find(e.event_id); it != db->owner.end())
            reply.taken.emplace_back(e.event_id, it->second);
        if (!reply.taken.empty())
          return reply;
        auto batch = std::make_shared<std::vector<protocols::outbox_record>>();
        for (auto& e : req.events) {
          protocols::outbox_record r;
          r.position = db->next_position++;
          r.auction_id = e.auction_id;
          r.type = e.type;
          r.bid_sequence = e.bid_sequence;
          r.event_id = e.event_id;
          r.envelope = e.envelope;
          db->outbox.push_back(r);
          db->owner[e.event_id] = e.auction_id;
          reply.positions.push_back(r.position);
          batch->push_back(std::move(r));
        }
        db->auctions[req.auction.auction_id] = req.auction;
        record_batch published = batch;
        bool doubt = roll < db->fail_percent + db->doubt_percent;
        if (doubt && (*db->rng)() % 2 == 0) {
          db->late.push_back(published);
        } else {
          db->publish(published);
          db->publish_late();
        }
        if (doubt)
          return make_error(errc::in_doubt, "injected ambiguous commit (it landed)");
        return reply;
      },
      [db](atom::position, std::string&, std::int64_t through, auction_progress& p) {
        db->check_saved(through, p);
        db->saved_position = std::max(db->saved_position, through);
        for (auto it = db->saved_progress.begin(); it != db->saved_progress.end();)
          it = it->second <= through ? db->saved_progress.erase(it) : std::next(it);
        for (auto& [auction, at] : p)
          db->saved_progress[auction] = std::max(db->saved_progress[auction], at);
      },
      [db](atom::subscribe, feed_actor& d) -> std::int64_t {
        db->subscribers.push_back(d);
        return db->last_published;
      },
      [](atom::health) { return true; },
      [db](atom::dead, protocols::dead_letter& d) {
        if (db->problem.empty())
          db->problem =
              "dead letter for " + d.event_id + " (only transient failures occur)";
      },
      [](atom::resolve, std::string&, std::int64_t) {},
      [](atom::take_dead, std::string&, std::int64_t) {
        return std::vector<protocols::dead_letter>{};
      },
      [](atom::epoch, std::uint64_t e) { return e; },
      [](atom::crash) {},
  };
}

inline actors::reader_actor::behavior_type mem_reader(std::shared_ptr<mem_db> db) {
  using namespace actors;
  return {
      [db](atom::load, std::int64_t id) {
        protocols::auction_snapshot s;
        if (auto it = db->auctions.find(id); it != db->auctions.end()) {
          s.exists = true;
          s.row = it->second;
        }
        for (auto& r : db->outbox)
          if (r.auction_id == id && r.type == protocols::event_type::bid_placed)
            s.bids.emplace_back(std::stoll(r.event_id.substr(11)), r.bid_sequence);
        return s;
      },
      [](atom::open_list) { return std::vector<std::int64_t>{}; },
      [db](atom::read, std::int64_t after, std::uint64_t limit) {
        std::vector<protocols::outbox_record> rows;
        for (auto& r : db->outbox)
          if (r.position > after && rows.size() < limit)
            rows.push_back(r);
        return rows;
      },
      [db](atom::position, std::string&) { return db->saved_position; },
      [db](atom::progress, std::string&, std::int64_t above) {
        auction_progress p;
        for (auto& [auction, at] : db->saved_progress)
          if (at > above)
            p.emplace_back(auction, at);
        return p;
      },
      [](atom::dead_list, std::string&, std::int64_t, std::int64_t, std::uint64_t,
         std::string&) { return std::vector<protocols::dead_letter>{}; },
      [](atom::parked, std::string&) { return std::vector<std::int64_t>{}; },
      [](atom::audit, protocols::audit_record&) { return std::int64_t{0}; },
      [](atom::audit_list, std::int64_t, std::uint64_t) {
        return std::vector<protocols::audit_record>{};
      },
  };
}

/// A request the worker sent, not answered yet.
struct pending_send {
  int incarnation;
  std::vector<protocols::outbox_record> batch;
  std::function<void(adapters::delivery_result)> done;
};

/// The destination's wire, held by the test: the worker's requests wait in
/// `pending` until the test answers them (success or a transient failure).
struct mem_wire {
  std::vector<pending_send> pending;
  adapters::batch_limits limits;

  /// Answers request `i`; a success is an arrival at the destination.
  void answer(std::size_t i, bool ok, mem_db& db) {
    auto p = std::move(pending[i]);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
    adapters::delivery_result r;
    if (ok) {
      for (auto& rec : p.batch)
        db.arrivals.push_back({p.incarnation, rec});
      r.status = 200;
    } else {
      r.overall = protocols::failure_class::transient;
      r.status = 503;
      r.error = "injected 503";
    }
    p.done(std::move(r));
  }
};

class mem_client : public adapters::destination_client {
public:
  mem_client(std::shared_ptr<mem_wire> wire, int incarnation)
      : wire_(std::move(wire)), incarnation_(incarnation) {}
  adapters::batch_limits limits() const override { return wire_->limits; }
  void send(std::vector<protocols::outbox_record> batch,
            std::function<void(adapters::delivery_result)> done) override {
    wire_->pending.push_back({incarnation_, std::move(batch), std::move(done)});
  }
  void close() override {}

private:
  std::shared_ptr<mem_wire> wire_;
  int incarnation_;
};

} // namespace gavel::test
