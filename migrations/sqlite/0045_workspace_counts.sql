-- The number of workspaces of each organization, kept by triggers (see the PostgreSQL
-- migration; SQLite has one writer, but the rows are split the same way, so that both
-- databases read the total alike).
CREATE TABLE workspace_counts (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    shard           INTEGER NOT NULL,
    n               INTEGER NOT NULL,
    PRIMARY KEY (organization_id, shard)
);
INSERT INTO workspace_counts (organization_id, shard, n)
    SELECT organization_id, unicode(substr(id, -1)) % 16, COUNT(*) FROM workspaces
    GROUP BY organization_id, unicode(substr(id, -1)) % 16;

CREATE TRIGGER workspaces_count_insert AFTER INSERT ON workspaces
BEGIN
    INSERT INTO workspace_counts (organization_id, shard, n)
        VALUES (NEW.organization_id, unicode(substr(NEW.id, -1)) % 16, 1)
        ON CONFLICT (organization_id, shard) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER workspaces_count_delete AFTER DELETE ON workspaces
BEGIN
    UPDATE workspace_counts SET n = n - 1
        WHERE organization_id = OLD.organization_id AND shard = unicode(substr(OLD.id, -1)) % 16;
END;
CREATE TRIGGER workspaces_count_update AFTER UPDATE OF id, organization_id ON workspaces
BEGIN
    UPDATE workspace_counts SET n = n - 1
        WHERE organization_id = OLD.organization_id AND shard = unicode(substr(OLD.id, -1)) % 16;
    INSERT INTO workspace_counts (organization_id, shard, n)
        VALUES (NEW.organization_id, unicode(substr(NEW.id, -1)) % 16, 1)
        ON CONFLICT (organization_id, shard) DO UPDATE SET n = n + 1;
END;
