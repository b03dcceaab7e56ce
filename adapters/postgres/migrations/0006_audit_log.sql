-- name: audit log of unmasked reads
-- One row per read that returned records to a token with the pii scope
-- (DESIGN §1.9, ADR 0019): the token's name (never its secret), when, the
-- route and query asked, and how many records came back. Listed newest first
-- by GET /v1/audit (keyset on id, the primary key's index); never pruned by
-- the outbox's retention.
create table audit_log (
  id       bigint generated always as identity primary key,
  at       timestamptz not null default now(),
  token    text not null,
  route    text not null,
  query    text not null,
  records  bigint not null check (records >= 0)
);
