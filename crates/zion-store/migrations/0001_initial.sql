-- Zion's first schema. Times are RFC 3339 UTC text with exactly nine
-- fractional digits, so text order is time order. Plans, progress and round
-- bodies are JSON text; everything that is queried or shown has a column.

CREATE TABLE deployments (
    -- AUTOINCREMENT: ids are cited by the audit log and must never be reused,
    -- even if a row is ever removed by hand.
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    service          TEXT    NOT NULL,
    environment      TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    previous_version TEXT,
    strategy         TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    phase            TEXT    NOT NULL,
    step             INTEGER,
    canary_weight    INTEGER NOT NULL,
    requested_by     TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    reason           TEXT,
    plan             TEXT    NOT NULL,
    progress         TEXT    NOT NULL,
    revision         INTEGER NOT NULL
);

CREATE INDEX deployments_target ON deployments (service, environment, id);
CREATE INDEX deployments_phase ON deployments (phase);

-- One deployment at a time per target, as an invariant of the data rather
-- than only of the code: the insert also checks inside a write transaction
-- (to name the busy deployment in its error), but this index holds under any
-- isolation level and any writer, and stops a recorded change from moving a
-- finished deployment back into an active phase beside another one.
-- The list is the terminal phases; a phase added later counts as active
-- until a migration says otherwise, which errs on the safe side.
CREATE UNIQUE INDEX deployments_one_active_per_target ON deployments (service, environment)
    WHERE phase NOT IN ('succeeded', 'rolled_back', 'rejected', 'expired', 'cancelled', 'failed');

CREATE TABLE events (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    seq           INTEGER NOT NULL,
    at            TEXT    NOT NULL,
    from_phase    TEXT    NOT NULL,
    to_phase      TEXT    NOT NULL,
    step          INTEGER,
    canary_weight INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE analysis_rounds (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    number        INTEGER NOT NULL,
    at            TEXT    NOT NULL,
    verdict       TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    PRIMARY KEY (deployment_id, number)
);

CREATE TABLE specs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    yaml       TEXT NOT NULL,
    sha256_hex TEXT NOT NULL,
    applied_by TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash_hex     TEXT NOT NULL UNIQUE,
    github_login TEXT,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

-- A name may be reused once its previous holder is revoked.
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE processes (
    pid         INTEGER PRIMARY KEY,
    start_ticks INTEGER NOT NULL,
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    port        INTEGER NOT NULL
);
