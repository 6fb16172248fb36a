-- HCP Terraform's `project-remote-state`: a workspace shares its state with the other
-- workspaces of its project (exclusive with `global-remote-state`).
ALTER TABLE workspaces ADD COLUMN project_remote_state BOOLEAN NOT NULL DEFAULT FALSE;
