-- A recorded process names the host whose pid space its pid belongs to:
-- with several controllers on one database, pids of different hosts
-- collide, and no controller may signal or adopt a pid of another host.
-- A pid is unique only within its host, so the key becomes (host, pid).
-- Records written before this migration have an unknown host: ''.
CREATE TABLE processes_by_host (
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    start_ticks INTEGER NOT NULL,
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    port        INTEGER NOT NULL,
    PRIMARY KEY (host, pid)
);
INSERT INTO processes_by_host (host, pid, start_ticks, service, environment, version, port)
    SELECT '', pid, start_ticks, service, environment, version, port FROM processes;
DROP TABLE processes;
ALTER TABLE processes_by_host RENAME TO processes;
