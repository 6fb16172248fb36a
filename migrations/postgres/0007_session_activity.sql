-- Browser sessions remember when they were last used, so an organization's session-timeout
-- (idle minutes) can end them; ending a user's sessions looks them up by user.

ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMPTZ;
UPDATE sessions SET last_seen_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_seen_at SET NOT NULL;

CREATE INDEX sessions_user ON sessions (user_id);
