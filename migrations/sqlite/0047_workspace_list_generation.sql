-- Each organization's workspace list has a generation, raised with every workspace created or
-- deleted in it (see the PostgreSQL migration; SQLite keeps it too, so that both databases
-- read the count and the generation alike).
ALTER TABLE workspace_counts ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER workspaces_count_insert;
DROP TRIGGER workspaces_count_delete;
DROP TRIGGER workspaces_count_update;
CREATE TRIGGER workspaces_count_insert AFTER INSERT ON workspaces
BEGIN
    INSERT INTO workspace_counts (organization_id, shard, n, changes)
        VALUES (NEW.organization_id, unicode(substr(NEW.id, -1)) % 16, 1, 1)
        ON CONFLICT (organization_id, shard) DO UPDATE SET n = n + 1, changes = changes + 1;
END;
CREATE TRIGGER workspaces_count_delete AFTER DELETE ON workspaces
BEGIN
    UPDATE workspace_counts SET n = n - 1, changes = changes + 1
        WHERE organization_id = OLD.organization_id AND shard = unicode(substr(OLD.id, -1)) % 16;
END;
CREATE TRIGGER workspaces_count_update AFTER UPDATE OF id, organization_id ON workspaces
BEGIN
    UPDATE workspace_counts SET n = n - 1, changes = changes + 1
        WHERE organization_id = OLD.organization_id AND shard = unicode(substr(OLD.id, -1)) % 16;
    INSERT INTO workspace_counts (organization_id, shard, n, changes)
        VALUES (NEW.organization_id, unicode(substr(NEW.id, -1)) % 16, 1, 1)
        ON CONFLICT (organization_id, shard) DO UPDATE SET n = n + 1, changes = changes + 1;
END;
