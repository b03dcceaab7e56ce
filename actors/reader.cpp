// The reader actor: the outbox reads that the auctions, destinations and
// operations API ask for, on a connection of its own so that they never
// wait behind a group commit (actors/store.hpp declares it).
#include "actors/store.hpp"

namespace gavel::actors {

reader_impl_actor::behavior_type
reader(reader_impl_actor::stateful_pointer<reader_state> self,
       adapters::pg_store::options db) {
  self->state.db = std::make_unique<adapters::pg_store>(std::move(db));
  return {
      [self](atom::load, std::int64_t id) -> caf::result<protocols::auction_snapshot> {
        auto& st = self->state;
        auto rp = self->make_response_promise<protocols::auction_snapshot>();
        st.loads.push_back({id, rp});
        if (!st.flush_scheduled) {
          st.flush_scheduled = true;
          self->send(self, atom::load_due_v);
        }
        return rp;
      },
      [self](atom::load_due) {
        auto& st = self->state;
        st.flush_scheduled = false;
        auto loads = std::move(st.loads);
        st.loads.clear();
        if (loads.empty())
          return;
        std::vector<std::int64_t> ids;
        ids.reserve(loads.size());
        for (auto& l : loads)
          ids.push_back(l.auction_id);
        auto snaps = st.db->load_auctions(ids);
        if (!snaps) {
          auto err = make_error(snaps.err());
          for (auto& l : loads)
            l.rp.deliver(err);
          return;
        }
        for (std::size_t i = 0; i < loads.size(); ++i)
          loads[i].rp.deliver(std::move((*snaps)[i]));
      },
      [self](atom::open_list) -> caf::result<std::vector<std::int64_t>> {
        auto ids = self->state.db->open_auctions();
        if (!ids)
          return make_error(ids.err());
        return std::move(*ids);
      },
      [self](atom::read, std::int64_t after,
             std::uint64_t limit) -> caf::result<std::vector<protocols::outbox_record>> {
        auto rows = self->state.db->read_outbox(after, limit);
        if (!rows)
          return make_error(rows.err());
        return std::move(*rows);
      },
      [self](atom::dead_list, std::string& dest, std::int64_t auction, std::int64_t after,
             std::uint64_t limit, std::string& after_dest)
          -> caf::result<std::vector<protocols::dead_letter>> {
        auto rows = self->state.db->dead_letters(dest, auction, after, limit, after_dest);
        if (!rows)
          return make_error(rows.err());
        return std::move(*rows);
      },
      [self](atom::parked, std::string& dest) -> caf::result<std::vector<std::int64_t>> {
        auto ids = self->state.db->parked_auctions(dest);
        if (!ids)
          return make_error(ids.err());
        return std::move(*ids);
      },
      [self](atom::audit, protocols::audit_record& r) -> caf::result<std::int64_t> {
        auto id = self->state.db->append_audit(r);
        if (!id)
          return make_error(id.err());
        return *id;
      },
      [self](atom::audit_list, std::int64_t before,
             std::uint64_t limit) -> caf::result<std::vector<protocols::audit_record>> {
        auto rows = self->state.db->audit_records(before, limit);
        if (!rows)
          return make_error(rows.err());
        return std::move(*rows);
      },
      [self](atom::position, std::string& name) -> caf::result<std::int64_t> {
        auto pos = self->state.db->load_position(name);
        if (!pos)
          return make_error(pos.err());
        return *pos;
      },
      [self](atom::progress, std::string& name,
             std::int64_t after) -> caf::result<auction_progress> {
        auto rows = self->state.db->load_progress(name, after);
        if (!rows)
          return make_error(rows.err());
        return std::move(*rows);
      },
  };
}

} // namespace gavel::actors
