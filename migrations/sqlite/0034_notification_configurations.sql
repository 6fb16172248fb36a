-- Notification configurations (HCP Terraform's notification-configurations) of workspaces, and
-- their durable outbox: one row per notification to deliver, written in the transaction that
-- changes the run's status, claimed by one replica at a time with a lease.

CREATE TABLE notification_configurations (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    destination_type   TEXT NOT NULL,
    url                TEXT NOT NULL,
    -- The HMAC key of generic payloads, sealed; NULL: none.
    token_ciphertext   TEXT,
    enabled            BOOLEAN NOT NULL,
    -- JSON arrays: trigger names, e-mail addresses, user ids, the last delivery responses.
    triggers           TEXT NOT NULL,
    email_addresses    TEXT NOT NULL,
    email_user_ids     TEXT NOT NULL,
    delivery_responses TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX notification_configurations_workspace
    ON notification_configurations (workspace_id, created_at);

CREATE TABLE notification_outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    configuration_id TEXT NOT NULL REFERENCES notification_configurations (id) ON DELETE CASCADE,
    run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    trigger_name     TEXT NOT NULL,
    run_status       TEXT NOT NULL,
    run_updated_at   TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    lease_owner      TEXT,
    lease_until      TEXT,
    -- Delivered or given up (outcome says which).
    done_at          TEXT,
    outcome          TEXT,
    UNIQUE (configuration_id, run_id, trigger_name)
);
CREATE INDEX notification_outbox_due ON notification_outbox (done_at, next_attempt_at);
