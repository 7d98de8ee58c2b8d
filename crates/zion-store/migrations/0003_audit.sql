-- The transparency log. Entries are kept by their 0-based index (the leaf
-- index, which is also the entry's `seq`); `entry` holds the canonical JSON
-- bytes that are hashed. time/action/subject repeat fields of the entry so
-- `zion audit log` can filter without parsing; verification reads `entry`
-- alone.
CREATE TABLE audit_entries (
    idx     INTEGER PRIMARY KEY,
    time    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    entry   BLOB    NOT NULL
);
CREATE INDEX audit_entries_time ON audit_entries (time);
CREATE INDEX audit_entries_action ON audit_entries (action);
CREATE INDEX audit_entries_subject ON audit_entries (subject);

-- Hashes of the perfect subtrees of the Merkle tree: (level, index) covers
-- leaves [index·2^level, (index+1)·2^level); level 0 holds the leaf hashes.
-- An append writes O(log n) rows; a proof reads O(log n) of them.
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Signed checkpoints (C2SP signed notes), one per tree size.
CREATE TABLE audit_checkpoints (
    size      INTEGER PRIMARY KEY,
    note      TEXT    NOT NULL,
    signed_at TEXT    NOT NULL
);
