-- Release evidence and provenance of each deployment: the test, coverage and
-- findings summary the quality gates judged (JSON, like the plan and the
-- gate), and the commit the version was built from with its commit time
-- (RFC 3339 text, like every time), which lead time for changes starts from.
-- `commit` is an SQL keyword, hence `commit_sha`. Rows from before this
-- schema carry none of them.
ALTER TABLE deployments ADD COLUMN evidence TEXT;
ALTER TABLE deployments ADD COLUMN commit_sha TEXT;
ALTER TABLE deployments ADD COLUMN committed_at TEXT;
