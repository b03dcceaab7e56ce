#include "actors/pull.hpp"

namespace gavel::actors {

pull_actor::behavior_type pull(pull_actor::stateful_pointer<pull_state> self,
                               adapters::pg_store::options db,
                               std::vector<protocols::delivery_scope> destinations) {
  db.application_name = "gavel-pull";
  self->state.db = std::make_unique<adapters::pg_store>(std::move(db));
  self->state.destinations = std::move(destinations);
  return {
      [self](atom::pull, protocols::pull_query& q) -> caf::result<protocols::pull_page> {
        auto page = self->state.db->pull_events(q);
        if (!page)
          return make_error(page.err());
        return std::move(*page);
      },
      [self](atom::summary,
             std::int64_t auction_id) -> caf::result<protocols::auction_summary> {
        auto& st = self->state;
        auto s = st.db->auction_summary(auction_id, st.destinations);
        if (!s)
          return make_error(s.err());
        return s->value_or(protocols::auction_summary{});
      },
      [self](atom::auctions,
             protocols::auction_query& q) -> caf::result<protocols::auction_page> {
        auto page = self->state.db->list_auctions(q);
        if (!page)
          return make_error(page.err());
        return std::move(*page);
      },
  };
}

} // namespace gavel::actors
