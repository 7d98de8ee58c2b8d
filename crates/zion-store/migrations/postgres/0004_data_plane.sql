-- The data plane the replicas of `zion up` on one database share: the
-- route each target's owner publishes for each of its listeners, and each
-- replica's traffic in one-second buckets, which the owner sums.
CREATE TABLE published_routes (
    service     TEXT COLLATE "C" NOT NULL,
    environment TEXT COLLATE "C" NOT NULL,
    listener    TEXT COLLATE "C" NOT NULL CHECK (listener IN ('main', 'preview')),
    -- As the owner encoded it.
    route       TEXT COLLATE "C" NOT NULL,
    -- Taken from route_revision when the route changed.
    revision    BIGINT NOT NULL,
    PRIMARY KEY (service, environment, listener)
);
CREATE INDEX published_routes_revision ON published_routes (revision);

-- One row: the last revision given to a route. Publishes take their turn on
-- it, so revisions are committed in the order they grow.
CREATE TABLE route_revision (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    revision BIGINT NOT NULL
);
INSERT INTO route_revision (one, revision) VALUES (1, 0);

CREATE TABLE traffic_buckets (
    replica     TEXT COLLATE "C" NOT NULL,
    service     TEXT COLLATE "C" NOT NULL,
    environment TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    -- Seconds since the Unix epoch.
    second      BIGINT NOT NULL,
    requests    BIGINT NOT NULL,
    errors      BIGINT NOT NULL,
    -- The latency histogram as the proxy encoded it.
    latency     BYTEA NOT NULL,
    PRIMARY KEY (service, environment, version, second, replica)
);
-- Pruning by age.
CREATE INDEX traffic_buckets_second ON traffic_buckets (second);
