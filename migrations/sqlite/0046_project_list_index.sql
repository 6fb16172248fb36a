-- filter[project][id]: the organization in the index, so that a project's count and page read
-- the index alone (see the PostgreSQL migration).
DROP INDEX workspaces_project;
CREATE INDEX workspaces_project ON workspaces (project_id, created_at, id, organization_id);
