-- The number of workspaces of each project, kept like each organization's (0045): a project's
-- list (`filter[project][id]`) no longer counts the project's workspaces for each page
-- (10,000 index entries, 2-3 ms, for a project of 10,000). Split over 16 rows per project the
-- same way, so that workspaces created at once in one project seldom wait for each other.
CREATE TABLE project_workspace_counts (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    shard      INTEGER NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (project_id, shard)
);
INSERT INTO project_workspace_counts (project_id, shard, n)
    SELECT project_id, ascii(right(id, 1)) % 16, COUNT(*) FROM workspaces
    GROUP BY project_id, ascii(right(id, 1)) % 16;

CREATE FUNCTION count_project_workspaces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE project_workspace_counts SET n = n - 1
            WHERE project_id = OLD.project_id AND shard = ascii(right(OLD.id, 1)) % 16;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO project_workspace_counts (project_id, shard, n)
            VALUES (NEW.project_id, ascii(right(NEW.id, 1)) % 16, 1)
            ON CONFLICT (project_id, shard) DO UPDATE SET n = project_workspace_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER workspaces_project_count AFTER INSERT OR DELETE OR UPDATE OF id, project_id
    ON workspaces FOR EACH ROW EXECUTE FUNCTION count_project_workspaces();
