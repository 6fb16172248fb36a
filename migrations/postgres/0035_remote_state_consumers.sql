-- Remote state sharing (HCP Terraform's remote-state-consumers): the runs of consumer_id may
-- read the current state of workspace_id (which has global-remote-state off). Both are
-- workspaces of one organization; deleting either deletes the row.

CREATE TABLE remote_state_consumers (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    consumer_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, consumer_id)
);
CREATE INDEX remote_state_consumers_consumer ON remote_state_consumers (consumer_id);
