-- search[tags] in an organization that holds most workspaces of the installation: the count
-- scanned every workspace and hashed them against the tag's rows, and a page probed the heap
-- of each. Both now read indexes alone: a tag's workspaces from (tag_id, workspace_id), then
-- each workspace's organization and creation time from an index on its key.
DROP INDEX workspace_tags_tag;
CREATE INDEX workspace_tags_tag ON workspace_tags (tag_id, workspace_id);
CREATE INDEX workspaces_key ON workspaces (id) INCLUDE (organization_id, created_at);
