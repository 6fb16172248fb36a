-- Agent pools: groups of listeners an organization runs in its own networks, the workspaces
-- allowed to use a pool that is not organization-scoped, and where each listener connected
-- from. Agent tokens are rows of `tokens` (kind 'agent') owned by the pool.

CREATE TABLE agent_pools (
    id                  TEXT PRIMARY KEY,
    organization_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    organization_scoped BOOLEAN NOT NULL,
    created_at          TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE agent_pool_allowed_workspaces (
    pool_id      TEXT NOT NULL REFERENCES agent_pools (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    PRIMARY KEY (pool_id, workspace_id)
);

CREATE INDEX workspaces_agent_pool ON workspaces (agent_pool_id);
CREATE INDEX listeners_pool ON listeners (pool_id);
CREATE INDEX run_phases_listener ON run_phases (listener_id, status);

ALTER TABLE listeners ADD COLUMN ip_address TEXT;

-- The pool of workspaces that inherit the organization's `agent` default execution mode.
ALTER TABLE organizations ADD COLUMN default_agent_pool_id TEXT;
