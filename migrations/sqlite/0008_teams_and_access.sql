-- Organization memberships, teams with organization-wide permissions, and team access to
-- workspaces and projects (TFE's organization-memberships, teams, team-workspaces and
-- team-projects).
--
-- A membership is a user's place in an organization: 'active' once the user exists, or
-- 'invited' (user_id NULL) for an email that has no account yet, accepted when that user
-- signs in. Teams hold memberships, so an invitation can already be on teams.

CREATE TABLE organization_memberships (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (organization_id, user_id)
);
CREATE INDEX organization_memberships_user ON organization_memberships (user_id);
CREATE INDEX organization_memberships_email ON organization_memberships (lower(email));

CREATE TABLE team_memberships (
    team_id       TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    membership_id TEXT NOT NULL REFERENCES organization_memberships (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, membership_id)
);
CREATE INDEX team_memberships_membership ON team_memberships (membership_id);

-- Everyone on a team so far becomes a member of the team's organization.
INSERT INTO organization_memberships (id, organization_id, user_id, email, status, created_at)
SELECT 'ou-' || lower(hex(randomblob(8))), x.organization_id, x.user_id, u.email, 'active', x.created_at
FROM (SELECT t.organization_id, m.user_id, MIN(t.created_at) AS created_at
      FROM team_members m JOIN teams t ON t.id = m.team_id
      GROUP BY t.organization_id, m.user_id) x
JOIN users u ON u.id = x.user_id;

INSERT INTO team_memberships (team_id, membership_id)
SELECT m.team_id, om.id
FROM team_members m
JOIN teams t ON t.id = m.team_id
JOIN organization_memberships om ON om.organization_id = t.organization_id AND om.user_id = m.user_id;

DROP TABLE team_members;

-- The team's organization-access object as JSON (absent keys are false).
ALTER TABLE teams ADD COLUMN organization_access TEXT NOT NULL DEFAULT '{}';
ALTER TABLE teams ADD COLUMN sso_team_id TEXT;
ALTER TABLE teams ADD COLUMN allow_member_token_management BOOLEAN NOT NULL DEFAULT TRUE;

-- A team's access to one workspace: its level and the grant it stands for (JSON, the
-- policy's WorkspaceGrant; for preset levels the level's fixed grant).
CREATE TABLE team_workspaces (
    id           TEXT PRIMARY KEY,
    team_id      TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    access       TEXT NOT NULL,
    grants       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (team_id, workspace_id)
);
CREATE INDEX team_workspaces_workspace ON team_workspaces (workspace_id);

-- A team's access to one project and, through it, to each of its workspaces (JSON, the
-- policy's ProjectAccess).
CREATE TABLE team_projects (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    access     TEXT NOT NULL,
    grants     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (team_id, project_id)
);
CREATE INDEX team_projects_project ON team_projects (project_id);
