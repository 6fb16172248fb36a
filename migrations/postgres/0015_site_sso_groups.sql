-- Whether the site identity provider's groups fill this organization's teams (`sso-team-id`).
-- Anyone may create an organization, so only organizations a site administrator vouches for
-- follow the site's groups: created by one, or switched on through the admin API. Existing
-- organizations follow when a site administrator is on their owners team.
ALTER TABLE organizations ADD COLUMN follows_site_sso_groups BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE organizations SET follows_site_sso_groups = TRUE WHERE id IN (
    SELECT t.organization_id FROM teams t
    JOIN team_memberships tm ON tm.team_id = t.id
    JOIN organization_memberships m ON m.id = tm.membership_id
    JOIN users u ON u.id = m.user_id
    WHERE t.is_owners = TRUE AND u.is_site_admin = TRUE
);
