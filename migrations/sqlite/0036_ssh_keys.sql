-- SSH keys (HCP Terraform's ssh-keys): private keys of an organization, write-only and sealed
-- with the keyring, that runs of the workspaces they are assigned to use for git::ssh://
-- module sources. Deleting a key unassigns it; a workspace has at most one.

CREATE TABLE ssh_keys (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    value_ciphertext TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX ssh_keys_organization ON ssh_keys (organization_id, created_at);

CREATE TABLE workspace_ssh_keys (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    ssh_key_id   TEXT NOT NULL REFERENCES ssh_keys (id) ON DELETE CASCADE
);
CREATE INDEX workspace_ssh_keys_key ON workspace_ssh_keys (ssh_key_id);
