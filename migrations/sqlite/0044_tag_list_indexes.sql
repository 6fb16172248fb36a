-- search[tags]: a tag's workspaces read from the index alone (see the PostgreSQL migration).
DROP INDEX workspace_tags_tag;
CREATE INDEX workspace_tags_tag ON workspace_tags (tag_id, workspace_id);
