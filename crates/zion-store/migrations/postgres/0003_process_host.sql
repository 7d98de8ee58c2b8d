-- A recorded process names the host whose pid space its pid belongs to:
-- with several controllers on one database, pids of different hosts
-- collide, and no controller may signal or adopt a pid of another host.
-- A pid is unique only within its host, so the key becomes (host, pid).
-- Records written before this migration have an unknown host: ''.
ALTER TABLE processes ADD COLUMN host TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE processes ALTER COLUMN host DROP DEFAULT;
ALTER TABLE processes DROP CONSTRAINT processes_pkey;
ALTER TABLE processes ADD PRIMARY KEY (host, pid);
