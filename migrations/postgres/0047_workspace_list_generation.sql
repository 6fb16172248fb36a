-- Each organization's workspace list has a generation, raised with every workspace created or
-- deleted in it (summed over the count's rows like the count, and kept by the same trigger):
-- marks kept in memory to start deep pages from (crates/storage/src/sql/page_marks.rs) are
-- used only at the generation they were read at.
ALTER TABLE workspace_counts ADD COLUMN changes BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION count_workspaces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE workspace_counts SET n = n - 1, changes = changes + 1
            WHERE organization_id = OLD.organization_id AND shard = ascii(right(OLD.id, 1)) % 16;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO workspace_counts (organization_id, shard, n, changes)
            VALUES (NEW.organization_id, ascii(right(NEW.id, 1)) % 16, 1, 1)
            ON CONFLICT (organization_id, shard)
            DO UPDATE SET n = workspace_counts.n + 1, changes = workspace_counts.changes + 1;
    END IF;
    RETURN NULL;
END
$$;
