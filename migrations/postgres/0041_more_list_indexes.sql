-- More indexes for pages and counts of lists (crates/storage/src/sql/pagination.rs), over the
-- tables that grow with use: each list's page walks an index in the list's order, restricted
-- to its workspace, organization or owner, and its count reads the same index alone.

-- An organization's audit trail (or the site's, organization_id NULL), oldest first. Without
-- the key in the index, a page walked audit_events_occurred, the times of every event of the
-- installation, keeping one organization's.
DROP INDEX audit_events_organization;
CREATE INDEX audit_events_organization ON audit_events (organization_id, occurred_at, id);
-- The site's trail: `organization_id IS NULL` does not give the index's order to the rows
-- (an equality would), so the site's events have their own index, in order.
CREATE INDEX audit_events_site ON audit_events (occurred_at, id) WHERE organization_id IS NULL;

-- A workspace's configuration versions, newest first (and its current one).
DROP INDEX configuration_versions_workspace;
CREATE INDEX configuration_versions_workspace ON configuration_versions (workspace_id, created_at DESC, id);

-- A workspace's listed state versions, newest first; the status rides along so that the
-- versions not listed are skipped in the index.
CREATE INDEX state_versions_list ON state_versions (workspace_id, created_at DESC, serial DESC) INCLUDE (status);

-- An organization's members, by email.
CREATE INDEX organization_memberships_list ON organization_memberships (organization_id, email, id);

-- The tokens of an owner (a user, a team, an agent pool), newest first.
DROP INDEX tokens_owner;
CREATE INDEX tokens_owner ON tokens (kind, owner_id, created_at DESC, id);
