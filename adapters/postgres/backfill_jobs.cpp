// Backfill jobs and their checkpoints (migrations/0008_backfill.sql, ADR 0027).
#include "adapters/postgres/guarded.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace gavel::adapters {

namespace {

constexpr const char* columns = R"sql(
job, source, file_size, file_print, file_offset, records, accepted, duplicate,
rejected::text, (extract(epoch from started_at) * 1000)::bigint,
(extract(epoch from updated_at) * 1000)::bigint,
coalesce((extract(epoch from finished_at) * 1000)::bigint, 0))sql";

protocols::backfill_job to_job(const pqxx::row& r) {
  protocols::backfill_job j;
  j.job = r[0].c_str();
  j.source = r[1].c_str();
  j.file_size = r[2].as<std::int64_t>();
  j.file_print = r[3].c_str();
  j.offset = r[4].as<std::int64_t>();
  j.records = r[5].as<std::int64_t>();
  j.accepted = r[6].as<std::int64_t>();
  j.duplicate = r[7].as<std::int64_t>();
  // jsonb's text form orders keys; the counts stay in that order.
  auto rejected = nlohmann::json::parse(r[8].c_str(), nullptr, false);
  if (rejected.is_object())
    for (const auto& [code, n] : rejected.items())
      if (n.is_number_integer())
        j.rejected.emplace_back(code, n.get<std::int64_t>());
  j.started_ms = r[9].as<std::int64_t>();
  j.updated_ms = r[10].as<std::int64_t>();
  j.finished_ms = r[11].as<std::int64_t>();
  return j;
}

} // namespace

expected<protocols::backfill_job>
pg_store::begin_backfill(const std::string& job, const std::string& source,
                         std::int64_t file_size, const std::string& file_print) {
  return guarded("begin a backfill", [&]() -> expected<protocols::backfill_job> {
    pqxx::work tx{*conn_};
    tx.exec_params("insert into backfill_jobs (job, source, file_size, file_print) "
                   "values ($1, $2, $3, $4) on conflict (job) do nothing",
                   job, source, file_size, file_print);
    auto found = to_job(tx.exec_params1(
        std::string{"select "} + columns + " from backfill_jobs where job = $1", job));
    tx.commit();
    if (found.source != source)
      return protocols::error{"conflict", "job",
                              "job \"" + job + "\" belongs to source \"" + found.source +
                                  "\"; name another job with --job"};
    if (found.file_size != file_size || found.file_print != file_print)
      return protocols::error{"conflict", "job",
                              "job \"" + job +
                                  "\" was started with another file (size or first MiB "
                                  "differ); name another job with --job"};
    return found;
  });
}

expected<protocols::backfill_job>
pg_store::advance_backfill(const protocols::backfill_step& step) {
  return guarded("advance a backfill", [&]() -> expected<protocols::backfill_job> {
    nlohmann::json rejected = nlohmann::json::object();
    for (const auto& [code, n] : step.rejected)
      rejected[code] = n;
    pqxx::work tx{*conn_};
    // The counts of the batch add to the job's; rejected ones by code.
    auto r = tx.exec_params(std::string{R"sql(
update backfill_jobs set
  file_offset = $3, records = records + $4, accepted = accepted + $5,
  duplicate = duplicate + $6,
  rejected = (select coalesce(jsonb_object_agg(code, n), '{}'::jsonb)
              from (select code, sum(n::bigint) as n
                    from (select key as code, value as n
                          from jsonb_each_text(backfill_jobs.rejected)
                          union all
                          select key, value from jsonb_each_text($7::jsonb)) e
                    group by code) s),
  updated_at = now(),
  finished_at = case when $3 >= file_size then coalesce(finished_at, now()) end
where job = $1 and file_offset = $2 and source = $8
returning )sql"} + columns,
                            step.job, step.from_offset, step.to_offset, step.records,
                            step.accepted, step.duplicate, rejected.dump(), step.source);
    if (r.empty()) {
      auto now = tx.exec_params(
          "select file_offset, source from backfill_jobs where job = $1", step.job);
      if (now.empty())
        return protocols::error{"not_found", "job",
                                "no backfill job \"" + step.job + "\""};
      if (step.source != now[0][1].c_str())
        return protocols::error{"conflict", "source",
                                "job \"" + step.job + "\" belongs to source \"" +
                                    now[0][1].c_str() + "\""};
      return protocols::error{
          "conflict", "offset",
          "the checkpoint of job \"" + step.job + "\" is at byte " + now[0][0].c_str() +
              ", not " + std::to_string(step.from_offset) +
              " (another run of this job moved it); run the command again to resume"};
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
