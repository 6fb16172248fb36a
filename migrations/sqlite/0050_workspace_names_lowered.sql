-- PostgreSQL keeps each workspace's lower-cased name in its row for name searches (see its
-- migration 0050). SQLite's `lower()` folds ASCII only and costs little next to reading its
-- covering index (`workspaces_list` holds the name), so SQLite computes it as before: nothing
-- to change here. The file keeps the two databases' migrations numbered alike.
SELECT 1;
