-- Comments on runs, and the run event each one adds to the run's timeline.

CREATE TABLE run_comments (
    id         TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    -- The user who wrote it (NULL for team and organization tokens, or once deleted).
    author_id  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX run_comments_run ON run_comments (run_id, created_at);

ALTER TABLE run_events ADD COLUMN comment_id TEXT;
