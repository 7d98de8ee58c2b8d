-- Leases on targets for several replicas on one database, and the
-- replicas' heartbeats. Times are microseconds since the Unix epoch by the
-- database's clock (never a replica's), so that expiry is compared there.
CREATE TABLE leases (
    service     TEXT COLLATE "C" NOT NULL,
    environment TEXT COLLATE "C" NOT NULL,
    holder      TEXT COLLATE "C" NOT NULL,
    -- Grows on every grant that is not a renewal: the fencing token.
    epoch       BIGINT NOT NULL,
    acquired_us BIGINT NOT NULL,
    expires_us  BIGINT NOT NULL,
    PRIMARY KEY (service, environment)
);

CREATE TABLE replicas (
    id           TEXT COLLATE "C" PRIMARY KEY,
    heartbeat_us BIGINT NOT NULL
);
