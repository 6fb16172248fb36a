-- The project a variable set belongs to (HCP Terraform's project-owned variable sets, the
-- set's `parent`): NULL is the organization's own. A project's set is never global and is
-- applied only to its project and the project's workspaces; teams manage it through the
-- project's `variable-sets` access. Deleting the project deletes its sets.
ALTER TABLE variable_sets ADD COLUMN project_id TEXT REFERENCES projects (id) ON DELETE CASCADE;
CREATE INDEX variable_sets_project ON variable_sets (project_id);
