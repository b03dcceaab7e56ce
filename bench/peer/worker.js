// The peer's delivery: a graphile-worker task that POSTs the stored envelope
// to the webhook, signed per Standard Webhooks exactly as Gavel signs
// (webhook-id = event_id, webhook-timestamp, webhook-signature
// v1,<base64 HMAC-SHA256 of "id.timestamp.body">). A non-2xx throws, so
// graphile-worker retries it (its queue for that auction waits meanwhile).
// Env: PEER_PGHOST, PEER_PGPORT, PEER_PGDATABASE, PEER_WEBHOOK_URL,
// PEER_SECRET (whsec_...), PEER_CONCURRENCY (default 16).
"use strict";
const crypto = require("crypto");
const { Pool } = require("pg");
const { run } = require("graphile-worker");

const secret = Buffer.from((process.env.PEER_SECRET || "").replace(/^whsec_/, ""), "base64");
const url = process.env.PEER_WEBHOOK_URL;
const concurrency = Number(process.env.PEER_CONCURRENCY || 16);

const taskList = {
  deliver: async (payload) => {
    const ts = Math.floor(Date.now() / 1000).toString();
    const sig = crypto.createHmac("sha256", secret)
      .update(`${payload.id}.${ts}.${payload.body}`).digest("base64");
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": payload.id,
        "webhook-timestamp": ts,
        "webhook-signature": `v1,${sig}`,
      },
      body: payload.body,
    });
    await res.arrayBuffer();
    if (res.status < 200 || res.status >= 300) throw new Error(`webhook answered ${res.status}`);
  },
};

async function main() {
  const pgPool = new Pool({
    host: process.env.PEER_PGHOST,
    port: Number(process.env.PEER_PGPORT || 5432),
    user: process.env.PEER_PGUSER || "postgres",
    database: process.env.PEER_PGDATABASE || "peer",
    max: concurrency + 2,
  });
  const runner = await run({ pgPool, concurrency, taskList, noHandleSignals: false,
                             pollInterval: 1000 });
  console.log(`worker running, concurrency ${concurrency}`);
  await runner.promise;
}

main().catch((e) => { console.error(e); process.exit(1); });
