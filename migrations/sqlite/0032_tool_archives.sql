-- The binary cache: terraform and OpenTofu release archives, by engine, version and platform,
-- uploaded by a site administrator or pulled through from the catalogue's (or a configured)
-- upstream. The archive is a blob (encrypted like state), recorded here only once it is whole
-- and its SHA-256 is the one the catalogue names, so a row always stands for a verified blob.
CREATE TABLE tool_archives (
    id          TEXT PRIMARY KEY,
    -- terraform or tofu
    engine      TEXT NOT NULL,
    version     TEXT NOT NULL,
    os          TEXT NOT NULL,
    arch        TEXT NOT NULL,
    filename    TEXT NOT NULL,
    -- The archive's SHA-256, in lowercase hexadecimal.
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    -- uploaded or pulled
    origin      TEXT NOT NULL,
    blob_key    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (engine, version, os, arch)
);
