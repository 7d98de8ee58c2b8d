-- The notifications outbox: one row per message a committed audit entry
-- implies for one receiver, written in the same transaction as the entry,
-- so that a change and its notifications are kept or lost together.
-- Delivered in id order per receiver; `claimed_until` keeps one delivery in
-- flight per row while a sender holds it (a sender that dies lets it lapse).
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    event         TEXT NOT NULL,
    subject       TEXT NOT NULL,
    audit_index   INTEGER NOT NULL,
    -- The message as the receiver gets it (JSON), never holding a secret.
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'given_up')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       TEXT NOT NULL,
    claimed_until TEXT,
    last_error    TEXT,
    delivered_at  TEXT
);
CREATE INDEX outbox_open ON outbox (receiver, id) WHERE state IN ('pending', 'retrying');
