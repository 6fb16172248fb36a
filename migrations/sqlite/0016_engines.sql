-- Engines and versions: the site's catalogue of tool versions (TFE's admin terraform-versions,
-- and the same for OpenTofu), and the engine each workspace runs.

CREATE TABLE tool_versions (
    id                TEXT PRIMARY KEY,
    -- terraform or tofu
    engine            TEXT NOT NULL,
    version           TEXT NOT NULL,
    official          BOOLEAN NOT NULL DEFAULT FALSE,
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    beta              BOOLEAN NOT NULL DEFAULT FALSE,
    deprecated        BOOLEAN NOT NULL DEFAULT FALSE,
    deprecated_reason TEXT,
    -- JSON list of {url, sha, os, arch}: where each platform's binary comes from
    archs             TEXT NOT NULL DEFAULT '[]',
    created_at        TEXT NOT NULL,
    UNIQUE (engine, version)
);

ALTER TABLE workspaces ADD COLUMN engine TEXT NOT NULL DEFAULT 'terraform';
