-- Configuration versions, workspace variables and variable sets.

CREATE TABLE configuration_versions (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    source          TEXT NOT NULL,
    speculative     BOOLEAN NOT NULL,
    provisional     BOOLEAN NOT NULL,
    auto_queue_runs BOOLEAN NOT NULL,
    size            INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    error_message   TEXT,
    created_at      TEXT NOT NULL,
    uploaded_at     TEXT,
    archived_at     TEXT
);
CREATE INDEX configuration_versions_workspace ON configuration_versions (workspace_id, created_at);

CREATE TABLE variable_sets (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    global          BOOLEAN NOT NULL DEFAULT FALSE,
    priority        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE variable_set_workspaces (
    varset_id    TEXT NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    PRIMARY KEY (varset_id, workspace_id)
);

CREATE TABLE variable_set_projects (
    varset_id  TEXT NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (varset_id, project_id)
);

CREATE TABLE variables (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
    varset_id        TEXT REFERENCES variable_sets (id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    value_ciphertext TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    category         TEXT NOT NULL,
    hcl              BOOLEAN NOT NULL DEFAULT FALSE,
    sensitive        BOOLEAN NOT NULL DEFAULT FALSE,
    version_id       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK ((workspace_id IS NULL) <> (varset_id IS NULL)),
    UNIQUE (workspace_id, category, key),
    UNIQUE (varset_id, category, key)
);
CREATE INDEX variables_varset ON variables (varset_id);
