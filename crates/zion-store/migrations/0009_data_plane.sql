-- The data plane the replicas of `zion up` on one database share: the
-- route each target's owner publishes for each of its listeners, and each
-- replica's traffic in one-second buckets, which the owner sums.
CREATE TABLE published_routes (
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    listener    TEXT    NOT NULL CHECK (listener IN ('main', 'preview')),
    -- As the owner encoded it.
    route       TEXT    NOT NULL,
    -- Taken from route_revision when the route changed.
    revision    INTEGER NOT NULL,
    PRIMARY KEY (service, environment, listener)
);
CREATE INDEX published_routes_revision ON published_routes (revision);

-- One row: the last revision given to a route. Publishes take their turn on
-- it, so revisions are committed in the order they grow.
CREATE TABLE route_revision (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    revision INTEGER NOT NULL
);
INSERT INTO route_revision (one, revision) VALUES (1, 0);

CREATE TABLE traffic_buckets (
    replica     TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    -- Seconds since the Unix epoch.
    second      INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    -- The latency histogram as the proxy encoded it.
    latency     BLOB    NOT NULL,
    PRIMARY KEY (service, environment, version, second, replica)
);
-- Pruning by age.
CREATE INDEX traffic_buckets_second ON traffic_buckets (second);
