-- HCP Terraform's workspace setting `auto-apply-run-trigger`: whether runs that run triggers
-- queue apply without confirmation. Stored and shown; Terrace queues no runs from run
-- triggers yet, so it changes nothing until it does.
ALTER TABLE workspaces ADD COLUMN auto_apply_run_trigger BOOLEAN NOT NULL DEFAULT FALSE;
