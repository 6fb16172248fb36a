-- The number of workspaces of each project, kept by triggers (see the PostgreSQL migration;
-- split into rows the same way as each organization's count, 0045).
CREATE TABLE project_workspace_counts (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    shard      INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (project_id, shard)
);
INSERT INTO project_workspace_counts (project_id, shard, n)
    SELECT project_id, unicode(substr(id, -1)) % 16, COUNT(*) FROM workspaces
    GROUP BY project_id, unicode(substr(id, -1)) % 16;

CREATE TRIGGER workspaces_project_count_insert AFTER INSERT ON workspaces
BEGIN
    INSERT INTO project_workspace_counts (project_id, shard, n)
        VALUES (NEW.project_id, unicode(substr(NEW.id, -1)) % 16, 1)
        ON CONFLICT (project_id, shard) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER workspaces_project_count_delete AFTER DELETE ON workspaces
BEGIN
    UPDATE project_workspace_counts SET n = n - 1
        WHERE project_id = OLD.project_id AND shard = unicode(substr(OLD.id, -1)) % 16;
END;
CREATE TRIGGER workspaces_project_count_update AFTER UPDATE OF id, project_id ON workspaces
BEGIN
    UPDATE project_workspace_counts SET n = n - 1
        WHERE project_id = OLD.project_id AND shard = unicode(substr(OLD.id, -1)) % 16;
    INSERT INTO project_workspace_counts (project_id, shard, n)
        VALUES (NEW.project_id, unicode(substr(NEW.id, -1)) % 16, 1)
        ON CONFLICT (project_id, shard) DO UPDATE SET n = n + 1;
END;
