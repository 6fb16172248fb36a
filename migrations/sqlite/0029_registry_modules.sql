-- The private module registry: an organization's modules (namespace = the organization's name),
-- one row per name and provider, and their versions. A version is `pending` until its tarball
-- is uploaded (a blob in the encrypted blob store, named by `tarball_key`), then `ok`.
CREATE TABLE registry_modules (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, name, provider)
);

CREATE TABLE registry_module_versions (
    id          TEXT PRIMARY KEY,
    module_id   TEXT NOT NULL REFERENCES registry_modules (id) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    status      TEXT NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    tarball_key TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (module_id, version)
);
