// The peer's ingest: accepts docs/ingest.md's `POST /v1/events` (one event or an
// array), and in ONE transaction per request records each event (dedup on
// event_id, per-auction bid_sequence as Gavel assigns it) and enqueues its
// delivery with graphile-worker's add_job in a named queue per auction
// (graphile-worker's way to keep per-key order). A response means committed,
// as with Gavel. Env: PEER_PGHOST (socket dir), PEER_PGPORT, PEER_PGDATABASE,
// PEER_LISTEN (port), PEER_TOKEN, PEER_POOL (connections, default 16).
"use strict";
const http = require("http");
const { Pool } = require("pg");
const { runMigrations } = require("graphile-worker");

const pgConfig = {
  host: process.env.PEER_PGHOST,
  port: Number(process.env.PEER_PGPORT || 5432),
  user: process.env.PEER_PGUSER || "postgres",
  database: process.env.PEER_PGDATABASE || "peer",
};
const pool = new Pool({ ...pgConfig, max: Number(process.env.PEER_POOL || 16) });
const token = process.env.PEER_TOKEN || "";

// One round trip per request: the function does what Gavel's auction actor
// and store do (dedup, sequence, envelope) plus graphile-worker's add_job.
const setupSql = `
create table if not exists peer_auction (auction_id bigint primary key,
  last_seq bigint not null, bids bigint not null);
create table if not exists peer_event (event_id text primary key, seq bigint not null);
create or replace function peer_ingest(p_id text, p_type text, p_auction bigint, p_data jsonb)
returns table(status text, seq bigint) language plpgsql as $fn$
declare s bigint; b bigint; d jsonb := p_data; env text;
begin
  select e.seq into s from peer_event e where e.event_id = p_id;
  if found then return query select 'duplicate'::text, s; return; end if;
  if p_type = 'auction.opened' then
    insert into peer_auction values (p_auction, 1, 0) on conflict do nothing;
    if not found then
      insert into peer_event values (p_id, 1);
      return query select 'duplicate'::text, 1::bigint; return;
    end if;
    s := 1;
  elsif p_type = 'bid.placed' then
    insert into peer_auction as a values (p_auction, 2, 1) on conflict (auction_id)
      do update set last_seq = a.last_seq + 1, bids = a.bids + 1 returning a.last_seq into s;
  else
    insert into peer_auction as a values (p_auction, 1, 0) on conflict (auction_id)
      do update set last_seq = a.last_seq returning a.last_seq, a.bids into s, b;
    d := d || jsonb_build_object('total_bid_count', b);
  end if;
  insert into peer_event values (p_id, s);
  env := json_build_object('metadata', json_build_object('event_id', p_id,
           'event_type', p_type, 'schema_version', '1.0',
           'producer_timestamp', to_char(clock_timestamp() at time zone 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'bid_sequence', s), 'data', d)::text;
  -- run_at = clock_timestamp(), taken after the auction row's lock: a named
  -- queue runs its jobs by run_at (then id), and the default run_at, now(),
  -- is the transaction's start, so a request that waited for the row lock
  -- would otherwise run before the one it waited for (out of order when
  -- bids of one auction arrive concurrently, as the open-loop sim sends them).
  perform graphile_worker.add_job('deliver', json_build_object('id', p_id, 'body', env),
                                  queue_name => 'a-' || p_auction,
                                  run_at => clock_timestamp());
  return query select 'accepted'::text, s;
end $fn$;`;

const ingestSql = `select r.status, r.seq from unnest($1::text[], $2::text[], $3::bigint[],
  $4::jsonb[]) with ordinality as u(id, t, a, d, o), lateral peer_ingest(u.id, u.t, u.a, u.d) r
  order by u.o`;

function eventId(ev) {
  const d = ev.data;
  switch (ev.event_type) {
    case "auction.opened": return `auction.opened-${d.auction_id}`;
    case "auction.closed": return `auction.closed-${d.auction_id}`;
    case "bid.placed": return `bid.placed-${d.bid_id}`;
  }
  return null;
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function handle(req, res, raw) {
  if (req.method !== "POST" || !req.url.startsWith("/v1/events")) return reply(res, 404, { error: "not found" });
  if (req.headers.authorization !== `Bearer ${token}`) return reply(res, 401, { error: "bad token" });
  let body;
  try { body = JSON.parse(raw); } catch { return reply(res, 400, { error: "malformed JSON" }); }
  const batch = Array.isArray(body);
  const items = batch ? body : [body];
  const ids = [], types = [], auctions = [], datas = [], results = new Array(items.length);
  const index = [];
  items.forEach((ev, i) => {
    const id = ev && ev.data && typeof ev.data === "object" ? eventId(ev) : null;
    if (!id) { results[i] = { status: "rejected", error: "schema" }; return; }
    ids.push(id); types.push(ev.event_type); auctions.push(ev.data.auction_id);
    datas.push(JSON.stringify(ev.data)); index.push(i);
  });
  if (ids.length) {
    try {
      // One statement: its own transaction, committed before the answer.
      const { rows } = await pool.query(ingestSql, [ids, types, auctions, datas]);
      rows.forEach((r, k) => {
        results[index[k]] = { event_id: ids[k], bid_sequence: Number(r.seq), status: r.status };
      });
    } catch (e) {
      res.setHeader("retry-after", "1");
      return reply(res, 503, { error: String(e.message || e) });
    }
  }
  if (batch) return reply(res, 200, { results });
  const r = results[0];
  if (r.status === "rejected") return reply(res, 422, r);
  return reply(res, 202, r);
}

async function main() {
  await runMigrations({ pgPool: pool });
  await pool.query(setupSql);
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks).toString("utf8")).catch((e) =>
        reply(res, 500, { error: String(e) }));
    });
  });
  server.keepAliveTimeout = 75000;
  server.listen(Number(process.env.PEER_LISTEN || 0), "127.0.0.1", () => {
    console.log(`listening on 127.0.0.1:${server.address().port}`);
  });
  const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => { console.error(e); process.exit(1); });
