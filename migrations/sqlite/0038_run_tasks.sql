-- Run tasks (HCP Terraform's `tasks`, `workspace-tasks`, `task-stages` and `task-results`):
-- an organization's external services, attached to workspaces at stages of a run with an
-- enforcement level; each run gets a stage per attached stage and a result per task there.

CREATE TABLE run_tasks (
    id                  TEXT PRIMARY KEY,
    organization_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    url                 TEXT NOT NULL,
    description         TEXT NOT NULL,
    category            TEXT NOT NULL,
    -- The key of X-TFC-Task-Signature, sealed; NULL: requests are not signed.
    hmac_key_ciphertext TEXT,
    enabled             BOOLEAN NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE workspace_run_tasks (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    task_id           TEXT NOT NULL REFERENCES run_tasks (id) ON DELETE CASCADE,
    -- `advisory` or `mandatory`.
    enforcement_level TEXT NOT NULL,
    -- JSON array of `pre_plan`, `post_plan`, `pre_apply`, `post_apply`.
    stages            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (workspace_id, task_id)
);
CREATE INDEX workspace_run_tasks_task ON workspace_run_tasks (task_id);

CREATE TABLE task_stages (
    id                TEXT PRIMARY KEY,
    run_id            TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stage             TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_timestamps TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (run_id, stage)
);

-- A result copies its task's name, URL and the attachment's enforcement level when the run
-- is created, so the run's record stays true when the task changes or goes.
CREATE TABLE task_results (
    id                   TEXT PRIMARY KEY,
    task_stage_id        TEXT NOT NULL REFERENCES task_stages (id) ON DELETE CASCADE,
    run_id               TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id              TEXT NOT NULL,
    task_name            TEXT NOT NULL,
    task_url             TEXT NOT NULL,
    workspace_task_id    TEXT NOT NULL,
    enforcement_level    TEXT NOT NULL,
    status               TEXT NOT NULL,
    message              TEXT NOT NULL,
    url                  TEXT NOT NULL,
    -- JSON array of the outcomes the service reported.
    outcomes             TEXT NOT NULL,
    status_timestamps    TEXT NOT NULL,
    -- The request to the service: due at next_request_at (NULL: nothing to send), claimed
    -- by one replica at a time with a lease.
    request_attempts     INTEGER NOT NULL,
    next_request_at      TEXT,
    lease_owner          TEXT,
    lease_until          TEXT,
    -- A result not passed or failed by then is errored.
    deadline_at          TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX task_results_stage ON task_results (task_stage_id, created_at);
CREATE INDEX task_results_run ON task_results (run_id);
CREATE INDEX task_results_due ON task_results (next_request_at);
CREATE INDEX task_results_deadline ON task_results (deadline_at);
