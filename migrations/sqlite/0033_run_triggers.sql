-- Run triggers (HCP Terraform's run-triggers): a successful apply in the source workspace
-- (sourceable) queues a run in the target workspace. Both are workspaces of one organization;
-- deleting either deletes the trigger.

CREATE TABLE run_triggers (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    sourceable_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    UNIQUE (workspace_id, sourceable_id)
);
CREATE INDEX run_triggers_sourceable ON run_triggers (sourceable_id, created_at);
