-- An organization's reserved tag keys (HCP Terraform's `reserved-tag-keys`): keys offered for
-- tagging, and, with `disable_overrides`, keys whose value a project binds that its
-- workspaces may not bind differently.
CREATE TABLE reserved_tag_keys (
    id                TEXT PRIMARY KEY,
    organization_id   TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key               TEXT NOT NULL,
    disable_overrides BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (organization_id, key)
);

-- The order a workspace's tags were first added in, the order HCP Terraform lists its tag
-- bindings. Rows from before it are all 0 and keep their key order.
ALTER TABLE workspace_tags ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
