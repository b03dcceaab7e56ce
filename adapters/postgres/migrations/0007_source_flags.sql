-- name: source flags
-- The run-time state of each source's on/off flag (DESIGN §1.7, ADR 0022):
-- a row exists once an operator flipped the flag through the admin API, and
-- then wins over `enabled` in the configuration file until flipped again.
-- Who flipped it (the token's name) and when, for the operator on call.
create table source_flags (
  name        text primary key,
  enabled     boolean not null,
  changed_at  timestamptz not null default now(),
  changed_by  text not null
);
