-- The private provider registry (TFE's registry-providers, gpg-keys): an organization's GPG
-- keys, its providers (namespace = the organization's name), their versions and platforms.
-- A version's SHA256SUMS and detached signature are small and kept in the row; binaries are
-- blobs, recorded by key once an upload verified them.
CREATE TABLE registry_gpg_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key_id          TEXT NOT NULL,
    ascii_armor     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, key_id)
);

CREATE TABLE registry_providers (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE registry_provider_versions (
    id                 TEXT PRIMARY KEY,
    provider_id        TEXT NOT NULL REFERENCES registry_providers (id) ON DELETE CASCADE,
    version            TEXT NOT NULL,
    key_id             TEXT NOT NULL,
    -- A JSON array of strings, as given (["5.0", "6.0"]).
    protocols          TEXT NOT NULL,
    shasums            TEXT,
    shasums_signature  BLOB,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (provider_id, version)
);

CREATE TABLE registry_provider_platforms (
    id          TEXT PRIMARY KEY,
    version_id  TEXT NOT NULL REFERENCES registry_provider_versions (id) ON DELETE CASCADE,
    os          TEXT NOT NULL,
    arch        TEXT NOT NULL,
    filename    TEXT NOT NULL,
    shasum      TEXT NOT NULL,
    binary_key  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (version_id, os, arch)
);
