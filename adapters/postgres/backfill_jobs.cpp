// Backfill jobs and their checkpoints (migrations/0008_backfill.sql, ADR 0027).
#include "adapters/postgres/guarded.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace gavel::adapters {

namespace {

constexpr const char* columns = R"sql(
job, source, file_size, file_print, run, file_offset, records, accepted, duplicate,
rejected::text, (extract(epoch from started_at) * 1000)::bigint,
(extract(epoch from updated_at) * 1000)::bigint,
coalesce((extract(epoch from finished_at) * 1000)::bigint, 0))sql";

protocols::backfill_job to_job(const pqxx::row& r) {
  protocols::backfill_job j;
  j.job = r[0].c_str();
  j.source = r[1].c_str();
  j.file_size = r[2].as<std::int64_t>();
  j.file_print = r[3].c_str();
  j.run = r[4].as<std::int64_t>();
  j.offset = r[5].as<std::int64_t>();
  j.records = r[6].as<std::int64_t>();
  j.accepted = r[7].as<std::int64_t>();
  j.duplicate = r[8].as<std::int64_t>();
  // jsonb's text form orders keys; the counts stay in that order.
  auto rejected = nlohmann::json::parse(r[9].c_str(), nullptr, false);
  if (rejected.is_object())
    for (const auto& [code, n] : rejected.items())
      if (n.is_number_integer())
        j.rejected.emplace_back(code, n.get<std::int64_t>());
  j.started_ms = r[10].as<std::int64_t>();
  j.updated_ms = r[11].as<std::int64_t>();
  j.finished_ms = r[12].as<std::int64_t>();
  return j;
}

} // namespace

expected<protocols::backfill_job>
pg_store::begin_backfill(const std::string& job, const std::string& source,
                         std::int64_t file_size, const std::string& file_print) {
  return guarded("begin a backfill", [&]() -> expected<protocols::backfill_job> {
    pqxx::work tx{*conn_};
    // A new run of a job takes the next number: a run still going (a client
    // thought dead) can no longer move the checkpoint.
    auto started = tx.exec_params(
        std::string{"insert into backfill_jobs (job, source, file_size, file_print) "
                    "values ($1, $2, $3, $4) on conflict (job) do update set "
                    "run = backfill_jobs.run + 1, updated_at = now() "
                    "where backfill_jobs.source = excluded.source "
                    "and backfill_jobs.file_size = excluded.file_size "
                    "and backfill_jobs.file_print = excluded.file_print "
                    "returning "} +
            columns,
        job, source, file_size, file_print);
    if (!started.empty()) {
      auto found = to_job(started[0]);
      tx.commit();
      return found;
    }
    auto found = to_job(tx.exec_params1(
        std::string{"select "} + columns + " from backfill_jobs where job = $1", job));
    if (found.source != source)
      return protocols::error{"conflict", "job",
                              "job \"" + job + "\" belongs to source \"" + found.source +
                                  "\"; name another job with --job"};
    return protocols::error{"conflict", "job",
                            "job \"" + job +
                                "\" was started with another file (size or first MiB "
                                "differ); name another job with --job"};
  });
}

expected<protocols::backfill_job>
pg_store::advance_backfill(const protocols::backfill_step& step) {
  return guarded("advance a backfill", [&]() -> expected<protocols::backfill_job> {
    nlohmann::json rejected = nlohmann::json::object();
    for (const auto& [code, n] : step.rejected)
      rejected[code] = n;
    pqxx::work tx{*conn_};
    // The counts of the batch add to the job's (rejected ones by code); the
    // checkpoint only moves forward: batches of one run answer out of order.
    auto r = tx.exec_params(std::string{R"sql(
update backfill_jobs set
  file_offset = greatest(file_offset, $3), records = greatest(records, $4),
  accepted = accepted + $5, duplicate = duplicate + $6,
  rejected = (select coalesce(jsonb_object_agg(code, n), '{}'::jsonb)
              from (select code, sum(n::bigint) as n
                    from (select key as code, value as n
                          from jsonb_each_text(backfill_jobs.rejected)
                          union all
                          select key, value from jsonb_each_text($7::jsonb)) e
                    group by code) s),
  updated_at = now(),
  finished_at = case when greatest(file_offset, $3) >= file_size
                     then coalesce(finished_at, now()) end
where job = $1 and run = $2 and source = $8
returning )sql"} + columns,
                            step.job, step.run, step.offset, step.records, step.accepted,
                            step.duplicate, rejected.dump(), step.source);
    if (r.empty()) {
      auto now = tx.exec_params("select run, source from backfill_jobs where job = $1",
                                step.job);
      if (now.empty())
        return protocols::error{"not_found", "job",
                                "no backfill job \"" + step.job + "\""};
      if (step.source != now[0][1].c_str())
        return protocols::error{"conflict", "source",
                                "job \"" + step.job + "\" belongs to source \"" +
                                    now[0][1].c_str() + "\""};
      return protocols::error{"conflict", "run",
                              "job \"" + step.job + "\" was started again (run " +
                                  now[0][0].c_str() + "; this is run " +
                                  std::to_string(step.run) +
                                  "): only the newest run moves its checkpoint"};
    }
    auto job = to_job(r[0]);
    tx.commit();
    return job;
  });
}

expected<std::vector<protocols::backfill_job>> pg_store::backfill_jobs() {
  using jobs = std::vector<protocols::backfill_job>;
  return guarded("read backfill jobs", [&]() -> expected<jobs> {
    pqxx::read_transaction tx{*conn_};
    jobs out;
    for (const auto& r : tx.exec(std::string{"select "} + columns +
                                 " from backfill_jobs order by started_at desc, job"))
      out.push_back(to_job(r));
    return out;
  });
}

} // namespace gavel::adapters
