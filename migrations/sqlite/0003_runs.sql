-- Runs, their plans and applies (which are also the jobs runners execute), run events,
-- logs while they are written, and the listeners that claim jobs.

ALTER TABLE workspaces ADD COLUMN current_run_id TEXT;

CREATE TABLE runs (
    id                        TEXT PRIMARY KEY,
    workspace_id              TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    configuration_version_id  TEXT NOT NULL,
    status                    TEXT NOT NULL,
    status_timestamps         TEXT NOT NULL DEFAULT '{}',
    message                   TEXT NOT NULL,
    source                    TEXT NOT NULL,
    trigger_reason            TEXT NOT NULL,
    is_destroy                BOOLEAN NOT NULL,
    refresh                   BOOLEAN NOT NULL,
    refresh_only              BOOLEAN NOT NULL,
    plan_only                 BOOLEAN NOT NULL,
    save_plan                 BOOLEAN NOT NULL,
    auto_apply                BOOLEAN NOT NULL,
    allow_empty_apply         BOOLEAN NOT NULL,
    target_addrs              TEXT NOT NULL DEFAULT 'null',
    replace_addrs             TEXT NOT NULL DEFAULT 'null',
    variables_ciphertext      TEXT NOT NULL,
    terraform_version         TEXT NOT NULL,
    has_changes               BOOLEAN NOT NULL DEFAULT FALSE,
    created_by                TEXT,
    confirmed_by              TEXT,
    input_state_version_id    TEXT,
    canceled_at               TEXT,
    force_cancel_available_at TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);
CREATE INDEX runs_workspace ON runs (workspace_id, created_at);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE run_phases (
    id                    TEXT PRIMARY KEY,
    run_id                TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    status_timestamps     TEXT NOT NULL DEFAULT '{}',
    has_changes           BOOLEAN NOT NULL DEFAULT FALSE,
    resource_additions    INTEGER NOT NULL DEFAULT 0,
    resource_changes      INTEGER NOT NULL DEFAULT 0,
    resource_destructions INTEGER NOT NULL DEFAULT 0,
    resource_imports      INTEGER NOT NULL DEFAULT 0,
    pool_id               TEXT,
    listener_id           TEXT,
    claimed_at            TEXT,
    heartbeat_at          TEXT,
    cancel_requested      BOOLEAN NOT NULL DEFAULT FALSE,
    force_cancel          BOOLEAN NOT NULL DEFAULT FALSE,
    log_size              INTEGER NOT NULL DEFAULT 0,
    log_archived          BOOLEAN NOT NULL DEFAULT FALSE,
    artifacts             TEXT NOT NULL DEFAULT '[]',
    error_message         TEXT,
    queued_at             TEXT,
    UNIQUE (run_id, kind)
);
CREATE INDEX run_phases_queue ON run_phases (status, queued_at);

CREATE TABLE run_events (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    description TEXT,
    actor_id    TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX run_events_run ON run_events (run_id, created_at);

CREATE TABLE log_chunks (
    phase_id   TEXT NOT NULL REFERENCES run_phases (id) ON DELETE CASCADE,
    "offset"   INTEGER NOT NULL,
    ciphertext TEXT NOT NULL,
    PRIMARY KEY (phase_id, "offset")
);

CREATE TABLE listeners (
    id                TEXT PRIMARY KEY,
    pool_id           TEXT,
    name              TEXT NOT NULL,
    hostname          TEXT NOT NULL,
    version           TEXT NOT NULL,
    executor          TEXT NOT NULL,
    capacity          INTEGER NOT NULL,
    last_heartbeat_at TEXT NOT NULL,
    created_at        TEXT NOT NULL
);
