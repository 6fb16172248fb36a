-- A project's defaults for the workspaces created in it (HCP Terraform's project
-- `default-execution-mode` and `default-agent-pool`): NULL inherits the organization's.
-- The pool is set only with the `agent` mode.
ALTER TABLE projects ADD COLUMN default_execution_mode TEXT;
ALTER TABLE projects ADD COLUMN default_agent_pool_id TEXT;

-- A project's key/value tag bindings, which its workspaces' effective bindings inherit.
-- Kept apart from the organization's (workspace) tags: the flat tag API lists those only.
-- `position` keeps the order keys were first bound in, the order HCP Terraform lists them.
CREATE TABLE project_tag_bindings (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL DEFAULT '',
    position   INTEGER NOT NULL,
    PRIMARY KEY (project_id, key)
);
