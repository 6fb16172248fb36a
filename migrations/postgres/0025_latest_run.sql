-- TFE's `current-run` of a workspace is the run that last took it, and it stays after that run
-- ends; `current_run_id` is only the run holding the workspace now (the queue's view). Existing
-- workspaces get the newest run that left the queue.
ALTER TABLE workspaces ADD COLUMN latest_run_id TEXT;
UPDATE workspaces SET latest_run_id = (
    SELECT r.id FROM runs r
    WHERE r.workspace_id = workspaces.id AND r.plan_only = FALSE AND r.status <> 'pending'
    ORDER BY r.created_at DESC, r.id DESC LIMIT 1
);
