-- Data retention policies (TFE's): how long backing data (state and configuration files) is
-- kept. One row per organization or workspace that sets one; a workspace's policy overrides
-- its organization's. `owner_id` is the workspace's ID for a workspace policy, else the
-- organization's, so each owner has at most one.
--
-- Backing data soft-deleted by a policy or by hand is a status of the version
-- (`backing_data_soft_deleted`, `backing_data_permanently_deleted`), not a column here.

CREATE TABLE data_retention_policies (
    owner_id                 TEXT PRIMARY KEY,
    id                       TEXT NOT NULL UNIQUE,
    organization_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id             TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
    kind                     TEXT NOT NULL,
    delete_older_than_n_days BIGINT,
    updated_at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX data_retention_policies_organization ON data_retention_policies (organization_id);
