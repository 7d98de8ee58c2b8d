-- Leases on targets for several replicas on one database, and the
-- replicas' heartbeats. Times are microseconds since the Unix epoch by the
-- database's clock (never a replica's), so that expiry is compared there.
CREATE TABLE leases (
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    holder      TEXT    NOT NULL,
    -- Grows on every grant that is not a renewal: the fencing token.
    epoch       INTEGER NOT NULL,
    acquired_us INTEGER NOT NULL,
    expires_us  INTEGER NOT NULL,
    PRIMARY KEY (service, environment)
);

CREATE TABLE replicas (
    id           TEXT    PRIMARY KEY,
    heartbeat_us INTEGER NOT NULL
);
