-- Auto-destroy after a period of inactivity, as HCP Terraform has it: a workspace's own
-- duration (`14d`, `24h`), or its project's while it inherits the project's settings. The
-- sweep that queues destroy runs records when it last queued one (`auto_destroy_queued_at`), so
-- a deadline queues one run, whichever replica sees it first.
ALTER TABLE workspaces ADD COLUMN auto_destroy_activity_duration TEXT;
ALTER TABLE workspaces ADD COLUMN inherits_project_auto_destroy BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE workspaces ADD COLUMN auto_destroy_queued_at TEXT;
ALTER TABLE projects ADD COLUMN auto_destroy_activity_duration TEXT;
CREATE INDEX workspaces_auto_destroy_at ON workspaces (auto_destroy_at)
    WHERE auto_destroy_at IS NOT NULL;
