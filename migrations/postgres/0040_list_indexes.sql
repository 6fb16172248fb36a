-- Indexes for pages and counts of lists (crates/storage/src/sql/pagination.rs): a page walks
-- only an index in the list's order, and its count reads the same index alone.

-- Workspaces of an organization, in creation order; name and project ride along so that
-- wildcard names and project filters are answered from the index too.
CREATE INDEX workspaces_list ON workspaces (organization_id, created_at, id) INCLUDE (name, project_id);
DROP INDEX workspaces_project;
CREATE INDEX workspaces_project ON workspaces (project_id, created_at, id);

-- search[name] is a substring match (lower(name) LIKE '%text%'): trigrams serve it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX workspaces_name_trigrams ON workspaces USING gin (lower(name) gin_trgm_ops);

-- A workspace's runs, newest first, with plan-only runs left out by default.
CREATE INDEX runs_list ON runs (workspace_id, plan_only, created_at, id);

-- Each workspace's number of runs, kept as runs are made (they are deleted only with their
-- workspace): a workspace no longer counts its runs each time it is shown.
ALTER TABLE workspaces ADD COLUMN runs_count BIGINT NOT NULL DEFAULT 0;
UPDATE workspaces SET runs_count = (SELECT COUNT(*) FROM runs r WHERE r.workspace_id = workspaces.id);
