-- The auto-destroy sweep (crates/domain/src/workspaces/auto_destroy.rs) runs every few seconds
-- on every replica. It read every workspace of the installation each time (one of its three
-- conditions had no index); each condition now reads an index holding only the workspaces
-- it names, which are few.

-- Workspaces with an inactivity duration of their own.
CREATE INDEX workspaces_auto_destroy_own ON workspaces (id)
    WHERE NOT inherits_project_auto_destroy AND auto_destroy_activity_duration IS NOT NULL;
-- Projects with an inactivity duration, whose inheriting workspaces are read by project.
CREATE INDEX projects_auto_destroy ON projects (id)
    WHERE auto_destroy_activity_duration IS NOT NULL;
