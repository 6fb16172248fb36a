-- An agent pool's scope beyond organization scope and allowed workspaces: the projects whose
-- workspaces may use it, and workspaces left out of its organization or project scope.

CREATE TABLE agent_pool_allowed_projects (
    pool_id    TEXT NOT NULL REFERENCES agent_pools (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (pool_id, project_id)
);

CREATE TABLE agent_pool_excluded_workspaces (
    pool_id      TEXT NOT NULL REFERENCES agent_pools (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    PRIMARY KEY (pool_id, workspace_id)
);
