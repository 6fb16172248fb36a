-- The audit trail: one row per recorded event, appended and never updated. No foreign keys:
-- an event outlives the organization, user or token it names. Rows older than the retention
-- are deleted by the server's housekeeping.

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    -- NULL: a site event (sign-ins, user tokens), readable only by site administrators.
    organization_id TEXT,
    -- user, team, organization, agent, job, system or anonymous.
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    -- The username; for a failed sign-in, the username that was tried.
    actor_name TEXT,
    token_id TEXT,
    action TEXT NOT NULL,
    method TEXT,
    route TEXT,
    resource_type TEXT,
    resource_id TEXT,
    status INTEGER NOT NULL,
    client_address TEXT
);

CREATE INDEX audit_events_organization ON audit_events (organization_id, occurred_at);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);
