-- The web console's sessions: the hash of the cookie's secret, the hash of
-- the API token signed in with (its principal and role are read from the
-- token each time, so a revoked token ends its sessions), the CSRF token
-- of the session and its expiry.
CREATE TABLE sessions (
    hash_hex     TEXT NOT NULL PRIMARY KEY,
    token_hash   TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
