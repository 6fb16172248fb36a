-- Each tag binding carries its workspace's creation time, and a tag's index is in the
-- workspace list's default order (see the PostgreSQL migration). The time is copied as
-- stored, so that it sorts exactly as the workspace's own. SQLite adds a NOT NULL column only
-- with a default; the store always writes the time. The value ends the index, for
-- `filter[tagged]` with a value.
ALTER TABLE workspace_tags ADD COLUMN workspace_created_at TEXT NOT NULL DEFAULT '';
UPDATE workspace_tags SET workspace_created_at =
    (SELECT w.created_at FROM workspaces w WHERE w.id = workspace_tags.workspace_id);
DROP INDEX workspace_tags_tag;
CREATE INDEX workspace_tags_tag
    ON workspace_tags (tag_id, workspace_created_at, workspace_id, value);
