#include "actors/backfill.hpp"

#include "adapters/log.hpp"

namespace gavel::actors {

namespace {

template <class T> backfill_answer answer_of(const protocols::expected<T>& r) {
  backfill_answer a;
  if (r) {
    a.job = *r;
    return a;
  }
  const auto& e = r.err();
  a.error = e.code == "conflict" || e.code == "not_found" ? e.code : "unavailable";
  a.message = e.message;
  return a;
}

} // namespace

backfills_actor::behavior_type
backfills(backfills_actor::stateful_pointer<backfills_state> self,
          adapters::pg_store::options db) {
  db.application_name = "gavel-backfills";
  self->state.db = std::make_unique<adapters::pg_store>(std::move(db));
  return {
      [self](atom::begin, const std::string& job, const std::string& source,
             std::int64_t size, const std::string& print) {
        auto r = self->state.db->begin_backfill(job, source, size, print);
        if (r && r->run == 1)
          GAVEL_LOG_INFO("backfill {}: started for source {} ({} bytes)", job, source,
                         size);
        else if (r)
          GAVEL_LOG_INFO("backfill {}: run {} resumes at byte {} ({} records done)", job,
                         r->run, r->offset, r->records);
        return answer_of(r);
      },
      [self](atom::checkpoint, const protocols::backfill_step& step) {
        auto r = self->state.db->advance_backfill(step);
        if (r && r->done() && step.offset >= r->file_size)
          GAVEL_LOG_INFO("backfill {}: finished: {} records, {} accepted, {} duplicate, "
                         "{} rejected",
                         r->job, r->records, r->accepted, r->duplicate,
                         r->rejected_total());
        return answer_of(r);
      },
      [self](atom::jobs) -> caf::result<std::vector<protocols::backfill_job>> {
        auto r = self->state.db->backfill_jobs();
        if (!r)
          return make_error(r.err());
        return std::move(*r);
      },
  };
}

} // namespace gavel::actors
