-- Delivery history made by other tools (`zion import`), kept apart from
-- Zion's own deployments: these never ran here, have no plan, events or
-- rounds, and are named by the other tool's id. An id names one record
-- forever, so importing a file again adds nothing. Times are RFC 3339 text
-- of fixed width, like every time, so that text order is time order.
CREATE TABLE imports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    sha256_hex  TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    deployments INTEGER NOT NULL,
    incidents   INTEGER NOT NULL
);

CREATE TABLE imported_deployments (
    external_id  TEXT PRIMARY KEY,
    service      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    version      TEXT NOT NULL,
    type         TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    result       TEXT NOT NULL,
    commit_sha   TEXT,
    committed_at TEXT,
    import_id    INTEGER NOT NULL REFERENCES imports (id)
) WITHOUT ROWID;

CREATE TABLE imported_incidents (
    external_id TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    resolved_at TEXT,
    caused_by   TEXT,
    import_id   INTEGER NOT NULL REFERENCES imports (id)
) WITHOUT ROWID;
