-- Organizations, users, teams, tokens, projects, workspaces, tags, state versions and the
-- login tables. Timestamps are RFC 3339 text in UTC.

CREATE TABLE organizations (
    id                            TEXT PRIMARY KEY,
    name                          TEXT NOT NULL UNIQUE,
    email                         TEXT NOT NULL,
    default_execution_mode        TEXT NOT NULL DEFAULT 'remote',
    session_timeout               INTEGER,
    session_remember              INTEGER,
    collaborator_auth_policy      TEXT NOT NULL DEFAULT 'password',
    cost_estimation_enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    assessments_enforced          BOOLEAN NOT NULL DEFAULT FALSE,
    allow_force_delete_workspaces BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                    TEXT NOT NULL,
    updated_at                    TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    password_hash TEXT,
    is_site_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL
);

CREATE TABLE teams (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    is_owners       BOOLEAN NOT NULL DEFAULT FALSE,
    visibility      TEXT NOT NULL DEFAULT 'secret',
    created_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    owner_id     TEXT NOT NULL,
    description  TEXT,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    expires_at   TEXT
);
CREATE INDEX tokens_owner ON tokens (kind, owner_id);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    is_default      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE workspaces (
    id                            TEXT PRIMARY KEY,
    organization_id               TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id                    TEXT NOT NULL REFERENCES projects (id),
    name                          TEXT NOT NULL,
    description                   TEXT NOT NULL DEFAULT '',
    execution_mode                TEXT,
    agent_pool_id                 TEXT,
    auto_apply                    BOOLEAN NOT NULL DEFAULT FALSE,
    allow_destroy_plan            BOOLEAN NOT NULL DEFAULT TRUE,
    file_triggers_enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    global_remote_state           BOOLEAN NOT NULL DEFAULT FALSE,
    queue_all_runs                BOOLEAN NOT NULL DEFAULT FALSE,
    speculative_enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    structured_run_output_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    assessments_enabled           BOOLEAN NOT NULL DEFAULT FALSE,
    source_name                   TEXT,
    source_url                    TEXT,
    terraform_version             TEXT NOT NULL,
    trigger_prefixes              TEXT NOT NULL DEFAULT '[]',
    trigger_patterns              TEXT NOT NULL DEFAULT '[]',
    working_directory             TEXT NOT NULL DEFAULT '',
    auto_destroy_at               TEXT,
    lock_kind                     TEXT,
    lock_holder_id                TEXT,
    lock_reason                   TEXT,
    locked_at                     TEXT,
    current_state_version_id      TEXT,
    created_at                    TEXT NOT NULL,
    updated_at                    TEXT NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX workspaces_project ON workspaces (project_id);

CREATE TABLE tags (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE workspace_tags (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    tag_id       TEXT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    value        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, tag_id)
);
CREATE INDEX workspace_tags_tag ON workspace_tags (tag_id);

CREATE TABLE state_versions (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    serial              INTEGER NOT NULL,
    lineage             TEXT,
    md5                 TEXT NOT NULL,
    size                INTEGER NOT NULL DEFAULT 0,
    status              TEXT NOT NULL,
    json_state_uploaded BOOLEAN NOT NULL DEFAULT FALSE,
    terraform_version   TEXT,
    resource_count      INTEGER NOT NULL DEFAULT 0,
    resources           TEXT NOT NULL DEFAULT '[]',
    run_id              TEXT,
    created_by          TEXT,
    created_at          TEXT NOT NULL
);
CREATE INDEX state_versions_workspace ON state_versions (workspace_id, status, created_at);

CREATE TABLE state_version_outputs (
    id               TEXT PRIMARY KEY,
    state_version_id TEXT NOT NULL REFERENCES state_versions (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    sensitive        BOOLEAN NOT NULL,
    type_json        TEXT NOT NULL,
    value_ciphertext TEXT NOT NULL,
    UNIQUE (state_version_id, name)
);

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
