-- The provider network mirror's cache: the archives of providers of other registries, pulled
-- through from a configured upstream. A row records one platform's archive as the upstream's
-- signed SHA256SUMS names it (its SHA-256 verified with the upstream's key); `blob_key` is set
-- once the zip was fetched and found to have that SHA-256.
CREATE TABLE provider_mirror_archives (
    id          TEXT PRIMARY KEY,
    hostname    TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    type        TEXT NOT NULL,
    version     TEXT NOT NULL,
    os          TEXT NOT NULL,
    arch        TEXT NOT NULL,
    filename    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    blob_key    TEXT,
    size        BIGINT,
    created_at  TIMESTAMPTZ NOT NULL,
    cached_at   TIMESTAMPTZ,
    UNIQUE (hostname, namespace, type, version, os, arch)
);
