-- A run of identical inconclusive analysis rounds (a canary without traffic
-- holds its step for minutes, one round per interval) is kept as one row:
-- `round_count` rounds numbered from `number`, the first at `at`, the last
-- at `last_at` (NULL for a single round). Rows written before stand for one.
ALTER TABLE analysis_rounds ADD COLUMN round_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE analysis_rounds ADD COLUMN last_at TEXT;
