-- Governance: each deployment's gate (approvals, window wait, pre-check
-- results, break glass) as JSON, like its plan.
ALTER TABLE deployments ADD COLUMN gate TEXT NOT NULL DEFAULT '{}';

-- Incidents: open production problems on a target (opened on rollback or by
-- an SLO page). AUTOINCREMENT for the same reason as deployments: the audit
-- log cites ids. The three resolution columns are set together or not at all.
CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    service       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    deployment_id INTEGER REFERENCES deployments (id),
    opened_at     TEXT    NOT NULL,
    opened_by     TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    resolved_at   TEXT,
    resolved_by   TEXT,
    resolution    TEXT,
    CHECK ((resolved_at IS NULL) = (resolved_by IS NULL)
       AND (resolved_at IS NULL) = (resolution IS NULL))
);

-- The no_open_incident check and the resolving of a target's incidents.
CREATE INDEX incidents_open ON incidents (service, environment) WHERE resolved_at IS NULL;

-- `requires`: "did this version succeed there?" answered from the index alone.
CREATE INDEX deployments_target_version ON deployments (service, environment, version, phase);

-- A GitHub login stands for at most one live token, compared case-insensitively
-- as GitHub does. Logins are ASCII, so SQLite's ASCII-only lower() is exact.
-- No Zion before this schema set github_login, so no existing row violates it.
CREATE UNIQUE INDEX tokens_live_github ON tokens (lower(github_login)) WHERE revoked_at IS NULL;
